"""Benchmark 3: does the last-10 read slow down as the table grows from 10k to 5M messages?

It must not: "the last N messages" is an index range scan on (conversation_id, seq), whose
cost grows with the depth of the index, not with the number of rows. One client, so the
figure is the latency of the call itself and not of queueing for the 2 cores; p50 from
pgbench's per-transaction log. Conversations have the same size (50 messages) in both.
"""

from __future__ import annotations

from bench import pgbench
from bench.config import Config
from bench.data import Group
from bench.pgbench import Run
from bench.report import Goal, Outcome, fmt_ms, line, section, verdict_line

__all__ = ["GOAL", "finish", "measure"]

GOAL = Goal("<=", 1.2)


def measure(url: str, config: Config, group: Group, total_messages: int) -> Run:
    """p50 of get_messages(id, 10) over ``group`` with ``total_messages`` in the table."""
    section(f"3. last-10 read latency at {total_messages:,} messages")
    result = pgbench.run(
        url,
        "read_function.sql",
        clients=1,
        threads=1,
        duration=config.duration,
        defines=group.defines(),
        log=True,
    )
    latencies = result.latencies_us
    line(
        f"1 client, {group.count:,} conversations of {group.messages} messages: "
        f"p50 {fmt_ms(pgbench.percentile(latencies, 50))}, p99 {fmt_ms(pgbench.percentile(latencies, 99))}, "
        f"{result.transactions:,} calls"
    )
    return result


def finish(small: Run, small_messages: int, large: Run, large_messages: int) -> Outcome:
    """The ratio of the two p50s against the goal."""
    small_p50 = pgbench.percentile(small.latencies_us, 50)
    large_p50 = pgbench.percentile(large.latencies_us, 50)
    outcome = Outcome(
        name=f"3 read p50 {large_messages / 1e6:g}M / {small_messages / 1e3:g}k msgs",
        figures=f"{fmt_ms(large_p50)} vs {fmt_ms(small_p50)}",
        value=large_p50 / small_p50,
        goal=GOAL,
    )
    line(f"p50 at {large_messages:,} / p50 at {small_messages:,} messages")
    verdict_line(outcome)
    return outcome
