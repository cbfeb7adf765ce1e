"""Benchmark settings from the environment, so a quick run and the full run share one code path.

``BENCH_QUICK=1`` shrinks everything (1% of the data, 3 s runs) for development; the full run
(the default) builds 1M conversations / 5M messages as the issue asks. ``BENCH_SCALE`` and
``BENCH_DURATION`` override either mode. Also: ``BENCH_CLIENTS`` (8), ``BENCH_THREADS`` (2,
pgbench's ``-j``), ``BENCH_PORT`` (54330), ``BENCH_CLEANUP_CAP`` (seconds, 60),
``BENCH_KEEP=1`` (leave the bench cluster running afterwards, to look at it).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

__all__ = ["Config"]


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Config:
    """What to measure and how long; sizes of the large data set derive from ``scale``."""

    quick: bool
    scale: float
    duration: float
    clients: int
    threads: int
    port: int
    keep: bool
    cleanup_cap: float

    @classmethod
    def from_env(cls) -> Config:
        quick = _flag("BENCH_QUICK")
        duration = float(os.environ.get("BENCH_DURATION") or (3 if quick else 15))
        return cls(
            quick=quick,
            scale=float(os.environ.get("BENCH_SCALE") or (0.01 if quick else 1.0)),
            duration=duration,
            clients=int(os.environ.get("BENCH_CLIENTS") or 8),
            threads=int(os.environ.get("BENCH_THREADS") or 2),
            port=int(os.environ.get("BENCH_PORT") or 54330),
            keep=_flag("BENCH_KEEP"),
            # A cleanup slower than this is cancelled (benchmark 4), so the run stays bounded.
            cleanup_cap=float(os.environ.get("BENCH_CLEANUP_CAP") or max(60.0, 4 * duration)),
        )

    def describe(self) -> str:
        mode = "quick" if self.quick else "full"
        return (
            f"{mode} mode: scale {self.scale:g}, {self.duration:g} s per measured run, "
            f"{self.clients} clients / {self.threads} pgbench threads, cleanup cap {self.cleanup_cap:g} s"
        )
