"""Fixtures every suite shares: the one database URL and a superuser connection to it.

The database is the local stack's (or DATABASE_URL's), shared by every suite and session:
tests make their own ids and never assume empty tables.

Tests marked `disruptive` take the shared database away for a moment (a Postgres restart);
they run after every other test, whatever their file is called.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest

from app.config import LOCAL_DATABASE_URL
from tests import respx_httpx2  # noqa: F401  (registers respx.mock(using="httpx2"))

DATABASE_URL = os.environ.get("DATABASE_URL", LOCAL_DATABASE_URL)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: item.get_closest_marker("disruptive") is not None)


@pytest.fixture(scope="session")
def database_url() -> str:
    return DATABASE_URL


@pytest.fixture
async def admin(database_url: str) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    """A superuser connection in autocommit, for what no API role may do (expire a
    conversation, inspect rows from outside the store)."""
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        yield conn
