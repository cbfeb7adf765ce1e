"""Example bodies of the native API (`/conversations`, `/chat`, `/search`, ...), one per struct.

They tell one story: a support conversation `support-42` of one user, a question, a tool call
and the model's reply, as `make run` answers it (the offline model). Values are what the API
sends, JSON as it is on the wire.
"""

from __future__ import annotations

from typing import Any

from app.controllers.health import HealthStatus, PoolStatus
from app.controllers.web_config import WebConfig
from app.llm import Usage as ModelUsage
from app.schemas import (
    AppendMessageIn,
    ChatIn,
    CleanupOut,
    CreateConversationIn,
    ErrorBody,
    ExtendIn,
    FeedbackIn,
    ForkIn,
    UpdateConversationIn,
)
from app.store.models import (
    ClearResult,
    Compaction,
    Context,
    Conversation,
    ConversationExport,
    ConversationList,
    ConversationPage,
    Erasure,
    ExportFeedback,
    ExportMessage,
    ExtendResult,
    Feedback,
    FeedbackResult,
    LastMessage,
    LeftOut,
    ListedConversation,
    Message,
    SearchHit,
    SearchResult,
    Stats,
    TurnEventBatch,
    TurnRecord,
    TurnView,
    Usage,
    UsageRow,
)
from app.turns import ChatResult, SentContext, ToolCallRecord
from app.webclient import SupabaseAuthConfig

__all__ = ["NATIVE_EXAMPLES"]

TURN_ID = "5b0e9c7e-2f7d-4b53-9a1e-3c6d8f0a4b21"

CONVERSATION_ID = "support-42"
USER_ID = "7f1e3c2a-4b5d-4e6f-8a9b-0c1d2e3f4a5b"
MODEL = "gpt-4o-mini"

CONVERSATION: dict[str, Any] = {
    "conversation_id": CONVERSATION_ID,
    "user_id": USER_ID,
    "metadata": {"channel": "web"},
    "ttl_hours": 24,
    "message_count": 2,
    "last_seq": 2,
    "created_at": "2026-12-07T09:13:35.870350Z",
    "updated_at": "2026-12-07T09:13:37.948652Z",
    "expires_at": "2026-12-08T09:13:37.948652Z",
    "title": "How is line 999?",
    "archived": False,
    "pinned": False,
    "tags": ["support"],
    "legal_hold": False,
}
FEEDBACK: dict[str, Any] = {
    "rating": 1,
    "comment": "useful",
    "user_id": USER_ID,
    "created_at": "2026-12-07T09:14:05.260547Z",
    "updated_at": "2026-12-07T09:14:05.260547Z",
}
QUESTION: dict[str, Any] = {
    "id": "f2637e16-547f-49ab-becb-7520f435133e",
    "conversation_id": CONVERSATION_ID,
    "seq": 1,
    "role": "user",
    "content": "How is line 999?",
    "metadata": {},
    "created_at": "2026-12-07T09:13:35.913614Z",
    "idempotency_key": "turn-7b1c",
    "tokens": 4,
    "user_id": USER_ID,
    "feedback": None,
}
REPLY: dict[str, Any] = {
    "id": "2cfe4f52-ab99-49aa-a32d-d917f719af22",
    "conversation_id": CONVERSATION_ID,
    "seq": 2,
    "role": "assistant",
    "content": "Line 999 runs: it restarted at 06:00 and has been up since.",
    "metadata": {
        "model": MODEL,
        "tokens": {"prompt": 31, "completion": 14},
        "duration_ms": 840,
        "tool_calls": [{"tool": "line_status", "args": {"line": 999}}],
        "finish_reason": "stop",
    },
    "created_at": "2026-12-07T09:13:37.948652Z",
    "idempotency_key": "turn-7b1c:assistant",
    "tokens": 14,
    "user_id": USER_ID,
    "feedback": FEEDBACK,
}

