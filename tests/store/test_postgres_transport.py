"""The Postgres transport's own guarantees: PostgREST's security context, set in the right
order, in one transaction, in one network round trip, kept in a session only while it is the
next call's and never trusted blindly; and its failure mapping."""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any
from unittest.mock import patch

import psycopg
import pytest
from psycopg import pq
from psycopg_pool import AsyncConnectionPool

from app.config import DatabaseSettings, Settings
from app.db import create_pool
from app.store import (
    SERVICE,
    BusyError,
    ConversationManager,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
    Principal,
    StoreError,
    UnavailableError,
)
from app.store.errors import StatementTimeoutError
from app.store.factory import create_transport
from app.store.postgres import PostgresTransport, Protocol
from tests.conftest import DATABASE_URL
from tests.harness.waiting import eventually
from tests.store.conftest import new_user

CONTEXT_SEEN = (
    b"select current_user::text, current_setting('request.jwt.claims'), current_setting('statement_timeout'),"
    b" auth.uid(), auth.role()"
)


@pytest.fixture
async def single() -> AsyncIterator[AsyncConnectionPool]:
    """A pool of one connection: consecutive calls share a backend."""
    async with AsyncConnectionPool(
        DATABASE_URL, min_size=1, max_size=1, timeout=5, kwargs={"autocommit": True}
    ) as pool:
        yield pool


async def role_timeout(
    admin: psycopg.AsyncConnection[Any], role: str, name: str = "statement_timeout"
) -> str | None:
    cur = await admin.execute(
        "select substr(c, length(%s) + 2) from pg_db_role_setting s, unnest(s.setconfig) c"
        " where s.setrole = %s::regrole and s.setdatabase = 0 and c like %s || '=%%'",
        (name, role, name),
    )
    row = await cur.fetchone()
    return row[0] if row else None


@pytest.fixture(params=["pipeline", "simple"])
def protocol(request: pytest.FixtureRequest) -> Protocol:
    return request.param  # type: ignore[no-any-return]


async def test_user_context(
    pool: AsyncConnectionPool, admin: psycopg.AsyncConnection[Any], protocol: Protocol
) -> None:
    user = new_user()
    row = await PostgresTransport(pool, protocol=protocol).run(CONTEXT_SEEN, [], user)
    assert row is not None
    current_user, claims, timeout, uid, role = row
    assert current_user == "authenticated"
    assert role == "authenticated"
    assert uid == user.user_id
    assert json.loads(claims) == {**user.claims, "role": "authenticated"}
    assert timeout == await role_timeout(admin, "authenticated")  # 8s on Supabase


async def test_service_context_has_the_service_timeouts(
    single: AsyncConnectionPool, protocol: Protocol, admin: psycopg.AsyncConnection[Any]
) -> None:
    """service_role's own statement_timeout (set by the migrations) applies, as PostgREST
    applies it to the role it switches to."""
    row = await PostgresTransport(single, protocol=protocol).run(CONTEXT_SEEN, [], SERVICE)
    service_timeout = await role_timeout(admin, "service_role")
    assert service_timeout == "30s"
    assert row == ("service_role", '{"role":"service_role"}', service_timeout, None, "service_role")


async def test_a_role_without_timeouts_keeps_the_session_values(
    single: AsyncConnectionPool, protocol: Protocol
) -> None:
    """A role without a setting of its own keeps the session's value (the authenticator's
    behind PostgREST): NULL resets the transaction-local value."""
    async with single.connection() as conn:
        cur = await conn.execute(
            "select current_setting('statement_timeout'), current_setting('lock_timeout')"
        )
        session = await cur.fetchone()
    transport = PostgresTransport(single, protocol=protocol)
    transport._timeouts = {}
    row = await transport.run(
        b"select current_setting('statement_timeout'), current_setting('lock_timeout')", [], SERVICE
    )
    assert row == session


async def session_context(pool: AsyncConnectionPool) -> tuple[str, str | None]:
    async with pool.connection() as conn:
        assert conn.pgconn.transaction_status == pq.TransactionStatus.IDLE
        cur = await conn.execute("select current_user::text, current_setting('request.jwt.claims', true)")
        row = await cur.fetchone()
    assert row is not None
    return row[0], row[1] or None


