"""Goals, verdicts and the printed report.

A benchmark never fails the process for a missed goal: the figures are what matters, and they
depend on the machine. It prints PASS or MISS next to the goal instead, and the summary table
repeats every verdict so one screen shows the whole run.

A benchmark run as a subprocess of the runner (``python -m bench.realtime``) hands its
outcomes back through ``BENCH_OUTCOMES_JSON``: ``summary`` also writes them to that file, and
``read_outcomes`` reads them, so the runner's one summary table holds every result.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "OUTCOMES_ENV",
    "Goal",
    "Outcome",
    "figure",
    "fmt_ms",
    "fmt_rate",
    "line",
    "read_outcomes",
    "section",
    "summary",
    "verdict_line",
]

OUTCOMES_ENV = "BENCH_OUTCOMES_JSON"


@dataclass(frozen=True)
class Goal:
    """A bound on a ratio or a figure: ``value >= target`` or ``value <= target``."""

    op: str
    target: float
    unit: str = ""

    def met(self, value: float) -> bool:
        if math.isnan(value):
            return False
        return value >= self.target if self.op == ">=" else value <= self.target

    def __str__(self) -> str:
        return f"{self.op} {self.target:g}{self.unit}"


@dataclass(frozen=True)
class Outcome:
    """One line of the summary: what was measured, the value held against the goal, the verdict."""

    name: str
    figures: str
    value: float
    goal: Goal | None
    value_text: str = ""
    error: str | None = None

    @property
    def verdict(self) -> str:
        if self.error:
            return "ERROR"
        if self.goal is None:
            return "info"
        return "PASS" if self.goal.met(self.value) else "MISS"

    @property
    def shown_value(self) -> str:
        if self.error:
            return "-"
        return self.value_text or f"{self.value:.2f}"

    @classmethod
    def failed(cls, name: str, goal: Goal | None, error: str) -> Outcome:
        first = error.splitlines()[0][:60] if error.strip() else "failed"
        return cls(name=name, figures=first, value=float("nan"), goal=goal, error=error)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Outcome:
        goal = obj.get("goal")
        return cls(
            name=str(obj["name"]),
            figures=str(obj.get("figures", "")),
            value=float(obj.get("value", math.nan)),
            goal=Goal(**goal) if goal else None,
            value_text=str(obj.get("value_text", "")),
            error=obj.get("error"),
        )


def read_outcomes(path: Path) -> list[Outcome]:
    """What a benchmark subprocess's ``summary`` wrote to ``BENCH_OUTCOMES_JSON``."""
    return [Outcome.from_json(o) for o in json.loads(path.read_text())]


def fmt_rate(value: float, unit: str = "tx/s") -> str:
    return f"{value:,.0f} {unit}"


def fmt_ms(value_us: float) -> str:
    return f"{value_us / 1000:.3f} ms"


def section(title: str) -> None:
    print(f"\n== {title}", flush=True)


def line(text: str) -> None:
    print(f"   {text}", flush=True)


def figure(label: str, value: str) -> None:
    """One measured figure, aligned with the others of its section."""
    line(f"{label:<48} {value}")


def verdict_line(outcome: Outcome) -> None:
    goal = f"goal {outcome.goal}" if outcome.goal else "no goal"
    line(f"=> {outcome.shown_value}  {goal}  {outcome.verdict}")


def summary(outcomes: Sequence[Outcome], title: str = "summary") -> None:
    """The table of every outcome; also written to ``$BENCH_OUTCOMES_JSON`` when set."""
    target = os.environ.get(OUTCOMES_ENV)
    if target:
        Path(target).write_text(json.dumps([o.to_json() for o in outcomes]))
    rows = [("benchmark", "figures", "value", "goal", "result")]
    rows += [(o.name, o.figures, o.shown_value, str(o.goal or "-"), o.verdict) for o in outcomes]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    section(title)
    for i, row in enumerate(rows):
        print("   " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
        if i == 0:
            print("   " + "  ".join("-" * w for w in widths))
