"""Example bodies of the OpenAI-compatible `/v1` routes, in OpenAI's shapes (one per struct)."""

from __future__ import annotations

from typing import Any

from app.openai_api.errors import OpenAIError, OpenAIErrorBody
from app.openai_api.schemas import (
    CompactedResponseObject,
    CompactResponseIn,
    ConversationDeleted,
    ConversationObject,
    CreateConversationIn,
    CreateItemsIn,
    CreateResponseIn,
    FunctionTool,
    ItemList,
    ResponseDeletedObject,
    ResponseObject,
    UpdateConversationIn,
)
from app.openai_api.schemas import ConversationRef as ResponseConversation

__all__ = ["V1_EXAMPLES"]

CONVERSATION_ID = "2f6ca14f-a9bc-4da1-a0ff-38b2d10ecdb8"
RESPONSE_ID = "resp_442cbed60b404a0f8efc2d132945ae51"
CREATED_AT = 1796634845
USER_ITEM: dict[str, Any] = {
    "id": "msg_91c9501bd4a14b0cb0ad489544217019",
    "type": "message",
    "role": "user",
    "status": "completed",
    "content": [{"type": "input_text", "text": "Hello!"}],
}
ASSISTANT_ITEM: dict[str, Any] = {
    "id": "msg_5183036f6348413d8d05257141627026",
    "type": "message",
    "role": "assistant",
    "status": "completed",
    "content": [{"type": "output_text", "text": "Hello! How can I help?", "annotations": []}],
}
TOOL: dict[str, Any] = {
    "type": "function",
    "name": "line_status",
    "description": "Whether a production line runs, and since when.",
    "parameters": {"type": "object", "properties": {"line": {"type": "integer"}}, "required": ["line"]},
    "strict": True,
}
ERROR: dict[str, Any] = {
    "message": "Invalid 'input': Expected `str | array | null`, got `int`.",
    "type": "invalid_request_error",
    "param": "input",
    "code": "validation_error",
}

V1_EXAMPLES: dict[type, Any] = {
    CreateConversationIn: {
        "metadata": {"app": "demo"},
        "items": [{"type": "message", "role": "user", "content": "Hello!"}],
    },
    UpdateConversationIn: {"metadata": {"app": "demo", "topic": "greetings"}},
    CreateItemsIn: {"items": [{"type": "message", "role": "user", "content": "Hello!"}]},
    ResponseConversation: {"id": CONVERSATION_ID},
    FunctionTool: TOOL,
    CreateResponseIn: {
        "model": "gpt-4o-mini",
        "input": "Hello!",
        "conversation": CONVERSATION_ID,
        "instructions": "Answer in one sentence.",
        "tools": [TOOL],
        "truncation": "auto",
    },
    ConversationObject: {
        "id": CONVERSATION_ID,
        "created_at": CREATED_AT,
        "metadata": {"app": "demo"},
        "object": "conversation",
    },
    ConversationDeleted: {"id": CONVERSATION_ID, "deleted": True, "object": "conversation.deleted"},
    ItemList: {
        "data": [ASSISTANT_ITEM, USER_ITEM],
        "first_id": ASSISTANT_ITEM["id"],
        "last_id": USER_ITEM["id"],
        "has_more": False,
        "object": "list",
    },
    ResponseObject: {
        "id": RESPONSE_ID,
        "created_at": CREATED_AT,
        "completed_at": CREATED_AT,
        "model": "gpt-4o-mini",
        "status": "completed",
        "output": [ASSISTANT_ITEM],
        "usage": {
            "input_tokens": 6,
            "output_tokens": 16,
            "total_tokens": 22,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens_details": {"reasoning_tokens": 0},
        },
        "conversation": {"id": CONVERSATION_ID},
        "instructions": "Answer in one sentence.",
        "metadata": {},
        "tools": [],
        "tool_choice": "auto",
        "parallel_tool_calls": True,
        "truncation": "disabled",
        "max_output_tokens": None,
        "previous_response_id": None,
        "store": True,
        "error": None,
        "incomplete_details": None,
        "temperature": None,
        "top_p": None,
        "object": "response",
    },
    ResponseDeletedObject: {"id": RESPONSE_ID, "deleted": True, "object": "response.deleted"},
    CompactResponseIn: {"model": "gpt-4.1", "previous_response_id": RESPONSE_ID},
    CompactedResponseObject: {
        "id": "resp_0d1c7a3e9f2b4c5d8e6f7a8b9c0d1e2f",
        "created_at": CREATED_AT,
        "output": [
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hello!"}]},
            {
                "id": "cmp_5e1b2c3d4e5f60718293a4b5c6d7e8f9",
                "type": "compaction",
                "encrypted_content": "sc1.T2ZmbGluZSBzdW1tYXJ5IG9mIDIgbWVzc2FnZShzKQ==",
            },
        ],
        "usage": {
            "input_tokens": 0,
            "output_tokens": 12,
            "total_tokens": 12,
            "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens_details": {"reasoning_tokens": 0},
        },
        "object": "response.compaction",
    },
    OpenAIError: ERROR,
    OpenAIErrorBody: {"error": ERROR},
}