async def test_a_transaction_local_context_ends_with_the_call(single: AsyncConnectionPool) -> None:
    """Behind a transaction pooler (and with protocol simple) nothing stays in the session."""
    for transport in (
        PostgresTransport(single, transaction_pooler=True),
        PostgresTransport(single, protocol="simple"),
    ):
        await transport.run(CONTEXT_SEEN, [], new_user())
        assert await session_context(single) == ("postgres", None)
        with pytest.raises(ForbiddenError):
            await transport.call("conversation_stats", {}, new_user())
        assert await session_context(single) == ("postgres", None)


async def test_the_session_keeps_the_context_for_the_same_principal_only(
    single: AsyncConnectionPool,
) -> None:
    transport = PostgresTransport(single)
    alice, bob = new_user(), new_user()
    for principal in (alice, alice, bob, SERVICE, alice, SERVICE, SERVICE, bob):
        row = await transport.run(CONTEXT_SEEN, [], principal)
        assert row is not None
        assert (row[0], json.loads(row[1]), row[3]) == (principal.role, principal.claims, principal.user_id)
        assert await session_context(single) == (principal.role, principal.claims_json)


async def test_a_failed_call_leaves_no_trusted_context(single: AsyncConnectionPool) -> None:
    """The failed call's transaction rolled its settings back: the session still holds the
    previous principal's, and the transport sets the context again for the next call."""
    transport = PostgresTransport(single)
    alice, bob = new_user(), new_user()
    await transport.run(CONTEXT_SEEN, [], alice)
    with pytest.raises(ForbiddenError):
        await transport.call("conversation_stats", {}, bob)
    assert await session_context(single) == ("authenticated", alice.claims_json)
    row = await transport.run(CONTEXT_SEEN, [], bob)
    assert row is not None
    assert row[3] == bob.user_id


async def test_a_session_changed_behind_the_transport_never_runs_a_call(
    single: AsyncConnectionPool, admin: psycopg.AsyncConnection[Any]
) -> None:
    """The gate: the transport believes the session holds Alice's context, but it holds Bob's
    (as if another client had used the backend). Alice's append must neither run as Bob nor
    fail: it runs once, as Alice, after the transport set her context again."""
    transport = PostgresTransport(single)
    alice, bob = new_user(), new_user()
    store = ConversationManager(transport, alice)
    cid = (await store.create_conversation(alice.user_id)).conversation_id
    async with single.connection() as conn:
        await conn.execute("select set_config('request.jwt.claims', %s, false)", (bob.claims_json,))
    assert await session_context(single) == ("authenticated", bob.claims_json)
    appended = await store.add_message(cid, "user", "from alice")
    assert appended.message.seq == 1
    assert not appended.replayed
    assert await session_context(single) == ("authenticated", alice.claims_json)
    cur = await admin.execute(
        "select count(*) from public.ai_conversation_messages where conversation_id = %s", (cid,)
    )
    assert await cur.fetchone() == (1,)
    # The other way round: a session left as the service while the transport believes it
    # holds Bob's context; Bob's read of Alice's conversation is refused as for Bob.
    await transport.run(CONTEXT_SEEN, [], bob)
    async with single.connection() as conn:
        await conn.execute("select set_config('role', 'service_role', false)")
        await conn.execute("select set_config('request.jwt.claims', %s, false)", (SERVICE.claims_json,))
    with pytest.raises(NotFoundError):
        await ConversationManager(transport, bob).get_conversation(cid)
    assert (await ConversationManager(transport, SERVICE).get_conversation(cid)).message_count == 1


async def test_a_session_context_behind_a_transaction_pooler_is_never_trusted(
    pgbouncer_url: str,
) -> None:
    """Misconfigured on purpose: session contexts through pgbouncer in transaction mode, where
    consecutive transactions of one client connection land on different backends (and one
    backend serves several client connections). Every call still runs as its own principal."""
    settings = DatabaseSettings.model_validate(
        {"DATABASE_URL": pgbouncer_url, "DB_TRANSACTION_POOLER": True, "DB_POOL_MAX_SIZE": 8}
    )
    async with create_pool(settings) as pool:
        transport = PostgresTransport(pool)  # as if DB_TRANSACTION_POOLER had been forgotten
        principals = [new_user() for _ in range(6)] + [SERVICE]

        async def check(principal: Principal) -> None:
            for _ in range(15):
                row = await transport.run(CONTEXT_SEEN, [], principal)
                assert row is not None
                assert (row[0], row[1], row[3]) == (principal.role, principal.claims_json, principal.user_id)

        await asyncio.gather(*(check(p) for p in principals * 2))


