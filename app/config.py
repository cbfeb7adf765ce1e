"""Settings, grouped per concern and read from the environment (and a `.env` file).

Every field documents itself; docs/configuration.md lists the same variables (a test checks it).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

__all__ = [
    "LOCAL_JWT_SECRET",
    "LOCAL_SERVICE_ROLE_KEY",
    "AuthSettings",
    "DatabaseSettings",
    "LLMSettings",
    "ObservabilitySettings",
    "RealtimeSettings",
    "ServerSettings",
    "Settings",
    "SupabaseSettings",
    "TurnSettings",
    "get_settings",
]

OPENAI_BASE_URL = "https://api.openai.com/v1"
LOCAL_DATABASE_URL = "postgresql://postgres:postgres@127.0.0.1:54322/postgres"
# The Supabase CLI's local JWT secret: tokens minted by `supabase start` verify here too.
LOCAL_JWT_SECRET = "super-secret-jwt-token-with-at-least-32-characters-long"  # noqa: S105
# The Supabase CLI's well-known local service_role key (role service_role, signed with the local
# secret above): with the default settings on loopback it acts as the service, so it is the
# api_key of the OpenAI SDKs against `make run`. Public knowledge: never valid anywhere else.
LOCAL_SERVICE_ROLE_KEY = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJzdXBhYmFzZS1kZW1vIiwicm9sZSI6InNlcnZpY2Vfcm9sZSIs"
    "ImV4cCI6MTk4MzgxMjk5Nn0.EGIM96RAZx35lJzdJsyH-qQwv8Hdp7fsn3W0YpN81IU"
)


class _Base(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")


class DatabaseSettings(_Base):
    """Direct Postgres connection used by the Postgres transport and the health check."""

    url: str = Field(
        LOCAL_DATABASE_URL,
        validation_alias="DATABASE_URL",
        description="Postgres URL; defaults to the local stack (the Supabase CLI's local defaults).",
    )
    pool_min_size: int = Field(
        2, ge=1, validation_alias="DB_POOL_MIN_SIZE", description="Connections kept open."
    )
    pool_max_size: int = Field(
        16, ge=1, validation_alias="DB_POOL_MAX_SIZE", description="Most connections the API opens."
    )
    pool_timeout: float = Field(
        5.0, gt=0, validation_alias="DB_POOL_TIMEOUT", description="Seconds to wait for a free connection."
    )
    per_conversation: int = Field(
        4,
        ge=1,
        validation_alias="DB_CONVERSATION_CONCURRENCY",
        description="Calls of one conversation that may hold a pooled connection at once; the rest "
        "queue in the API. When a call finds the conversation locked (lock_timeout), those queued "
        "behind it answer 409 conversation_busy at once.",
    )
    transaction_pooler: bool = Field(
        False,
        validation_alias="DB_TRANSACTION_POOLER",
        description="Set when DATABASE_URL goes through a transaction pooler (Supavisor port 6543): "
        "disables prepared statements.",
    )
    protocol: Literal["pipeline", "simple"] = Field(
        "pipeline",
        validation_alias="DB_PROTOCOL",
        description="How a call and its security context travel in their one round trip: "
        "'pipeline' (parameters, as PostgREST sends them) or 'simple' (one simple-query message, "
        "values bound client-side: less API CPU, but message content appears in the server log "
        "of failing calls).",
    )


class ServerSettings(_Base):
    """Where and how the HTTP API listens."""

    host: str = Field("127.0.0.1", validation_alias="API_HOST", description="Address to bind.")
    port: int = Field(8001, ge=1, le=65535, validation_alias="API_PORT", description="Port to bind.")
    auth: Literal["required", "disabled"] = Field(
        "required",
        validation_alias="API_AUTH",
        description="'disabled' lets anonymous requests act as the service; loopback addresses only.",
    )
    log_level: Literal["critical", "error", "warning", "info", "debug", "trace"] = Field(
        "info", validation_alias="LOG_LEVEL", description="Log level of the server and the app."
    )
    max_body_bytes: int = Field(
        1_048_576,
        ge=1024,
        validation_alias="API_MAX_BODY_BYTES",
        description="Largest request body accepted (bytes); larger ones get 413.",
    )
    max_import_bytes: int = Field(
        67_108_864,
        ge=1024,
        validation_alias="API_MAX_IMPORT_BYTES",
        description="Largest body of POST /conversations/import (bytes); larger ones get 413.",
    )
    retry_after_seconds: int = Field(
        1,
        ge=0,
        validation_alias="API_RETRY_AFTER_SECONDS",
        description="Retry-After sent with 503 (database unreachable, pool exhausted) and 409 "
        "conversation_busy.",
    )
    shutdown_timeout_seconds: int = Field(
        10,
        ge=1,
        validation_alias="API_SHUTDOWN_TIMEOUT_SECONDS",
        description="On SIGTERM: event streams end at once (a `shutdown` event), requests in flight "
        "get this long to finish before they are cancelled; then the process exits.",
    )
    header_timeout_seconds: float = Field(
        10.0,
        gt=0,
        validation_alias="API_HEADER_TIMEOUT_SECONDS",
        description="A connection's request line and headers must arrive within this time (from "
        "connecting, or from the previous response); else it is closed (408 when a request had begun).",
    )
    body_timeout_seconds: float = Field(
        60.0,
        gt=0,
        validation_alias="API_BODY_TIMEOUT_SECONDS",
        description="A request body must arrive within this time of its headers; else 408 and the "
        "connection is closed.",
    )
    keep_alive_seconds: float = Field(
        5.0,
        gt=0,
        validation_alias="API_KEEP_ALIVE_SECONDS",
        description="An idle kept-alive connection is closed after this time (uvicorn's timeout_keep_alive).",
    )
    limit_concurrency: int | None = Field(
        None,
        ge=1,
        validation_alias="API_LIMIT_CONCURRENCY",
        description="Most connections and requests at once; more get 503 (uvicorn's limit_concurrency). "
        "Unset: no limit. Event streams count: leave room for REALTIME_MAX_SUBSCRIBERS.",
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        validation_alias="API_CORS_ORIGINS",
        description="Comma-separated origins (scheme://host[:port]) whose pages may call the API "
        "from a browser (CORS); empty (the default) allows none. With API_AUTH=disabled these are "
        "also the only non-loopback Origins accepted.",
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower_level(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("cors_origins")
    @classmethod
    def _check_origins(cls, origins: list[str]) -> list[str]:
        for origin in origins:
            parts = urlsplit(origin)
            if origin == "*":
                raise ValueError("API_CORS_ORIGINS: list the origins; '*' is not accepted")
            bare = parts.path in ("", "/") and not parts.query
            if parts.scheme not in ("http", "https") or not parts.hostname or not bare:
                raise ValueError(f"API_CORS_ORIGINS: {origin!r} is not an origin (scheme://host[:port])")
            try:
                parts.port  # noqa: B018  (raises on a bad port)
            except ValueError as exc:
                raise ValueError(f"API_CORS_ORIGINS: {origin!r} has a bad port") from exc
        return [origin.rstrip("/").lower() for origin in origins]


class ObservabilitySettings(_Base):
    """What the API tells its operator besides its answers: logs and traces (metrics are always
    at /metrics)."""

    log_format: Literal["plain", "json"] = Field(
        "plain",
        validation_alias="LOG_FORMAT",
        description="'plain' lines or 'json' (one object per line: time, level, logger, request_id, "
        "message), for the server's and the app's logs.",
    )
    otlp_endpoint: str | None = Field(
        None,
        validation_alias="OTEL_EXPORTER_OTLP_ENDPOINT",
        description="OTLP/HTTP collector base URL (e.g. http://localhost:4318): when set, every request "
        "is traced (OpenTelemetry) and its spans are sent to <url>/v1/traces. Unset: no tracing.",
    )
    service_name: str = Field(
        "conversations-api",
        min_length=1,
        validation_alias="OTEL_SERVICE_NAME",
        description="service.name of the traces.",
    )

    @field_validator("otlp_endpoint")
    @classmethod
    def _check_endpoint(cls, value: str | None) -> str | None:
        if not value:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"OTEL_EXPORTER_OTLP_ENDPOINT: {value!r} is not an http(s) URL")
        return value


class SupabaseSettings(_Base):
    """A Supabase project reached over HTTP. With url and service key set, the store uses the
    PostgREST transport (supabase-py) and the realtime feed uses Supabase Realtime."""

    url: str | None = Field(
        None, validation_alias="SUPABASE_URL", description="Project URL, e.g. https://xyz.supabase.co."
    )
    service_role_key: str | None = Field(
        None,
        validation_alias="SUPABASE_SERVICE_ROLE_KEY",
        description="Service role key (legacy JWT or sb_secret_...): the service's own credential.",
    )
    anon_key: str | None = Field(
        None,
        validation_alias="SUPABASE_ANON_KEY",
        description="Anon (publishable) key sent as `apikey` with forwarded user tokens; "
        "defaults to the service key.",
    )

    @property
    def enabled(self) -> bool:
        return bool(self.url and self.service_role_key)


class AuthSettings(_Base):
    """How bearer tokens are verified."""

    jwt_secret: str = Field(
        LOCAL_JWT_SECRET,
        validation_alias="SUPABASE_JWT_SECRET",
        description="HS256 secret of the project (Settings > API > JWT secret); "
        "defaults to the Supabase CLI's local one.",
    )
    jwks_url: str | None = Field(
        None,
        validation_alias="SUPABASE_JWKS_URL",
        description="JWKS with the project's asymmetric signing keys (ES256/RS256); "
        "defaults to SUPABASE_URL + /auth/v1/.well-known/jwks.json when SUPABASE_URL is set.",
    )
    jwks_cache_seconds: int = Field(
        600,
        ge=0,
        validation_alias="SUPABASE_JWKS_CACHE_SECONDS",
        description="How long fetched keys are kept.",
    )
    jwks_min_refresh_seconds: int = Field(
        30,
        ge=0,
        validation_alias="SUPABASE_JWKS_MIN_REFRESH_SECONDS",
        description="A token with an unknown key id refetches the JWKS at most this often.",
    )
    token_cache_seconds: int = Field(
        60,
        ge=0,
        validation_alias="JWT_CACHE_SECONDS",
        description="How long a verified token is remembered (never past its exp); 0 disables.",
    )
    audience: str = Field(
        "authenticated", validation_alias="JWT_AUDIENCE", description="Required `aud` of user tokens."
    )
    leeway_seconds: int = Field(
        0, ge=0, le=300, validation_alias="JWT_LEEWAY_SECONDS", description="Clock skew tolerated on `exp`."
    )
    clock_skew_seconds: int = Field(
        30,
        ge=0,
        le=300,
        validation_alias="JWT_CLOCK_SKEW_SECONDS",
        description="Clock skew tolerated on `iat` and `nbf`: a token issued by a clock up to this far "
        "ahead of this server's is accepted (PostgREST allows 30 s).",
    )


class LLMSettings(_Base):
    """The model behind /chat and how a turn uses it.

    Which provider: LLM_PROVIDER=auto (the default) uses the OpenAI-compatible client when
    LLM_BASE_URL is set, or when only LLM_API_KEY is set (then against OpenAI itself), and the
    offline echo provider otherwise.
    """

    provider: Literal["auto", "openai", "offline"] = Field(
        "auto",
        validation_alias="LLM_PROVIDER",
        description="'auto' (configured model if any, else offline), 'openai' (OpenAI-compatible, "
        "required configuration) or 'offline' (the deterministic echo provider, even if a model is set).",
    )
    base_url: str | None = Field(
        None,
        validation_alias="LLM_BASE_URL",
        description="Base URL of an OpenAI-compatible API, up to /v1: e.g. http://localhost:11434/v1 "
        "(Ollama), https://openrouter.ai/api/v1, https://generativelanguage.googleapis.com/v1beta/openai. "
        f"Defaults to {OPENAI_BASE_URL} when only LLM_API_KEY is set.",
    )
    api_key: SecretStr | None = Field(
        None,
        validation_alias="LLM_API_KEY",
        description="Bearer token sent to the provider (not needed by local servers such as Ollama).",
    )
    model: str = Field(
        "gpt-4o-mini",
        validation_alias="LLM_MODEL",
        description="Model name sent with every request (e.g. llama3.2, gemma-3-27b-it).",
    )
    timeout_seconds: float = Field(
        60.0,
        gt=0,
        validation_alias="LLM_TIMEOUT_SECONDS",
        description="Longest wait for the provider's answer (per read; a stream may last longer "
        "as long as tokens keep coming). A timeout answers 504.",
    )
    connect_timeout_seconds: float = Field(
        5.0, gt=0, validation_alias="LLM_CONNECT_TIMEOUT_SECONDS", description="Longest wait to connect."
    )
    max_retries: int = Field(
        2,
        ge=0,
        le=10,
        validation_alias="LLM_MAX_RETRIES",
        description="Retries after the first attempt (the openai SDK's) on 408/409/429/5xx answers, "
        "connection errors and connect timeouts; a read timeout is not retried.",
    )
    retry_max_wait_seconds: float = Field(
        20.0,
        ge=0,
        validation_alias="LLM_RETRY_MAX_WAIT_SECONDS",
        description="Longest wait between two attempts, whatever the backoff or Retry-After says "
        "(a Retry-After over two minutes is not retried at all).",
    )
    temperature: float | None = Field(
        None,
        ge=0,
        le=2,
        validation_alias="LLM_TEMPERATURE",
        description="Sampling temperature; unset = the provider's.",
    )
    max_tokens: int | None = Field(
        None,
        ge=1,
        validation_alias="LLM_MAX_TOKENS",
        description="Answer length limit; unset = the provider's.",
    )
    offline_delay_seconds: float = Field(
        0.0,
        ge=0,
        validation_alias="LLM_OFFLINE_DELAY_SECONDS",
        description="The offline provider's pause per word (to demonstrate streaming or simulate latency).",
    )
    history_limit: int = Field(
        10,
        ge=1,
        validation_alias="CHAT_HISTORY_LIMIT",
        description="Messages sent to the model per turn by default: the last N of the conversation, "
        "the new user message included, after the system prompt.",
    )
    history_max: int = Field(
        100,
        ge=1,
        le=1000,
        validation_alias="CHAT_HISTORY_MAX",
        description="Largest history window a request may ask for.",
    )
    token_budget: int = Field(
        8000,
        ge=0,
        le=100_000_000,
        validation_alias="CHAT_TOKEN_BUDGET",
        description="Tokens of history sent to the model per turn by default: the database picks the "
        "newest messages whose token counts fit (the new user message always in; at most "
        "CHAT_HISTORY_LIMIT of them) and the latest summary of what they leave out. 0: no budget, "
        "the last CHAT_HISTORY_LIMIT messages.",
    )
    system_prompt: str | None = Field(
        "You are a helpful assistant.",
        validation_alias="CHAT_SYSTEM_PROMPT",
        description="System prompt sent first on every turn; empty for none.",
    )
    max_tool_rounds: int = Field(
        3,
        ge=0,
        le=20,
        validation_alias="CHAT_MAX_TOOL_ROUNDS",
        description="Rounds of tool calls per turn before the model must answer; 0 offers no tools.",
    )
    tools: str = Field(
        "current_time,calculator",
        validation_alias="CHAT_TOOLS",
        description="Comma-separated built-in tools offered to the model; empty for none.",
    )
    generate_titles: bool = Field(
        False,
        validation_alias="CHAT_GENERATE_TITLES",
        description="With a model configured: after the first reply of a conversation, ask the "
        "model for a short title (in the background; the reply is never delayed). The database "
        "titles every conversation from its first user message anyway.",
    )
    tool_timeout_seconds: float = Field(
        10.0,
        gt=0,
        validation_alias="CHAT_TOOL_TIMEOUT_SECONDS",
        description="Longest run of one tool call; a slower tool answers the model with an error.",
    )

    @model_validator(mode="after")
    def _check(self) -> LLMSettings:
        if self.history_limit > self.history_max:
            raise ValueError("CHAT_HISTORY_LIMIT must not exceed CHAT_HISTORY_MAX")
        if self.system_prompt is not None and not self.system_prompt.strip():
            self.system_prompt = None
        if self.provider == "openai" and not (self.base_url or self.api_key):
            raise ValueError("LLM_PROVIDER=openai needs LLM_BASE_URL or LLM_API_KEY")
        return self

    @property
    def uses_offline(self) -> bool:
        return self.provider == "offline" or not (self.base_url or self.api_key)

    def history_window(self, requested: int | None = None) -> int:
        """The history window for a request: its own limit (at least 1) or the default, never
        more than CHAT_HISTORY_MAX. With a token budget it caps the window's messages."""
        return max(1, min(requested or self.history_limit, self.history_max))

    @property
    def default_token_budget(self) -> int:
        """The budget a context read uses when the request sets none: CHAT_TOKEN_BUDGET, or
        its default where that is 0 (a context is always read for a budget)."""
        return self.token_budget or int(type(self).model_fields["token_budget"].default)

    def token_window(self, requested: int | None = None) -> int | None:
        """The token budget of a request: its own, else CHAT_TOKEN_BUDGET; None for none (0:
        the count window)."""
        if requested is not None:
            return requested or None
        return self.token_budget or None


