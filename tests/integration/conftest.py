"""Fixtures for tests that talk to the real local database directly."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import psycopg
import pytest

from app.config import LOCAL_DATABASE_URL


@pytest.fixture(scope="session")
def database_url() -> str:
    return os.environ.get("DATABASE_URL", LOCAL_DATABASE_URL)


@pytest.fixture
async def admin(database_url: str) -> AsyncIterator[psycopg.AsyncConnection]:
    """A superuser connection in autocommit, for setting up and inspecting rows."""
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        yield conn


@pytest.fixture
async def conversation_id(admin: psycopg.AsyncConnection) -> str:
    """A fresh, live conversation owned by nobody (service only)."""
    cid = f"it-{uuid.uuid4()}"
    await admin.execute("select public.create_conversation(p_conversation_id => %s)", (cid,))
    return cid
