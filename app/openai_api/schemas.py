"""OpenAI's object shapes for the /v1 routes, as the installed `openai` SDK's types encode them
(openai/types/conversations/, openai/types/responses/).

Request bodies are decoded leniently, as OpenAI does: fields we do not use (`temperature`,
`include`, `reasoning`...) are accepted and ignored. Items stay JSON objects here and are
parsed in app.openai_api.items, where the mapping to messages lives.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

__all__ = [
    "MAX_ITEMS",
    "CompactResponseIn",
    "CompactedResponseObject",
    "ConversationDeleted",
    "ConversationObject",
    "CreateConversationIn",
    "CreateItemsIn",
    "CreateResponseIn",
    "ItemList",
    "Metadata",
    "ResponseDeletedObject",
    "ResponseObject",
    "UpdateConversationIn",
]

# OpenAI's limits: 20 items per create call; metadata of 16 pairs, keys of at most 64
# characters, string values of at most 512.
MAX_ITEMS = 20
Metadata = Annotated[
    dict[Annotated[str, msgspec.Meta(max_length=64)], Annotated[str, msgspec.Meta(max_length=512)]],
    msgspec.Meta(max_length=16, description="At most 16 pairs; keys up to 64 characters, values up to 512."),
]
Item = Annotated[
    dict[str, Any], msgspec.Meta(description="An item: message, function_call, function_call_output.")
]
Items = Annotated[list[Item], msgspec.Meta(max_length=MAX_ITEMS, description="At most 20 items.")]


class CreateConversationIn(msgspec.Struct, frozen=True, kw_only=True):
    items: Items | None = None
    metadata: Metadata | None = None


class UpdateConversationIn(msgspec.Struct, frozen=True, kw_only=True):
    metadata: Metadata


class CreateItemsIn(msgspec.Struct, frozen=True, kw_only=True):
    items: Annotated[list[Item], msgspec.Meta(min_length=1, max_length=MAX_ITEMS)]


class ConversationRef(msgspec.Struct, frozen=True):
    id: Annotated[str, msgspec.Meta(max_length=255)]


# OpenAI's bounds on what describes a request: a function name is 1-64 letters, digits, _ or -;
# 128 tools at most; instructions, like an input message, at most 1,048,576 characters.
ToolName = Annotated[str, msgspec.Meta(pattern=r"^[a-zA-Z0-9_-]{1,64}$")]
MAX_TOOLS = 128
MAX_TEXT = 1_048_576


class FunctionTool(msgspec.Struct, frozen=True, kw_only=True):
    """A function tool: the model's calls come back as function_call items for the client."""

    type: Annotated[str, msgspec.Meta(max_length=64)]
    name: ToolName | None = None
    description: Annotated[str, msgspec.Meta(max_length=MAX_TEXT)] | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class CreateResponseIn(msgspec.Struct, frozen=True, kw_only=True):
    model: Annotated[str, msgspec.Meta(max_length=256)] | None = None
    input: Annotated[str, msgspec.Meta(max_length=MAX_TEXT)] | list[Item] | None = None
    instructions: Annotated[str, msgspec.Meta(max_length=MAX_TEXT)] | None = None
    conversation: Annotated[str, msgspec.Meta(max_length=255)] | ConversationRef | None = None
    previous_response_id: Annotated[str, msgspec.Meta(max_length=255)] | None = None
    store: bool = True
    stream: bool = False
    background: bool = False
    tools: Annotated[list[FunctionTool], msgspec.Meta(max_length=MAX_TOOLS)] | None = None
    tool_choice: str | dict[str, Any] | None = None
    truncation: Literal["auto", "disabled"] | None = None
    max_output_tokens: Annotated[int, msgspec.Meta(ge=16)] | None = None
    metadata: Metadata | None = None
    parallel_tool_calls: bool | None = None
    temperature: float | None = None
    top_p: float | None = None
    user: str | None = None


class ConversationObject(msgspec.Struct, frozen=True):
    id: str
    created_at: int
    metadata: dict[str, Any]
    object: Literal["conversation"] = "conversation"


class ConversationDeleted(msgspec.Struct, frozen=True):
    id: str
    deleted: bool = True
    object: Literal["conversation.deleted"] = "conversation.deleted"


class ItemList(msgspec.Struct, frozen=True):
    data: list[dict[str, Any]]
    first_id: str | None
    last_id: str | None
    has_more: bool
    object: Literal["list"] = "list"


class ResponseObject(msgspec.Struct, frozen=True, kw_only=True):
    """The response object (openai.types.responses.Response), with the fields we fill."""

    id: str
    created_at: int
    model: str
    status: str
    output: list[dict[str, Any]]
    usage: dict[str, Any] | None
    conversation: ConversationRef | None
    instructions: str | None = None
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)
    tools: list[dict[str, Any]] = msgspec.field(default_factory=list)
    tool_choice: Any = "auto"
    parallel_tool_calls: bool = True
    truncation: str = "disabled"
    max_output_tokens: int | None = None
    previous_response_id: str | None = None
    store: bool = True
    error: dict[str, Any] | None = None
    incomplete_details: dict[str, Any] | None = None
    temperature: float | None = None
    top_p: float | None = None
    completed_at: int | None = None
    background: bool = False
    object: Literal["response"] = "response"


class CompactResponseIn(msgspec.Struct, frozen=True, kw_only=True):
    """responses.compact: the history to compact, given as `input` items or as the conversation
    of `previous_response_id` (up to that response)."""

    model: Annotated[str, msgspec.Meta(max_length=256)] | None = None
    input: Annotated[str, msgspec.Meta(max_length=MAX_TEXT)] | list[Item] | None = None
    previous_response_id: Annotated[str, msgspec.Meta(max_length=255)] | None = None
    instructions: Annotated[str, msgspec.Meta(max_length=MAX_TEXT)] | None = None


class CompactedResponseObject(msgspec.Struct, frozen=True, kw_only=True):
    """The compacted window (openai.types.responses.CompactedResponse): the user messages, then
    one compaction item carrying the summary."""

    id: str
    created_at: int
    output: list[dict[str, Any]]
    usage: dict[str, Any]
    object: Literal["response.compaction"] = "response.compaction"


class ResponseDeletedObject(msgspec.Struct, frozen=True):
    id: str
    deleted: bool = True
    object: Literal["response.deleted"] = "response.deleted"
