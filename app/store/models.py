"""Typed results of the store operations, decoded straight from the functions' JSON."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal
from uuid import UUID

import msgspec

__all__ = [
    "AppendResult",
    "BegunTurn",
    "ChatTurn",
    "ClearResult",
    "Compaction",
    "Context",
    "ContextFit",
    "Conversation",
    "ConversationExport",
    "ConversationList",
    "ConversationPage",
    "DeleteResult",
    "Erasure",
    "ExportFeedback",
    "ExportMessage",
    "ExportPage",
    "ExtendResult",
    "Feedback",
    "FeedbackDeleted",
    "FeedbackResult",
    "FinishedTurn",
    "ForkedFrom",
    "LastMessage",
    "LeaseRenewal",
    "LeftOut",
    "ListedConversation",
    "Message",
    "MessagePage",
    "NewMessage",
    "ResponseDeleted",
    "ResponseRecord",
    "Role",
    "SearchHit",
    "SearchResult",
    "Stats",
    "StreamWindow",
    "SummaryInput",
    "TurnEventBatch",
    "TurnKind",
    "TurnRecord",
    "TurnState",
    "TurnView",
    "Usage",
    "UsageRow",
    "WindowChoice",
]

Role = Literal["user", "assistant", "system", "tool"]
TurnKind = Literal["chat", "response", "ui"]
TurnState = Literal["queued", "in_progress", "completed", "stopped", "failed"]


class Message(msgspec.Struct, frozen=True):
    """One stored message; `seq` orders a conversation (1, 2, 3, ...; a deleted message leaves
    a hole, never reused). `tokens`: the provider's count when its metadata reports one, else
    the database's estimate. `feedback`: the caller's own rating of it, when it has rated it
    (the message readers return it; another rater's is never shown)."""

    id: UUID
    conversation_id: str
    seq: int
    role: Role
    content: str
    metadata: dict[str, Any]
    created_at: datetime
    idempotency_key: str | None = None
    tokens: int = 0
    user_id: UUID | None = None
    feedback: Feedback | None = None

    @property
    def is_summary(self) -> bool:
        """A summary of earlier messages (role system, metadata kind "summary")."""
        return self.role == "system" and self.metadata.get("kind") == "summary"


class NewMessage(msgspec.Struct, frozen=True, omit_defaults=True):
    """A message to append (append_messages): what append_message takes, as one JSON element."""

    role: Role
    content: str
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)
    idempotency_key: str | None = None


class MessagePage(msgspec.Struct, frozen=True):
    """A page of messages in the order asked for; `has_more`: more follow in that order."""

    messages: list[Message]
    has_more: bool


class StreamWindow(msgspec.Struct, frozen=True):
    """A conversation as a live stream reads it (get_conversation's answer, other fields
    ignored): the row behind the id (`row_id`: ids are reused once a conversation is deleted or
    expires), its owner and creation time, the last seq handed out, and the messages asked for.
    Not an API shape: the row id stays inside the API."""

    row_id: UUID
    user_id: UUID | None
    created_at: datetime
    last_seq: int
    messages: list[Message] = msgspec.field(default_factory=list)


class Conversation(msgspec.Struct, frozen=True):
    """A conversation; `expires_at` reads 9999-12-31T23:59:59Z while under legal hold."""

    conversation_id: str
    user_id: UUID | None
    metadata: dict[str, Any]
    ttl_hours: int
    message_count: int
    last_seq: int
    created_at: datetime
    updated_at: datetime
    expires_at: datetime
    title: str | None = None
    archived: bool = False
    pinned: bool = False
    tags: list[str] = msgspec.field(default_factory=list)
    legal_hold: bool = False


class ConversationPage(Conversation, frozen=True):
    """A conversation with one page of messages, oldest first; `next_cursor` pages back."""

    messages: list[Message] = msgspec.field(default_factory=list)
    next_cursor: int | None = None


class LastMessage(msgspec.Struct, frozen=True):
    """A listing's preview of a conversation's newest message (content cut at 200 characters)."""

    role: Role
    content: str
    created_at: datetime


class ListedConversation(Conversation, frozen=True):
    last_message: LastMessage | None = None


class ConversationList(msgspec.Struct, frozen=True):
    conversations: list[ListedConversation]
    next_cursor: str | None = None


class SearchHit(msgspec.Struct, frozen=True):
    """A matching message: `snippet` marks the matched words with <mark>...</mark>."""

    conversation_id: str
    title: str | None
    seq: int
    role: Role
    created_at: datetime
    rank: float
    snippet: str


class SearchResult(msgspec.Struct, frozen=True):
    hits: list[SearchHit]
    next_cursor: str | None = None


