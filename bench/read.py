"""Benchmark 2: ``get_messages(id, 10)`` against the raw indexed select of the same rows.

The function adds the page-size check, the live-conversation check (an expired conversation
must read as missing) and the JSON encoding; the goal is at least 0.8 of the raw select. The
same select encoded with ``json_agg`` is measured too, to tell the encoding (which any JSON
API pays, PostgREST included) from the function's own checks: against it the goal is 0.8 as
well (issue 14).
"""

from __future__ import annotations

from bench import pgbench
from bench.config import Config
from bench.data import Group
from bench.pgbench import Run, Workload
from bench.report import Goal, Outcome, figure, fmt_rate, line, section, verdict_line

__all__ = ["GOAL", "JSON_GOAL", "run"]

GOAL = Goal(">=", 0.8)
JSON_GOAL = Goal(">=", 0.8)  # issue 14: against the raw select that builds the same JSON


def _rate(run: Run) -> str:
    return f"{fmt_rate(run.tps):>12}  avg {run.latency_avg_ms:.3f} ms"


def run(url: str, config: Config, group: Group) -> list[Outcome]:
    section("2. last-10 read: public.get_messages(id, 10) vs a raw indexed select")
    line(
        f"{config.clients} clients, -M prepared, a random one of {group.count:,} conversations "
        f"of {group.messages} messages per transaction"
    )
    raw, raw_json, function = pgbench.measure(
        url,
        [
            Workload("read_raw.sql", config.clients),
            Workload("read_raw_json.sql", config.clients),
            Workload("read_function.sql", config.clients),
        ],
        threads=config.threads,
        duration=config.duration,
        defines=group.defines(),
    )
    figure("select * ... order by seq desc limit 10", _rate(raw))
    figure("the same as a JSON array (json_agg)", _rate(raw_json))
    figure("select public.get_messages(id, 10)", _rate(function))
    outcome = Outcome(
        name=f"2 read fn / raw select ({config.clients} clients)",
        figures=f"{fmt_rate(function.tps)} vs {fmt_rate(raw.tps)}",
        value=function.tps / raw.tps,
        goal=GOAL,
    )
    verdict_line(outcome)
    encoded = Outcome(
        name="2b read fn / raw select as JSON",
        figures=f"{fmt_rate(function.tps)} vs {fmt_rate(raw_json.tps)}",
        value=function.tps / raw_json.tps,
        goal=JSON_GOAL,
    )
    verdict_line(encoded)
    return [outcome, encoded]
