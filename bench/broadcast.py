"""Benchmark B (issue 21): what Broadcast from the database costs appends, and its alternatives.

pgbench ``select public.append_message(...)`` at 16 clients over 1,000 conversations of 100
users, alternating in the same session (two rounds) between:

- off: ``broadcast_conversations`` and ``broadcast_service`` false (no row in realtime.messages);
- conversation topics: one row per message, to ``ai_conversations:<row>``;
- on (the default): that and the service topic the API's Supabase feed listens on (two rows,
  written by the statement trigger's one insert);
- on + a user topic: a third row per message to ``ai_conversations:user:<uid>`` (what a
  sidebar's "conversation changed" topic would cost), in the same one insert (a copy of the
  trigger with the third topic, created in this throwaway database only, dropped afterwards);
- realtime.send per row and topic: the same two rows written the way Supabase's guide writes
  them (a row trigger calling ``realtime.send`` twice: a function call, a dynamic ``SET LOCAL``
  and a subtransaction per row), the design this replaced, created here only;
- postgres_changes, polled: broadcast off, and what Realtime's Postgres Changes does in the
  database instead: a wal2json slot read with ``pg_logical_slot_get_changes()`` every 100 ms
  (its default poll interval), without Realtime's per-subscriber RLS check, so a lower bound.

On a 2-core machine shared with other work, throughput moves by more than a broadcast costs, so
the database's CPU per append is measured too, from /proc, which waits and other processes do
not inflate: one session appends 2,000 messages, each its own transaction (a procedure that
commits after every ``append_message``, created here only), per mode, three rounds, the median.

Then the same comparison through the API (``POST /conversations/{id}/messages``, wrk as in
benchmark 7, off and on alternating), where the database's share of an append is smaller.

realtime.messages is emptied before every run, so each starts from the same table. Goal (the
issue's): appends with broadcast on >= 0.9 of appends with it off, held against both rows.
"""

from __future__ import annotations

import contextlib
import statistics
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import psycopg

from bench import data, pgbench, proc
from bench.api import Api
from bench.config import Config
from bench.http import Wrk
from bench.load import Load, combine
from bench.pgbench import Run
from bench.report import Goal, Outcome, figure, fmt_rate, line, section, verdict_line

__all__ = ["GOAL", "run"]

GOAL = Goal(">=", 0.9)
CONVERSATIONS = 1_000
POLL_SECONDS = 0.1  # Realtime's default poll_interval_ms for Postgres Changes
SLOT = "bench_broadcast"

_SETTINGS = "update public.ai_conversation_settings set broadcast_conversations = {}, broadcast_service = {}"
_EMPTY = "truncate realtime.messages"
_TRIGGER = "alter table public.ai_conversation_messages {} trigger {}"

