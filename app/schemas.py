"""Request and response bodies of the HTTP API (msgspec structs).

Results are the store's own typed models (app.store.models), encoded as they are; only the
request bodies and the few answers the store has no struct for live here. Bodies are decoded
strictly (see app.dto): unknown fields, wrong types and NUL characters are rejected before any
database call. Business limits (content length, TTL bounds, page sizes) are the database's.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec

from app.store.models import (
    ClearResult,
    Context,
    Conversation,
    ConversationExport,
    ConversationList,
    ConversationPage,
    ExportMessage,
    ExtendResult,
    Message,
    Role,
    Stats,
)

__all__ = [
    "CONVERSATION_ID_PATTERN",
    "NEW_CONVERSATION_ID_PATTERN",
    "AppendMessageIn",
    "ChatIn",
    "CleanupOut",
    "ClearResult",
    "Context",
    "Conversation",
    "ConversationExport",
    "ConversationId",
    "ConversationList",
    "ConversationPage",
    "CreateConversationIn",
    "ErrorBody",
    "ExportMessage",
    "ExtendIn",
    "ExtendResult",
    "FeedbackIn",
    "ForkIn",
    "IdempotencyKey",
    "Message",
    "NewConversationId",
    "Stats",
    "UpdateConversationIn",
]

# The table's check constraints, repeated only so a bad id is a 422 before any database call.
# An id being created may not be "." or ".." (URLs cannot address them); one already stored may
# (created before that rule), so ids naming a conversation keep the plain format.
CONVERSATION_ID_PATTERN = r"^[A-Za-z0-9_.:@-]{1,255}$"
NEW_CONVERSATION_ID_PATTERN = r"^(?!\.\.?$)[A-Za-z0-9_.:@-]{1,255}$"
INT32_MAX = 2_147_483_647

ConversationId = Annotated[
    str,
    msgspec.Meta(
        pattern=CONVERSATION_ID_PATTERN,
        description="Letters, digits and _ . : @ - (1 to 255 characters).",
        examples=["support-42"],
    ),
]
NewConversationId = Annotated[
    str,
    msgspec.Meta(
        pattern=NEW_CONVERSATION_ID_PATTERN,
        description='Letters, digits and _ . : @ - (1 to 255 characters), not "." nor "..".',
        examples=["support-42"],
    ),
]
IdempotencyKey = Annotated[
    str,
    msgspec.Meta(
        min_length=1, max_length=255, description="Client key; a retried append returns the original."
    ),
]
Hours = Annotated[int, msgspec.Meta(ge=-INT32_MAX, le=INT32_MAX)]
Metadata = Annotated[dict[str, Any], msgspec.Meta(description="Any JSON object.")]


class CreateConversationIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Every field is optional: the id is generated, the owner is the caller (a user token)."""

    conversation_id: NewConversationId | None = None
    user_id: UUID | None = None
    metadata: Metadata | None = None
    ttl_hours: Hours | None = None


class AppendMessageIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    role: Role
    content: str
    metadata: Metadata | None = None
    idempotency_key: IdempotencyKey | None = None


class ExtendIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    hours: Hours = 24


class UpdateConversationIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """What PATCH /conversations/{id} changes: the fields sent, nothing else (the database
    checks the limits: title at most 200 characters, at most 20 tags of at most 50)."""

    title: str | msgspec.UnsetType | None = msgspec.field(default=msgspec.UNSET)
    metadata: Metadata | msgspec.UnsetType = msgspec.field(default=msgspec.UNSET)
    metadata_patch: (
        Annotated[
            dict[str, Any],
            msgspec.Meta(
                description="Merged into metadata: its keys replace the stored ones; null removes a key."
            ),
        ]
        | msgspec.UnsetType
    ) = msgspec.field(default=msgspec.UNSET)
    archived: bool | msgspec.UnsetType = msgspec.field(default=msgspec.UNSET)
    pinned: bool | msgspec.UnsetType = msgspec.field(default=msgspec.UNSET)
    tags: list[str] | msgspec.UnsetType = msgspec.field(default=msgspec.UNSET)
    legal_hold: (
        Annotated[bool, msgspec.Meta(description="Service only (403 for users).")] | msgspec.UnsetType
    ) = msgspec.field(default=msgspec.UNSET)

    def changes(self) -> dict[str, Any]:
        """The fields that were sent, as update_conversation() takes them."""
        return {k: v for k, v in msgspec.structs.asdict(self).items() if v is not msgspec.UNSET}


class ForkIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Fork at `at_seq`: the new conversation holds copies of messages 1..at_seq."""

    at_seq: Annotated[int, msgspec.Meta(ge=1, le=2**63 - 1, description="The last message to copy.")]
    conversation_id: NewConversationId | None = None
    title: str | None = None


class FeedbackIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    rating: Annotated[Literal[1, -1], msgspec.Meta(description="1: thumbs up, -1: thumbs down.")]
    comment: str | None = None


class CleanupOut(msgspec.Struct, frozen=True):
    removed: int


class ErrorBody(msgspec.Struct, frozen=True):
    """The one shape of every error answer."""

    error: str
    message: str
    details: Any = None


# -- /chat -------------------------------------------------------------------------------------
ChatMessageText = Annotated[
    str,
    msgspec.Meta(
        pattern=r"\S",
        description="The user's message (not blank; the database limits its length).",
        examples=["How is line 999?"],
    ),
]
HistoryLimit = Annotated[
    int,
    msgspec.Meta(
        ge=1,
        le=INT32_MAX,
        description="Messages of history sent to the model, this one included (default "
        "CHAT_HISTORY_LIMIT, capped at CHAT_HISTORY_MAX).",
    ),
]
ChatOwner = Annotated[
    UUID,
    msgspec.Meta(
        description="Owner of the conversation this turn starts (service callers; a user may only "
        "name itself: 403)."
    ),
]
MessageMetadata = Annotated[
    dict[str, Any], msgspec.Meta(description="Stored on the user's message (any JSON object).")
]
StartMetadata = Annotated[
    dict[str, Any],
    msgspec.Meta(description="Stored on the conversation when this turn starts it (any JSON object)."),
]
TokenBudget = Annotated[
    int,
    msgspec.Meta(
        ge=0,
        le=INT32_MAX,
        description="Tokens of history to send (default CHAT_TOKEN_BUDGET): the newest messages whose "
        "token counts fit, this one always in, and the latest summary of what they leave out; 0: no "
        "budget, the last history_limit messages.",
    ),
]
IncludeHistory = Annotated[
    bool, msgspec.Meta(description="Send the conversation's last messages to the model (else only this one).")
]
StreamFlag = Annotated[bool, msgspec.Meta(description="Answer as server-sent events (text/event-stream).")]
RegenerateFlag = Annotated[
    bool,
    msgspec.Meta(
        description="Answer this message again: `idempotency_key` names the stored user message; what "
        "came after it (the reply, its tool results) is replaced, and kept on the new turn (superseded)."
    ),
]


class ChatIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """One chat turn. Without `conversation_id` the turn starts a conversation (owned by
    `user_id`, or by the calling user); with one, it continues that live conversation (404 if
    it is unknown, expired or not the caller's)."""

    message: ChatMessageText
    conversation_id: ConversationId | None = None
    include_history: IncludeHistory = True
    history_limit: HistoryLimit | None = None
    token_budget: TokenBudget | None = None
    user_id: ChatOwner | None = None
    metadata: MessageMetadata | None = None
    conversation_metadata: StartMetadata | None = None
    idempotency_key: IdempotencyKey | None = None
    stream: StreamFlag = False
    regenerate: RegenerateFlag = False
