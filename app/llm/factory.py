"""Builds the model provider and the tools from the settings (app.config.LLMSettings)."""

from __future__ import annotations

from app.config import OPENAI_BASE_URL, LLMSettings
from app.llm.offline import OfflineProvider
from app.llm.openai_compat import OpenAICompatProvider
from app.llm.provider import Provider
from app.llm.tools import ToolRegistry, builtin_tools

__all__ = ["create_provider", "create_tools"]


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
