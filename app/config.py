"""Settings, grouped per concern and read from the environment (and a `.env` file).

Every field documents itself; the README's configuration table lists the same variables.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = [
    "LOCAL_JWT_SECRET",
    "AuthSettings",
    "DatabaseSettings",
    "ServerSettings",
    "Settings",
    "SupabaseSettings",
    "get_settings",
]

LOCAL_DATABASE_URL = "postgresql://postgres:postgres@127.0.0.1:54322/postgres"
# The Supabase CLI's local JWT secret: tokens minted by `supabase start` verify here too.
LOCAL_JWT_SECRET = "super-secret-jwt-token-with-at-least-32-characters-long"  # noqa: S105


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
    log_level: str = Field("info", validation_alias="LOG_LEVEL", description="uvicorn log level.")
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
        description="Retry-After sent with 503 when the database is unreachable.",
    )


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


class Settings:
    """All settings of the service, one group per concern."""

    def __init__(self) -> None:
        self.db = DatabaseSettings()
        self.server = ServerSettings()
        self.supabase = SupabaseSettings()
        self.auth = AuthSettings()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
