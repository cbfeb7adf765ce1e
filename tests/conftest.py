"""Fixtures every suite shares: the one database URL, a superuser connection to it, and the
store over the app's kind of pool (a suite narrows `transport`: the store tests run on every
transport, the LLM tests count the calls). The helpers under them are in tests/harness/.

The database is the local stack's (or DATABASE_URL's), shared by every suite and session:
tests make their own ids and never assume empty tables.

Tests marked `disruptive` take the shared database away for a moment (a Postgres restart);
they run after every other test, whatever their file is called.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from app.config import LOCAL_DATABASE_URL, DatabaseSettings
from app.db import create_pool
from app.store import ConversationManager
from app.store.postgres import PostgresTransport
from app.store.transport import Transport
from tests import respx_httpx2  # noqa: F401  (registers respx.mock(using="httpx2"))
from tests.pgbouncer import pgbouncer

DATABASE_URL = os.environ.get("DATABASE_URL", LOCAL_DATABASE_URL)
ROOT = Path(__file__).resolve().parents[1]


def check_local_stack(database_url: str) -> None:
    """Disruptive tests stop and start a cluster: only ever the local stack's own (make
    test's), on the port scripts/stack.sh serves it (STACK_PORT, 54322 by default)."""
    port = os.environ.get("STACK_PORT") or "54322"
    assert f"127.0.0.1:{port}/" in database_url or f"localhost:{port}/" in database_url, (
        f"this test restarts the local stack's cluster (port {port}); run it against the local "
        f"stack (make test), not {database_url!r}"
    )


async def stack(command: str) -> None:
    """`scripts/stack.sh <command>` (down, up) for the stack of STACK_PORT."""
    process = await asyncio.create_subprocess_exec(
        str(ROOT / "scripts" / "stack.sh"), command, cwd=ROOT, env=dict(os.environ),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await process.communicate()
    assert process.returncode == 0, f"scripts/stack.sh {command} failed:\n{out.decode()}\n{err.decode()}"


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


@pytest.fixture(scope="session")
async def pool(database_url: str) -> AsyncIterator[AsyncConnectionPool]:
    """The kind of pool the app opens (app.db.create_pool: autocommit, statements prepared
    after five uses), shared by the session."""
    settings = DatabaseSettings.model_validate(
        {"DATABASE_URL": database_url, "DB_POOL_MIN_SIZE": 2, "DB_POOL_MAX_SIZE": 8, "DB_POOL_TIMEOUT": 10}
    )
    async with create_pool(settings) as pool:
        await pool.wait(timeout=10)
        yield pool


@pytest.fixture
def transport(pool: AsyncConnectionPool) -> Transport:
    """The Postgres transport, as the app builds it by default."""
    return PostgresTransport(pool)


@pytest.fixture
def store(transport: Transport) -> ConversationManager:
    """The store acting as the service."""
    return ConversationManager(transport)


@pytest.fixture(scope="session")
def pgbouncer_url(database_url: str) -> Iterator[str]:
    """A real transaction pooler (pgbouncer, pool_mode = transaction) in front of the database,
    started for the session by the first test that asks for it (tests/pgbouncer.py)."""
    with pgbouncer(database_url) as url:
        yield url
