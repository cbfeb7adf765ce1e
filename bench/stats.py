"""Benchmark 5: ``conversation_stats()`` on a large store.

Admins call it from the dashboard and ``GET /stats`` serves it, so it must stay fast however
much is stored: totals come from trigger-maintained counters, and only the expired
conversations awaiting cleanup are counted (from the expires_at index). Measured with the
expired conversations of benchmark 4 still present, the worst moment before an hourly cleanup.
"""

from __future__ import annotations

from bench import pgbench
from bench.config import Config
from bench.latency import percentile
from bench.report import Goal, Outcome, line, section, verdict_line

__all__ = ["GOAL", "run"]

GOAL = Goal("<=", 50, " ms")


def run(url: str, config: Config, conversations: int, messages: int, expired: int) -> list[Outcome]:
    section(f"5. statistics at {conversations:,} conversations / {messages:,} messages")
    result = pgbench.run(url, "stats.sql", clients=1, threads=1, duration=min(config.duration, 10), log=True)
    p50 = percentile(result.latencies_us, 50) / 1000
    p99 = percentile(result.latencies_us, 99) / 1000
    line(
        f"1 client, {expired:,} expired conversations awaiting cleanup: p50 {p50:.3f} ms, "
        f"p99 {p99:.3f} ms, {result.transactions:,} calls"
    )
    outcome = Outcome(
        name=f"5 stats p50 ({conversations / 1e6:g}M conv / {messages / 1e6:g}M msgs)",
        figures=f"p50 {p50:.2f} ms, p99 {p99:.2f} ms",
        value=p50,
        goal=GOAL,
        value_text=f"{p50:.2f} ms",
    )
    verdict_line(outcome)
    return [outcome]
