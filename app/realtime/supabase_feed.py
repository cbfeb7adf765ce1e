"""The Supabase feed: Realtime `postgres_changes` INSERTs on public.ai_conversation_messages.

realtime-py's AsyncRealtimeClient runs on our event loop and calls our callbacks from its
reader task, so they only translate the payload and hand it to the hub (no I/O, no await).

Reconnects are ours, not realtime-py's: its auto-reconnect gives up for good after
`max_retries` attempts (about 15 s of Realtime being away) and leaves a dead reader task
behind, so the client is created with auto_reconnect=False and every connection is a fresh
client, retried with backoff for as long as the API runs. After each join the hub catches
up from the database; Realtime's own "Subscribed to PostgreSQL" system message (the moment
its replication is really attached) triggers a second catch-up, since changes committed
between the join reply and that message are not delivered.

The service key authenticates the socket and the join, so RLS lets every row through; user
authorization happens in the API before a subscription is made.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import msgspec
from realtime import AsyncRealtimeClient, RealtimeSubscribeStates
from realtime.message import SuccessSystemPayload
from realtime.types import PostgresChangesPayload, RealtimePostgresChangesListenEvent

from app.realtime.backoff import Backoff
from app.realtime.errors import FeedConfigError
from app.realtime.events import FeedEvent
from app.realtime.feed import SupervisedFeed
from app.store.models import Message

__all__ = ["SCHEMA", "TABLE", "SupabaseFeed", "realtime_url"]

log = logging.getLogger("app.realtime")

SCHEMA = "public"
TABLE = "ai_conversation_messages"


def realtime_url(project_url: str) -> str:
    """The Realtime endpoint of a project URL (https://<ref>.supabase.co -> .../realtime/v1);
    realtime-py turns http(s) into ws(s) and appends /websocket itself."""
    url = project_url.rstrip("/")
    if not url.startswith(("http://", "https://", "ws://", "wss://")):
        raise FeedConfigError(f"SUPABASE_URL must be an http(s) URL, got {project_url!r}")
    return url if url.endswith("/realtime/v1") else f"{url}/realtime/v1"


class SupabaseFeed(SupervisedFeed):
    """New messages from Supabase Realtime over one websocket, with reconnects."""

    name = "supabase"

    def __init__(
        self,
        url: str,
        key: str,
        *,
        backoff: Backoff | None = None,
        topic: str = "ai-conversation-messages",
        timeout: int = 10,
        heartbeat_interval: int = 25,
        watchdog_interval: float = 2.0,
    ) -> None:
        super().__init__(backoff)
        if not key:
            raise FeedConfigError("the Supabase feed needs the service role key")
        self.url = realtime_url(url)
        self.key = key
        self.topic = topic
        self.timeout = timeout
        self.heartbeat_interval = heartbeat_interval
        self.watchdog_interval = watchdog_interval
        self.unroutable = 0

    async def _session(self) -> None:
        client = AsyncRealtimeClient(
            self.url,
            token=self.key,
            auto_reconnect=False,
            hb_interval=self.heartbeat_interval,
            timeout=self.timeout,
        )
        broken = asyncio.Event()
        failure: list[str] = []

        def on_state(status: RealtimeSubscribeStates, error: Exception | None) -> None:
            if status == RealtimeSubscribeStates.SUBSCRIBED:
                self._listening()
            else:
                failure.append(f"channel {status.value}" + (f": {error}" if error else ""))
                broken.set()

        def on_system(payload: SuccessSystemPayload) -> None:
            if payload.extension == "postgres_changes" and self.connected and self._sink is not None:
                self._sink.feed_resumed()

        channel = client.channel(self.topic)
        channel.on_postgres_changes(
            RealtimePostgresChangesListenEvent.Insert, self._on_change, table=TABLE, schema=SCHEMA
        )
        channel.on_system(on_system)
        try:
            await client.connect()
            await channel.subscribe(on_state)
            while not broken.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(broken.wait(), self.watchdog_interval)
                # realtime-py's reader may end without telling the channel (a socket error
                # that is not a websocket close): then the client is no longer connected.
                reader = getattr(client, "_listen_task", None)
                if not client.is_connected or (reader is not None and reader.done()):
                    failure.append("websocket closed")
                    broken.set()
        finally:
            with contextlib.suppress(Exception):
                await client.close()
        raise ConnectionError(failure[0] if failure else "realtime session ended")

    def _on_change(self, payload: PostgresChangesPayload) -> None:
        """realtime-py's callback: never raise into its reader task."""
        try:
            self._emit_change(payload["data"])
        except Exception:
            log.exception("could not handle a Realtime change")

    def _emit_change(self, data: Any) -> None:
        record = data.get("record") if isinstance(data, dict) else None
        record = record if isinstance(record, dict) else {}
        conversation_id = record.get("conversation_id")
        seq = record.get("seq")
        if isinstance(seq, str) and seq.isdigit():
            seq = int(seq)
        if not isinstance(conversation_id, str) or not isinstance(seq, int):
            # A change we cannot route (Realtime stripped the record: too large): catch up.
            self.unroutable += 1
            log.warning("Realtime change without conversation_id/seq (errors: %s)", data.get("errors"))
            if self._sink is not None:
                self._sink.feed_resumed()
            return
        if not self._watched(conversation_id):
            return
        message: Message | None = None
        if not data.get("errors"):
            with contextlib.suppress(msgspec.ValidationError):
                message = msgspec.convert(record, Message, strict=False)
        self._emit(FeedEvent(conversation_id, seq, message))
