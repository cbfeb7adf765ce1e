"""Builds the hub and its feed from settings: what the application's lifespan calls."""

from __future__ import annotations

import logging

from app.config import Settings
from app.realtime.backoff import Backoff
from app.realtime.errors import FeedConfigError
from app.realtime.feed import Feed
from app.realtime.hub import Hub
from app.realtime.postgres_feed import PostgresFeed
from app.realtime.source import StoreSource
from app.realtime.supabase_feed import SupabaseFeed
from app.store.manager import ConversationManager

__all__ = ["create_feed", "create_hub"]

log = logging.getLogger("app.realtime")


def create_feed(settings: Settings) -> Feed | None:
    """The configured feed (None for 'off'). Raises FeedConfigError when it cannot run."""
    realtime = settings.realtime
    kind = realtime.feed
    if kind == "auto":
        kind = "supabase" if settings.supabase.enabled else "postgres"
    backoff = Backoff(0.2, max(0.2, realtime.reconnect_max_seconds))
    if kind == "supabase":
        if not (settings.supabase.url and settings.supabase.service_role_key):
            raise FeedConfigError("REALTIME_FEED=supabase needs SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY")
        return SupabaseFeed(settings.supabase.url, settings.supabase.service_role_key, backoff=backoff)
    if kind == "postgres":
        if settings.db.transaction_pooler and realtime.database_url is None:
            log.error(
                "DB_TRANSACTION_POOLER=true but REALTIME_DATABASE_URL is unset: the live feed will try "
                "DATABASE_URL, and a transaction pooler cannot carry logical replication. Set "
                "REALTIME_DATABASE_URL to a direct connection; until then streams move by polling."
            )
        return PostgresFeed(realtime.database_url or settings.db.url, backoff=backoff)
    return None


def create_hub(settings: Settings, manager: ConversationManager) -> Hub:
    """A hub reading through `manager` (the service's store), with the configured feed.
    Not started: `await hub.start()` in the lifespan, `await hub.stop()` on the way out."""
    realtime = settings.realtime
    return Hub(
        StoreSource(manager, page_size=realtime.page_size),
        create_feed(settings),
        queue_size=realtime.queue_size,
        check_interval=realtime.check_seconds,
        degraded_check_interval=realtime.degraded_check_seconds,
        max_subscribers=realtime.max_subscribers,
    )