# A turn stopped by its user after a few words: what was generated is its reply.
TURN: dict[str, Any] = {
    "id": TURN_ID,
    "conversation_id": CONVERSATION_ID,
    "kind": "chat",
    "state": "stopped",
    "created_at": "2026-12-07T09:13:36.102311Z",
    "updated_at": "2026-12-07T09:13:37.948652Z",
    "idempotency_key": "q-7",
    "request": {},
    "result": {
        "model": MODEL,
        "tokens": {"prompt": 31, "completion": 0},
        "duration_ms": 840,
        "finish_reason": "stopped",
    },
    "last_seq": 7,
    "finished_at": "2026-12-07T09:13:37.948652Z",
    "lease_expires_at": None,
    "stop_requested_at": "2026-12-07T09:13:37.801200Z",
    "event_seq": 5,
}
SUMMARY: dict[str, Any] = {
    **QUESTION,
    "id": "9a0e5b2c-1d3f-4e5a-8b6c-7d8e9f0a1b2c",
    "seq": 9,
    "role": "system",
    "content": "Summary of messages 1-6 of this conversation: the user asked about line 999 ...",
    "metadata": {"kind": "summary", "covers": [1, 6], "model": MODEL, "tokens": 35},
    "idempotency_key": "summary:1-6",
    "tokens": 35,
}
LEFT_OUT: dict[str, Any] = {"summarized": [1, 6], "unsummarized": [7, 7], "unsummarized_tokens": 46}
COMPACTION: dict[str, Any] = {"due": False, "first_seq": 1, "last_seq": 7, "tokens": 46}
LAST_MESSAGE: dict[str, Any] = {
    "role": "assistant",
    "content": REPLY["content"],
    "created_at": REPLY["created_at"],
}
LISTED: dict[str, Any] = {**CONVERSATION, "last_message": LAST_MESSAGE}
SEARCH_HIT: dict[str, Any] = {
    "conversation_id": CONVERSATION_ID,
    "title": "How is line 999?",
    "seq": 2,
    "role": "assistant",
    "created_at": REPLY["created_at"],
    "rank": 0.0607927,
    "snippet": "<mark>Line</mark> 999 runs: it restarted at 06:00",
}
USAGE_ROW: dict[str, Any] = {
    "messages": 12,
    "prompt_tokens": 3400,
    "completion_tokens": 820,
    "cost": 0.00100,
    "day": "2026-12-07",
    "model": MODEL,
}
EXPORT_FIELDS = ("id", "seq", "role", "content", "metadata", "idempotency_key", "created_at")
EXPORT_MESSAGE: dict[str, Any] = {key: QUESTION[key] for key in EXPORT_FIELDS}
EXPORT_FEEDBACK: dict[str, Any] = {
    "user_id": USER_ID,
    "rating": 1,
    "comment": "useful",
    "created_at": "2026-12-07T09:13:52.101022Z",
    "updated_at": "2026-12-07T09:13:52.101022Z",
}
SENT_CONTEXT: dict[str, Any] = {
    "seqs": [1],
    "summary_seq": None,
    "covers": None,
    "tokens": 4,
    "token_budget": 8000,
}
ERASURE: dict[str, Any] = {
    "id": "a11dfb5d-c1bd-4823-9e22-9ddce0917be0",
    "user_id": USER_ID,
    "requested_by": "service_role",
    "requested_at": "2026-12-07T09:14:05.990333Z",
    "finished_at": "2026-12-07T09:14:05.995446Z",
    "conversations_removed": 2,
    "messages_removed": 5,
    "feedback_removed": 1,
    "conversations_kept": 1,
    "kept_reason": "legal hold",
}

