"""A local stand-in for Supabase Realtime: the Phoenix channel protocol realtime-py speaks.

Enough of it to exercise a real AsyncRealtimeClient on a private Broadcast channel, as
Realtime's RealtimeChannel does it:

- `phx_join`: a private join is authorised with its `access_token` (here: it must be the
  expected key; Realtime runs the realtime.messages policies), answered with `phx_reply` ok and
  `{"postgres_changes": []}`, then, when the join asked for it (`broadcast.replication_ready`),
  the system message "Replication connection established";
- heartbeats answered on the `phoenix` topic; `access_token` frames taken silently;
- Broadcast from the database: each realtime.messages row becomes a `broadcast` frame with
  `{"event", "payload", "type": "broadcast", "meta": {"id"}}` on `realtime:<topic>`, sent to the
  sockets joined to that topic;
- the failures to survive: a dropped socket, a stopped server, a rejected join, a channel error,
  and the end of a channel whose token expired (system error, then `phx_close`).

Every frame a client sends is kept, in order, in `received`.
"""

from __future__ import annotations

import json
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from tests.harness.waiting import until

__all__ = ["FakeRealtime"]


class FakeRealtime:
    """One fake Realtime server on 127.0.0.1, restartable on the same port."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.port = 0
        self._server: Server | None = None
        self.connections: set[ServerConnection] = set()
        self.joined: dict[ServerConnection, str] = {}  # socket -> its joined topic
        self.paths: list[str] = []
        self.received: list[dict[str, Any]] = []
        self.reject_joins = 0  # answer this many joins with an error
        self.send_replication_ready = True

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

    async def broadcast(self, topic: str, event: str, payload: dict[str, Any], row_id: str) -> int:
        """One row of realtime.messages, as Realtime relays it; returns how many sockets got it."""
        frame = json.dumps(
            {
                "topic": f"realtime:{topic}",
                "event": "broadcast",
                "payload": {"event": event, "payload": payload, "type": "broadcast", "meta": {"id": row_id}},
                "ref": None,
            }
        )
        sent = 0
        for ws, joined in list(self.joined.items()):
            if joined == f"realtime:{topic}":
                await ws.send(frame)
                sent += 1
        return sent

    async def system(self, status: str, message: str) -> None:
        """A system message to every joined channel ("ok": something is ready; "error": it failed)."""
        for ws, topic in list(self.joined.items()):
            await self._system(ws, topic, status, message)

    async def _system(self, ws: ServerConnection, topic: str, status: str, message: str) -> None:
        payload = {
            "channel": topic.removeprefix("realtime:"),
            "extension": "system",
            "message": message,
            "status": status,
        }
        await ws.send(json.dumps({"topic": topic, "event": "system", "payload": payload, "ref": None}))

    async def channel_error(self) -> None:
        for ws, topic in list(self.joined.items()):
            await ws.send(json.dumps({"topic": topic, "event": "phx_error", "payload": {}, "ref": None}))

    async def expire_token(self) -> None:
        """What Realtime does when a joined channel's token expires: a system error, then the
        channel process stops (`phx_close`); the socket stays open."""
        await self.system("error", "Token has expired 0 seconds ago")
        for ws, topic in list(self.joined.items()):
            self.joined.pop(ws, None)
            await ws.send(json.dumps({"topic": topic, "event": "phx_close", "payload": {}, "ref": None}))

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
            # access_token: Realtime re-authorises and answers nothing

    async def _join(self, ws: ServerConnection, topic: str, ref: str | None, payload: dict[str, Any]) -> None:
        config = payload.get("config", {})
        if self.reject_joins:
            self.reject_joins -= 1
            await self._reply(ws, topic, ref, "error", {"reason": "RealtimeDisabledForTenant"})
            return
        if config.get("private") and payload.get("access_token") != self.key:
            await self._reply(
                ws,
                topic,
                ref,
                "error",
                {"reason": "Unauthorized: You do not have permissions to read from this Channel topic"},
            )
            return
        await self._reply(ws, topic, ref, "ok", {"postgres_changes": []})
        self.joined[ws] = topic
        if self.send_replication_ready and (config.get("broadcast") or {}).get("replication_ready"):
            await self._system(ws, topic, "ok", "Replication connection established")