class Feedback(msgspec.Struct, frozen=True):
    """A rating of a message by `user_id` (null: the service), as the feedback routes answer it
    and the message readers return it with the caller's messages."""

    rating: Literal[1, -1]
    comment: str | None
    user_id: UUID | None
    created_at: datetime
    updated_at: datetime


class FeedbackResult(msgspec.Struct, frozen=True):
    """The rated message with the caller's feedback."""

    message: Message
    feedback: Feedback


class FeedbackDeleted(msgspec.Struct, frozen=True):
    conversation_id: str
    seq: int
    deleted: bool


class UsageRow(msgspec.Struct, frozen=True):
    """Totals of one group (`day` and `model` present when grouped by them); `cost` is null
    when no model of the group has a price."""

    messages: int
    prompt_tokens: int
    completion_tokens: int
    cost: float | None = None
    day: date | None = None
    model: str | None = None


class Usage(msgspec.Struct, frozen=True):
    user_id: UUID | None
    group_by: list[str]
    rows: list[UsageRow]
    from_: date | None = msgspec.field(default=None, name="from")
    to: date | None = None


class Erasure(msgspec.Struct, frozen=True):
    """The record of one erasure: counts only, never content."""

    id: UUID
    user_id: UUID
    requested_by: str
    requested_at: datetime
    finished_at: datetime
    conversations_removed: int
    messages_removed: int
    feedback_removed: int
    conversations_kept: int
    kept_reason: str | None = None


class AppendResult(msgspec.Struct, frozen=True):
    """The stored message; `replayed` when an idempotency key returned an earlier one."""

    message: Message
    replayed: bool


class LeftOut(msgspec.Struct, frozen=True):
    """What a context window left out: seqs a summary stands for (`summarized`), and the seqs
    and tokens no summary covers (`unsummarized`, `unsummarized_tokens`)."""

    summarized: list[int] | None = None
    unsummarized: list[int] | None = None
    unsummarized_tokens: int = 0


class Compaction(msgspec.Struct, frozen=True):
    """Whether a summary of seqs first_seq..last_seq is due (the database decides)."""

    due: bool = False
    first_seq: int | None = None
    last_seq: int | None = None
    tokens: int = 0


class WindowChoice(msgspec.Struct, frozen=True, kw_only=True):
    """How a token-budgeted window was chosen, without its messages: the summary sent, the seqs
    sent (first_seq..last_seq), their tokens (the summary's included), what was left out,
    whether to compact. A turn reads it so (its history holds the messages: decoded once)."""

    token_budget: int
    tokens: int
    summary: Message | None = None
    first_seq: int | None = None
    last_seq: int | None = None
    left_out: LeftOut | None = None
    compaction: Compaction = msgspec.field(default_factory=Compaction)
    conversation_id: str | None = None


class Context(WindowChoice, frozen=True, kw_only=True):
    """A token-budgeted window: how it was chosen, and the messages sent, oldest first."""

    messages: list[Message] = msgspec.field(default_factory=list)


class ContextFit(msgspec.Struct, frozen=True):
    """Whether a history (up to a seq) and an input fit a token budget and a message cap with
    nothing left out (`fits`), their counts, and the history's window for what the input leaves
    (`context`, None without a conversation or room). The database decides; nothing is stored."""

    fits: bool
    tokens: int
    token_budget: int
    messages: int
    limit: int
    left_out: LeftOut | None = None
    context: Context | None = None


class ChatTurn(msgspec.Struct, frozen=True):
    """The first half of a chat turn: the stored user message and the history window (with a
    token budget, `context` says how it was chosen). On a replayed key, what the first attempt
    stored: its `reply`, or the `tool_results` it stored before it stopped."""

    conversation_id: str
    created: bool
    message: Message
    replayed: bool
    history: list[Message]
    context: Context | None = None
    reply: Message | None = None
    tool_results: list[Message] = msgspec.field(default_factory=list)


class TurnRecord(msgspec.Struct, frozen=True):
    """A turn as the store keeps it (public.ai_turns): its face (`kind`), its `state`, the
    `request` its face began it with and the `result` that finished it, and `last_seq`, the
    seq of its last message (where a continuation of it goes on, or forks)."""

    id: UUID
    conversation_id: str
    kind: TurnKind
    state: TurnState
    created_at: datetime
    updated_at: datetime
    idempotency_key: str | None = None
    request: dict[str, Any] = msgspec.field(default_factory=dict)
    result: dict[str, Any] = msgspec.field(default_factory=dict)
    last_seq: int = 0
    finished_at: datetime | None = None
    lease_expires_at: datetime | None = None
    stop_requested_at: datetime | None = None
    event_seq: int = 0

    @property
    def finished(self) -> bool:
        return self.state in ("completed", "stopped", "failed")


