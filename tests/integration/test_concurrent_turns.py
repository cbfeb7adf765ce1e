"""Two continuations of one response at once, on real connections (issue 18): "latest or fork" is
decided in begin_turn under the conversation's row lock, so the first to take the lock
continues the conversation and the second, which then sees the first's turn, forks at the
response. Before, the choice was Python's, made before any lock: both saw the response as the
latest and both landed in the conversation, the second reading the first's turn as history.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import psycopg

AS_SERVICE = """
select set_config('role', 'service_role', true),
       set_config('request.jwt.claims', '{"role":"service_role"}', true);
"""
BEGIN = """
select public.begin_turn(p_input => %s::jsonb, p_previous_response_id => %s, p_kind => 'response',
                         p_token_budget => 1000)::text
"""


async def _continue(url: str, response: str, text: str) -> dict[str, Any]:
    async with await psycopg.AsyncConnection.connect(url) as conn, conn.transaction():
        await conn.execute(AS_SERVICE)
        cur = await conn.execute(BEGIN, (json.dumps([{"role": "user", "content": text}]), response))
        row = await cur.fetchone()
        assert row is not None
        begun: dict[str, Any] = json.loads(row[0])
        return begun


async def _blocked_behind(admin: psycopg.AsyncConnection[Any]) -> int:
    """Sessions that wait, directly or behind another waiter, for a lock `admin` holds (the
    first waiter of a row waits for our transaction, the next for the tuple lock the first holds).
    pg_stat_activity is read once per transaction unless its snapshot is cleared: it is."""
    await admin.execute("select pg_stat_clear_snapshot()")
    cur = await admin.execute(
        "with recursive blocked(pid) as ("
        "  select a.pid from pg_stat_activity a where pg_backend_pid() = any(pg_blocking_pids(a.pid))"
        "  union select a.pid from pg_stat_activity a, blocked b where b.pid = any(pg_blocking_pids(a.pid))"
        ") select count(*) from blocked"
    )
    row = await cur.fetchone()
    assert row is not None
    return int(row[0])


async def test_two_continuations_of_one_response_at_once_branch(
    database_url: str, admin: psycopg.AsyncConnection[Any]
) -> None:
    cid = f"it-race-{uuid.uuid4()}"
    turn = uuid.uuid4()
    await admin.execute("select public.create_conversation(p_conversation_id => %s)", [cid])
    await admin.execute(
        'select public.begin_turn(\'[{"role": "user", "content": "first"}]\', %s, p_kind => \'response\','
        " p_token_budget => 1000, p_turn_id => %s)",
        [cid, turn],
    )
    await admin.execute(
        'select public.finish_turn(%s, \'[{"role": "assistant", "content": "one"}]\')', [turn]
    )
    response = f"resp_{turn.hex}"
    async with admin.transaction():
        await admin.execute(
            "select 1 from public.ai_conversations where conversation_id = %s for update", [cid]
        )
        racing = [asyncio.create_task(_continue(database_url, response, f"branch {n}")) for n in (1, 2)]
        async with asyncio.timeout(10):
            while await _blocked_behind(admin) < 2:  # both wait on the lock we hold
                if any(task.done() for task in racing):
                    await asyncio.gather(*racing)
                await asyncio.sleep(0.005)
    first, second = await asyncio.gather(*racing)
    landed = sorted([first, second], key=lambda begun: begun["conversation_id"] != cid)
    continued, forked = landed
    assert continued["conversation_id"] == cid
    assert continued["forked_from"] is None
    assert forked["conversation_id"] != cid
    assert forked["forked_from"] == {"conversation_id": cid, "seq": 2}
    # The fork's history is the response and its own input, never the other branch.
    assert [m["content"] for m in forked["history"]] == ["first", "one", forked["input"][0]["content"]]
    assert [m["content"] for m in continued["history"]] == ["first", "one", continued["input"][0]["content"]]
