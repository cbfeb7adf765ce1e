"""Fixtures of the LLM layer's tests: a real store over the local database, with its store
calls counted, and a connection to inspect what was stored."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from psycopg_pool import AsyncConnectionPool

from app.store.manager import ConversationManager
from app.store.postgres import PostgresTransport
from tests.llm.helpers import CountingTransport


@pytest.fixture(scope="session")
async def pool(database_url: str) -> AsyncIterator[AsyncConnectionPool]:
    pool = AsyncConnectionPool(database_url, min_size=1, max_size=4, open=False, kwargs={"autocommit": True})
    await pool.open(wait=True, timeout=10)
    yield pool
    await pool.close()


@pytest.fixture
def transport(pool: AsyncConnectionPool) -> CountingTransport:
    return CountingTransport(PostgresTransport(pool))


@pytest.fixture
def store(transport: CountingTransport) -> ConversationManager:
    return ConversationManager(transport)


@pytest.fixture
def conversation_id() -> str:
    """A fresh id, unique across the test suites sharing the database."""
    return f"llm-{uuid.uuid4()}"
