"""Benchmark: what carrying a reply's stream through Postgres costs, per candidate design (issue 19).

``python -m bench.turn_streams`` against DATABASE_URL (a migrated database; it adds its own turns
and leaves them). For one streamed reply of TOKENS tokens written in batches of BATCH tokens
(one transaction per batch, as the runner writes them), it prints the WAL bytes written
(pg_current_wal_lsn before and after) and the batches per second one connection commits, for:

* table: a row of public.ai_turn_events per batch (append_turn_events), carried by wal2json: the
  design chosen, since the same rows serve replay by position on any instance;
* message: pg_logical_emit_message per batch (carried by wal2json too), no table: cheaper WAL, but
  nothing to replay from after the fact, so resume needs a table as well (then it costs both);
* notify: a row per batch and a NOTIFY: NOTIFY takes a database-wide lock at commit and holds it
  through the WAL flush (app.realtime.postgres_feed), so concurrent writers serialise.
"""

from __future__ import annotations

import json
import os
import time
import uuid

import psycopg

TOKENS = 500
WORD = "word "


def _lsn(conn: psycopg.Connection) -> int:
    row = conn.execute("select pg_current_wal_lsn() - '0/0'::pg_lsn").fetchone()
    assert row is not None
    return int(row[0])


def _turn(conn: psycopg.Connection) -> uuid.UUID:
    cid = f"bench-stream-{uuid.uuid4()}"
    conn.execute("select public.create_conversation(p_conversation_id => %s)", (cid,))
    row = conn.execute(
        "select (public.begin_turn(p_input => %s::jsonb, p_conversation_id => %s) -> 'turn' ->> 'id')::uuid",
        (json.dumps([{"role": "user", "content": "hi"}]), cid),
    ).fetchone()
    assert row is not None
    return uuid.UUID(str(row[0]))


def measure(url: str, design: str, batch: int) -> tuple[float, float]:
    """(WAL bytes per reply, batches committed per second) for one reply."""
    with psycopg.connect(url, autocommit=True) as conn:
        turn = _turn(conn)
        before, started = _lsn(conn), time.perf_counter()
        seq = 1
        for _ in range(TOKENS // batch):
            events = json.dumps([{"type": "delta", "text": WORD}] * batch)
            if design == "message":
                conn.execute("select pg_logical_emit_message(false, 'ai_turns.events', %s)", (events,))
            else:
                with conn.transaction():
                    conn.execute("select public.append_turn_events(%s, %s, %s::jsonb)", (turn, seq, events))
                    if design == "notify":
                        conn.execute("select pg_notify('ai_turn_events', %s)", (f"{turn}:{seq}",))
            seq += batch
        elapsed = time.perf_counter() - started
        return float(_lsn(conn) - before), (TOKENS // batch) / elapsed


def main() -> None:
    url = os.environ["DATABASE_URL"]
    print(f"one reply of {TOKENS} tokens; cores: {os.cpu_count()}; load average: {os.getloadavg()}")
    for batch in (1, 5, 25):
        for design in ("table", "message", "notify"):
            wal, rate = measure(url, design, batch)
            print(
                f"batch {batch:>3} tokens  {design:<8} WAL {wal / 1024:8.1f} KiB/reply  {rate:8.0f} batches/s"
            )


if __name__ == "__main__":
    main()
