"""The real API as a separate process (uvicorn, as `make run` serves it) for the browser tests:
a test can stop it and start it again on the same port while a page stays open."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.api.helpers import JWT_SECRET, SERVICE_KEY
from tests.conftest import DATABASE_URL

__all__ = ["ROOT", "ApiProcess", "free_port"]

ROOT = Path(__file__).resolve().parents[2]
LOGS = ROOT / ".local" / "web-tests"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ApiProcess:
    """`python -m uvicorn --factory app.server:create_app` on a loopback port of its own.

    Every setting that matters is explicit (the developer's `.env` is not read: the process
    runs with a clean environment plus `env`): the offline model with a pause per word so a
    stream is visible, the test service key and JWT secret, the local feed."""

    def __init__(self, name: str, *, auth: str = "disabled", **env: str) -> None:
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", "/tmp"),
            "DATABASE_URL": DATABASE_URL,
            "DB_POOL_MIN_SIZE": "1",
            "DB_POOL_MAX_SIZE": "4",
            "API_HOST": "127.0.0.1",
            "API_AUTH": auth,
            "SUPABASE_SERVICE_ROLE_KEY": SERVICE_KEY,
            "SUPABASE_JWT_SECRET": JWT_SECRET,
            "LLM_PROVIDER": "offline",
            "LLM_OFFLINE_DELAY_SECONDS": "0.08",
            "REALTIME_FEED": "postgres",
            "LOG_LEVEL": "warning",
            **env,
        }
        self.process: subprocess.Popen[bytes] | None = None
        LOGS.mkdir(parents=True, exist_ok=True)
        self.log = LOGS / f"{name}.log"

    def start(self, timeout: float = 60.0) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603  (our own interpreter, fixed arguments)
                [
                    *(sys.executable, "-m", "uvicorn", "--factory", "app.server:create_app"),
                    *("--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning"),
                    # Open event streams would hold a graceful stop for as long as clients stay.
                    *("--timeout-graceful-shutdown", "2"),
                ],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the API exited with {self.process.returncode}:\n{self.tail()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"the API did not become healthy in {timeout} s:\n{self.tail()}")

    def stop(self, timeout: float = 20.0) -> None:
        """Stops it the way an operator does (SIGTERM: graceful), killing it if it hangs."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
