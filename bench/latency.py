"""Latency percentiles: one definition for every figure the benchmarks print (pgbench's
per-transaction logs, HTTP loads, realtime deliveries, token estimates)."""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["percentile"]


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (a value that was measured, never an interpolation); NaN for
    no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return float(ordered[min(rank, len(ordered)) - 1])
