"""Benchmark 1: ``append_message()`` against the raw-SQL append it replaces.

The function does more than the raw transaction (checks, the idempotency probe, statistics
counters) in exchange for one round trip; the goal is that this costs at most 20% of the
throughput of the DESIGN's raw ceiling, insert one message and touch its conversation as two
statements in one transaction, measured in the same run on the same rows. Against the other
ceiling, the ordered append as one autocommit statement at 16 clients, the goal is 0.7 (issue
14). The realtime feed
adds nothing here (it decodes the WAL with wal2json, no trigger): ``bench/realtime.py``
measures appends with the feed on and off.
"""

from __future__ import annotations

from bench import pgbench
from bench.config import Config
from bench.data import RECOUNT, Group
from bench.pgbench import REPLICA, Run, Workload
from bench.report import Goal, Outcome, figure, fmt_rate, line, section, verdict_line

__all__ = ["GOAL", "ONE_STATEMENT_GOAL", "run"]

GOAL = Goal(">=", 0.8)
ONE_STATEMENT_GOAL = Goal(">=", 0.7)  # issue 14


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
    raw, function = pgbench.measure(
        url, workloads, threads=config.threads, duration=config.duration, defines=group.defines()
    )
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
            goal=ONE_STATEMENT_GOAL,
        )
    )
    verdict_line(outcomes[-1])
    return outcomes
