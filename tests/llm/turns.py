"""The turn engine as the LLM layer's tests drive it: a /chat-shaped turn (one user message)
through `TurnEngine.begin` and its events, with the settings a test names and nothing else.

Only the tests' shorthand: the faces build their TurnRequest themselves (app.controllers.chat
for /chat), and these helpers build the same one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

from app.config import LLMSettings
from app.llm.compaction import Compactor
from app.llm.provider import Provider
from app.llm.tools import ToolRegistry
from app.store.manager import ConversationManager
from app.store.models import NewMessage
from app.turns import ChatResult, Turn, TurnEngine, TurnEvent, TurnRequest


def settings(**values: Any) -> LLMSettings:
    """Settings from explicit values only (offline, no default budget, no titles)."""
    return LLMSettings.model_validate(
        {
            "LLM_PROVIDER": "offline",
            "LLM_BASE_URL": None,
            "LLM_API_KEY": None,
            "CHAT_TOKEN_BUDGET": 0,
            "CHAT_HISTORY_MAX": 1000,
            "CHAT_GENERATE_TITLES": False,
            **values,
        }
    )


def engine(
    store: ConversationManager,
    provider: Provider,
    tools: ToolRegistry | None,
    *,
    system_prompt: str | None = None,
    max_tool_rounds: int = 3,
    compactor: Compactor | None = None,
    **values: Any,
) -> TurnEngine:
    llm = settings(CHAT_SYSTEM_PROMPT=system_prompt, CHAT_MAX_TOOL_ROUNDS=max_tool_rounds, **values)
    return TurnEngine(store, provider, tools, llm, compactor)


def chat(
    message: str,
    *,
    conversation_id: str | None = None,
    user_id: UUID | str | None = None,
    metadata: dict[str, Any] | None = None,
    idempotency_key: str | None = None,
    include_history: bool = True,
    history_limit: int | None = 10,
    conversation_metadata: dict[str, Any] | None = None,
    create_if_missing: bool = False,
    token_budget: int | None = None,
) -> TurnRequest:
    """A /chat turn: one user message."""
    return TurnRequest(
        kind="chat",
        input=[NewMessage(role="user", content=message, metadata=metadata or {})],
        conversation_id=conversation_id,
        user_id=UUID(str(user_id)) if user_id else None,
        conversation_metadata=conversation_metadata,
        idempotency_key=idempotency_key,
        include_history=include_history,
        history_limit=history_limit,
        token_budget=token_budget,
        create_if_missing=create_if_missing,
    )


def _split(options: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    engine_options = {k: options.pop(k) for k in ("system_prompt", "max_tool_rounds") if k in options}
    return engine_options, options


async def begin_turn(store: ConversationManager, *, message: str, **options: Any) -> Turn:
    """The first store call of a turn (no model: the provider is never reached)."""
    return await engine(store, _NoModel(), None).begin(chat(message, **options))


async def run_turn(
    store: ConversationManager,
    provider: Provider,
    tools: ToolRegistry | None,
    *,
    message: str,
    **options: Any,
) -> ChatResult:
    """One whole turn without streaming: its result."""
    engine_options, request = _split(options)
    turns = engine(store, provider, tools, **engine_options)
    turn = await turns.begin(chat(message, **request))
    return (await turns.complete(turn)).result


async def stream_turn(
    store: ConversationManager,
    provider: Provider,
    tools: ToolRegistry | None,
    *,
    message: str,
    **options: Any,
) -> AsyncIterator[TurnEvent]:
    """One whole turn, streamed."""
    engine_options, request = _split(options)
    turns = engine(store, provider, tools, **engine_options)
    turn = await turns.begin(chat(message, **request))
    async for event in turns.events(turn):
        yield event


def stream_events(
    store: ConversationManager,
    provider: Provider,
    tools: ToolRegistry | None,
    turn: Turn,
    *,
    system_prompt: str | None = None,
    max_tool_rounds: int = 3,
    stream: bool = True,
) -> AsyncIterator[TurnEvent]:
    """The rest of a turn begun with begin_turn, as events."""
    turns = engine(store, provider, tools, system_prompt=system_prompt, max_tool_rounds=max_tool_rounds)
    return turns.events(turn, stream=stream)


class _NoModel:
    """A provider for turns that only begin: reaching it is a test bug."""

    model = "none"

    async def complete(self, request: Any) -> Any:
        raise AssertionError("begin_turn reached the model")

    def stream(self, request: Any) -> Any:
        raise AssertionError("begin_turn reached the model")

    async def aclose(self) -> None:
        return None
