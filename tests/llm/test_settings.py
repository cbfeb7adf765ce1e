"""Settings and the provider/tool factories."""

from __future__ import annotations

import pytest
from openai import omit
from pydantic import ValidationError

from app.config import OPENAI_BASE_URL, LLMSettings
from app.llm.factory import create_provider, create_tools
from app.llm.offline import OfflineProvider
from app.llm.openai_compat import OpenAICompatProvider

ENV = [
    "LLM_PROVIDER",
    "LLM_BASE_URL",
    "LLM_API_KEY",
    "LLM_MODEL",
    "LLM_TIMEOUT_SECONDS",
    "LLM_MAX_RETRIES",
    "CHAT_HISTORY_LIMIT",
    "CHAT_HISTORY_MAX",
    "CHAT_SYSTEM_PROMPT",
    "CHAT_MAX_TOOL_ROUNDS",
    "CHAT_TOOLS",
]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir("/")  # no .env file


def test_defaults_are_offline() -> None:
    settings = LLMSettings()
    assert settings.history_limit == 10
    assert settings.history_max == 100
    assert settings.max_tool_rounds == 3
    provider = create_provider(settings)
    assert isinstance(provider, OfflineProvider)
    assert provider.model == "offline-echo (no model configured)"
    assert create_tools(settings).names == ["current_time", "calculator"]


async def test_base_url_selects_openai_compatible(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLM_BASE_URL", "http://localhost:11434/v1")
    monkeypatch.setenv("LLM_MODEL", "llama3.2")
    monkeypatch.setenv("LLM_TIMEOUT_SECONDS", "12.5")
    monkeypatch.setenv("LLM_MAX_RETRIES", "4")
    provider = create_provider(LLMSettings())
    assert isinstance(provider, OpenAICompatProvider)
    assert str(provider.client.base_url) == "http://localhost:11434/v1/"
    assert provider.model == "llama3.2"
    assert provider.client.max_retries == 4
    assert provider.client.timeout.read == 12.5  # type: ignore[union-attr]
    assert provider.extra_headers["Authorization"] is omit  # no key: no Authorization header
    await provider.aclose()


async def test_api_key_alone_means_openai(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLM_API_KEY", "sk-secret")
    settings = LLMSettings()
    assert "sk-secret" not in repr(settings)
    provider = create_provider(settings)
    assert isinstance(provider, OpenAICompatProvider)
    assert str(provider.client.base_url) == f"{OPENAI_BASE_URL}/"
    assert provider.client.api_key == "sk-secret"
    assert "Authorization" not in provider.extra_headers
    await provider.aclose()


def test_offline_can_be_forced(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLM_API_KEY", "sk-secret")
    monkeypatch.setenv("LLM_PROVIDER", "offline")
    assert isinstance(create_provider(LLMSettings()), OfflineProvider)


def test_validation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHAT_HISTORY_LIMIT", "200")
    with pytest.raises(ValidationError, match="CHAT_HISTORY_MAX"):
        LLMSettings()
    monkeypatch.setenv("CHAT_HISTORY_LIMIT", "20")
    monkeypatch.setenv("CHAT_HISTORY_MAX", "50")
    monkeypatch.setenv("CHAT_SYSTEM_PROMPT", "  ")
    settings = LLMSettings()
    assert settings.system_prompt is None
    assert settings.history_window() == 20
    assert settings.history_window(5) == 5
    assert settings.history_window(500) == 50
    monkeypatch.setenv("LLM_PROVIDER", "openai")
    with pytest.raises(ValidationError, match="LLM_BASE_URL"):
        LLMSettings()


def test_tool_selection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHAT_TOOLS", "calculator")
    assert create_tools(LLMSettings()).names == ["calculator"]
    monkeypatch.setenv("CHAT_TOOLS", "")
    assert len(create_tools(LLMSettings())) == 0
    monkeypatch.setenv("CHAT_TOOLS", "calculator,weather")
    with pytest.raises(ValueError, match="unknown tools: weather"):
        create_tools(LLMSettings())
