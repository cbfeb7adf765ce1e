"""HTTP requests to an ASGI app called in this process: no server, no socket, no HTTP parsing.

What a request costs the app and the libraries under it, CPU time read from this process
(``time.process_time``), while ``tasks`` concurrent clients keep it busy on one event loop, the
way uvicorn's connections do. The client's own part (building a scope, collecting the answer)
is measured apart by ``client_cost`` so the figures can be read without it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from litestar.types import ASGIApp, Message, Scope

__all__ = ["Request", "Sample", "client_cost", "drive", "http_scope", "send_request"]


@dataclass(frozen=True)
class Request:
    """One request as uvicorn would hand it to the app."""

    method: str
    path: str
    query: bytes = b""
    body: bytes = b""
    headers: Sequence[tuple[bytes, bytes]] = ()
    expect: frozenset[int] = field(default=frozenset({200, 201}))


def http_scope(request: Request) -> Scope:
    """The scope uvicorn (httptools) builds for ``request`` on 127.0.0.1."""
    headers = [(b"host", b"127.0.0.1:8001"), (b"user-agent", b"wrk"), *request.headers]
    if request.body:
        headers += [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(request.body))]
    return {  # type: ignore[typeddict-item]
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "server": ("127.0.0.1", 8001),
        "client": ("127.0.0.1", 50000),
        "scheme": "http",
        "method": request.method,
        "root_path": "",
        "path": request.path,
        "raw_path": request.path.encode(),
        "query_string": request.query,
        "headers": headers,
        "state": {},
    }


async def send_request(app: ASGIApp, request: Request) -> tuple[int, bytes]:
    """The status and body of ``app``'s answer to ``request``."""
    pending = True

    async def receive() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": request.body, "more_body": False}
        await asyncio.Future()  # a client that stays connected
        raise AssertionError("unreachable")

    status = 0
    chunks: list[bytes] = []

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(http_scope(request), receive, send)  # type: ignore[arg-type]
    return status, b"".join(chunks)


@dataclass(frozen=True)
class Sample:
    """One measured run: requests answered, wall seconds, CPU seconds of this process."""

    requests: int
    seconds: float
    cpu: float

    @property
    def cpu_us(self) -> float:
        return self.cpu / self.requests * 1e6 if self.requests else float("nan")

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else float("nan")


async def drive(app: ASGIApp, requests: Callable[[int], Request], *, tasks: int, count: int) -> Sample:
    """``count`` requests from ``tasks`` concurrent clients; ``requests(i)`` is client i's next
    request. Raises RuntimeError on an answer outside the request's ``expect``."""
    each = max(1, count // tasks)

    async def client(i: int) -> None:
        for _ in range(each):
            request = requests(i)
            status, body = await send_request(app, request)
            if status not in request.expect:
                raise RuntimeError(f"{request.method} {request.path}: {status} {body[:300]!r}")

    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(client(i) for i in range(tasks)))
    return Sample(each * tasks, time.perf_counter() - started, time.process_time() - cpu)


async def _constant(scope: Scope, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


async def client_cost(*, tasks: int, count: int) -> Sample:
    """The driver against an app that answers at once: the client's share of every figure."""
    return await drive(_constant, lambda _: Request("GET", "/"), tasks=tasks, count=count)