class RealtimeSettings(_Base):
    """The live message feed and the fan-out to subscribers."""

    feed: Literal["auto", "postgres", "supabase", "off"] = Field(
        default="auto",
        validation_alias="REALTIME_FEED",
        description="Where new messages are learnt from: 'postgres' (logical decoding with wal2json "
        "over a replication connection), 'supabase' (Realtime Broadcast from the database, on the "
        "private topic ai_conversations:service; needs SUPABASE_URL and the service key), 'off' "
        "(polling only, every REALTIME_DEGRADED_CHECK_SECONDS), or 'auto': supabase when a project "
        "is configured, else postgres.",
    )
    database_url: str | None = Field(
        default=None,
        validation_alias="REALTIME_DATABASE_URL",
        description="Connection for the replication stream; defaults to DATABASE_URL. A direct "
        "connection (or Supavisor session mode) as a role with REPLICATION; not a transaction pooler.",
    )
    queue_size: int = Field(
        default=256,
        ge=2,
        le=100_000,
        validation_alias="REALTIME_QUEUE_SIZE",
        description="Messages a subscriber may fall behind before it is disconnected (overflow).",
    )
    heartbeat_seconds: float = Field(
        default=15.0,
        gt=0,
        validation_alias="REALTIME_HEARTBEAT_SECONDS",
        description="SSE heartbeat interval.",
    )
    check_seconds: float = Field(
        default=30.0,
        gt=0,
        validation_alias="REALTIME_CHECK_SECONDS",
        description="How often each watched conversation is re-read: ends streams of deleted or "
        "expired conversations and delivers anything the feed missed.",
    )
    degraded_check_seconds: float = Field(
        default=2.0,
        gt=0,
        validation_alias="REALTIME_DEGRADED_CHECK_SECONDS",
        description="The same while the feed is disconnected (or off): streams keep moving by polling.",
    )
    page_size: int = Field(
        default=200,
        ge=1,
        le=1000,
        validation_alias="REALTIME_PAGE_SIZE",
        description="Messages per database read when replaying or catching up.",
    )
    max_subscribers: int = Field(
        default=10_000,
        ge=1,
        validation_alias="REALTIME_MAX_SUBSCRIBERS",
        description="Streams one API process serves at most; more get 503.",
    )
    reconnect_max_seconds: float = Field(
        default=10.0,
        gt=0,
        validation_alias="REALTIME_RECONNECT_MAX_SECONDS",
        description="Longest wait between the feed's reconnect attempts.",
    )


