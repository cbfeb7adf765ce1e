"""The hourly cleanup as pg_cron runs it: the job's own command, outside any transaction."""

from __future__ import annotations

import contextlib
import uuid
from typing import Any

import psycopg

from tests.harness.waiting import eventually


async def _expire(admin: psycopg.AsyncConnection, cid: str) -> None:
    await admin.execute(
        "update public.ai_conversations set expires_at = now() - interval '1 second'"
        " where conversation_id = %s",
        (cid,),
    )


async def _exists(admin: psycopg.AsyncConnection, cid: str) -> tuple[bool, int]:
    cur = await admin.execute(
        "select exists (select 1 from public.ai_conversations where conversation_id = %s),"
        " (select count(*) from public.ai_conversation_messages where conversation_id = %s)",
        (cid, cid),
    )
    row = await cur.fetchone()
    assert row is not None
    return bool(row[0]), int(row[1])


async def test_job_command_removes_expired_and_keeps_live(admin: psycopg.AsyncConnection) -> None:
    expired, live = f"it-exp-{uuid.uuid4()}", f"it-live-{uuid.uuid4()}"
    for cid in (expired, live):
        await admin.execute("select public.create_conversation(p_conversation_id => %s)", (cid,))
        for i in range(3):
            await admin.execute("select public.append_message(%s, 'user', %s)", (cid, f"m{i}"))
    await _expire(admin, expired)

    cur = await admin.execute("select command from cron.job where jobname = 'cleanup-expired-conversations'")
    row = await cur.fetchone()
    assert row is not None
    await admin.execute(row[0])  # a CALL that commits per batch: only legal outside a transaction

    assert await _exists(admin, expired) == (False, 0)
    assert await _exists(admin, live) == (True, 3)


async def test_pg_cron_runs_jobs_on_this_database(admin: psycopg.AsyncConnection) -> None:
    """pg_cron must be able to connect and run commands (cron.host, auth), or the hourly job
    would fail silently. Jobs run at minute boundaries: wait for one run of a probe job."""
    name = f"probe-{uuid.uuid4().hex[:8]}"
    cur = await admin.execute("select cron.schedule(%s, '* * * * *', 'select 1')", (name,))
    row = await cur.fetchone()
    assert row is not None
    job_id = row[0]
    try:
        status: tuple[Any, ...] | None = None

        async def ran() -> bool:
            nonlocal status
            cur = await admin.execute(
                "select status, return_message from cron.job_run_details"
                " where jobid = %s and status in ('succeeded', 'failed') limit 1",
                (job_id,),
            )
            status = await cur.fetchone()
            return status is not None

        with contextlib.suppress(TimeoutError):
            await eventually(ran, within=75, poll=1)
        assert status is not None, "pg_cron did not run the probe job within 75 s"
        assert status[0] == "succeeded", status[1]
    finally:
        await admin.execute("select cron.unschedule(%s::bigint)", (job_id,))
