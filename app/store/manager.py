"""ConversationManager: the store's public face, one SQL function call per method.

No rule lives here: TTL, ordering, idempotency, visibility and limits are enforced by the
database. The manager names the call, drops unset arguments (so SQL defaults apply) and
decodes the JSON answer into typed structs.
"""

from __future__ import annotations

from typing import Any, TypeVar
from uuid import UUID, uuid4

import msgspec

from app.store.errors import StoreError
from app.store.models import (
    AppendResult,
    ChatTurn,
    ClearResult,
    Conversation,
    ConversationExport,
    ConversationList,
    ConversationPage,
    DeleteResult,
    ExtendResult,
    Message,
    Role,
    Stats,
)
from app.store.transport import SERVICE, Principal, Transport

__all__ = ["OWN_KEY_PREFIX", "ConversationManager"]

T = TypeVar("T")

# The idempotency keys the store gives appends that came without one.
OWN_KEY_PREFIX = "auto:"


def _own_key() -> str:
    """A fresh idempotency key for an append whose caller sent none: a retry of the call
    (after a connection broke under it, when it may have committed) then replays the first
    attempt instead of storing the message twice."""
    return f"{OWN_KEY_PREFIX}{uuid4()}"


def _first_for_caller(result: AppendResult, idempotency_key: str | None) -> AppendResult:
    """A replay of the store's own key is its own retry finding the first attempt committed:
    for the caller, who sent no key, the message was appended once, now (201, not 200)."""
    if result.replayed and idempotency_key is None:
        return msgspec.structs.replace(result, replayed=False)
    return result


class ConversationManager:
    """Conversation history kept in Supabase, acting as one principal (the service by default)."""

    __slots__ = ("principal", "transport")

    def __init__(self, transport: Transport, principal: Principal = SERVICE) -> None:
        self.transport = transport
        self.principal = principal

    def as_principal(self, principal: Principal) -> ConversationManager:
        """The same store acting as someone else (cheap: shares the transport)."""
        return ConversationManager(self.transport, principal)

    async def _call(self, function: str, result_type: type[T], *, retry: bool = False, **args: Any) -> T:
        """`retry`: the call may run twice to the same effect (see Transport.call)."""
        raw = await self.transport.call(
            function, {k: v for k, v in args.items() if v is not None}, self.principal, retry=retry
        )
        try:
            return msgspec.json.decode(raw, type=result_type)
        except msgspec.DecodeError as exc:  # ValidationError included: a schema/code mismatch
            raise StoreError(f"{function} answered in an unexpected shape: {exc}") from exc

    # -- conversations -------------------------------------------------------------------
    async def create_conversation(
        self,
        user_id: UUID | str | None = None,
        *,
        conversation_id: str | None = None,
        metadata: dict[str, Any] | None = None,
        ttl_hours: int | None = None,
    ) -> Conversation:
        return await self._call(
            "create_conversation",
            Conversation,
            p_conversation_id=conversation_id,
            p_user_id=str(user_id) if user_id else None,
            p_metadata=metadata,
            p_ttl_hours=ttl_hours,
        )

    async def get_conversation(
        self, conversation_id: str, limit: int = 50, before: int | None = None
    ) -> ConversationPage:
        return await self._call(
            "get_conversation",
            ConversationPage,
            retry=True,
            p_conversation_id=conversation_id,
            p_message_limit=limit,
            p_before_seq=before,
        )

    async def get_user_conversations(
        self, user_id: UUID | str | None = None, limit: int = 10, cursor: str | None = None
    ) -> ConversationList:
        return await self._call(
            "list_conversations",
            ConversationList,
            retry=True,
            p_user_id=str(user_id) if user_id else None,
            p_limit=limit,
            p_cursor=cursor,
        )

    async def extend_ttl(self, conversation_id: str, hours: int = 24) -> ExtendResult:
        return await self._call(
            "extend_conversation", ExtendResult, p_conversation_id=conversation_id, p_hours=hours
        )

    async def clear_conversation(self, conversation_id: str) -> ClearResult:
        return await self._call("clear_conversation", ClearResult, p_conversation_id=conversation_id)

    async def delete_conversation(self, conversation_id: str) -> DeleteResult:
        return await self._call("delete_conversation", DeleteResult, p_conversation_id=conversation_id)

    # -- messages ------------------------------------------------------------------------
    async def add_message(
        self,
        conversation_id: str,
        role: Role,
        content: str,
        metadata: dict[str, Any] | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> AppendResult:
        """Without an `idempotency_key` the append gets one of its own (see _own_key), so the
        transport may send it again after a broken connection without storing it twice."""
        result = await self._call(
            "append_message",
            AppendResult,
            retry=True,
            p_conversation_id=conversation_id,
            p_role=role,
            p_content=content,
            p_metadata=metadata,
            p_idempotency_key=idempotency_key or _own_key(),
        )
        return _first_for_caller(result, idempotency_key)

    async def get_messages(
        self, conversation_id: str, limit: int = 10, before: int | None = None
    ) -> list[Message]:
        return await self._call(
            "get_messages",
            list[Message],
            retry=True,
            p_conversation_id=conversation_id,
            p_limit=limit,
            p_before_seq=before,
        )

    async def begin_chat_turn(
        self,
        content: str,
        *,
        conversation_id: str | None = None,
        user_id: UUID | str | None = None,
        metadata: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
        history_limit: int = 10,
        conversation_metadata: dict[str, Any] | None = None,
        create_if_missing: bool = False,
    ) -> ChatTurn:
        """Append the user's message (creating the conversation when needed) and return the
        history window ending with it: the first of a chat turn's two round trips."""
        turn = await self._call(
            "begin_chat_turn",
            ChatTurn,
            # Without a conversation id a second run would start a second conversation.
            retry=conversation_id is not None,
            p_content=content,
            p_conversation_id=conversation_id,
            p_user_id=str(user_id) if user_id else None,
            p_metadata=metadata,
            p_idempotency_key=idempotency_key or _own_key(),
            p_history_limit=history_limit,
            p_conversation_metadata=conversation_metadata,
            p_create_if_missing=create_if_missing or None,
        )
        if turn.replayed and idempotency_key is None:
            return msgspec.structs.replace(turn, replayed=False)
        return turn

    # -- admin ---------------------------------------------------------------------------
    async def stats(self) -> Stats:
        return await self._call("conversation_stats", Stats, retry=True)

    async def cleanup_expired(self, batch_size: int | None = None) -> int:
        return await self._call("cleanup_expired_conversations", int, p_batch_size=batch_size)

    async def export_conversation(self, conversation_id: str) -> ConversationExport:
        return await self._call(
            "export_conversation", ConversationExport, retry=True, p_conversation_id=conversation_id
        )

    async def import_conversation(self, export: ConversationExport | dict[str, Any]) -> Conversation:
        document = msgspec.to_builtins(export) if isinstance(export, ConversationExport) else export
        return await self._call("import_conversation", Conversation, p_export=document)
