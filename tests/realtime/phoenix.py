"""A local stand-in for Supabase Realtime: the Phoenix channel protocol realtime-py speaks.

Enough of it to exercise a real AsyncRealtimeClient: `phx_join` answered with `phx_reply`
ok and the server's ids for the requested postgres_changes bindings, followed by the
"Subscribed to PostgreSQL" system message; heartbeat replies; `postgres_changes` events
carrying a record; and the failures to survive: a dropped socket, a stopped server, a
rejected join, a channel error.
"""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime
from typing import Any

import msgspec
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from app.store.models import Message
from tests.harness.waiting import until

COLUMNS = [
    {"name": "id", "type": "uuid"},
    {"name": "conversation_id", "type": "varchar"},
    {"name": "seq", "type": "int8"},
    {"name": "role", "type": "text"},
    {"name": "content", "type": "text"},
    {"name": "metadata", "type": "jsonb"},
    {"name": "idempotency_key", "type": "varchar"},
    {"name": "created_at", "type": "timestamptz"},
]


class FakeRealtime:
    """One fake Realtime server on 127.0.0.1, restartable on the same port."""

    def __init__(self) -> None:
        self.port = 0
        self._server: Server | None = None
        self.connections: set[ServerConnection] = set()
        self.joined: dict[ServerConnection, tuple[str, list[int]]] = {}
        self.paths: list[str] = []
        self.received: list[dict[str, Any]] = []
        self.reject_joins = 0  # answer this many joins with an error
        self.send_system_ok = True
        self._ids = itertools.count(1000)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await serve(self._handle, "127.0.0.1", self.port)
        if self.port == 0:
            self.port = next(iter(self._server.sockets)).getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        self.joined.clear()

    def events(self, name: str) -> list[dict[str, Any]]:
        return [m for m in self.received if m.get("event") == name]

    async def wait_joined(self, count: int = 1) -> None:
        await until(lambda: len(self.joined) >= count)

    async def push_insert(self, message: Message | dict[str, Any], *, errors: list[str] | None = None) -> int:
        """Sends a postgres_changes INSERT to every joined client; returns how many got it."""
        record = msgspec.to_builtins(message) if isinstance(message, Message) else message
        sent = 0
        for ws, (topic, ids) in list(self.joined.items()):
            payload = {
                "data": {
                    "schema": "public",
                    "table": "ai_conversation_messages",
                    "commit_timestamp": datetime.now(UTC).isoformat(),
                    "type": "INSERT",
                    "errors": errors,
                    "columns": COLUMNS,
                    "record": record,
                },
                "ids": ids,
            }
            await ws.send(
                json.dumps({"topic": topic, "event": "postgres_changes", "payload": payload, "ref": None})
            )
            sent += 1
        return sent

    async def channel_error(self) -> None:
        for ws, (topic, _) in list(self.joined.items()):
            await ws.send(json.dumps({"topic": topic, "event": "phx_error", "payload": {}, "ref": None}))

    def drop(self) -> None:
        """Cuts every socket without a close frame (a network failure, a crashed node)."""
        for ws in list(self.connections):
            ws.transport.abort()
        self.joined.clear()

    async def _reply(
        self, ws: ServerConnection, topic: str, ref: str | None, status: str, response: dict[str, Any]
    ) -> None:
        await ws.send(
            json.dumps(
                {
                    "topic": topic,
                    "event": "phx_reply",
                    "payload": {"status": status, "response": response},
                    "ref": ref,
                }
            )
        )

    async def _handle(self, ws: ServerConnection) -> None:
        self.connections.add(ws)
        self.paths.append(ws.request.path if ws.request else "")
        try:
            await self._serve(ws)
        except ConnectionClosed:
            return  # a dropped client: only our bookkeeping to undo
        finally:
            self.connections.discard(ws)
            self.joined.pop(ws, None)

    async def _serve(self, ws: ServerConnection) -> None:
        async for raw in ws:
            message = json.loads(raw)
            self.received.append(message)
            topic, event, ref = message["topic"], message["event"], message.get("ref")
            if event == "heartbeat":
                await self._reply(ws, "phoenix", ref, "ok", {})
            elif event == "phx_join":
                await self._join(ws, topic, ref, message["payload"])
            elif event == "phx_leave":
                self.joined.pop(ws, None)
                await self._reply(ws, topic, ref, "ok", {})

    async def _join(self, ws: ServerConnection, topic: str, ref: str | None, payload: dict[str, Any]) -> None:
        if self.reject_joins:
            self.reject_joins -= 1
            await self._reply(ws, topic, ref, "error", {"reason": "Unauthorized: token expired"})
            return
        bindings = payload.get("config", {}).get("postgres_changes", [])
        answered = [{**b, "id": next(self._ids)} for b in bindings]
        await self._reply(ws, topic, ref, "ok", {"postgres_changes": answered})
        self.joined[ws] = (topic, [b["id"] for b in answered])
        if self.send_system_ok:
            await ws.send(
                json.dumps(
                    {
                        "topic": topic,
                        "event": "system",
                        "payload": {
                            "channel": topic.removeprefix("realtime:"),
                            "extension": "postgres_changes",
                            "message": "Subscribed to PostgreSQL",
                            "status": "ok",
                        },
                        "ref": None,
                    }
                )
            )
