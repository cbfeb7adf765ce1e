"""Benchmark B (issue 21): what Broadcast from the database costs appends, and its alternatives.

pgbench ``select public.append_message(...)`` at 16 clients over 1,000 conversations of 100
users, alternating in the same session (two rounds) between:

- off: ``broadcast_conversations`` and ``broadcast_service`` false (no row in realtime.messages);
- conversation topics: one ``realtime.send`` per message, to ``ai_conversations:<row>``;
- on (the default): that and the service topic the API's Supabase feed listens on (two rows);
- on + a user topic: a third row per message to ``ai_conversations:user:<uid>`` (what a
  sidebar's "conversation changed" topic costs; a trigger created here, in this throwaway
  database only, dropped afterwards);
- postgres_changes, polled: broadcast off, and what Realtime's Postgres Changes does in the
  database instead: a wal2json slot read with ``pg_logical_slot_get_changes()`` every 100 ms
  (its default poll interval), without Realtime's per-subscriber RLS check, so a lower bound.

Then the same comparison through the API (``POST /conversations/{id}/messages``, wrk as in
benchmark 7, off and on alternating), where the database's share of an append is smaller.

realtime.messages is emptied before every run, so each starts from the same table. Goal (the
issue's): appends with broadcast on >= 0.9 of appends with it off, held against both rows.
"""

from __future__ import annotations

import contextlib
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import psycopg

from bench import data, pgbench
from bench.config import Config
from bench.http import Api, Load, Wrk
from bench.pgbench import Run
from bench.report import Goal, Outcome, figure, fmt_rate, line, section, verdict_line

__all__ = ["GOAL", "run"]

GOAL = Goal(">=", 0.9)
CONVERSATIONS = 1_000
POLL_SECONDS = 0.1  # Realtime's default poll_interval_ms for Postgres Changes
SLOT = "bench_broadcast"

_SETTINGS = "update public.ai_conversation_settings set broadcast_conversations = {}, broadcast_service = {}"
_EMPTY = "truncate realtime.messages"
_USER_TOPIC = """
create function private.bench_user_topic() returns trigger language plpgsql security definer
set search_path = '' as $$
begin
  if new.user_id is not null then
    perform realtime.send(
      jsonb_build_object('conversation_id', new.conversation_id, 'last_seq', new.seq,
                         'updated_at', new.created_at),
      'conversation_changed', 'ai_conversations:user:' || new.user_id::text, true);
  end if;
  return null;
end
$$;
create trigger bench_user_topic after insert on public.ai_conversation_messages
  for each row execute function private.bench_user_topic();
alter table public.ai_conversation_messages disable trigger bench_user_topic;
"""
_DROP_USER_TOPIC = """
drop trigger if exists bench_user_topic on public.ai_conversation_messages;
drop function if exists private.bench_user_topic();
"""
_USER_TRIGGER = "alter table public.ai_conversation_messages {} trigger bench_user_topic"
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


OFF = Mode("off", (_SETTINGS.format("false", "false"),))
CONVERSATION = Mode("conversation topics (1 row / message)", (_SETTINGS.format("true", "false"),))
ON = Mode("on: + service topic (2 rows, the default)", (_SETTINGS.format("true", "true"),))
USER = Mode(
    "on + user topic (3 rows)",
    (_SETTINGS.format("true", "true"), _USER_TRIGGER.format("enable")),
    (_USER_TRIGGER.format("disable"),),
)
POLLED = Mode(
    "postgres_changes, polled (broadcast off)",
    (_SETTINGS.format("false", "false"), f"select pg_create_logical_replication_slot('{SLOT}', 'wal2json')"),
    (f"select pg_drop_replication_slot('{SLOT}')",),
    polled=True,
)
MODES = (OFF, CONVERSATION, ON, USER, POLLED)


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
    return {mode: _combine(runs) for mode, runs in loads.items()}


def _combine(loads: list[Load]) -> Load:
    errors = sum(x.errors for x in loads)
    if errors:
        raise RuntimeError(f"{errors} HTTP appends failed")
    return Load(
        requests=sum(x.requests for x in loads),
        seconds=sum(x.seconds for x in loads),
        non_2xx=0,
        socket_errors=0,
        p50_ms=float("nan"),
        p99_ms=float("nan"),
    )


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
    _execute(url, _USER_TOPIC)
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
        http = _measure_http(url, config, group)
    finally:
        _execute(url, _DROP_USER_TOPIC, *ON.before)
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
            name="B postgres_changes polled / off",
            figures=f"{fmt_rate(measured[POLLED].tps)} vs {fmt_rate(off)}",
            value=measured[POLLED].tps / off,
            goal=None,
        ),
    ]
    verdict_line(outcomes[0])
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
