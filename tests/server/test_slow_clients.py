"""Slow clients (slowloris) against the real server process: `python -m` uvicorn with
app.serving.uvicorn_options, on a free loopback port, with short deadlines.

50 connections: some send nothing, some send their headers a byte at a time, some send
complete headers and then their body a byte at a time. Every one must be closed soon after the
deadline (408 where a request had begun), while ordinary requests keep being served.
Without the deadlines (uvicorn's own protocol) all 50 were still open when the test gave up.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from tests.api.helpers import SERVICE_KEY
from tests.harness.processes import api_process

pytestmark = pytest.mark.slow

HEADER_TIMEOUT = 1.0
BODY_TIMEOUT = 1.5
SLOW = 50
TRICKLE = 0.2  # seconds between two bytes of a slow client
# Run as `python -c SERVE --port N` (tests.harness.processes.ApiProcess adds the port).
SERVE = (
    "import os, sys, uvicorn\n"
    "from app.config import get_settings\n"
    "from app.serving import uvicorn_options\n"
    "options = uvicorn_options(get_settings(), port=int(sys.argv[-1]))\n"
    "options['http'] = os.environ.get('TEST_UVICORN_HTTP') or options['http']  # 'auto': uvicorn's own\n"
    "uvicorn.run(**options)\n"
)


async def request(port: int, raw: bytes) -> bytes:
    """One request on its own connection (closed after the answer); the whole answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(raw.replace(b"\r\n", b"\r\nConnection: close\r\n", 1))
        return await asyncio.wait_for(reader.read(), 5)
    finally:
        writer.close()


@pytest.fixture
async def server() -> AsyncIterator[int]:
    env = {
        "API_AUTH": "required",
        "SUPABASE_SERVICE_ROLE_KEY": SERVICE_KEY,
        "API_HEADER_TIMEOUT_SECONDS": str(HEADER_TIMEOUT),
        "API_BODY_TIMEOUT_SECONDS": str(BODY_TIMEOUT),
        "REALTIME_FEED": "off",
        "DB_POOL_MIN_SIZE": "1",
        "DB_POOL_MAX_SIZE": "2",
        "TEST_UVICORN_HTTP": os.environ.get("TEST_UVICORN_HTTP", ""),
    }
    async with api_process(env, argv=("-c", SERVE)) as process:
        yield process.port


async def slow_client(
    port: int, kind: str, give_up: float, connected: Callable[[], None]
) -> tuple[str, float | None, bytes]:
    """Connect (then call `connected`) and misbehave; returns (kind, seconds until the server
    closed, what it sent)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    connected()
    started = time.monotonic()
    head = b"POST /conversations HTTP/1.1\r\nHost: localhost\r\n"
    if kind == "head":
        trickle = head + b"X-Padding: " + b"a" * 1000
    elif kind == "body":
        writer.write(
            head + b"Authorization: Bearer " + SERVICE_KEY.encode() + b"\r\n"
            b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"
        )
        trickle = b" " * 999
    else:
        trickle = b""
    received = b""
    try:
        for index in range(10_000):
            if trickle and index < len(trickle):
                writer.write(trickle[index : index + 1])
                await writer.drain()
            try:
                chunk = await asyncio.wait_for(reader.read(65536), TRICKLE)
            except TimeoutError:
                chunk = None
            if chunk is not None:
                received += chunk
                if not chunk or reader.at_eof():
                    return kind, time.monotonic() - started, received
            if time.monotonic() - started > give_up:
                return kind, None, received
    except (ConnectionResetError, BrokenPipeError):
        return kind, time.monotonic() - started, received
    finally:
        writer.close()
    return kind, None, received


async def test_slow_clients_are_closed_after_the_deadlines(server: int) -> None:
    kinds = ["idle", "head", "body"]
    connections: list[int] = []
    all_connected = asyncio.Event()

    def connected() -> None:
        connections.append(1)
        if len(connections) == SLOW:
            all_connected.set()

    clients = [
        asyncio.create_task(slow_client(server, kinds[n % 3], give_up=10, connected=connected))
        for n in range(SLOW)
    ]
    await asyncio.wait_for(all_connected.wait(), 10)
    # Meanwhile the server serves everyone else.
    health = await request(server, b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n")
    assert health.startswith(b"HTTP/1.1 200"), health
    results = await asyncio.gather(*clients)
    still_open = [kind for kind, closed_after, _ in results if closed_after is None]
    assert not still_open, f"{len(still_open)} of {SLOW} slow connections still open after 10 s"
    slowest: dict[str, float] = {}
    for kind, closed_after, received in results:
        assert closed_after is not None
        slowest[kind] = max(slowest.get(kind, 0.0), closed_after)
        if kind == "idle":
            assert received == b""  # nothing was asked: closed quietly
        else:
            assert received.startswith(b"HTTP/1.1 408"), (kind, received[:200])
            assert b'"error":"request_timeout"' in received
    print(
        f"\n{SLOW} slow connections, closed at the latest after (s):",
        {k: round(v, 2) for k, v in slowest.items()},
    )
    metrics = await request(server, b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n")
    assert b'api_requests_total{method="POST",route="/conversations",status="500"}' not in metrics
    assert b'api_requests_total{method="POST",route="/conversations",status="499"}' in metrics
    # Closed soon after their deadline (the body's counts from its headers).
    assert slowest["idle"] < HEADER_TIMEOUT + 1.0, slowest
    assert slowest["head"] < HEADER_TIMEOUT + 1.0, slowest
    assert slowest["body"] < BODY_TIMEOUT + 1.0, slowest


async def test_a_kept_alive_connection_gets_a_new_head_deadline(server: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server)
    try:
        writer.write(b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n")
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 200")
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        await asyncio.wait_for(reader.readexactly(length), 5)  # the whole first answer
        started = time.monotonic()
        writer.write(b"GET /health HTTP/1.1\r\nHost: loc")  # the next head, never finished
        rest: Any = await asyncio.wait_for(reader.read(65536), HEADER_TIMEOUT + 3)
        assert rest.startswith(b"HTTP/1.1 408"), rest
        assert time.monotonic() - started < HEADER_TIMEOUT + 1.0
    finally:
        writer.close()


async def test_ordinary_requests_with_bodies_pass(server: int) -> None:
    body = b'{"ttl_hours": 1}'
    answer = await request(
        server,
        b"POST /conversations HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer "
        + SERVICE_KEY.encode()
        + b"\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body),
    )
    assert answer.startswith(b"HTTP/1.1 201"), answer[:300]
