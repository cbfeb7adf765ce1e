"""The real server process (`python -m app serve`), for what only a process shows: signals,
several instances, concurrency over real sockets.

`api_process()` starts one on a free port (uvicorn binds port 0 and logs the port it got) with
auth disabled (loopback: requests act as the service), and stops it on the way out.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

from tests.conftest import DATABASE_URL

ROOT = Path(__file__).resolve().parents[2]
_RUNNING = re.compile(rb"Uvicorn running on (http://[\d.]+:\d+)")


class ApiProcess:
    """One `python -m app serve` process; `output` collects its log lines."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.output: list[str] = []
        self.base_url = ""
        self._reader: asyncio.Task[None] | None = None

    async def started(self, within: float = 30.0) -> None:
        assert self.process.stderr is not None
        stream = self.process.stderr
        async with asyncio.timeout(within):
            while True:
                line = await stream.readline()
                if not line:
                    raise AssertionError("the server exited before it served:\n" + "".join(self.output))
                self.output.append(line.decode(errors="replace"))
                found = _RUNNING.search(line)
                if found:
                    self.base_url = found.group(1).decode()
                    break
        self._reader = asyncio.create_task(self._read(stream))

    async def _read(self, stream: asyncio.StreamReader) -> None:
        while line := await stream.readline():
            self.output.append(line.decode(errors="replace"))

    def client(self, **options: object) -> httpx.AsyncClient:
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
        return httpx.AsyncClient(base_url=self.base_url, limits=limits, timeout=30, **options)  # type: ignore[arg-type]

    async def terminate(self, within: float = 30.0) -> float:
        """SIGTERM, then the seconds until the process exited (it is killed after `within`)."""
        started = time.perf_counter()
        self.process.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(within):
                await self.process.wait()
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
            raise AssertionError(
                f"still running {within} s after SIGTERM:\n" + "".join(self.output)
            ) from None
        finally:
            if self._reader is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self._reader, 5)
        return time.perf_counter() - started


@contextlib.asynccontextmanager
async def api_process(env: dict[str, str] | None = None) -> AsyncIterator[ApiProcess]:
    """A started server process on a free loopback port; terminated on exit if still running."""
    environment = {
        **os.environ,
        "DATABASE_URL": DATABASE_URL,
        "API_HOST": "127.0.0.1",
        "API_AUTH": "disabled",
        "LLM_PROVIDER": "offline",
        "SUPABASE_URL": "",
        "SUPABASE_SERVICE_ROLE_KEY": "",
        "LOG_LEVEL": "info",
        **(env or {}),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "app", "serve", "--port", "0",
        cwd=ROOT, env=environment, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    server = ApiProcess(process)
    try:
        await server.started()
        yield server
    finally:
        if process.returncode is None:
            with contextlib.suppress(AssertionError):
                await server.terminate()


async def sse_events(response: httpx.Response) -> AsyncIterator[tuple[str, str, str | None]]:
    """(event, data, id) of each server-sent event of a streaming response; comments skipped."""
    event, data, event_id = "message", [], None
    async for line in response.aiter_lines():
        if not line:
            if data:
                yield event, "\n".join(data), event_id
            event, data, event_id = "message", [], None
        elif line.startswith(":") or line.startswith("retry:"):
            continue
        else:
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "event":
                event = value
            elif name == "data":
                data.append(value)
            elif name == "id":
                event_id = value