class TurnEventBatch(msgspec.Struct, frozen=True):
    """A batch of a turn's stream as stored (public.ai_turn_events): its events seq..last_seq."""

    seq: int
    last_seq: int
    events: list[dict[str, Any]]


class TurnView(msgspec.Struct, frozen=True):
    """What get_turn answers: the turn, its own message, the output it stored, what it superseded
    (a regeneration's replaced messages) and, when asked for, the batches of its stream after a
    position."""

    turn: TurnRecord
    output: list[Message]
    user_message_id: UUID | None = None
    events: list[TurnEventBatch] | None = None
    superseded: list[Message] | None = None


class LeaseRenewal(msgspec.Struct, frozen=True):
    """What renew_turn_leases answers: the lease's length, the turns whose stop was asked for and
    those not running any more."""

    lease_seconds: int
    stop: list[UUID]
    ended: list[UUID]


class ForkedFrom(msgspec.Struct, frozen=True):
    conversation_id: str
    seq: int


class BegunTurn(msgspec.Struct, frozen=True):
    """What begin_turn answers: the turn (None when nothing is stored), where it went (a new
    conversation when `created`; a fork of a previous response's conversation when
    `forked_from`), its stored `input`, and the history window ending with it (with a token
    budget, `context` says how it was chosen; with nothing stored, the window of what is stored,
    before the input). On a replayed key, what the first attempt stored: its `reply`, or the
    `tool_results` it stored before it stopped; `running`: that attempt still runs under a live
    lease (follow its stream rather than generate it again)."""

    turn: TurnRecord | None
    conversation_id: str | None
    created: bool
    replayed: bool
    input: list[Message]
    history: list[Message]
    forked_from: ForkedFrom | None = None
    context: WindowChoice | None = None
    reply: Message | None = None
    tool_results: list[Message] = msgspec.field(default_factory=list)
    running: bool = False


class FinishedTurn(msgspec.Struct, frozen=True):
    """What finish_turn answers: the finished turn and the output it stored (`replayed`: the
    turn was finished already, or a message's key replayed)."""

    turn: TurnRecord
    messages: list[Message]
    replayed: bool = False


class SummaryInput(msgspec.Struct, frozen=True):
    """What a summary of first_seq..last_seq is made of: the summary it extends, if any, and
    the messages after it (last_seq is where they stop)."""

    conversation_id: str
    first_seq: int
    last_seq: int
    messages: list[Message]
    summary: Message | None = None


class ResponseRecord(msgspec.Struct, frozen=True):
    """One /v1 response: its turn, its conversation, the messages its turn stored as its input
    and its output (those still there, seq order), and `latest`: nothing but summaries came
    after it."""

    turn: TurnRecord
    conversation: Conversation
    input: list[Message]
    output: list[Message]
    latest: bool


class ResponseDeleted(msgspec.Struct, frozen=True):
    id: str
    deleted: int


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


class ExportFeedback(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A rating of an exported message (the ratings its exporter may read)."""

    rating: int
    user_id: UUID | None = None
    comment: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


class ExportMessage(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    role: Role
    content: str
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)
    created_at: datetime | None = None
    seq: int | None = None
    id: UUID | None = None
    idempotency_key: str | None = None
    feedback: list[ExportFeedback] | None = None


class ConversationExport(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The export shape: what export_conversation() writes and import_conversation() reads.

    Every field but the id is optional: an export of an earlier release (without title, tags,
    pinned, archived, legal_hold, last_seq, feedback) imports too. A title left out stays out of
    the document sent to import_conversation() (UNSET), so the first user message gives one
    there, while a title sent as null stays null."""

    conversation_id: str
    messages: list[ExportMessage] = msgspec.field(default_factory=list)
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)
    created_at: datetime | None = None
    updated_at: datetime | None = None
    expires_at: datetime | None = None
    user_id: UUID | None = None
    ttl_hours: int | None = None
    title: str | msgspec.UnsetType | None = msgspec.UNSET
    tags: list[str] | None = None
    pinned: bool | None = None
    archived: bool | None = None
    legal_hold: bool | None = None
    last_seq: int | None = None


class ExportPage(msgspec.Struct, frozen=True):
    """One page of a conversation's export (export_conversation_page): the conversation's export
    fields and a page of messages, kept as the database wrote them (raw JSON, never decoded, so
    a page costs its bytes once), and the seq the next page starts after (None: the last page)."""

    conversation: msgspec.Raw
    messages: msgspec.Raw
    next_after_seq: int | None = None
