"""The API under load: a server process on a free loopback port, against a bench cluster.

Served as ``make run`` serves it (``python -m app serve``: uvicorn, one worker, on 127.0.0.1,
``API_AUTH=disabled`` so requests act as the service, the Postgres transport) unless a
benchmark names another command. Nothing of the caller's configuration leaks in: the API's
settings are its defaults plus what the benchmark sets, whatever .env or the shell says. Its
log goes to a temporary file (`tail()` on failure); its CPU and memory are read from /proc.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

from bench import proc
from bench.cluster import ROOT

__all__ = ["SERVE", "Api", "free_port"]

SERVE = ("-m", "app", "serve")
# Settings of the caller's environment that never reach the API.
_OWN_SETTINGS = ("SUPABASE_", "API_", "DB_", "LLM_", "CHAT_", "JWT_", "LOG_")


def free_port() -> int:
    """A loopback port nothing listens on now (the API binds it a moment later)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Api:
    """The API in a subprocess against ``url``; ``argv`` is what the interpreter runs (then
    ``--host 127.0.0.1 --port N``), ``env`` the settings the benchmark adds."""

    def __init__(self, url: str, argv: Sequence[str] = SERVE, env: Mapping[str, str] | None = None) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        environment = {k: v for k, v in os.environ.items() if not k.startswith(_OWN_SETTINGS)}
        environment.update(DATABASE_URL=url, API_AUTH="disabled", API_HOST="127.0.0.1", LOG_LEVEL="warning")
        environment.update(env or {})
        self._log = tempfile.NamedTemporaryFile(prefix="bench-api-", suffix=".log", delete=False)  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, *argv, "--host", "127.0.0.1", "--port", str(self.port)],
            cwd=ROOT,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait(self, timeout: float = 60.0) -> None:
        """Until ``/health`` answers 200 (database up, schema there): polled, since nothing
        else tells a process outside the server that it serves."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the API exited with status {self.process.returncode}:\n{self.tail()}")
            try:
                with urllib.request.urlopen(f"{self.base}/health", timeout=2) as answer:  # noqa: S310
                    if answer.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        raise RuntimeError(f"the API did not answer 200 on /health within {timeout:g} s:\n{self.tail()}")

    def cpu_seconds(self) -> float:
        return proc.process_cpu(self.pid)

    def rss_mb(self) -> float:
        """Resident memory (``VmRSS``) in MB (10^6 bytes)."""
        return proc.rss_bytes(self.pid) / 1e6

    def tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(Path(self._log.name).read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log.close()
        Path(self._log.name).unlink(missing_ok=True)
