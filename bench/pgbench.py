"""Running pgbench on the scripts in ``bench/sql`` and reading its figures.

pgbench rather than a Python driver: the client must not be the bottleneck on a 2-core
machine, and its prepared-statement mode measures what the database does per call.
Throughput comes from pgbench's summary; latencies come from its per-transaction log
(``--log``), since the summary only gives an average (bench.latency makes percentiles of them).
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

__all__ = [
    "REPLICA",
    "SQL_DIR",
    "Pending",
    "PgbenchError",
    "Run",
    "Workload",
    "combine",
    "finish",
    "measure",
    "run",
    "start",
]

SQL_DIR = Path(__file__).resolve().parent / "sql"

# Session option of the raw-SQL ceilings: no user triggers, so the raw statements do only what
# they say (the foreign key's triggers are off too; the row lock proves the parent exists).
REPLICA = "-c session_replication_role=replica"


class PgbenchError(RuntimeError):
    """pgbench failed or a client aborted: the figures would be meaningless."""


@dataclass
class Run:
    """One pgbench run: throughput, and per-transaction latencies when logged."""

    script: str
    clients: int
    transactions: int
    tps: float
    latency_avg_ms: float
    # (completion time as epoch seconds, latency in microseconds), when logged.
    samples: list[tuple[float, int]] = field(default_factory=list)

    @property
    def latencies_us(self) -> list[int]:
        return [lat for _, lat in self.samples]

    def latencies_between(self, start: float, end: float) -> list[int]:
        """Latencies of the transactions that were running at some moment of [start, end].

        Overlap, not completion: a transaction blocked for the whole window completes after
        it, and leaving it out would hide exactly the stalls being measured.
        """
        return [lat for done, lat in self.samples if done >= start and done - lat / 1e6 <= end]


@dataclass
class Pending:
    """A pgbench process started in the background (see ``start``)."""

    script: str
    clients: int
    process: subprocess.Popen[str]
    log_dir: tempfile.TemporaryDirectory[str] | None


def _command(
    url: str,
    script: str,
    *,
    clients: int,
    threads: int,
    duration: float,
    defines: Mapping[str, int],
    log_prefix: str | None,
) -> list[str]:
    cmd = [
        "pgbench",
        "--no-vacuum",
        "--protocol=prepared",
        f"--client={clients}",
        f"--jobs={min(threads, clients)}",
        f"--time={max(1, round(duration))}",
        f"--file={SQL_DIR / script}",
    ]
    cmd += [f"--define={k}={v}" for k, v in defines.items()]
    if log_prefix:
        cmd += ["--log", f"--log-prefix={log_prefix}"]
    return [*cmd, url]


def start(
    url: str,
    script: str,
    *,
    clients: int,
    threads: int,
    duration: float,
    defines: Mapping[str, int] | None = None,
    log: bool = False,
    options: str | None = None,
) -> Pending:
    """Starts pgbench without waiting, so something else can run against the database meanwhile."""
    log_dir = tempfile.TemporaryDirectory(prefix="bench-") if log else None
    prefix = str(Path(log_dir.name) / "tx") if log_dir else None
    env = dict(os.environ)
    if options:
        env["PGOPTIONS"] = options
    cmd = _command(
        url,
        script,
        clients=clients,
        threads=threads,
        duration=duration,
        defines=defines or {},
        log_prefix=prefix,
    )
    process = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return Pending(script, clients, process, log_dir)


def _figure(pattern: str, text: str) -> float:
    found = re.search(pattern, text, re.MULTILINE)
    if not found:
        raise PgbenchError(f"pgbench output lacks {pattern!r}:\n{text}")
    return float(found.group(1))


def _read_logs(log_dir: Path) -> list[tuple[float, int]]:
    samples: list[tuple[float, int]] = []
    for path in sorted(log_dir.glob("tx.*")):
        for line in path.read_text().splitlines():
            # client_id transaction_no time script_no time_epoch time_us [schedule_lag]
            parts = line.split()
            if len(parts) >= 6 and parts[2].isdigit():
                samples.append((int(parts[4]) + int(parts[5]) / 1e6, int(parts[2])))
    return samples


def finish(pending: Pending) -> Run:
    """Waits for a started pgbench and parses its figures; raises PgbenchError on any failure."""
    stdout, stderr = pending.process.communicate()
    try:
        if pending.process.returncode != 0 or "aborted" in stderr:
            tail = "\n".join(stderr.strip().splitlines()[-5:])
            raise PgbenchError(
                f"pgbench {pending.script} failed (exit {pending.process.returncode}):\n{tail}"
            )
        failed = re.search(r"^number of failed transactions: (\d+)", stdout, re.MULTILINE)
        if failed and int(failed.group(1)):
            raise PgbenchError(f"pgbench {pending.script}: {failed.group(1)} failed transactions")
        samples = _read_logs(Path(pending.log_dir.name)) if pending.log_dir else []
        return Run(
            script=pending.script,
            clients=pending.clients,
            transactions=int(_figure(r"^number of transactions actually processed: (\d+)", stdout)),
            tps=_figure(r"^tps = ([\d.]+)", stdout),
            latency_avg_ms=_figure(r"^latency average = ([\d.]+) ms", stdout),
            samples=samples,
        )
    finally:
        if pending.log_dir:
            pending.log_dir.cleanup()


def run(
    url: str,
    script: str,
    *,
    clients: int,
    threads: int,
    duration: float,
    defines: Mapping[str, int] | None = None,
    log: bool = False,
    options: str | None = None,
) -> Run:
    """Runs pgbench to completion."""
    pending = start(
        url,
        script,
        clients=clients,
        threads=threads,
        duration=duration,
        defines=defines,
        log=log,
        options=options,
    )
    return finish(pending)


def combine(runs: Sequence[Run]) -> Run:
    """Several runs of one script as one: throughput weighted by each run's measured time."""
    seconds = sum(r.transactions / r.tps for r in runs if r.tps)
    transactions = sum(r.transactions for r in runs)
    return Run(
        script=runs[0].script,
        clients=runs[0].clients,
        transactions=transactions,
        tps=transactions / seconds if seconds else 0.0,
        latency_avg_ms=sum(r.latency_avg_ms * r.transactions for r in runs) / max(transactions, 1),
        samples=[s for r in runs for s in r.samples],
    )


@dataclass(frozen=True)
class Workload:
    """A script with its client count and session options, for ``measure``.

    ``before`` and ``after`` are SQL run around each of its runs (switching a trigger off and
    on again, say), so alternating workloads each find the database as they need it.
    """

    script: str
    clients: int
    options: str | None = None
    log: bool = False
    before: str | None = None
    after: str | None = None


def _execute(url: str, sql: str | None) -> None:
    if sql:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql)


def measure(
    url: str,
    workloads: Sequence[Workload],
    *,
    threads: int,
    duration: float,
    defines: Mapping[str, int] | None = None,
) -> list[Run]:
    """Runs each workload for ``duration`` seconds in total, alternating them in two rounds.

    Alternating spreads whatever else the machine does (autovacuum, checkpoints, other
    processes) over the contenders, so their ratio is fairer than from back-to-back runs.
    """
    rounds = 2 if duration >= 6 else 1
    runs: list[list[Run]] = [[] for _ in workloads]
    for _ in range(rounds):
        for i, w in enumerate(workloads):
            _execute(url, w.before)
            runs[i].append(
                run(
                    url,
                    w.script,
                    clients=w.clients,
                    threads=threads,
                    duration=duration / rounds,
                    defines=defines,
                    log=w.log,
                    options=w.options,
                )
            )
            _execute(url, w.after)
    return [combine(r) for r in runs]
