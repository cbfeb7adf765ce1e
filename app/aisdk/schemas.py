"""What the AI SDK's `DefaultChatTransport` sends to `POST /api/chat`.

`{id, messages, trigger, messageId}` plus whatever the page adds (`body` of the transport):
unknown fields are accepted and ignored, as the SDK's own server helpers do. A UIMessage is
checked here for what the store needs (an id that can be its key, a role, a list of parts of
bounded size); the parts themselves are the client's and read back as sent.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from app.schemas import ConversationId

__all__ = ["MAX_MESSAGES", "ChatRequestIn", "UIMessage"]

MAX_MESSAGES = 1000
MessageId = Annotated[
    str, msgspec.Meta(min_length=1, max_length=255, description="The message's id: its key.")
]


class UIMessage(msgspec.Struct, frozen=True, omit_defaults=True):
    """The AI SDK's message (its `UIMessage`: `{id, role, metadata?, parts}`), as it is sent and
    read back."""

    id: MessageId
    role: Literal["system", "user", "assistant"]
    parts: Annotated[list[dict[str, Any]], msgspec.Meta(max_length=1000)]
    metadata: Any = None


class ChatRequestIn(msgspec.Struct, frozen=True, kw_only=True):
    """One request of `useChat`: the chat (our conversation) and its messages; `trigger` says
    whether to answer the last user message or to regenerate the reply `messageId` (the last
    one when absent)."""

    id: ConversationId
    messages: Annotated[list[UIMessage], msgspec.Meta(min_length=1, max_length=MAX_MESSAGES)]
    trigger: Literal["submit-message", "regenerate-message"] = "submit-message"
    messageId: MessageId | None = None