async def test_cached_plans_are_never_reused_across_principals() -> None:
    """One connection, every statement prepared at once, users and the service alternating:
    each sees exactly what RLS lets it see (plans that depend on RLS are replanned for another
    role; the call's EXECUTE privilege is checked at every execution)."""
    async with AsyncConnectionPool(
        DATABASE_URL, min_size=1, max_size=1, kwargs={"autocommit": True, "prepare_threshold": 0}
    ) as pool:
        transport = PostgresTransport(pool)
        alice, bob = new_user(), new_user()
        mine = {}
        for user in (alice, bob):
            store = ConversationManager(transport, user)
            mine[user.user_id] = {
                (await store.create_conversation(user.user_id)).conversation_id for _ in range(2)
            }
        for _ in range(4):
            for user in (alice, bob):
                listed = await ConversationManager(transport, user).get_user_conversations(limit=50)
                assert {c.conversation_id for c in listed.conversations} == mine[user.user_id]
            as_service = await ConversationManager(transport, SERVICE).get_user_conversations(alice.user_id)
            assert {c.conversation_id for c in as_service.conversations} == mine[alice.user_id]
            with pytest.raises(ForbiddenError):
                await transport.call("conversation_stats", {}, alice)


async def test_execute_privilege_is_checked_as_the_role(
    pool: AsyncConnectionPool, protocol: Protocol, admin: psycopg.AsyncConnection[Any]
) -> None:
    """The reason the context is a statement of its own: in one statement with the call, the
    executor checks EXECUTE before set_config() runs, as the login role, and lets it through
    (here only the function body's table access, checked later, is refused)."""
    with pytest.raises(ForbiddenError) as caught:
        await PostgresTransport(pool, protocol=protocol).call("conversation_stats", {}, new_user())
    assert caught.value.sqlstate == "42501"
    assert "permission denied for function conversation_stats" in caught.value.message
    with pytest.raises(psycopg.errors.InsufficientPrivilege) as single_statement:
        async with admin.transaction():
            await admin.execute(
                "select set_config('role', 'authenticated', true), public.conversation_stats()"
            )
    assert "permission denied for table" in str(single_statement.value)  # EXECUTE was let through


async def test_role_statement_timeout_applies(pool: AsyncConnectionPool, protocol: Protocol) -> None:
    transport = PostgresTransport(pool, protocol=protocol)
    transport._timeouts = {"authenticated": {"statement_timeout": "50ms"}}  # as if configured so
    with pytest.raises(StatementTimeoutError) as caught:
        await transport.run(b"select pg_sleep(2)", [], new_user())
    assert caught.value.sqlstate == "57014"
    row = await transport.run(b"select current_setting('statement_timeout')", [], new_user())
    assert row == ("50ms",)


async def test_role_lock_timeout_applies(
    pool: AsyncConnectionPool, protocol: Protocol, admin: psycopg.AsyncConnection[Any]
) -> None:
    """The role's lock_timeout (set by the migrations) bounds a wait for a row lock: the call
    fails fast with BusyError (55P03) instead of holding its connection."""
    transport = PostgresTransport(pool, protocol=protocol)
    assert (await transport.role_timeouts())["service_role"]["lock_timeout"] == "1s"
    row = await transport.run(b"select current_setting('lock_timeout')", [], SERVICE)
    assert row == ("1s",)
    store = ConversationManager(transport)
    cid = (await store.create_conversation(conversation_id=f"lock-{uuid.uuid4()}")).conversation_id
    async with admin.transaction():
        await admin.execute(
            "select 1 from public.ai_conversations where conversation_id = %s for update", (cid,)
        )
        started = time.perf_counter()
        with pytest.raises(BusyError) as caught:
            await store.add_message(cid, "user", "waits for the lock")
        waited = time.perf_counter() - started
    assert caught.value.sqlstate == "55P03"
    assert 0.9 < waited < 3


async def test_role_timeouts_read_once(
    pool: AsyncConnectionPool, admin: psycopg.AsyncConnection[Any]
) -> None:
    transport = PostgresTransport(pool)
    timeouts = await transport.role_timeouts()
    for role in ("authenticated", "anon", "service_role"):
        for name in ("statement_timeout", "lock_timeout"):
            assert timeouts.get(role, {}).get(name) == await role_timeout(admin, role, name)
    assert await transport.role_timeouts() is timeouts