# The alternatives, in this throwaway database only. A user topic: the store's statement trigger
# with a third topic in its one insert.
_USER_TOPIC = """
create function private.bench_user_topic() returns trigger language plpgsql security definer
set search_path = '' as $$
begin
  begin
    insert into realtime.messages (topic, extension, payload, event, private)
    select t.topic, 'broadcast', m.payload, 'message', true
      from (select n.conversation_id, n.seq, n.user_id, c.id as row_id, jsonb_build_object(
                     'row_id', c.id, 'id', n.id, 'conversation_id', n.conversation_id, 'seq', n.seq,
                     'role', n.role, 'content', n.content, 'metadata', n.metadata,
                     'created_at', n.created_at, 'idempotency_key', n.idempotency_key,
                     'tokens', n.tokens, 'user_id', n.user_id) as payload
              from new_rows n
              join public.ai_conversations c on c.conversation_id = n.conversation_id) m
     cross join lateral (select private.conversation_topic(m.row_id)
                         union all
                         select private.service_topic()
                         union all
                         select 'ai_conversations:user:' || m.user_id::text
                          where m.user_id is not null) t(topic)
     order by m.conversation_id, m.seq;
  exception when others then
    raise warning 'WarnSendingBroadcastMessage: %', sqlerrm;
  end;
  return null;
end
$$;
create trigger bench_user_topic after insert on public.ai_conversation_messages
  referencing new table as new_rows
  for each statement execute function private.bench_user_topic();
alter table public.ai_conversation_messages disable trigger bench_user_topic;
"""
# The design this replaced: a row trigger calling realtime.send once per topic.
_SEND_PER_ROW = """
create function private.bench_send_per_row() returns trigger language plpgsql security definer
set search_path = '' as $$
declare
  v_row uuid;
  v_payload jsonb;
begin
  select c.id into v_row from public.ai_conversations c where c.conversation_id = new.conversation_id;
  v_payload := jsonb_build_object(
    'row_id', v_row, 'id', new.id, 'conversation_id', new.conversation_id, 'seq', new.seq,
    'role', new.role, 'content', new.content, 'metadata', new.metadata, 'created_at', new.created_at,
    'idempotency_key', new.idempotency_key, 'tokens', new.tokens, 'user_id', new.user_id);
  perform realtime.send(v_payload, 'message', private.conversation_topic(v_row), true);
  perform realtime.send(v_payload, 'message', private.service_topic(), true);
  return null;
end
$$;
create trigger bench_send_per_row after insert on public.ai_conversation_messages
  for each row execute function private.bench_send_per_row();
alter table public.ai_conversation_messages disable trigger bench_send_per_row;
"""
_DROP_ALTERNATIVES = """
drop trigger if exists bench_user_topic on public.ai_conversation_messages;
drop function if exists private.bench_user_topic();
drop trigger if exists bench_send_per_row on public.ai_conversation_messages;
drop function if exists private.bench_send_per_row();
"""
_CHANGES = """
select count(*) from pg_logical_slot_get_changes(%s, null, null,
  'format-version', '2', 'include-timestamp', '1', 'include-transaction', 'false',
  'include-type-oids', '1', 'add-tables', 'public.ai_conversation_messages')
"""


@dataclass(frozen=True)
class Mode:
    """One contender: the SQL that sets it up and undoes it; ``polled`` runs the slot reader."""

    name: str
    before: tuple[str, ...]
    after: tuple[str, ...] = ()
    polled: bool = False


