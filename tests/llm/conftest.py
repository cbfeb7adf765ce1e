"""Fixtures of the LLM layer's tests: the root conftest's store over the local database,
with its store calls counted."""

from __future__ import annotations

import uuid

import pytest
from psycopg_pool import AsyncConnectionPool

from app.store.postgres import PostgresTransport
from tests.harness.store_calls import CountingTransport


@pytest.fixture
def transport(pool: AsyncConnectionPool) -> CountingTransport:
    return CountingTransport(PostgresTransport(pool))


@pytest.fixture
def conversation_id() -> str:
    """A fresh id, unique across the test suites sharing the database."""
    return f"llm-{uuid.uuid4()}"
