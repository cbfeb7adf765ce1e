"""Goals, verdicts and the printed report.

A benchmark never fails the process for a missed goal: the figures are what matters, and they
depend on the machine. It prints PASS or MISS next to the goal instead, and the summary table
repeats every verdict so one screen shows the whole run.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Goal", "Outcome", "figure", "fmt_ms", "fmt_rate", "line", "section", "summary", "verdict_line"]


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
        return cls(name=name, figures=error.splitlines()[0][:60], value=float("nan"), goal=goal, error=error)


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


def summary(outcomes: Sequence[Outcome]) -> None:
    rows = [("benchmark", "figures", "value", "goal", "result")]
    rows += [(o.name, o.figures, o.shown_value, str(o.goal or "-"), o.verdict) for o in outcomes]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    section("summary")
    for i, row in enumerate(rows):
        print("   " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
        if i == 0:
            print("   " + "  ".join("-" * w for w in widths))
