"""Fixtures for the realtime tests: a hub on the real local database (logical decoding feed),
reading through the root conftest's store."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from app.realtime import Backoff, Hub, PostgresFeed, StoreSource
from app.store import ConversationManager


def make_hub(database_url: str, store: ConversationManager, **options: object) -> Hub:
    feed = PostgresFeed(database_url, backoff=Backoff(0.05, 0.5), status_interval=1.0)
    defaults: dict[str, object] = {"check_interval": 0.5, "degraded_check_interval": 0.2, "queue_size": 64}
    defaults.update(options)
    return Hub(StoreSource(store, page_size=50), feed, **defaults)  # type: ignore[arg-type]


@pytest.fixture
async def hub(database_url: str, store: ConversationManager) -> AsyncIterator[Hub]:
    hub = make_hub(database_url, store)
    await hub.start()
    assert hub.feed is not None
    assert await hub.feed.wait_connected(10), "the logical decoding feed did not connect"
    try:
        yield hub
    finally:
        await hub.stop()


@pytest.fixture
async def conversation_id(store: ConversationManager) -> str:
    cid = f"rt-{uuid.uuid4()}"
    await store.create_conversation(conversation_id=cid)
    return cid