class TurnSettings(_Base):
    """Turns that outlive their connection: their streams, shared through Postgres (app.turns).

    The lease's length and how long a finished stream stays resumable are the database's
    (ai_conversation_settings.turn_lease_seconds, turn_events_retention_minutes)."""

    stream: Literal["database", "memory"] = Field(
        default="database",
        validation_alias="TURN_STREAM",
        description="Where a streamed turn's events go: 'database' (public.ai_turn_events: any instance "
        "resumes it, from any position) or 'memory' (only the instance generating it, while it runs; "
        "elsewhere a reader gets the start and, once stored, the reply).",
    )
    flush_seconds: float = Field(
        default=0.02,
        ge=0,
        le=5,
        validation_alias="TURN_FLUSH_SECONDS",
        description="Shortest interval between two writes of one turn's events (what comes meanwhile "
        "is written as one batch): the delay a reader on another instance may see, against WAL written.",
    )
    poll_seconds: float = Field(
        default=0.5,
        gt=0,
        validation_alias="TURN_POLL_SECONDS",
        description="How often a turn's stream is read from the database when the live feed does not "
        "carry turns (REALTIME_FEED=supabase or off) or is down.",
    )
    stop_wait_seconds: float = Field(
        default=10.0,
        ge=0,
        le=300,
        validation_alias="TURN_STOP_WAIT_SECONDS",
        description="How long a stop (POST /turns/{id}/stop, OpenAI's cancel) waits for the turn to end "
        "before it answers with the turn still stopping.",
    )


class Settings(BaseModel):
    """Every setting of the service: one group per concern, each read from its own variables.

    Built once per process (`get_settings()`); the app factory and the CLI take it, and the
    handlers reach it through the `settings` dependency."""

    db: DatabaseSettings = Field(default_factory=DatabaseSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    supabase: SupabaseSettings = Field(default_factory=SupabaseSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    realtime: RealtimeSettings = Field(default_factory=RealtimeSettings)
    turns: TurnSettings = Field(default_factory=TurnSettings)
    observability: ObservabilitySettings = Field(default_factory=ObservabilitySettings)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
