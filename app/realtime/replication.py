"""A minimal logical replication client on psycopg's libpq layer, for asyncio.

psycopg 3 has no replication API, but its `psycopg.pq` layer is libpq itself: a connection
opened with `replication=database` accepts walsender commands, and START_REPLICATION turns
it into a COPY BOTH stream read with PQgetCopyData. That is all a logical decoding consumer
needs, so the feed streams changes as they commit instead of polling
pg_logical_slot_get_changes() (which adds the poll interval to every delivery).

The slot is TEMPORARY: it lives exactly as long as this connection, so an API process that
dies or is scaled away can never leave a slot behind retaining WAL until the disk fills.
Nothing is lost by that: after every reconnect the hub reads what it missed by sequence
number, so the stream only has to start "now".

Wire format (PostgreSQL docs, "Streaming Replication Protocol"):
  XLogData         'w' Int64 dataStart, Int64 walEnd, Int64 sendTime, Byte[n] data
  keepalive        'k' Int64 walEnd, Int64 sendTime, Byte1 replyRequested
  status update    'r' Int64 written, Int64 flushed, Int64 applied, Int64 clock, Byte1 reply
Times are microseconds since 2000-01-01 UTC.
"""

from __future__ import annotations

import asyncio
import struct
import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass

import psycopg
from psycopg import pq
from psycopg.conninfo import make_conninfo

__all__ = ["ReplicationError", "ReplicationStream", "XLogData"]

_PG_EPOCH = 946_684_800  # 2000-01-01 in Unix seconds
_XLOG = struct.Struct(">QQQ")
_KEEPALIVE = struct.Struct(">QQB")
_STATUS = struct.Struct(">cQQQQB")


class ReplicationError(psycopg.OperationalError):
    """The replication connection failed or the server ended the stream."""


@dataclass(frozen=True, slots=True)
class XLogData:
    """One message of the output plugin, with the WAL position it was decoded at (`data`
    is a view into libpq's buffer, valid until the next message is read)."""

    lsn: int
    data: memoryview


