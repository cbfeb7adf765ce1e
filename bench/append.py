"""Benchmark 1: ``append_message()`` against the raw-SQL append it replaces.

The function does more than the raw transaction (checks, the idempotency probe, statistics
counters, the realtime NOTIFY) in exchange for one round trip; the goal is that this costs at
most 20% of the throughput of the DESIGN's raw ceiling, insert one message and touch its
conversation as two statements in one transaction, measured in the same run on the same rows.
When the messages table has the local realtime feed's NOTIFY trigger, the function is also
measured with it switched off, to tell the two costs apart.
"""

from __future__ import annotations

import psycopg

from bench import pgbench
from bench.config import Config
from bench.data import RECOUNT, Group
from bench.pgbench import REPLICA, Run, Workload
from bench.report import Goal, Outcome, figure, fmt_rate, line, section, verdict_line

__all__ = ["GOAL", "NOTIFY_TRIGGER", "run"]

GOAL = Goal(">=", 0.8)

NOTIFY_TRIGGER = "notify_message_insert"
_TRIGGER = "alter table public.ai_conversation_messages {} trigger " + NOTIFY_TRIGGER


def _has_notify_trigger(url: str) -> bool:
    with psycopg.connect(url) as conn:
        return (
            conn.execute(
                "select 1 from pg_trigger where tgname = %s"
                " and tgrelid = 'public.ai_conversation_messages'::regclass",
                (NOTIFY_TRIGGER,),
            ).fetchone()
            is not None
        )


def _rate(run: Run) -> str:
    return f"{fmt_rate(run.tps):>12}  avg {run.latency_avg_ms:.2f} ms"


def run(url: str, config: Config, group: Group) -> list[Outcome]:
    """Function vs raw transaction at ``config.clients``; then both one-statement forms at 16."""
    section("1. append: public.append_message() vs a raw insert+update transaction")
    line(
        f"{config.clients} clients, -M prepared, a random one of {group.count:,} conversations per "
        "transaction; raw runs with session_replication_role=replica and takes seq from the row lock"
    )
    # Raw rows skip the triggers, hence the totals: recount after them so the counter check
    # at the end still tests the function's own bookkeeping.
    workloads = [
        Workload("append_raw.sql", config.clients, REPLICA, after=RECOUNT),
        Workload("append_function.sql", config.clients),
    ]
    notify = _has_notify_trigger(url)
    if notify:
        workloads.append(
            Workload(
                "append_function.sql",
                config.clients,
                before=_TRIGGER.format("disable"),
                after=_TRIGGER.format("enable"),
            )
        )
    runs = pgbench.measure(
        url, workloads, threads=config.threads, duration=config.duration, defines=group.defines()
    )
    raw, function = runs[0], runs[1]
    figure("raw transaction (begin; update; insert; end)", _rate(raw))
    figure("select public.append_message(...)", _rate(function))
    outcomes = [
        Outcome(
            name=f"1 append fn / raw tx ({config.clients} clients)",
            figures=f"{fmt_rate(function.tps)} vs {fmt_rate(raw.tps)}",
            value=function.tps / raw.tps,
            goal=GOAL,
        )
    ]
    verdict_line(outcomes[0])
    if notify:
        quiet = runs[2]
        figure(f"  the same, trigger {NOTIFY_TRIGGER} disabled", _rate(quiet))
        outcomes.append(
            Outcome(
                name="1b append fn without NOTIFY / raw tx",
                figures=f"{fmt_rate(quiet.tps)} vs {fmt_rate(raw.tps)}",
                value=quiet.tps / raw.tps,
                goal=None,
            )
        )
        verdict_line(outcomes[-1])

    # The DESIGN's other ceiling: the ordered append as one autocommit statement, 16 clients.
    clients = 2 * config.clients
    one_statement, function_16 = pgbench.measure(
        url,
        [
            Workload("append_one_statement.sql", clients, REPLICA, after=RECOUNT),
            Workload("append_function.sql", clients),
        ],
        threads=config.threads,
        duration=config.duration,
        defines=group.defines(),
    )
    line(f"at {clients} clients, autocommit:")
    figure("ordered append as one statement (ceiling)", _rate(one_statement))
    figure("select public.append_message(...)", _rate(function_16))
    outcomes.append(
        Outcome(
            name=f"1c append fn / one statement ({clients} cl.)",
            figures=f"{fmt_rate(function_16.tps)} vs {fmt_rate(one_statement.tps)}",
            value=function_16.tps / one_statement.tps,
            goal=None,
        )
    )
    verdict_line(outcomes[-1])
    return outcomes
