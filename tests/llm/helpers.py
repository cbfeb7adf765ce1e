"""Helpers shared by the LLM layer's tests."""

from __future__ import annotations

from typing import Any

import psycopg


async def stored(admin: psycopg.AsyncConnection[Any], conversation_id: str) -> list[tuple[Any, ...]]:
    """(role, content, metadata, idempotency_key) of a conversation's messages, in order."""
    cur = await admin.execute(
        "select role, content, metadata, idempotency_key from public.ai_conversation_messages"
        " where conversation_id = %s order by seq",
        (conversation_id,),
    )
    return await cur.fetchall()
