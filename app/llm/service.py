"""ChatService: chat turns as one principal, with the configured model, tools and limits.

What the /chat handler receives (app.dependencies.provide_chat): the turn functions of
app.llm.chat bound to the request's store and the service's provider, tools and settings.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

from app.config import LLMSettings
from app.llm.chat import ChatEvent, ChatResult, TurnStart, begin_turn, complete_turn, stream_events
from app.llm.provider import ChatMessage, CompletionRequest, Provider, ProviderError
from app.llm.tools import ToolRegistry
from app.store.errors import StoreError
from app.store.manager import ConversationManager

__all__ = ["TITLE_PROMPT", "ChatService"]

log = logging.getLogger("app.llm.titles")

TITLE_PROMPT = (
    "Write a title of at most six words for a conversation that starts with the user's message "
    "below. Answer with the title only: no quotes, no punctuation at the end."
)


class ChatService:
    """One principal's chat turns (see app.llm.chat for what a turn stores and when)."""

    __slots__ = ("provider", "settings", "store", "tools")

    def __init__(
        self, store: ConversationManager, provider: Provider, tools: ToolRegistry, settings: LLMSettings
    ) -> None:
        self.store = store
        self.provider = provider
        self.tools = tools
        self.settings = settings

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
    ) -> TurnStart:
        """Store the user's message and read the history window (capped by the settings)."""
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
        )

    def events(self, start: TurnStart) -> AsyncIterator[ChatEvent]:
        """The rest of the turn, streamed."""
        return stream_events(
            self.store,
            self.provider,
            self.tools,
            start,
            system_prompt=self.settings.system_prompt,
            max_tool_rounds=self.settings.max_tool_rounds,
        )

    async def complete(self, start: TurnStart) -> ChatResult:
        """The rest of the turn, without streaming."""
        return await complete_turn(
            self.store,
            self.provider,
            self.tools,
            start,
            system_prompt=self.settings.system_prompt,
            max_tool_rounds=self.settings.max_tool_rounds,
        )

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
