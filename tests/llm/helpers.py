"""Helpers shared by the LLM layer's tests."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import psycopg

from app.store.postgres import PostgresTransport
from app.store.transport import Principal


class CountingTransport:
    """Wraps a transport and records every store call (one SQL function call each)."""

    def __init__(self, inner: PostgresTransport) -> None:
        self.inner = inner
        self.calls: list[str] = []

    async def call(
        self, function: str, args: Mapping[str, Any], principal: Principal, *, retry: bool = False
    ) -> bytes | str:
        self.calls.append(function)
        return await self.inner.call(function, args, principal, retry=retry)

    async def close(self) -> None:
        return None


async def stored(admin: psycopg.AsyncConnection[Any], conversation_id: str) -> list[tuple[Any, ...]]:
    """(role, content, metadata, idempotency_key) of a conversation's messages, in order."""
    cur = await admin.execute(
        "select role, content, metadata, idempotency_key from public.ai_conversation_messages"
        " where conversation_id = %s order by seq",
        (conversation_id,),
    )
    return await cur.fetchall()