NATIVE_EXAMPLES: dict[type, Any] = {
    # requests
    CreateConversationIn: {
        "conversation_id": CONVERSATION_ID,
        "user_id": USER_ID,
        "metadata": {"channel": "web"},
    },
    AppendMessageIn: {"role": "user", "content": "How is line 999?", "idempotency_key": "turn-7b1c"},
    ExtendIn: {"hours": 48},
    UpdateConversationIn: {"pinned": True, "tags": ["support"], "metadata_patch": {"priority": "high"}},
    ForkIn: {"at_seq": 1, "title": "Line 999, asked again"},
    FeedbackIn: {"rating": 1, "comment": "useful"},
    ChatIn: {
        "message": "How is line 999?",
        "conversation_id": CONVERSATION_ID,
        "idempotency_key": "turn-7b1c",
    },
    # answers
    Conversation: CONVERSATION,
    ConversationPage: {**CONVERSATION, "messages": [QUESTION, REPLY], "next_cursor": None},
    ListedConversation: LISTED,
    ConversationList: {"conversations": [LISTED], "next_cursor": None},
    LastMessage: LAST_MESSAGE,
    Message: QUESTION,
    Feedback: FEEDBACK,
    FeedbackResult: {"message": {**REPLY, "feedback": FEEDBACK}, "feedback": FEEDBACK},
    SearchHit: SEARCH_HIT,
    SearchResult: {"hits": [SEARCH_HIT], "next_cursor": None},
    UsageRow: USAGE_ROW,
    Usage: {
        "user_id": USER_ID,
        "from": "2026-12-01",
        "to": "2026-12-08",
        "group_by": ["day", "model"],
        "rows": [USAGE_ROW],
    },
    Erasure: ERASURE,
    ExtendResult: {"conversation_id": CONVERSATION_ID, "expires_at": "2026-12-10T09:13:37.948652Z"},
    ClearResult: {"conversation_id": CONVERSATION_ID, "cleared": 2},
    CleanupOut: {"removed": 3},
    Stats: {
        "total_conversations": 1250,
        "total_messages": 48210,
        "expired_conversations": 3,
        "active_conversations": 1247,
        "ttl_hours": 24,
    },
    ExportFeedback: EXPORT_FEEDBACK,
    ExportMessage: EXPORT_MESSAGE,
    ConversationExport: {
        "conversation_id": CONVERSATION_ID,
        "user_id": USER_ID,
        "created_at": CONVERSATION["created_at"],
        "updated_at": CONVERSATION["updated_at"],
        "expires_at": CONVERSATION["expires_at"],
        "ttl_hours": 24,
        "metadata": {"channel": "web"},
        "title": "How is line 999?",
        "tags": ["support"],
        "pinned": False,
        "archived": False,
        "legal_hold": False,
        "last_seq": 1,
        "messages": [{**EXPORT_MESSAGE, "feedback": [EXPORT_FEEDBACK]}],
    },
    LeftOut: LEFT_OUT,
    Compaction: COMPACTION,
    Context: {
        "conversation_id": CONVERSATION_ID,
        "token_budget": 6000,
        "tokens": 5129,
        "summary": SUMMARY,
        "messages": [{**QUESTION, "seq": 8, "content": "And line 1000?", "idempotency_key": None}],
        "first_seq": 8,
        "last_seq": 8,
        "left_out": LEFT_OUT,
        "compaction": COMPACTION,
    },
    ToolCallRecord: {"tool": "line_status", "args": {"line": 999}},
    ModelUsage: {"prompt_tokens": 31, "completion_tokens": 14},
    SentContext: SENT_CONTEXT,
    ChatResult: {
        "conversation_id": CONVERSATION_ID,
        "response": REPLY["content"],
        "message_id": REPLY["id"],
        "model": MODEL,
        "usage": {"prompt_tokens": 31, "completion_tokens": 14},
        "duration_ms": 840,
        "tool_calls": [{"tool": "line_status", "args": {"line": 999}}],
        "finish_reason": "stop",
        "user_message_id": QUESTION["id"],
        "created": False,
        "replayed": False,
        "context": SENT_CONTEXT,
        "turn_id": TURN_ID,
    },
    TurnRecord: TURN,
    TurnEventBatch: {
        "seq": 3,
        "last_seq": 4,
        "events": [{"type": "delta", "text": "runs "}, {"type": "delta", "text": "again."}],
    },
    TurnView: {"turn": TURN, "output": [REPLY], "user_message_id": QUESTION["id"], "events": None},
    PoolStatus: {"size": 2, "available": 2, "waiting": 0, "max": 16},
    HealthStatus: {
        "status": "ok",
        "database": "up",
        "schema": "ok",
        "latency_ms": 1.8,
        "detail": None,
        "pool": {"size": 2, "available": 2, "waiting": 0, "max": 16},
    },
    SupabaseAuthConfig: {"url": "https://abcdefghijklmnop.supabase.co", "anon_key": "sb_publishable_example"},
    WebConfig: {
        "supabase": {"url": "https://abcdefghijklmnop.supabase.co", "anon_key": "sb_publishable_example"},
        "local_tokens": False,
    },
    ErrorBody: {
        "error": "not_found",
        "message": f"conversation {CONVERSATION_ID} not found or expired",
        "details": {"sqlstate": "P0002"},
    },
}