async def test_signatures_come_from_the_catalog(
    pool: AsyncConnectionPool, admin: psycopg.AsyncConnection[Any]
) -> None:
    transport = PostgresTransport(pool)
    signatures = await transport.signatures()
    assert signatures["append_message"] == {
        "p_conversation_id": "text",
        "p_role": "text",
        "p_content": "text",
        "p_metadata": "jsonb",
        "p_idempotency_key": "text",
        "p_turn_key": "text",
        "p_tool_index": "integer",
    }
    assert signatures["conversation_stats"] == {}
    with pytest.raises(StoreError, match="unknown store function"):
        await transport.call("append_message", {"p_nonsense": 1}, SERVICE)
    # A function a migration adds while the API runs is found on its first call.
    name = f"tmp_added_{uuid.uuid4().hex[:8]}"
    await admin.execute(
        f"create function public.{name}(p_n bigint) returns json"
        " language sql as $$ select json_build_object('n', p_n) $$"
    )
    # New functions are closed by default (the migrations' default privileges).
    await admin.execute(f"grant execute on function public.{name}(bigint) to service_role")
    try:
        assert json.loads(await transport.call(name, {"p_n": 7}, SERVICE)) == {"n": 7}
    finally:
        await admin.execute(f"drop function public.{name}(bigint)")


async def traced(pool: AsyncConnectionPool, call: Any) -> list[list[str]]:
    """libpq's protocol trace of the one connection of `pool` while `call` runs."""
    with tempfile.NamedTemporaryFile("w+") as trace:
        async with pool.connection() as conn:
            conn.pgconn.trace(trace.fileno())
            conn.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)
        await call()
        async with pool.connection() as conn:
            conn.pgconn.untrace()
        trace.seek(0)
        return [line.split("\t") for line in trace.read().splitlines() if line]


def one_round_trip(lines: list[list[str]]) -> list[str]:
    """The messages sent, after checking every one went out before the server's first answer
    and one ReadyForQuery came back."""
    directions = "".join(line[0] for line in lines)
    assert directions.startswith("F")
    assert directions.count("FB") == 1  # one burst out, one burst back
    assert "BF" not in directions
    assert [line[2] for line in lines].count("ReadyForQuery") == 1
    return [line[2] for line in lines if line[0] == "F"]


@pytest.mark.parametrize("pooler", [False, True])
async def test_one_round_trip_per_call(single: AsyncConnectionPool, protocol: Protocol, pooler: bool) -> None:
    """A call is one round trip: with the context (two statements and a Sync: pipeline; one
    Query message: simple), or, when the session already holds the principal's context, the
    call's statement alone."""
    transport = PostgresTransport(single, protocol=protocol, transaction_pooler=pooler)
    alice, bob = new_user(), new_user()
    manager = ConversationManager(transport, alice)
    cid = (await manager.create_conversation()).conversation_id  # warm: role timeouts read
    await transport.run(CONTEXT_SEEN, [], bob)
    first = one_round_trip(await traced(single, lambda: manager.add_message(cid, "user", "traced")))
    again = one_round_trip(await traced(single, lambda: manager.add_message(cid, "user", "again")))
    if protocol == "simple":
        assert first == again == ["Query"]
    elif pooler:
        assert first == again == ["Parse", "Bind", "Describe", "Execute"] * 2 + ["Sync", "Flush"]
    else:
        assert first == ["Parse", "Bind", "Describe", "Execute"] * 2 + ["Sync", "Flush"]
        assert again == ["Parse", "Bind", "Describe", "Execute", "Sync"]


@pytest.mark.parametrize("pooler", [False, True])
async def test_transaction_pooler_uses_no_prepared_statements(pooler: bool, protocol: Protocol) -> None:
    settings = DatabaseSettings(
        DATABASE_URL=DATABASE_URL,
        DB_POOL_MIN_SIZE=1,
        DB_POOL_MAX_SIZE=1,
        DB_TRANSACTION_POOLER=pooler,
    )
    pool = create_pool(settings)
    await pool.open(wait=True)
    try:
        manager = ConversationManager(PostgresTransport(pool, protocol=protocol))
        cid = (await manager.create_conversation()).conversation_id
        for _ in range(8):
            await manager.get_messages(cid)
        async with pool.connection() as conn:
            cur = await conn.execute("select count(*) from pg_prepared_statements")
            prepared = (await cur.fetchone() or [0])[0]
    finally:
        await pool.close()
    assert (prepared == 0) is (pooler or protocol == "simple")


