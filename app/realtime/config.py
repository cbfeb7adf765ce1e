"""Realtime settings, read from the environment (and `.env`) like the rest of app.config."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["RealtimeSettings"]


class RealtimeSettings(BaseSettings):
    """The live message feed and the fan-out to subscribers."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    feed: Literal["auto", "postgres", "supabase", "off"] = Field(
        default="auto",
        validation_alias="REALTIME_FEED",
        description="Where new messages are learnt from: 'postgres' (logical decoding with wal2json "
        "over a replication connection), 'supabase' (Realtime postgres_changes; needs SUPABASE_URL "
        "and the service key), 'off' (polling only, every REALTIME_DEGRADED_CHECK_SECONDS), or "
        "'auto': supabase when a project is configured, else postgres.",
    )
    database_url: str | None = Field(
        default=None,
        validation_alias="REALTIME_DATABASE_URL",
        description="Connection for the replication stream; defaults to DATABASE_URL. A direct "
        "connection (or Supavisor session mode) as a role with REPLICATION; not a transaction pooler.",
    )
    queue_size: int = Field(
        default=256,
        ge=2,
        le=100_000,
        validation_alias="REALTIME_QUEUE_SIZE",
        description="Messages a subscriber may fall behind before it is disconnected (overflow).",
    )
    heartbeat_seconds: float = Field(
        default=15.0,
        gt=0,
        validation_alias="REALTIME_HEARTBEAT_SECONDS",
        description="SSE heartbeat interval.",
    )
    check_seconds: float = Field(
        default=30.0,
        gt=0,
        validation_alias="REALTIME_CHECK_SECONDS",
        description="How often each watched conversation is re-read: ends streams of deleted or "
        "expired conversations and delivers anything the feed missed.",
    )
    degraded_check_seconds: float = Field(
        default=2.0,
        gt=0,
        validation_alias="REALTIME_DEGRADED_CHECK_SECONDS",
        description="The same while the feed is disconnected (or off): streams keep moving by polling.",
    )
    page_size: int = Field(
        default=200,
        ge=1,
        le=1000,
        validation_alias="REALTIME_PAGE_SIZE",
        description="Messages per database read when replaying or catching up.",
    )
    max_subscribers: int = Field(
        default=10_000,
        ge=1,
        validation_alias="REALTIME_MAX_SUBSCRIBERS",
        description="Streams one API process serves at most; more get 503.",
    )
    reconnect_max_seconds: float = Field(
        default=10.0,
        gt=0,
        validation_alias="REALTIME_RECONNECT_MAX_SECONDS",
        description="Longest wait between the feed's reconnect attempts.",
    )