def _instead(trigger: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """A bench trigger in place of the store's (its settings off: the store's sends nothing)."""
    return (_SETTINGS.format("false", "false"), _TRIGGER.format("enable", trigger)), (
        _TRIGGER.format("disable", trigger),
    )


OFF = Mode("off", (_SETTINGS.format("false", "false"),))
CONVERSATION = Mode("conversation topics (1 row / message)", (_SETTINGS.format("true", "false"),))
ON = Mode("on: + service topic (2 rows, the default)", (_SETTINGS.format("true", "true"),))
USER = Mode("on + user topic (3 rows)", *_instead("bench_user_topic"))
SEND = Mode("2 rows by realtime.send per row and topic", *_instead("bench_send_per_row"))
POLLED = Mode(
    "postgres_changes, polled (broadcast off)",
    (_SETTINGS.format("false", "false"), f"select pg_create_logical_replication_slot('{SLOT}', 'wal2json')"),
    (f"select pg_drop_replication_slot('{SLOT}')",),
    polled=True,
)
MODES = (OFF, CONVERSATION, ON, USER, SEND, POLLED)


class SlotPoller:
    """Reads the slot every POLL_SECONDS in a thread of its own, as Realtime's poller would."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.changes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="bench-slot-poller", daemon=True)

    def __enter__(self) -> SlotPoller:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _poll(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            while True:
                row = conn.execute(_CHANGES, (SLOT,)).fetchone()
                self.changes += int(row[0]) if row else 0
                if self._stop.wait(POLL_SECONDS):
                    break


def _execute(url: str, *statements: str) -> None:
    """Each statement in a transaction of its own (a replication slot needs one without writes)."""
    with psycopg.connect(url, autocommit=True) as conn:
        for sql in statements:
            conn.execute(sql)


def _measure(url: str, config: Config, group: data.Group, clients: int) -> dict[Mode, Run]:
    rounds = 2 if config.duration >= 6 else 1
    runs: dict[Mode, list[Run]] = {mode: [] for mode in MODES}
    for _ in range(rounds):
        for mode in MODES:
            _execute(url, _EMPTY, *mode.before)
            try:
                with SlotPoller(url) if mode.polled else contextlib.nullcontext():
                    runs[mode].append(
                        pgbench.run(
                            url,
                            "append_function.sql",
                            clients=clients,
                            threads=config.threads,
                            duration=config.duration / rounds,
                            defines=group.defines(),
                        )
                    )
            finally:
                _execute(url, *mode.after)
    return {mode: pgbench.combine(r) for mode, r in runs.items()}


_LOOP = """
create procedure private.bench_append_loop(p_first integer, p_count integer, p_appends integer)
language plpgsql as $$  -- no SET clause: it would forbid the commits
begin
  for i in 1..p_appends loop
    perform public.append_message('conv-' || (p_first + i % p_count), 'user',
                                  'hello from pgbench: how long do you keep my conversations?');
    commit;
  end loop;
end
$$;
"""
CPU_APPENDS = 2_000
CPU_ROUNDS = 3
CPU_MODES = (OFF, CONVERSATION, ON, USER, SEND)


def _measure_cpu(url: str, group: data.Group) -> dict[Mode, float]:
    """Microseconds of the backend's CPU per append (median of the rounds), per mode."""
    samples: dict[Mode, list[float]] = {mode: [] for mode in CPU_MODES}
    call = f"call private.bench_append_loop({group.first}, {group.count}, %s)"
    for _ in range(CPU_ROUNDS):
        for mode in CPU_MODES:
            _execute(url, _EMPTY, *mode.before)
            try:
                with psycopg.connect(url, autocommit=True) as conn:
                    conn.execute("set synchronous_commit = off")  # CPU, not the WAL flush, is measured
                    row = conn.execute("select pg_backend_pid()").fetchone()
                    assert row is not None
                    backend = int(row[0])
                    conn.execute(call % 100)  # warm: plans, caches
                    before = proc.process_cpu(backend)
                    conn.execute(call % CPU_APPENDS)
                    samples[mode].append((proc.process_cpu(backend) - before) / CPU_APPENDS * 1e6)
            finally:
                _execute(url, *mode.after)
    return {mode: statistics.median(values) for mode, values in samples.items()}


def _measure_http(url: str, config: Config, group: data.Group) -> dict[Mode, Load]:
    rounds = 2 if config.duration >= 6 else 1
    loads: dict[Mode, list[Load]] = {OFF: [], ON: []}
    with tempfile.TemporaryDirectory(prefix="bench-broadcast-") as tmp:
        wrk = Wrk(Path(tmp), group, group, config.threads)
        api = Api(url)
        try:
            api.wait()
            wrk.run(api.base, "append", 2)  # warm-up: the pool's connections, prepared statements
            for _ in range(rounds):
                for mode, runs in loads.items():
                    _execute(url, _EMPTY, *mode.before)
                    runs.append(wrk.run(api.base, "append", config.duration / rounds))
        finally:
            api.stop()
    combined = {mode: combine(runs) for mode, runs in loads.items()}
    errors = sum(load.errors for load in combined.values())
    if errors:
        raise RuntimeError(f"{errors} HTTP appends failed")
    return combined


def _rows_per_message(url: str) -> float:
    """realtime.messages rows per message appended since the last emptying (a sanity check)."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "select (select count(*) from realtime.messages)::float8"
            "     / greatest((select count(*) from public.ai_conversation_messages), 1)"
        ).fetchone()
    return float(row[0]) if row else 0.0


def run(url: str, config: Config) -> list[Outcome]:
    clients = 2 * config.clients
    section(f"B. Broadcast from the database: cost to appends at {clients} clients, and the alternatives")
    data.truncate(url)
    group = data.Layout().group("broadcast", CONVERSATIONS, 0)
    data.load(url, [group])
    line(
        f"{CONVERSATIONS:,} conversations of {min(CONVERSATIONS, data.USERS):,} users; -M prepared; "
        f"alternating runs, realtime.messages emptied before each"
    )
    _execute(url, _USER_TOPIC, _SEND_PER_ROW)
    try:
        measured = _measure(url, config, group, clients)
        # The default configuration once more, briefly, to check it writes what it says.
        data.truncate(url)
        data.load(url, [group])
        _execute(url, _EMPTY, *ON.before)
        pgbench.run(
            url,
            "append_function.sql",
            clients=clients,
            threads=config.threads,
            duration=1,
            defines=group.defines(),
        )
        rows = _rows_per_message(url)
        _execute(url, _LOOP)
        cpu = _measure_cpu(url, group)
        http = _measure_http(url, config, group)
    finally:
        _execute(
            url,
            _DROP_ALTERNATIVES,
            "drop procedure if exists private.bench_append_loop(integer, integer, integer)",
            *ON.before,
        )
    off = measured[OFF].tps
    for mode in MODES:
        ratio = measured[mode].tps / off if off else float("nan")
        figure(mode.name, f"{fmt_rate(measured[mode].tps):>12}  {ratio:.3f} of off")
    line(f"realtime.messages rows per appended message with the default settings: {rows:.2f}")
    on, user = measured[ON].tps, measured[USER].tps
    outcomes = [
        Outcome(
            name=f"B append broadcast on / off ({clients} cl.)",
            figures=f"{fmt_rate(on)} vs {fmt_rate(off)}",
            value=on / off,
            goal=GOAL,
        ),
        Outcome(
            name="B conversation topic only / off",
            figures=f"{fmt_rate(measured[CONVERSATION].tps)} vs {fmt_rate(off)}",
            value=measured[CONVERSATION].tps / off,
            goal=None,
        ),
        Outcome(
            name="B + user topic / on (a sidebar's cost)",
            figures=f"{fmt_rate(user)} vs {fmt_rate(on)}",
            value=user / on,
            goal=None,
        ),
        Outcome(
            name="B realtime.send per row and topic / off",
            figures=f"{fmt_rate(measured[SEND].tps)} vs {fmt_rate(off)}",
            value=measured[SEND].tps / off,
            goal=None,
        ),
        Outcome(
            name="B postgres_changes polled / off",
            figures=f"{fmt_rate(measured[POLLED].tps)} vs {fmt_rate(off)}",
            value=measured[POLLED].tps / off,
            goal=None,
        ),
    ]
    verdict_line(outcomes[0])
    line(f"database CPU per append, one session, {CPU_APPENDS:,} appends x {CPU_ROUNDS} rounds (median):")
    for mode, micros in cpu.items():
        figure(mode.name, f"{micros:>8.0f} us  +{micros - cpu[OFF]:.0f} us")
    outcomes.append(
        Outcome(
            name="B CPU per append off / on (database)",
            figures=f"{cpu[OFF]:.0f} vs {cpu[ON]:.0f} us; one topic {cpu[CONVERSATION]:.0f} us",
            value=cpu[OFF] / cpu[ON],
            goal=None,
        )
    )
    outcomes.append(
        Outcome(
            name="B CPU per append off / realtime.send per row",
            figures=f"{cpu[OFF]:.0f} vs {cpu[SEND]:.0f} us",
            value=cpu[OFF] / cpu[SEND],
            goal=None,
        )
    )
    outcomes.append(
        Outcome(
            name="B CPU of a user topic, per append",
            figures=f"{cpu[USER]:.0f} vs {cpu[ON]:.0f} us",
            value=cpu[USER] - cpu[ON],
            goal=None,
            value_text=f"+{cpu[USER] - cpu[ON]:.0f} us",
        )
    )
    line("through the API: POST /conversations/{id}/messages (wrk, 16 connections), off / on alternating")
    for mode, load in http.items():
        figure(mode.name, f"{fmt_rate(load.rate, 'req/s'):>12}")
    api_on, api_off = http[ON].rate, http[OFF].rate
    outcomes.insert(
        1,
        Outcome(
            name="B HTTP appends broadcast on / off",
            figures=f"{fmt_rate(api_on, 'req/s')} vs {fmt_rate(api_off, 'req/s')}",
            value=api_on / api_off,
            goal=GOAL,
        ),
    )
    verdict_line(outcomes[1])
    return outcomes
