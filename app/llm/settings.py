"""Settings of the model provider and the chat loop, read from the environment (and `.env`),
and the factories that build the provider and the tools from them."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.llm.offline import OfflineProvider
from app.llm.openai_compat import OPENAI_BASE_URL, OpenAICompatProvider
from app.llm.provider import Provider
from app.llm.tools import ToolRegistry, builtin_tools

__all__ = ["LLMSettings", "create_provider", "create_tools"]


class LLMSettings(BaseSettings):
    """The model behind /chat and how a turn uses it.

    Which provider: LLM_PROVIDER=auto (the default) uses the OpenAI-compatible client when
    LLM_BASE_URL is set, or when only LLM_API_KEY is set (then against OpenAI itself), and the
    offline echo provider otherwise.
    """

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

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
        description="Retries after the first attempt on 408/409/429/5xx answers and connection errors.",
    )
    retry_max_wait_seconds: float = Field(
        20.0,
        ge=0,
        validation_alias="LLM_RETRY_MAX_WAIT_SECONDS",
        description="Longest wait between two attempts, whatever the backoff or Retry-After says.",
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
        more than CHAT_HISTORY_MAX."""
        return max(1, min(requested or self.history_limit, self.history_max))


def create_provider(settings: LLMSettings) -> Provider:
    """The OpenAI-compatible client when a model is configured, else the offline provider."""
    if settings.uses_offline:
        return OfflineProvider(delay=settings.offline_delay_seconds)
    return OpenAICompatProvider(
        base_url=settings.base_url or OPENAI_BASE_URL,
        model=settings.model,
        api_key=settings.api_key.get_secret_value() if settings.api_key else None,
        timeout=settings.timeout_seconds,
        connect_timeout=settings.connect_timeout_seconds,
        max_retries=settings.max_retries,
        max_retry_wait=settings.retry_max_wait_seconds,
        temperature=settings.temperature,
        max_tokens=settings.max_tokens,
    )


def create_tools(settings: LLMSettings) -> ToolRegistry:
    """The built-in tools named in CHAT_TOOLS (an unknown name is a configuration error)."""
    available = builtin_tools(timeout=settings.tool_timeout_seconds)
    names = [n.strip() for n in settings.tools.split(",") if n.strip()]
    unknown = [n for n in names if n not in available]
    if unknown:
        raise ValueError(
            f"CHAT_TOOLS names unknown tools: {', '.join(unknown)} (known: {', '.join(available.names)})"
        )
    return available.subset(names)
