"""The Supabase feed: Broadcast from the database, on the private topic of the service.

The database sends every change of every conversation to the private Realtime topic
`ai_conversations:service` (migration 20261209410100_broadcast.sql; docs/realtime-broadcast.md).
Every payload names the conversation (`conversation_id`) and its row (`row_id`, as the
store's readers name it). What each event becomes for the hub:

- `message`: the message as the API returns it, its owner (`user_id`) included, so the hub
  publishes it without a read (`FeedEvent` with the `Message`); above the project's
  `broadcast_max_bytes` it comes without content and metadata, marked `partial`, and the hub
  reads it from the database (`FeedEvent` without one);
- `conversation_deleted` (deleted, or removed after its expiry): `feed_deleted([(row_id,
  conversation_id)])`, so a stream of that row ends (`gone`) at once, in commit order with the
  messages, before a later conversation of the same id stores anything;
- `cleared` and `messages_deleted`: `feed_changed(conversation_id)`, the topic reads again;
- anything that cannot be routed (no conversation id, no seq, no row id): `feed_resumed()`,
  every topic reads again, since the database has whatever it said.

This feed joins the topic as a private channel with the service key: Realtime authorises the
join as service_role, which bypasses the RLS policies of realtime.messages (no user ever reads
this topic).

realtime-py's AsyncRealtimeClient runs on our event loop and calls our callbacks from its
reader task, so they only translate the payload and hand it to the hub (no I/O, no await).

Reconnects are ours, not realtime-py's: its auto-reconnect gives up for good after
`max_retries` attempts (about 15 s of Realtime being away) and leaves a dead reader task
behind, so the client is created with auto_reconnect=False and every connection is a fresh
client (a fresh join, with the key) retried with backoff for as long as the API runs. That
covers Realtime ending the channel too, as it does when the join's token expires. After each
join the hub catches up from the database. The join asks Realtime to say when its replication
connection (what reads realtime.messages from the WAL) is up (`broadcast.replication_ready`):
broadcasts committed before that are not delivered, so that system message triggers a second
catch-up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any
from uuid import UUID

import msgspec
from realtime import AsyncRealtimeClient, RealtimeSubscribeStates
from realtime.message import SuccessSystemPayload
from realtime.types import BroadcastPayload, RealtimeChannelOptions

from app.realtime.backoff import Backoff
from app.realtime.errors import FeedConfigError
from app.realtime.events import FeedEvent
from app.realtime.feed import SupervisedFeed
from app.store.models import Message

__all__ = [
    "CHANGED_EVENTS",
    "DELETED_EVENT",
    "MESSAGE_EVENT",
    "SERVICE_TOPIC",
    "SupabaseFeed",
    "realtime_url",
]

log = logging.getLogger("app.realtime")

SERVICE_TOPIC = "ai_conversations:service"
"""The topic the database broadcasts every change to (private.service_topic() in SQL)."""
MESSAGE_EVENT = "message"
DELETED_EVENT = "conversation_deleted"
CHANGED_EVENTS = ("cleared", "messages_deleted")

# A private channel that receives Broadcast only: no presence, no echo of our own sends (we send
# none), and the system message that says broadcasts from the database flow.
_CHANNEL: RealtimeChannelOptions = {
    "config": {
        "broadcast": {"ack": False, "self": False, "replication_ready": True},
        "presence": {"key": "", "enabled": False},
        "private": True,
    }
}


def realtime_url(project_url: str) -> str:
    """The Realtime endpoint of a project URL (https://<ref>.supabase.co -> .../realtime/v1);
    realtime-py turns http(s) into ws(s) and appends /websocket itself."""
    url = project_url.rstrip("/")
    if not url.startswith(("http://", "https://", "ws://", "wss://")):
        raise FeedConfigError(f"SUPABASE_URL must be an http(s) URL, got {project_url!r}")
    return url if url.endswith("/realtime/v1") else f"{url}/realtime/v1"


class SupabaseFeed(SupervisedFeed):
    """New messages from Supabase Realtime Broadcast over one websocket, with reconnects."""

    name = "supabase"

    def __init__(
        self,
        url: str,
        key: str,
        *,
        backoff: Backoff | None = None,
        topic: str = SERVICE_TOPIC,
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
        self.unroutable = 0  # events without conversation_id and seq or row_id (caught up instead)

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
            # "Replication connection established": broadcasts from the database flow from now.
            if self.connected and self._sink is not None:
                self._sink.feed_resumed()

        channel = client.channel(self.topic, _CHANNEL)
        channel.on_broadcast(MESSAGE_EVENT, self._callback(self._emit_message))
        channel.on_broadcast(DELETED_EVENT, self._callback(self._emit_conversation_deleted))
        for event in CHANGED_EVENTS:
            channel.on_broadcast(event, self._callback(self._emit_changed))
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

    def _callback(self, emit: Callable[[dict[str, Any]], None]) -> Callable[[BroadcastPayload], None]:
        """realtime-py's callback for one event: never raises into its reader task."""

        def on_broadcast(broadcast: BroadcastPayload) -> None:
            try:
                payload = broadcast.get("payload")
                emit(payload if isinstance(payload, dict) else {})
            except Exception:
                log.exception("could not handle a Realtime broadcast")

        return on_broadcast

    def _unroutable(self, event: str, payload: dict[str, Any]) -> None:
        """Not an event we can route: whatever it said, the database has it. Catch up."""
        self.unroutable += 1
        log.warning("Realtime %s event without what routes it: %.200r", event, payload)
        if self._sink is not None:
            self._sink.feed_resumed()

    def _emit_message(self, payload: dict[str, Any]) -> None:
        conversation_id = payload.get("conversation_id")
        seq = payload.get("seq")
        if not isinstance(conversation_id, str) or not isinstance(seq, int) or isinstance(seq, bool):
            self._unroutable(MESSAGE_EVENT, payload)
            return
        if not self._watched(conversation_id):
            return
        message: Message | None = None
        if not payload.get("partial"):
            with contextlib.suppress(msgspec.ValidationError):
                message = msgspec.convert(payload, Message, strict=False)
        self._emit(FeedEvent(conversation_id, seq, message))

    def _emit_conversation_deleted(self, payload: dict[str, Any]) -> None:
        conversation_id = payload.get("conversation_id")
        try:
            row_id = UUID(payload["row_id"])
        except (KeyError, TypeError, ValueError):
            self._unroutable(DELETED_EVENT, payload)
            return
        self._emit_deleted([(row_id, conversation_id if isinstance(conversation_id, str) else None)])

    def _emit_changed(self, payload: dict[str, Any]) -> None:
        conversation_id = payload.get("conversation_id")
        if not isinstance(conversation_id, str):
            self._unroutable("deletion", payload)
            return
        if self._sink is not None and self._watched(conversation_id):
            self._sink.feed_changed(conversation_id)
