"""The API in a child process, as `make run` serves it (`python -m app serve`), for what only
a process shows: signals and graceful shutdown, restarts, several instances, slow clients on
real sockets, a browser.

`ApiProcess.start()` returns when uvicorn logs the address it serves on (after the lifespan
started): the log line is the event, nothing is polled. The first start binds any free
loopback port (`--port 0`, logged); a later start (a restart) binds the same one again.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path

import httpx

from tests.conftest import DATABASE_URL

__all__ = ["ROOT", "SERVE", "ApiProcess", "api_process"]

ROOT = Path(__file__).resolve().parents[2]
SERVE = ("-m", "app", "serve")
_RUNNING = re.compile(rb"Uvicorn running on http://([\d.]+):(\d+)")


def _environment(overrides: Mapping[str, str]) -> dict[str, str]:
    """Every setting that matters explicit: the process gets none of the caller's environment
    but PATH and HOME (a developer's shell settings do not leak into a test)."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "DATABASE_URL": DATABASE_URL,
        "API_HOST": "127.0.0.1",
        "API_AUTH": "disabled",  # loopback only: requests act as the service
        "SUPABASE_URL": "",
        "SUPABASE_SERVICE_ROLE_KEY": "",  # a test that requires auth sets its keys
        "LLM_PROVIDER": "offline",
        "LOG_LEVEL": "info",  # start() waits for uvicorn's "running on" line
        **overrides,
    }


class ApiProcess:
    """One API process; `output` collects its log lines (and `log`, when given, keeps them).

    `argv` is what the interpreter runs, followed by `--port N`: `python -m app serve` unless
    a test serves the app another way (which must take that option and log uvicorn's
    "running on" line)."""

    def __init__(
        self, env: Mapping[str, str] | None = None, *, argv: Sequence[str] = SERVE, log: Path | None = None
    ) -> None:
        self.env = _environment(env or {})
        self.argv = tuple(argv)
        self.log = log
        self.port = 0
        self.output: list[str] = []
        self.process: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def start(self, within: float = 60.0) -> None:
        """Starts the process and returns once it serves; fails the test with its output if
        it exits first or does not serve `within` seconds."""
        assert not self.running, "already running"
        if self.log is not None:
            self.log.parent.mkdir(parents=True, exist_ok=True)
        self.process = process = await asyncio.create_subprocess_exec(
            sys.executable, *self.argv, "--port", str(self.port),
            cwd=ROOT, env=self.env, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert process.stderr is not None
        try:
            async with asyncio.timeout(within):
                while True:
                    line = await process.stderr.readline()
                    if not line:
                        await process.wait()
                        raise AssertionError(
                            f"the API exited ({process.returncode}) before it served:\n{self.tail()}"
                        )
                    self._keep(line)
                    found = _RUNNING.search(line)
                    if found:
                        self.port = int(found.group(2))
                        break
        except TimeoutError:
            await self.terminate()
            raise AssertionError(f"the API did not serve within {within} s:\n{self.tail()}") from None
        self._reader = asyncio.create_task(self._read(process.stderr))

    def _keep(self, line: bytes) -> None:
        text = line.decode(errors="replace")
        self.output.append(text)
        if self.log is not None:
            with self.log.open("a") as log:
                log.write(text)

    async def _read(self, stream: asyncio.StreamReader) -> None:
        while line := await stream.readline():
            self._keep(line)

    def client(self, **options: object) -> httpx.AsyncClient:
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
        return httpx.AsyncClient(base_url=self.base_url, limits=limits, timeout=30, **options)  # type: ignore[arg-type]

    async def terminate(self, within: float = 30.0) -> float:
        """SIGTERM (what an operator sends), then the seconds until the process exited; fails
        the test if it still runs after `within` (it is killed)."""
        process = self.process
        assert process is not None, "never started"
        started = time.perf_counter()
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(within):
                await process.wait()
        except TimeoutError:
            process.kill()
            await process.wait()
            raise AssertionError(f"still running {within} s after SIGTERM:\n{self.tail()}") from None
        finally:
            if self._reader is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self._reader, 5)
                self._reader = None
        return time.perf_counter() - started

    async def stop(self) -> None:
        """Stops it if it runs (killed if SIGTERM does not end it)."""
        if self.running:
            with contextlib.suppress(AssertionError):
                await self.terminate()

    def tail(self, lines: int = 40) -> str:
        return "".join(self.output[-lines:])


@contextlib.asynccontextmanager
async def api_process(env: Mapping[str, str] | None = None, **options: object) -> AsyncIterator[ApiProcess]:
    """A started API process; stopped on the way out if still running."""
    server = ApiProcess(env, **options)  # type: ignore[arg-type]
    try:
        await server.start()
        yield server
    finally:
        await server.stop()