async def test_nul_bytes_are_invalid_input(pool: AsyncConnectionPool, protocol: Protocol) -> None:
    manager = ConversationManager(PostgresTransport(pool, protocol=protocol))
    cid = (await manager.create_conversation()).conversation_id
    with pytest.raises(InvalidInputError) as caught:
        await manager.add_message(cid, "user", "nul\x00")
    assert "NUL" in caught.value.message
    await manager.add_message(cid, "user", "the connection is still fine")


async def test_unreachable_database_is_unavailable() -> None:
    async with AsyncConnectionPool(
        "postgresql://postgres:postgres@127.0.0.1:1/postgres?connect_timeout=1",
        min_size=0,
        max_size=1,
        timeout=0.5,
    ) as pool:
        transport = PostgresTransport(pool)
        transport._timeouts = {}
        with pytest.raises(UnavailableError):
            await transport.call("conversation_stats", {}, SERVICE)


async def test_closed_pool_is_unavailable() -> None:
    pool = AsyncConnectionPool(DATABASE_URL, min_size=0, max_size=1, open=False)
    transport = PostgresTransport(pool)
    with pytest.raises(UnavailableError):
        await transport.call("conversation_stats", {}, SERVICE)


async def backend_pid(pool: AsyncConnectionPool) -> int:
    async with pool.connection() as conn:
        return conn.info.backend_pid


async def test_killed_connection_fails_only_a_call_that_may_not_run_twice(
    single: AsyncConnectionPool, admin: psycopg.AsyncConnection[Any]
) -> None:
    """A connection that breaks under the call (here: as if the server's FATAL had not arrived
    when it was taken): a read (retry) is sent again on a new one; a call that may not run
    twice fails, and the pool replaces the connection."""
    manager = ConversationManager(PostgresTransport(single))
    await manager.stats()
    with patch("app.db.closed_by_server", return_value=False):
        await admin.execute("select pg_terminate_backend(%s)", (await backend_pid(single),))
        assert (await manager.stats()).ttl_hours >= 1  # retried on a new connection
        await admin.execute("select pg_terminate_backend(%s)", (await backend_pid(single),))
        with pytest.raises(UnavailableError):
            await manager.transport.run(b"select 1", [], SERVICE)  # type: ignore[attr-defined]
    assert (await manager.stats()).ttl_hours >= 1  # the pool opened a new connection


async def test_the_pool_never_hands_out_a_connection_the_server_closed(
    admin: psycopg.AsyncConnection[Any],
) -> None:
    """A connection the server closed while idle is replaced at checkout (app.db.connection),
    so even a call that may not run twice does not fail."""
    settings = DatabaseSettings.model_validate(
        {"DATABASE_URL": DATABASE_URL, "DB_POOL_MIN_SIZE": 1, "DB_POOL_MAX_SIZE": 1}
    )
    async with create_pool(settings) as pool:
        transport = PostgresTransport(pool)
        first = await backend_pid(pool)
        await admin.execute("select pg_terminate_backend(%s)", (first,))

        async def gone() -> bool:  # the backend sent its FATAL and exited
            found = await admin.execute("select 1 from pg_stat_activity where pid = %s", (first,))
            return await found.fetchone() is None

        await eventually(gone, within=5)
        assert await transport.run(b"select pg_backend_pid()", [], SERVICE) != (first,)


async def test_unknown_function_or_argument(pool: AsyncConnectionPool) -> None:
    transport = PostgresTransport(pool)
    with pytest.raises(StoreError):
        await transport.call("drop_everything", {}, SERVICE)
    with pytest.raises(StoreError):
        await transport.call("conversation_stats", {"p_evil": 1}, SERVICE)


def test_factory_picks_postgres_without_supabase(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SUPABASE_URL", "SUPABASE_SERVICE_ROLE_KEY"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    settings.supabase.url = settings.supabase.service_role_key = None
    pool = AsyncConnectionPool(DATABASE_URL, open=False)
    transport = create_transport(settings, pool)
    assert isinstance(transport, PostgresTransport)
    assert transport.pool is pool
    assert transport.protocol == "pipeline"


@pytest.mark.parametrize("protocol", ["pipeline", "simple"])
def test_factory_honours_db_protocol(monkeypatch: pytest.MonkeyPatch, protocol: str) -> None:
    for name in ("SUPABASE_URL", "SUPABASE_SERVICE_ROLE_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DB_PROTOCOL", protocol)
    transport = create_transport(Settings(), AsyncConnectionPool(DATABASE_URL, open=False))
    assert isinstance(transport, PostgresTransport)
    assert transport.protocol == protocol
