"""Counting store calls: each is one SQL function call (one round trip), so the list of
calls a request or a turn made is what its cost and its atomicity rest on."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar

from app.core import services_of
from app.store import ConversationManager, Principal
from app.store.transport import Transport

__all__ = ["CountingTransport", "counting"]


class CountingTransport:
    """Wraps a transport and records every call's SQL function, in order."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.calls: list[str] = []

    async def call(
        self, function: str, args: Mapping[str, Any], principal: Principal, *, retry: bool = False
    ) -> bytes | str:
        self.calls.append(function)
        return await self.inner.call(function, args, principal, retry=retry)

    async def close(self) -> None:
        await self.inner.close()


@asynccontextmanager
async def counting(app: Litestar) -> AsyncIterator[CountingTransport]:
    """Count the store calls of a running `app` while in the block."""
    running = services_of(app).running
    original = running.store
    transport = CountingTransport(original.transport)
    running.store = ConversationManager(transport)
    try:
        yield transport
    finally:
        running.store = original
