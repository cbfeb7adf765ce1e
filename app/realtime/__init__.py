"""Realtime: new messages pushed to subscribers, resumable by sequence number.

- feeds learn about committed messages: `PostgresFeed` (logical decoding with wal2json, local) and
  `SupabaseFeed` (Realtime Broadcast from the database, a private topic), behind the `Feed` interface;
- the `Hub` fans them out per conversation: `await hub.subscribe(conversation_id, after_seq)`
  replays from the database, then continues live, without gap or duplicate;
- `sse_events()` turns a subscription into Litestar `ServerSentEventMessage`s with heartbeats,
  for `ServerSentEvent(sse_events(subscription), headers=SSE_HEADERS)`.

Lifespan: `hub = create_hub(settings, store); await hub.start()` ... `await hub.stop()`.
"""

from app.realtime.backoff import Backoff
from app.realtime.errors import (
    FeedConfigError,
    HubClosedError,
    RealtimeError,
    SubscriptionClosedError,
    TooManySubscribersError,
)
from app.realtime.events import EndEvent, EndReason, Event, FeedEvent, MessageEvent, ResetEvent, TurnEventsRow
from app.realtime.factory import create_feed, create_hub
from app.realtime.feed import Feed, FeedSink, SupervisedFeed, TurnFeedSink
from app.realtime.hub import Hub, HubStats
from app.realtime.postgres_feed import PostgresFeed
from app.realtime.source import MessageSource, Page, Pages, StoreSource
from app.realtime.sse import SSE_HEADERS, parse_last_event_id, sse_events
from app.realtime.subscription import Subscription, TopicLink
from app.realtime.supabase_feed import SupabaseFeed

__all__ = [
    "SSE_HEADERS",
    "Backoff",
    "EndEvent",
    "EndReason",
    "Event",
    "Feed",
    "FeedConfigError",
    "FeedEvent",
    "FeedSink",
    "Hub",
    "HubClosedError",
    "HubStats",
    "MessageEvent",
    "MessageSource",
    "Page",
    "Pages",
    "PostgresFeed",
    "RealtimeError",
    "ResetEvent",
    "StoreSource",
    "Subscription",
    "SubscriptionClosedError",
    "SupabaseFeed",
    "SupervisedFeed",
    "TooManySubscribersError",
    "TopicLink",
    "TurnEventsRow",
    "TurnFeedSink",
    "create_feed",
    "create_hub",
    "parse_last_event_id",
    "sse_events",
]
