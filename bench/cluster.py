"""The throwaway PostgreSQL cluster the benchmarks run on.

Benchmarks load millions of rows and truncate tables, so they never touch the dev database
(port 54322) or whatever ``DATABASE_URL`` names: ``scripts/stack.sh`` builds a second cluster
with the same configuration and migrations on its own port, from scratch for every run, and
it is stopped and wiped afterwards.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ROOT", "BenchCluster"]

ROOT = Path(__file__).resolve().parent.parent
STACK = ROOT / "scripts" / "stack.sh"


@dataclass(frozen=True)
class BenchCluster:
    """``scripts/stack.sh`` with ``STACK_PORT``/``STACK_NAME`` pointing at the bench cluster."""

    port: int
    name: str = "bench"

    def _stack(self, command: str) -> str:
        env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
        env.update(STACK_PORT=str(self.port), STACK_NAME=self.name)
        done = subprocess.run(
            [str(STACK), command], env=env, cwd=ROOT, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"scripts/stack.sh {command} failed:\n{done.stderr.strip()}")
        return done.stdout.strip()

    @property
    def url(self) -> str:
        return self._stack("url")

    def start(self) -> str:
        """A fresh cluster with the migrations applied; returns its URL."""
        self._stack("reset")
        return self.url

    def stop(self, *, wipe: bool = True) -> None:
        """Stops the cluster and removes its data directory (it holds gigabytes after a run)."""
        self._stack("down")
        if not wipe:
            return
        data_dir = Path(self._stack("datadir"))
        # Only ever delete something that is this cluster's data directory.
        if data_dir.name.endswith(self.name) and (data_dir / "PG_VERSION").is_file():
            shutil.rmtree(data_dir)
