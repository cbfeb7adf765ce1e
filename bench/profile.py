"""Where the API's time goes while a benchmark's workload runs: py-spy samples the API process.

Every HTTP benchmark profiles a row whose goal it missed (``BENCH_PROFILE=1``: every row with a
goal; ``0``: none), so a missed goal comes with the reason in the same run. The benchmark
supplies the workload as a function of its duration; the profile starts sampling once the load
is steady and prints a summary of the event loop thread: self time by package, the hottest
functions (self time) and the widest frames (inclusive time). The raw stacks stay in a file.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.cluster import ROOT
from bench.report import Outcome, fmt_rate, line

__all__ = ["Profile", "profile_api", "summarize_profile", "wanted"]

RATE = 100  # samples per second
WARM_UP = 1.0  # seconds of load before the samples start


def wanted(setting: bool | None, outcomes: Sequence[Outcome]) -> bool:
    """Whether to profile the workload behind ``outcomes``: only a row with a goal is; then
    ``BENCH_PROFILE`` (``Config.profile``) says always or never, and unset, on a missed goal."""
    if all(o.goal is None for o in outcomes):
        return False
    if setting is not None:
        return setting
    return any(o.verdict == "MISS" for o in outcomes)


def _py_spy() -> str | None:
    local = ROOT / ".venv" / "bin" / "py-spy"
    return str(local) if local.exists() else shutil.which("py-spy")


_FRAME = re.compile(r"^(?P<name>.*) \((?P<path>[^()]*?)(?::\d+)?\)$")


def _package(path: str) -> str:
    """The package of a py-spy frame's file (py-spy shortens paths to the import root):
    ``app``, a distribution (``psycopg``, ``litestar``...), a stdlib module."""
    if "site-packages/" in path:
        path = path.split("site-packages/", 1)[1]
    if path.startswith(str(ROOT) + "/"):
        path = path.removeprefix(str(ROOT) + "/")
    stdlib = re.search(r"/lib/python3\.\d+/(.*)$", path)
    if stdlib:
        path = stdlib[1]
    return path.split("/", 1)[0].removesuffix(".py")


def _frame(text: str) -> tuple[str, str]:
    """(function in its file, package) of a py-spy frame ``name (path:line)``."""
    found = _FRAME.match(text)
    if found is None:
        return text, "?"
    return f"{found['name']} ({found['path']})", _package(found["path"])


@dataclass(frozen=True)
class Profile:
    """py-spy's raw output (collapsed stacks) of the API, split by thread."""

    main_samples: int
    other_samples: int
    lines: list[str]


def summarize_profile(raw: str, top: int = 12) -> Profile:
    """Where the event loop thread's time goes: by package and function (self time), and the
    widest frames (inclusive). Other threads (logging's queue listener...) are counted apart."""
    self_time: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = others = 0
    for row in raw.splitlines():
        stack, _, count_text = row.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        if stack.startswith("Thread._bootstrap"):  # not the main thread: not the event loop
            others += count
            continue
        frames = [_frame(f) for f in stack.split(";")]
        total += count
        leaf, package = frames[-1]
        self_time[leaf] += count
        packages[package] += count
        for name in {name for name, _ in frames}:
            inclusive[name] += count
    if not total:
        return Profile(0, others, ["no samples of the event loop thread"])

    def pct(n: int) -> str:
        return f"{100 * n / total:5.1f}%"

    lines = [
        "self time by package: "
        + ", ".join(f"{p} {100 * n / total:.0f}%" for p, n in packages.most_common(9))
    ]
    lines.append("hottest functions (self time; C calls count in their Python caller):")
    lines += [f"  {pct(n)}  {name}" for name, n in self_time.most_common(top)]
    lines.append("widest frames (inclusive time, below 95%):")
    wide = [(name, n) for name, n in inclusive.most_common() if n < 0.95 * total]
    lines += [f"  {pct(n)}  {name}" for name, n in wide[: top + 4]]
    return Profile(total, others, lines)


def profile_api(
    api_pid: int,
    load: Callable[[float], float | None],
    seconds: float,
    label: str,
    *,
    tag: str = "api",
) -> list[str]:
    """py-spy on the API process for ``seconds`` while ``load(duration)`` runs the workload a
    little longer (it returns the requests per second it reached, or None); the summary lines,
    also printed. ``tag`` names the file of raw stacks."""
    spy = _py_spy()
    if spy is None:
        line("py-spy not found: `uv sync` installs it with the dev group")
        return []
    fd, name = tempfile.mkstemp(prefix=f"bench-profile-{tag}-", suffix=".txt")
    os.close(fd)
    spied: list[subprocess.CompletedProcess[str]] = []
    command = [spy, "record", "-d", str(max(1, round(seconds))), "-r", str(RATE), "-f", "raw", "-o", name]
    command += ["--pid", str(api_pid)]

    def record() -> None:
        time.sleep(WARM_UP)
        spied.append(subprocess.run(command, capture_output=True, text=True, check=False))

    # The load runs in this thread (it may be an event loop of its own), py-spy beside it.
    recorder = threading.Thread(target=record, name="py-spy", daemon=True)
    recorder.start()
    try:
        during = load(seconds + 2)
    finally:
        recorder.join()
    if not spied or spied[0].returncode != 0:
        detail = f"exit {spied[0].returncode}): {spied[0].stderr.strip()[-300:]}" if spied else "no result)"
        line(f"py-spy failed ({detail}")
        return []
    profile = summarize_profile(Path(name).read_text())
    expected = RATE * max(1, round(seconds))
    line(
        f"profile of the API (py-spy, {RATE} Hz, {seconds:g} s) during {label}"
        + (f" at {fmt_rate(during, 'req/s')}" if during is not None else "")
        + f": the event loop thread active in {100 * profile.main_samples / expected:.0f}% of the "
        f"samples (other threads {100 * profile.other_samples / expected:.0f}%); raw stacks in {name}"
    )
    for text in profile.lines:
        line("  " + text)
    return profile.lines
