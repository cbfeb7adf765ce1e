"""ChatService: chat turns as one principal, with the configured model, tools and limits.

What the /chat handler receives (app.dependencies.provide_chat): the turn functions of
app.llm.chat bound to the request's store and the service's provider, tools and settings,
and the process's Compactor, which stores the summary a turn reports due after its reply.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

from app.config import LLMSettings
from app.llm.chat import (
    ChatEvent,
    ChatResult,
    TurnCompleted,
    TurnStart,
    begin_turn,
    complete_turn,
    stream_events,
)
from app.llm.compaction import Compactor
from app.llm.provider import ChatMessage, CompletionRequest, Provider, ProviderError
from app.llm.tools import ToolRegistry
from app.store.errors import StoreError
from app.store.manager import ConversationManager
from app.store.models import Context

__all__ = ["TITLE_PROMPT", "ChatService"]

log = logging.getLogger("app.llm.titles")

TITLE_PROMPT = (
    "Write a title of at most six words for a conversation that starts with the user's message "
    "below. Answer with the title only: no quotes, no punctuation at the end."
)


class ChatService:
    """One principal's chat turns (see app.llm.chat for what a turn stores and when)."""

    __slots__ = ("compactor", "provider", "settings", "store", "tools")

    def __init__(
        self,
        store: ConversationManager,
        provider: Provider,
        tools: ToolRegistry,
        settings: LLMSettings,
        compactor: Compactor | None = None,
    ) -> None:
        self.store = store
        self.provider = provider
        self.tools = tools
        self.settings = settings
        self.compactor = compactor

    async def begin(
        self,
        message: str,
        *,
        conversation_id: str | None = None,
        user_id: UUID | None = None,
        metadata: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
        include_history: bool = True,
        history_limit: int | None = None,
        conversation_metadata: dict[str, Any] | None = None,
        token_budget: int | None = None,
    ) -> TurnStart:
        """Store the user's message and read the history window: the database's window for
        the token budget (the request's, else CHAT_TOKEN_BUDGET), or without one the last
        messages; at most history_limit (capped by the settings) either way."""
        budget = self.settings.token_window(token_budget)
        return await begin_turn(
            self.store,
            message=message,
            conversation_id=conversation_id,
            user_id=user_id,
            metadata=metadata,
            idempotency_key=idempotency_key,
            include_history=include_history,
            history_limit=self.settings.history_window(history_limit),
            conversation_metadata=conversation_metadata,
            token_budget=budget,
        )

    async def events(self, start: TurnStart) -> AsyncIterator[ChatEvent]:
        """The rest of the turn, streamed; a summary due is started after the reply."""
        async for event in stream_events(
            self.store,
            self.provider,
            self.tools,
            start,
            system_prompt=self.settings.system_prompt,
            max_tool_rounds=self.settings.max_tool_rounds,
        ):
            if isinstance(event, TurnCompleted):
                self._compact(start)
            yield event

    async def complete(self, start: TurnStart) -> ChatResult:
        """The rest of the turn, without streaming; a summary due is started after the reply."""
        result = await complete_turn(
            self.store,
            self.provider,
            self.tools,
            start,
            system_prompt=self.settings.system_prompt,
            max_tool_rounds=self.settings.max_tool_rounds,
        )
        self._compact(start)
        return result

    async def context(self, conversation_id: str, token_budget: int | None = None) -> Context:
        """What the next turn with this budget (else CHAT_TOKEN_BUDGET) would send."""
        budget = token_budget or self.settings.default_token_budget
        return await self.store.get_context(conversation_id, budget, self.settings.history_window())

    def _compact(self, start: TurnStart) -> None:
        compaction = start.compaction
        if compaction is not None and self.compactor is not None:
            self.compactor.schedule(self.store, self.provider, start.conversation_id, compaction)

    def wants_title(self, start: TurnStart) -> bool:
        """A new conversation, a configured model and CHAT_GENERATE_TITLES on."""
        return start.created and self.settings.generate_titles and not self.settings.uses_offline

    async def generate_title(self, start: TurnStart) -> None:
        """Ask the model for a title of the conversation `start` began and store it (one
        update_conversation call). Runs after the reply was sent; a failure only logs: the
        database already titled the conversation from its first user message."""
        request = CompletionRequest(
            messages=[
                ChatMessage(role="system", content=TITLE_PROMPT),
                ChatMessage(role="user", content=start.user_message.content[:2000]),
            ],
            max_tokens=24,
        )
        try:
            title = " ".join((await self.provider.complete(request)).content.split()).strip(" \"'.")[:80]
            if title:
                await self.store.update_conversation(start.conversation_id, {"title": title})
        except (ProviderError, StoreError) as exc:
            log.warning("no generated title for %s: %s", start.conversation_id, exc)
