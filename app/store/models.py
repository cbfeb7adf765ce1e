"""Typed results of the store operations, decoded straight from the functions' JSON."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

import msgspec

__all__ = [
    "AppendResult",
    "ChatTurn",
    "ClearResult",
    "Conversation",
    "ConversationExport",
    "ConversationList",
    "ConversationPage",
    "DeleteResult",
    "ExportMessage",
    "ExportPage",
    "ExtendResult",
    "Message",
    "Role",
    "Stats",
]

Role = Literal["user", "assistant", "system", "tool"]


class Message(msgspec.Struct, frozen=True):
    """One stored message; `seq` orders a conversation (1, 2, 3, ... without gaps)."""

    id: UUID
    conversation_id: str
    seq: int
    role: Role
    content: str
    metadata: dict[str, Any]
    created_at: datetime
    idempotency_key: str | None = None


class Conversation(msgspec.Struct, frozen=True):
    conversation_id: str
    user_id: UUID | None
    metadata: dict[str, Any]
    ttl_hours: int
    message_count: int
    last_seq: int
    created_at: datetime
    updated_at: datetime
    expires_at: datetime


class ConversationPage(Conversation, frozen=True):
    """A conversation with one page of messages, oldest first; `next_cursor` pages back."""

    messages: list[Message] = msgspec.field(default_factory=list)
    next_cursor: int | None = None


class ConversationList(msgspec.Struct, frozen=True):
    conversations: list[Conversation]
    next_cursor: str | None = None


class AppendResult(msgspec.Struct, frozen=True):
    """The stored message; `replayed` when an idempotency key returned an earlier one."""

    message: Message
    replayed: bool


class ChatTurn(msgspec.Struct, frozen=True):
    """The first half of a chat turn: the stored user message and the history window."""

    conversation_id: str
    created: bool
    message: Message
    replayed: bool
    history: list[Message]


class ExtendResult(msgspec.Struct, frozen=True):
    conversation_id: str
    expires_at: datetime


class ClearResult(msgspec.Struct, frozen=True):
    conversation_id: str
    cleared: int


class DeleteResult(msgspec.Struct, frozen=True):
    conversation_id: str
    deleted: bool


class Stats(msgspec.Struct, frozen=True):
    total_conversations: int
    total_messages: int
    expired_conversations: int
    active_conversations: int
    ttl_hours: int


class ExportMessage(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    role: Role
    content: str
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)
    created_at: datetime | None = None
    seq: int | None = None
    id: UUID | None = None
    idempotency_key: str | None = None


class ConversationExport(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The export shape: what export_conversation() writes and import_conversation() reads."""

    conversation_id: str
    messages: list[ExportMessage] = msgspec.field(default_factory=list)
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)
    created_at: datetime | None = None
    updated_at: datetime | None = None
    expires_at: datetime | None = None
    user_id: UUID | None = None
    ttl_hours: int | None = None


class ExportPage(msgspec.Struct, frozen=True):
    """One page of a conversation's export (export_conversation_page): the conversation's export
    fields and a page of messages, kept as the database wrote them (raw JSON, never decoded, so
    a page costs its bytes once), and the seq the next page starts after (None: the last page)."""

    conversation: msgspec.Raw
    messages: msgspec.Raw
    next_after_seq: int | None = None
