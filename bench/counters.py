"""Check: do the statistics still match the rows after the benchmarks' workloads?

``conversation_stats()`` reads totals that triggers maintain, so it stays fast (benchmark 5);
that is only worth having if the totals stay right under concurrent appends and batched
deletes. The benchmarks produce exactly that traffic, so they count the rows afterwards and
compare (not a speed figure, but a wrong counter would make the statistics figure moot).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bench import data
from bench.report import Goal, Outcome, line

__all__ = ["GOAL", "Drift", "check", "outcome"]

GOAL = Goal("<=", 0)


@dataclass(frozen=True)
class Drift:
    """Statistics minus counted rows at one point of the run."""

    when: str
    conversations: int
    messages: int

    @property
    def total(self) -> int:
        return abs(self.conversations) + abs(self.messages)

    def __str__(self) -> str:
        return f"{self.when}: conversations {self.conversations:+,}, messages {self.messages:+,}"


def check(url: str, when: str) -> Drift:
    conversations, messages = data.drift(url)
    drift = Drift(when, conversations, messages)
    note = "" if drift.total == 0 else "  <- conversation_stats() no longer matches the tables"
    line(f"statistics minus rows after the {drift}{note}")
    return drift


def outcome(drifts: Sequence[Drift]) -> Outcome:
    """The worst drift seen (each check counts from the last reload, so they overlap)."""
    total = max((d.total for d in drifts), default=0)
    return Outcome(
        name="6 stats counters minus rows",
        figures="conv/msg after "
        + ", ".join(f"{d.when} {d.conversations:+,}/{d.messages:+,}" for d in drifts),
        value=total,
        goal=GOAL,
        value_text=f"{total:,} off",
    )
