"""The live feed pointed at a transaction pooler (issue 9, deliverable 10): it says so.

pgbouncer refuses replication connections; the feed logs one clear error naming the fix
(REALTIME_DATABASE_URL, a direct connection), keeps retrying, and the hub keeps streams moving
by polling.
"""

from __future__ import annotations

import asyncio
import logging
import uuid

import pytest

from app.config import DatabaseSettings, RealtimeSettings, Settings
from app.realtime import Backoff, Hub, PostgresFeed, StoreSource, create_feed
from app.store import ConversationManager
from tests.harness.waiting import until
from tests.realtime.fakes import seqs, take


async def test_a_feed_through_a_pooler_logs_why_and_streams_still_move(
    pgbouncer_url: str, store: ConversationManager, caplog: pytest.LogCaptureFixture
) -> None:
    feed = PostgresFeed(pgbouncer_url, backoff=Backoff(0.05, 0.5))
    hub = Hub(StoreSource(store, page_size=50), feed, degraded_check_interval=0.2, queue_size=64)
    caplog.set_level(logging.INFO, "app.realtime")
    await hub.start()
    try:
        await until(lambda: feed.pooler_refused >= 2, within=10)  # it keeps trying
        errors = [r for r in caplog.records if r.levelno == logging.ERROR]
        assert len(errors) == 1, [r.getMessage() for r in errors]  # said once, clearly
        message = errors[0].getMessage()
        assert "needs a direct connection" in message
        assert "REALTIME_DATABASE_URL" in message
        assert not feed.connected

        cid = f"rt-pooler-{uuid.uuid4()}"
        await store.create_conversation(conversation_id=cid)
        subscription = await hub.subscribe(cid, after_seq=0)
        for n in range(3):
            await store.add_message(cid, "user", f"m{n}")
        assert seqs(await take(subscription, 3, within=5)) == [1, 2, 3]  # by polling
    finally:
        await hub.stop()
        await asyncio.sleep(0)  # one turn of the loop (no wait): the feed's cancelled tasks finish here


def test_the_pooler_setting_without_a_feed_url_is_an_error_at_start_up(
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = Settings()
    settings.db = DatabaseSettings.model_validate(
        {"DATABASE_URL": "postgresql://u:p@pooler:6543/postgres", "DB_TRANSACTION_POOLER": True}
    )
    settings.realtime = RealtimeSettings.model_validate({"REALTIME_FEED": "postgres"})
    settings.supabase.url = settings.supabase.service_role_key = None
    with caplog.at_level(logging.ERROR, "app.realtime"):
        feed = create_feed(settings)
    assert isinstance(feed, PostgresFeed)
    assert any("REALTIME_DATABASE_URL" in r.getMessage() for r in caplog.records)