class ReplicationStream:
    """One replication connection: connect, create a temporary slot, stream its changes."""

    def __init__(
        self,
        url: str,
        *,
        application_name: str,
        connect_timeout: float = 5.0,
        status_interval: float = 10.0,
    ) -> None:
        self._conninfo = make_conninfo(
            url,
            replication="database",
            application_name=application_name,
            connect_timeout=max(1, round(connect_timeout)),
            # The plugin prints timestamps in the session's style: make it one we parse.
            options="-c datestyle=ISO -c timezone=UTC",
            keepalives=1,
            keepalives_idle=max(1, round(status_interval)),
            keepalives_interval=5,
            keepalives_count=3,
        )
        self.status_interval = status_interval
        self.connect_timeout = connect_timeout
        self._conn: pq.abc.PGconn | None = None
        self._received = 0
        self._heard = False

    @property
    def backend_pid(self) -> int | None:
        return self._conn.backend_pid if self._conn is not None else None

    async def connect(self) -> None:
        # libpq resolves the host name inside connect_start(): off the event loop.
        conn = await asyncio.to_thread(pq.PGconn.connect_start, self._conninfo.encode())
        self._conn = conn
        async with asyncio.timeout(self.connect_timeout):
            while True:
                status = conn.connect_poll()
                if status == pq.PollingStatus.OK:
                    break
                if status == pq.PollingStatus.FAILED:
                    raise ReplicationError(_message(conn, "connection failed"))
                await self._wait(write=status == pq.PollingStatus.WRITING)
        conn.nonblocking = 1

    async def command(self, sql: str) -> list[pq.abc.PGresult]:
        """Runs a walsender command; returns its results (the last is COPY BOTH for
        START_REPLICATION). Raises ReplicationError when the server refuses it."""
        conn = self._require()
        conn.send_query(sql.encode())  # raises psycopg.OperationalError on failure
        await self._flush()
        results: list[pq.abc.PGresult] = []
        while True:
            while conn.is_busy():
                await self._wait()
                conn.consume_input()
            result = conn.get_result()
            if result is None:
                return results
            if result.status == pq.ExecStatus.FATAL_ERROR:
                raise ReplicationError((result.error_message or b"").decode(errors="replace").strip())
            results.append(result)
            if result.status == pq.ExecStatus.COPY_BOTH:
                return results

    async def messages(self) -> AsyncGenerator[XLogData, None]:
        """The plugin's messages, as they arrive. Answers the server's keepalives, confirms
        progress every `status_interval` seconds, and raises ReplicationError when the
        stream ends or the server stops answering.

        A message arrives per committed transaction or so, so the wait is kept cheap: the
        socket stays registered with the event loop for the whole stream (no registration
        per wait), and the periodic status update runs as a task of its own (no timer per
        wait)."""
        conn = self._require()
        loop = asyncio.get_running_loop()
        readable = asyncio.Event()
        fd = conn.socket
        loop.add_reader(fd, readable.set)
        heartbeat = asyncio.create_task(self._heartbeat(readable))
        try:
            while True:
                size, data = conn.get_copy_data(1)
                if size > 0:
                    self._heard = True
                    kind = data[0]
                    if kind == 0x77:  # 'w'
                        start, _, _ = _XLOG.unpack_from(data, 1)
                        self._received = max(self._received, start)
                        yield XLogData(start, data[_XLOG.size + 1 :])
                    elif kind == 0x6B:  # 'k'
                        wal_end, _, reply = _KEEPALIVE.unpack_from(data, 1)
                        # Nothing of ours is pending below the server's WAL end: confirm it,
                        # so a quiet slot holds no WAL back while other tables are written.
                        self._received = max(self._received, wal_end)
                        if reply:
                            await self._status(reply=False)
                    continue
                if size < 0:
                    raise ReplicationError(self._end_message())
                if heartbeat.done():
                    heartbeat.result()  # raises what stopped it
                    raise ReplicationError("the status updates stopped")
                # The socket is level-triggered: data that arrives after this clear()
                # sets the event again on the next turn of the loop.
                readable.clear()
                await readable.wait()
                conn.consume_input()
        finally:
            heartbeat.cancel()
            loop.remove_reader(fd)

    async def _heartbeat(self, wake: asyncio.Event) -> None:
        """Every `status_interval`: report progress and ask for an answer; a server that has
        not said anything since the previous request is gone."""
        try:
            while True:
                self._heard = False
                await self._status(reply=True)
                await asyncio.sleep(self.status_interval)
                if not self._heard:
                    raise ReplicationError("the server stopped answering")
        finally:
            wake.set()  # let the reader notice

    def close(self) -> None:
        """Closes the connection; the server drops the temporary slot with it."""
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.finish()

    # -- internals -----------------------------------------------------------------------
    def _require(self) -> pq.abc.PGconn:
        if self._conn is None:
            raise ReplicationError("not connected")
        return self._conn

    async def _status(self, *, reply: bool) -> None:
        conn = self._require()
        position = self._received
        clock = int((time.time() - _PG_EPOCH) * 1_000_000)
        message = _STATUS.pack(b"r", position, position, position, clock, 1 if reply else 0)
        if conn.put_copy_data(message) != 1:
            raise ReplicationError(_message(conn, "could not send a status update"))
        await self._flush()

    async def _flush(self) -> None:
        conn = self._require()
        while conn.flush() == 1:
            await self._wait(write=True)

    def _end_message(self) -> str:
        conn = self._require()
        text = _message(conn, "")
        while (result := conn.get_result()) is not None:
            if result.error_message:
                text = result.error_message.decode(errors="replace").strip()
        return text or "the server ended the replication stream"

    async def _wait(self, *, write: bool = False, timeout: float | None = None) -> None:  # noqa: ASYNC109
        """Waits until the socket is readable (or writable)."""
        conn = self._require()
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = loop.create_future()

        def wake() -> None:
            if not ready.done():
                ready.set_result(None)

        fd = conn.socket
        if write:
            loop.add_writer(fd, wake)
        else:
            loop.add_reader(fd, wake)
        try:
            async with asyncio.timeout(timeout):
                await ready
        finally:
            if write:
                loop.remove_writer(fd)
            else:
                loop.remove_reader(fd)


def _message(conn: pq.abc.PGconn, default: str) -> str:
    return conn.get_error_message().strip() or default
