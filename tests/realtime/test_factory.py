"""Which feed the configuration picks, and the settings the hub is built with."""

from __future__ import annotations

import pytest

from app.config import RealtimeSettings, Settings, SupabaseSettings
from app.realtime import (
    FeedConfigError,
    PostgresFeed,
    SupabaseFeed,
    create_feed,
    create_hub,
)
from app.store import ConversationManager


def _settings(supabase: dict[str, str] | None = None, *, realtime: RealtimeSettings) -> Settings:
    settings = Settings()
    settings.supabase = SupabaseSettings.model_validate(
        supabase or {"SUPABASE_URL": "", "SUPABASE_SERVICE_ROLE_KEY": ""}
    )
    settings.realtime = realtime
    return settings


def _realtime(**values: object) -> RealtimeSettings:
    return RealtimeSettings.model_validate({f"REALTIME_{k.upper()}": v for k, v in values.items()})


def test_auto_is_postgres_locally_and_supabase_with_a_project() -> None:
    local = create_feed(_settings(realtime=_realtime(feed="auto")))
    assert isinstance(local, PostgresFeed)
    project = {"SUPABASE_URL": "https://abc.supabase.co", "SUPABASE_SERVICE_ROLE_KEY": "key"}
    remote = create_feed(_settings(project, realtime=_realtime(feed="auto")))
    assert isinstance(remote, SupabaseFeed)
    assert remote.url == "https://abc.supabase.co/realtime/v1"


def test_explicit_choices() -> None:
    assert create_feed(_settings(realtime=_realtime(feed="off"))) is None
    feed = create_feed(_settings(realtime=_realtime(feed="postgres", database_url="postgresql://db/x")))
    assert isinstance(feed, PostgresFeed)
    assert feed.url == "postgresql://db/x"
    with pytest.raises(FeedConfigError):
        create_feed(_settings(realtime=_realtime(feed="supabase")))


def test_create_hub_applies_the_settings(store: ConversationManager) -> None:
    realtime = _realtime(feed="off", queue_size=7, check_seconds=3, max_subscribers=9)
    hub = create_hub(_settings(realtime=realtime), store)
    assert hub.feed is None
    assert (hub.queue_size, hub.check_interval, hub.max_subscribers) == (7, 3, 9)
    assert not hub.running
