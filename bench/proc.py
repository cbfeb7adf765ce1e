"""CPU and memory as /proc tells them: on a 2-core machine the benchmarks say who the
bottleneck is (the API, the load generator, Postgres, everything else) by reading what each
process spent while a contender ran."""

from __future__ import annotations

import os
import re
import resource
from pathlib import Path

__all__ = ["children_cpu", "machine_busy", "own_cpu", "process_cpu", "rss_bytes"]


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of a process so far; NaN when it cannot be read (it ended,
    or it runs on another machine)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def own_cpu() -> float:
    """CPU seconds of this process (the in-process load generators)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def children_cpu() -> float:
    """CPU of the finished children (wrk, pgbench): they are waited for before this is read."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def machine_busy() -> float:
    """Busy CPU seconds of the whole machine, all cores (``/proc/stat``)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields) - idle) / os.sysconf("SC_CLK_TCK")


def rss_bytes(pid: int | None = None) -> int:
    """Resident memory (``VmRSS``) of a process (this one by default), in bytes."""
    status = Path(f"/proc/{pid or 'self'}/status").read_text()
    found = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
    if found is None:
        raise RuntimeError(f"no VmRSS for process {pid or os.getpid()}")
    return int(found[1]) * 1024
