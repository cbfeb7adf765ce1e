"""Benchmark settings from the environment, so a quick run and the full run share one code path.

``BENCH_QUICK=1`` shrinks everything (1% of the data, 3 s runs) for development; the full run
(the default) builds 1M conversations / 5M messages as the issue asks. ``BENCH_SCALE`` and
``BENCH_DURATION`` override either mode. Also: ``BENCH_CLIENTS`` (8), ``BENCH_THREADS`` (2,
pgbench's ``-j``), ``BENCH_PORT`` (54330), ``BENCH_CLEANUP_CAP`` (seconds, 60),
``BENCH_KEEP=1`` (leave the bench cluster running afterwards, to look at it).

``BENCH_ONLY`` picks benchmarks, comma-separated: ``db`` (benchmarks 1-6: pgbench ceilings,
latency at 5M messages, statistics, cleanup, counters), ``organise`` (O: the search
index's cost to appends, search and usage latency for one user, the listing filters' plans),
``broadcast`` (B: Broadcast from the database's cost to appends, with and without the service
and a user topic, against Postgres Changes' polling),
``http`` (7: the API against pgbench, its memory), ``export`` (E: the API's memory while
exporting a 200 MB conversation), ``chat`` (``POST /chat`` turns), ``openai`` (the /v1 API
through the openai SDK against the native append and ``/chat``), ``durable`` (D: replies that
outlive their connection: streamed turns with durable replies against memory only, delivery to
another instance, resume, WAL per reply), ``realtime`` (delivery
latency, the feed's cost to appends; on a cluster of its own), ``transport`` (the Postgres
transport's variants in-process; not run by default). Default:
``db,organise,broadcast,http,export,chat,openai,durable,realtime``. ``BENCH_PROFILE=1`` profiles
the API (py-spy) during every HTTP workload held against a goal (benchmark 7, chat, openai) even when it meets
it, ``0`` never; unset: when it misses one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

__all__ = ["BENCHMARKS", "DEFAULT", "Config"]

# In the order they run.
BENCHMARKS = (
    "db",
    "organise",
    "broadcast",
    "http",
    "export",
    "chat",
    "openai",
    "durable",
    "transport",
    "realtime",
)
DEFAULT = frozenset(BENCHMARKS) - {"transport"}


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def _tristate(name: str) -> bool | None:
    value = os.environ.get(name, "").strip().lower()
    if not value:
        return None
    return value in {"1", "true", "yes", "on"}


def _only() -> frozenset[str]:
    names = {n.strip().lower() for n in os.environ.get("BENCH_ONLY", "").split(",") if n.strip()}
    unknown = names - set(BENCHMARKS)
    if unknown:
        raise ValueError(
            f"BENCH_ONLY: unknown {', '.join(sorted(unknown))}; choose from {', '.join(BENCHMARKS)}"
        )
    return frozenset(names) or DEFAULT


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
    only: frozenset[str] = DEFAULT
    profile: bool | None = None

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
            only=_only(),
            profile=_tristate("BENCH_PROFILE"),
        )

    def selected(self, name: str) -> bool:
        return name in self.only

    def describe(self) -> str:
        mode = "quick" if self.quick else "full"
        return (
            f"{mode} mode: scale {self.scale:g}, {self.duration:g} s per measured run, "
            f"{self.clients} clients / {self.threads} pgbench threads, cleanup cap {self.cleanup_cap:g} s; "
            f"benchmarks: {', '.join(b for b in BENCHMARKS if b in self.only)}"
        )
