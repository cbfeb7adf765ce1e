"""Failures of the realtime layer, one class each.

Store failures (a missing conversation, an unreachable database) are not wrapped: they keep
their app.store.errors class so the API maps them to 404 / 503 like every other read.
"""

from __future__ import annotations

__all__ = [
    "FeedConfigError",
    "HubClosedError",
    "RealtimeError",
    "SubscriptionClosedError",
    "TooManySubscribersError",
]


class RealtimeError(Exception):
    """Base class of the realtime layer's own failures."""


class HubClosedError(RealtimeError):
    """The hub is not running (before start() or after stop()): no subscription possible."""


class TooManySubscribersError(RealtimeError):
    """The hub already serves its maximum number of subscribers; retry later (a 503)."""


class SubscriptionClosedError(RealtimeError):
    """The subscription already ended (its end event was taken, or close() was called)."""


class FeedConfigError(RealtimeError):
    """The configured feed cannot run: a setting it needs is missing or malformed."""
