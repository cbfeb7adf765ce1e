"""Benchmark 3: does the last-10 read slow down as the table grows from 10k to 5M messages?

It must not: "the last N messages" is an index range scan on (conversation_id, seq), whose
cost grows with the depth of the index, not with the number of rows. One client, so the
figure is the latency of the call itself and not of queueing for the 2 cores; p50 from
pgbench's per-transaction log. Conversations have the same size (50 messages) in both.

3w: the token-budgeted window (``get_context(id, 400)``, the same 10 messages here) against
the count window (``get_messages(id, 10)``) at each size, alternating in the same run: the
window is a probe of the summaries' index, one of (conversation_id, tokens_before), the range
scan, and one more probe for what was left out. Goal at 5M messages: p50 at most 1.3x.
"""

from __future__ import annotations

from bench import pgbench
from bench.config import Config
from bench.data import Group
from bench.latency import percentile
from bench.pgbench import Run, Workload
from bench.report import Goal, Outcome, fmt_ms, line, section, verdict_line

__all__ = ["GOAL", "WINDOW_GOAL", "finish", "measure", "window"]

GOAL = Goal("<=", 1.2)
WINDOW_GOAL = Goal("<=", 1.3)


def measure(url: str, config: Config, group: Group, total_messages: int) -> tuple[Run, Run]:
    """p50 of get_messages(id, 10), and of the token window get_context(id, 400), over
    ``group`` with ``total_messages`` in the table (the two alternating)."""
    section(f"3. last-10 read latency at {total_messages:,} messages (count and token windows)")
    count, tokens = pgbench.measure(
        url,
        [Workload("read_function.sql", 1, log=True), Workload("read_window.sql", 1, log=True)],
        threads=1,
        duration=2 * config.duration,
        defines=group.defines(),
    )
    for name, result in (("get_messages(id, 10)", count), ("get_context(id, 400)", tokens)):
        latencies = result.latencies_us
        line(
            f"{name}, 1 client, {group.count:,} conversations of {group.messages} messages: "
            f"p50 {fmt_ms(percentile(latencies, 50))}, "
            f"p99 {fmt_ms(percentile(latencies, 99))}, {result.transactions:,} calls"
        )
    return count, tokens


def window(count: Run, tokens: Run, total_messages: int, *, large: bool) -> Outcome:
    """The token window's p50 over the count window's, measured in the same run (the goal
    holds on the large data set)."""
    count_p50 = percentile(count.latencies_us, 50)
    tokens_p50 = percentile(tokens.latencies_us, 50)
    size = f"{total_messages / 1e6:g}M" if total_messages >= 1e6 else f"{total_messages / 1e3:g}k"
    outcome = Outcome(
        name=f"3w token / count window p50, {size} msgs",
        figures=f"{fmt_ms(tokens_p50)} vs {fmt_ms(count_p50)}",
        value=tokens_p50 / count_p50,
        goal=WINDOW_GOAL if large else None,
    )
    verdict_line(outcome)
    return outcome


def finish(small: Run, small_messages: int, large: Run, large_messages: int) -> Outcome:
    """The ratio of the two p50s against the goal."""
    small_p50 = percentile(small.latencies_us, 50)
    large_p50 = percentile(large.latencies_us, 50)
    outcome = Outcome(
        name=f"3 read p50 {large_messages / 1e6:g}M / {small_messages / 1e3:g}k msgs",
        figures=f"{fmt_ms(large_p50)} vs {fmt_ms(small_p50)}",
        value=large_p50 / small_p50,
        goal=GOAL,
    )
    line(f"p50 at {large_messages:,} / p50 at {small_messages:,} messages")
    verdict_line(outcome)
    return outcome
