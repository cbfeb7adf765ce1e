"""What an HTTP load run measured (`Load`), from wrk's report (`run_wrk`) or from a load
generator of our own; several runs of one workload combine into one (`combine`)."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["WRK_THREAD_SEEDS", "Load", "combine", "parse_wrk", "run_wrk"]

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}


@dataclass(frozen=True)
class Load:
    """One or more runs of one workload; ``api_cpu``: the API process's CPU seconds meanwhile."""

    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    non_2xx: int = 0
    socket_errors: int = 0
    api_cpu: float = float("nan")

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else float("nan")

    @property
    def errors(self) -> int:
        return self.non_2xx + self.socket_errors

    @property
    def cpu_us(self) -> float:
        """The API's CPU per request, in microseconds."""
        return self.api_cpu / self.requests * 1e6 if self.requests else float("nan")


def combine(loads: Sequence[Load]) -> Load:
    """Requests over time; the latency percentiles of the runs weighted by their requests."""
    requests = sum(x.requests for x in loads)

    def weighted(values: list[tuple[float, int]]) -> float:
        return sum(v * n for v, n in values) / requests if requests else float("nan")

    return Load(
        requests=requests,
        seconds=sum(x.seconds for x in loads),
        p50_ms=weighted([(x.p50_ms, x.requests) for x in loads]),
        p99_ms=weighted([(x.p99_ms, x.requests) for x in loads]),
        non_2xx=sum(x.non_2xx for x in loads),
        socket_errors=sum(x.socket_errors for x in loads),
        api_cpu=sum(x.api_cpu for x in loads),
    )


def _ms(text: str) -> float:
    """A duration as wrk prints it (``350.12us``, ``1.20ms``, ``2.00s``, ``1.5m``) in ms."""
    found = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text or "")
    return float(found[1]) * _UNITS[found[2]] if found else float("nan")


def parse_wrk(out: str) -> Load:
    """wrk's report (run with ``--latency``)."""
    total = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", out)
    if total is None:
        raise RuntimeError(f"unexpected wrk output:\n{out}")
    latencies = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", out, re.MULTILINE))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return Load(
        requests=int(total[1]),
        seconds=_ms(total[2] + total[3]) / 1000,
        p50_ms=_ms(latencies.get("50", "")),
        p99_ms=_ms(latencies.get("99", "")),
        non_2xx=int(non_2xx[1]) if non_2xx else 0,
        socket_errors=sum(int(x) for x in sockets.groups()) if sockets else 0,
    )


# A wrk script's threads each draw their own random numbers: numbered by `setup`, seeded by
# `init` with the time and the number (the same seed in every thread would send them all to the
# same conversations in step).
WRK_THREAD_SEEDS = """local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
end
function init(args)
  math.randomseed(os.time() * 1000 + (tid or 0) * 7919)
end
"""


def run_wrk(command: Sequence[str]) -> Load:
    """Runs wrk (``command`` starts with ``wrk`` and has ``--latency``) and reads its report."""
    done = subprocess.run(list(command), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(
            f"wrk failed (exit {done.returncode}): {done.stderr.strip() or done.stdout.strip()}"
        )
    return parse_wrk(done.stdout)
