"""An erasure covers the writes in flight when it starts (issue 22, item 6).

`DELETE /users/{id}/data` (public.erase_user_data) erases every conversation, message and rating
of a user. Before, a chat turn whose transaction began before the erasure and committed after it
kept its conversation and message (stamped before the erasure's requested_at), and the erasure
record said nothing was kept: the erasure's statements never saw rows not yet committed. Now
every write of a user's rows holds that user's erasure lock (shared) until it commits, and the
erasure takes it exclusively first: it waits for the writes in flight, then sees and erases
them; a write that starts while an erasure runs is refused (55P03, answered 409: retry once the
erasure has finished).

Two (or three) real connections; the interleaving is made deterministic by waiting until the
erasure's backend is blocked by the writer's (pg_blocking_pids), never by sleeping a guess.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from tests.harness.waiting import eventually

Admin = psycopg.AsyncConnection[Any]
AS_SERVICE = (
    "select set_config('role', 'service_role', false),"
    " set_config('request.jwt.claims', '{\"role\": \"service_role\"}', false)"
)
AS_USER = (
    "select set_config('role', 'authenticated', false), set_config('request.jwt.claims',"
    " json_build_object('role', 'authenticated', 'sub', %s::text)::text, false)"
)


@asynccontextmanager
async def session(database_url: str, *, user: uuid.UUID | None = None) -> AsyncIterator[Admin]:
    """A connection acting as the service (or as `user`), autocommit off: each test decides
    when its transaction commits. Tests open the erasure's first, so a writer's connection (and
    its transaction) ends before it, and a failing test never leaves the erasure waiting."""
    async with await psycopg.AsyncConnection.connect(database_url, row_factory=dict_row) as conn:
        await conn.execute(AS_USER, (str(user),)) if user else await conn.execute(AS_SERVICE)
        await conn.commit()
        yield conn


async def erase(conn: Admin, user: uuid.UUID) -> dict[str, Any]:
    cur = await conn.execute("select public.erase_user_data(%s) as record", (user,))
    row = await cur.fetchone()
    await conn.commit()
    assert row is not None
    record: dict[str, Any] = row["record"]
    return record


async def blocked_by(admin: Admin, waiter: Admin, holder: Admin, task: asyncio.Task[Any]) -> bool:
    """Until `waiter`'s backend waits for a lock `holder`'s backend holds (True), or `task`
    (what `waiter` runs) has finished without waiting (False)."""
    blocked = False

    async def settled() -> bool:
        nonlocal blocked
        cur = await admin.execute(
            "select %s = any(pg_blocking_pids(%s))", (holder.info.backend_pid, waiter.info.backend_pid)
        )
        row = await cur.fetchone()
        blocked = bool(row and row[0])
        return blocked or task.done()

    await eventually(settled, poll=0.005)
    return blocked


async def leftovers(admin: Admin, user: uuid.UUID) -> tuple[int, int, int]:
    """The user's conversations, messages, and ratings still stored."""
    cur = await admin.execute(
        """select (select count(*) from public.ai_conversations where user_id = %(u)s),
                  (select count(*) from public.ai_conversation_messages where user_id = %(u)s),
                  (select count(*) from public.ai_message_feedback where user_id = %(u)s)""",
        {"u": user},
    )
    row = await cur.fetchone()
    assert row is not None
    return tuple(row)  # type: ignore[return-value]


async def own_conversation(admin: Admin, user: uuid.UUID, messages: int = 1) -> str:
    cur = await admin.execute(
        "select public.create_conversation(p_user_id => %s) ->> 'conversation_id'", (user,)
    )
    row = await cur.fetchone()
    assert row is not None
    for n in range(messages):
        await admin.execute("select public.append_message(%s, 'user', %s)", (row[0], f"old {n}"))
    return str(row[0])


async def test_a_turn_in_flight_when_the_erasure_starts_is_erased_with_the_rest(
    database_url: str, admin: Admin
) -> None:
    user = uuid.uuid4()
    await own_conversation(admin, user)
    async with session(database_url) as eraser, session(database_url) as turn:
        # A chat turn starting a conversation for the user: begun, not yet committed.
        await turn.execute("select public.begin_chat_turn('hello', p_user_id => %s)", (user,))
        erasure = asyncio.create_task(erase(eraser, user))
        waited = await blocked_by(admin, eraser, turn, erasure)
        await turn.commit()  # the turn commits during the erasure
        record = await erasure
    left = await leftovers(admin, user)
    print(
        f"\nturn in flight: erasure waited for it: {waited}; left after the erasure: {left}; record: "
        f"{record['conversations_removed']} conversations, {record['messages_removed']} messages removed"
    )
    assert left == (0, 0, 0)
    assert (record["conversations_removed"], record["messages_removed"]) == (2, 2)
    assert record["conversations_kept"] == 0


async def test_an_append_in_flight_waits_for_nothing_and_is_erased(database_url: str, admin: Admin) -> None:
    user = uuid.uuid4()
    cid = await own_conversation(admin, user)
    async with session(database_url) as eraser, session(database_url, user=user) as turn:
        await turn.execute("select public.append_message(%s, 'user', 'in flight')", (cid,))
        erasure = asyncio.create_task(erase(eraser, user))
        assert await blocked_by(admin, eraser, turn, erasure)  # the row lock alone did that before
        await turn.commit()
        record = await erasure
    assert await leftovers(admin, user) == (0, 0, 0)
    assert (record["conversations_removed"], record["messages_removed"]) == (1, 2)


async def test_a_rating_in_flight_is_erased(database_url: str, admin: Admin) -> None:
    user = uuid.uuid4()
    cid = await own_conversation(admin, user, messages=2)
    # Rated already: the first rating's update of the conversation row (its `rated` flag) is not
    # what the in-flight rating below relies on.
    await admin.execute("select public.set_message_feedback(%s, 1, 1)", (cid,))
    async with session(database_url) as eraser, session(database_url, user=user) as rater:
        await rater.execute("select public.set_message_feedback(%s, 2, -1, 'meh')", (cid,))
        erasure = asyncio.create_task(erase(eraser, user))
        await blocked_by(admin, eraser, rater, erasure)
        await rater.commit()
        await erasure
    assert await leftovers(admin, user) == (0, 0, 0)


async def test_a_write_that_starts_during_an_erasure_is_refused_then_allowed_after(
    database_url: str, admin: Admin
) -> None:
    user = uuid.uuid4()
    cid = await own_conversation(admin, user)
    # Left in reverse order: a writer's transaction ends before the erasure's connection closes.
    async with (
        session(database_url) as eraser,
        session(database_url) as late,
        session(database_url, user=user) as first,
    ):
        await first.execute("select public.append_message(%s, 'user', 'in flight')", (cid,))
        erasure = asyncio.create_task(erase(eraser, user))
        assert await blocked_by(admin, eraser, first, erasure)
        # The erasure is running (waiting for the write in flight): a new write of the user waits
        # for nothing and is refused, saying why.
        with pytest.raises(psycopg.errors.LockNotAvailable, match="being erased"):
            await late.execute("select public.begin_chat_turn('late', p_user_id => %s)", (user,))
        await late.rollback()
        await first.commit()
        await erasure
        assert await leftovers(admin, user) == (0, 0, 0)
        # Once the erasure has committed, the user may start again: that is new data.
        await late.execute("select public.begin_chat_turn('after', p_user_id => %s)", (user,))
        await late.commit()
    assert await leftovers(admin, user) == (1, 1, 0)
    await admin.execute("select public.erase_user_data(%s)", (user,))
