"""Graceful shutdown of the real server process (issue 9, defect 1 and deliverable 2).

50 event-stream clients and a steady append load; SIGTERM. Every stream gets its `shutdown`
event and ends, the process exits within API_SHUTDOWN_TIMEOUT_SECONDS, every append it
acknowledged is stored, and every client resumes against a second process (Last-Event-ID)
with no gap and no duplicate. Before: the process stayed up until its clients hung up.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import time
import uuid
from typing import Any

import httpx
import psycopg
import pytest

from tests.harness.processes import ApiProcess, api_process
from tests.harness.sse import read_sse
from tests.harness.waiting import eventually, until

pytestmark = pytest.mark.slow

CONVERSATIONS = 5
CLIENTS = 50
SHUTDOWN_TIMEOUT = 10


class Client:
    """One event-stream client: the seqs it received, and how its stream ended."""

    def __init__(self, conversation_id: str) -> None:
        self.conversation_id = conversation_id
        self.seqs: list[int] = []
        self.end: tuple[str, dict[str, Any]] | None = None
        self.connected = asyncio.Event()

    @property
    def last_event_id(self) -> str:
        return str(self.seqs[-1]) if self.seqs else "0"

    async def listen(self, http: httpx.AsyncClient, *, until_seq: int | None = None) -> None:
        headers = {"Last-Event-ID": self.last_event_id}
        async with http.stream("GET", f"/conversations/{self.conversation_id}/events", headers=headers) as r:
            assert r.status_code == 200, await r.aread()
            self.connected.set()
            async for event, data, event_id in read_sse(r):
                if event == "message":
                    assert event_id is not None
                    self.seqs.append(int(event_id))
                    if until_seq is not None and self.seqs[-1] >= until_seq:
                        return
                else:
                    self.end = (event, json.loads(data))
                    return


async def appender(
    server: ApiProcess, conversation_id: str, acknowledged: list[int], stop: asyncio.Event
) -> None:
    async with server.client() as http:
        n = 0
        while not stop.is_set():
            n += 1
            try:
                response = await http.post(
                    f"/conversations/{conversation_id}/messages",
                    json={"role": "user", "content": f"load {n}"},
                )
            except httpx.TransportError:
                return  # the server closed its listener
            if response.status_code != 201:
                return
            acknowledged.append(response.json()["seq"])
            await asyncio.sleep(0.01)  # a steady load rather than a flood: what the server stops under


async def test_sigterm_with_open_streams_and_load(admin: psycopg.AsyncConnection[Any]) -> None:
    env = {
        "API_SHUTDOWN_TIMEOUT_SECONDS": str(SHUTDOWN_TIMEOUT),
        "REALTIME_HEARTBEAT_SECONDS": "1",
        "LLM_OFFLINE_DELAY_SECONDS": "2",  # a chat turn of 2 s is in flight at SIGTERM
    }
    cids = [f"shutdown-{n}-{uuid.uuid4()}" for n in range(CONVERSATIONS)]
    clients = [Client(cids[n % CONVERSATIONS]) for n in range(CLIENTS)]
    acknowledged: dict[str, list[int]] = {cid: [] for cid in cids}

    async with api_process(env) as first:
        async with first.client() as http:
            for cid in cids:
                created = await http.post("/conversations", json={"conversation_id": cid, "ttl_hours": 1})
                assert created.status_code == 201, created.text
            listeners = [asyncio.create_task(c.listen(http)) for c in clients]
            await asyncio.wait_for(asyncio.gather(*(c.connected.wait() for c in clients)), 30)
            stop = asyncio.Event()
            load = [asyncio.create_task(appender(first, cid, acknowledged[cid], stop)) for cid in cids]
            await until(lambda: all(acknowledged.values()))  # streams and appends flowing
            assert all(acknowledged.values())
            words = " ".join(f"word{n}" for n in range(20))
            chat = asyncio.create_task(
                http.post("/chat", json={"message": words, "conversation_id": cids[0]})
            )

            async def turn_begun() -> bool:  # its user message stored: the model is answering now
                found = await admin.execute(
                    "select 1 from public.ai_conversation_messages"
                    " where conversation_id = %s and content = %s",
                    (cids[0], words),
                )
                return await found.fetchone() is not None

            await eventually(turn_begun)

            exit_seconds = await first.terminate(within=SHUTDOWN_TIMEOUT + 20)
            in_flight = await chat
            stop.set()
            await asyncio.wait_for(asyncio.gather(*load), 10)
            done, pending = await asyncio.wait(listeners, timeout=5)
            for task in pending:
                task.cancel()
            for task in done:
                with contextlib.suppress(httpx.HTTPError):
                    task.result()
        log = "".join(first.output)

    ended = [c.end[0] if c.end else None for c in clients]
    print(
        f"\nSIGTERM with {CLIENTS} streams and {CONVERSATIONS} appenders: exited in {exit_seconds:.2f} s; "
        f"{ended.count('shutdown')}/{CLIENTS} streams got `shutdown`; "
        f"{sum(map(len, acknowledged.values()))} appends acknowledged; the chat turn in flight: "
        f"{in_flight.status_code}"
    )
    # uvicorn re-raises the signal it handled once it has shut down: "terminated by SIGTERM".
    assert first.process.returncode in (0, -signal.SIGTERM), log
    assert "Application shutdown complete" in log
    assert exit_seconds < SHUTDOWN_TIMEOUT, log
    assert ended == ["shutdown"] * CLIENTS, log
    assert in_flight.status_code == 200, in_flight.text  # the turn in flight finished
    for client in clients:
        assert client.end is not None
        assert client.end[1]["last_seq"] == (client.seqs[-1] if client.seqs else 0)

    # Every acknowledged append is stored.
    for cid, seqs in acknowledged.items():
        cur = await admin.execute(
            "select seq from public.ai_conversation_messages where conversation_id = %s order by seq", (cid,)
        )
        stored = [row[0] for row in await cur.fetchall()]
        assert set(seqs) <= set(stored)
        assert stored == list(range(1, len(stored) + 1))

    # Every client resumes on a second process: what it missed, once, in order.
    async with api_process() as second, second.client() as http:
        lasts: dict[str, int] = {}
        for cid in cids:
            page = (await http.get(f"/conversations/{cid}", params={"limit": 1})).json()
            lasts[cid] = page["last_seq"]
        started = time.perf_counter()
        await asyncio.wait_for(
            asyncio.gather(
                *(
                    c.listen(http, until_seq=lasts[c.conversation_id])
                    for c in clients
                    if c.seqs[-1:] != [lasts[c.conversation_id]]
                )
            ),
            30,
        )
        print(f"resumed {CLIENTS} streams on a second process in {time.perf_counter() - started:.2f} s")
    for client in clients:
        assert client.seqs == list(range(1, lasts[client.conversation_id] + 1)), client.conversation_id
