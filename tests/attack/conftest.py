"""The attack suites (issue 22) drive the real app as tests/api does: its fixtures, shared."""

from __future__ import annotations

from tests.api.conftest import app_client, client, create

__all__ = ["app_client", "client", "create"]
