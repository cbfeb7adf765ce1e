"""The SQL functions the store calls, with their argument types.

The single list both transports share: the Postgres transport writes casts from it (so a
Python int always resolves to the right overload), the PostgREST transport sends the same
names as JSON keys.
"""

from __future__ import annotations

__all__ = ["FUNCTIONS"]

FUNCTIONS: dict[str, dict[str, str]] = {
    "create_conversation": {
        "p_conversation_id": "text",
        "p_user_id": "uuid",
        "p_metadata": "jsonb",
        "p_ttl_hours": "integer",
    },
    "append_message": {
        "p_conversation_id": "text",
        "p_role": "text",
        "p_content": "text",
        "p_metadata": "jsonb",
        "p_idempotency_key": "text",
    },
    "begin_chat_turn": {
        "p_content": "text",
        "p_conversation_id": "text",
        "p_user_id": "uuid",
        "p_metadata": "jsonb",
        "p_idempotency_key": "text",
        "p_history_limit": "integer",
        "p_conversation_metadata": "jsonb",
        "p_create_if_missing": "boolean",
    },
    "get_messages": {"p_conversation_id": "text", "p_limit": "integer", "p_before_seq": "bigint"},
    "get_conversation": {"p_conversation_id": "text", "p_message_limit": "integer", "p_before_seq": "bigint"},
    "list_conversations": {"p_user_id": "uuid", "p_limit": "integer", "p_cursor": "text"},
    "extend_conversation": {"p_conversation_id": "text", "p_hours": "integer"},
    "clear_conversation": {"p_conversation_id": "text"},
    "delete_conversation": {"p_conversation_id": "text"},
    "export_conversation": {"p_conversation_id": "text"},
    "import_conversation": {"p_export": "jsonb"},
    "conversation_stats": {},
    "cleanup_expired_conversations": {"p_batch_size": "integer"},
}
