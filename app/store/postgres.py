"""The Postgres transport: a psycopg pool and PostgREST's per-request security context.

Every call is one transaction in one network round trip, and the context it runs in is
PostgREST's: the role, the JWT claims, and the role's own statement_timeout and lock_timeout.

On a direct connection the context lives in the session and is kept there for the next call
(the transport is the only user of its pool's connections, and remembers which context each
one holds). A call whose principal's context the connection already holds is one statement:

    Parse/Bind/Execute  select public.<fn>(p_a => $1::text, ...)::text
                         where current_user = $n::name
                           and current_setting('request.jwt.claims', true) = $m
    Sync

The WHERE is a gate, evaluated before the call (a one-time filter of the plan's Result node):
if the session does not hold the expected context after all, the function never runs, no row
comes back, and the transport sets the context and calls again. A connection that has
another context (or an unknown one: new, or after a failed call) gets both statements in one
round trip, in psycopg's pipeline mode:

    Parse/Bind/Execute  select set_config('role', $1, false),
                               set_config('request.jwt.claims', $2, false),
                               set_config('statement_timeout', $3, false),
                               set_config('lock_timeout', $4, false)
    Parse/Bind/Execute  <the gated call>
    Sync

The extended query protocol runs everything up to a Sync as one implicit transaction:
committed when both statements succeed, rolled back (the settings with it) when one fails.
The context is a statement of its own, before the call's: the executor checks EXECUTE on the
function, and every table privilege and RLS policy, as the role the session has when the
call's statement starts (folding set_config() into the call's statement would check EXECUTE
as the login role), and statement_timeout is armed when a statement starts, so a value set
inside the call's own statement would not bound it.

Behind a transaction pooler (DB_TRANSACTION_POOLER) consecutive transactions may land on
different backends, and a session setting would stay behind for other clients: there every
call sends the context as transaction-local settings (`true`), in the same round trip, as
PostgREST does.

The messages are sent with libpq's own calls (psycopg's `pq` module, on the pooled
connection's `pgconn`, waited for with the connection's own `wait()`), not through a cursor:
a cursor's bookkeeping (its query conversion, psycopg's prepared-statement manager, its
pipeline object) cost more CPU than the rest of the call together (`python -m bench.layers`,
store tier). What psycopg guarantees stays psycopg's: the values are dumped by its Transformer
(so a NUL in a text value is refused before anything is sent), errors are its exceptions
built from the server's error result, and a cancelled wait cancels the query in the server.
A statement is prepared on a connection the way psycopg prepares it (after the connection's
`prepare_threshold` executions; never when it is None, as behind a transaction pooler).

Protocol "simple" sends the transaction-local context and the call as one simple-query
message with the values bound client-side (psycopg's ClientCursor): also one implicit
transaction. The values, message content and JWT claims included, become SQL text: they show
in pg_stat_activity and in the server log of every failing call, and nothing is prepared.
`python -m bench.store_transport` measures the variants.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import weakref
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import psycopg
from psycopg import generators, pq, sql
from psycopg.adapt import PyFormat, Transformer
from psycopg.errors import error_from_result
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from app.db import checkout, connection
from app.store.errors import (
    InvalidInputError,
    PoolExhaustedError,
    StoreError,
    UnavailableError,
    error_for_sqlstate,
)
from app.store.lanes import Lanes
from app.store.transport import Principal

__all__ = [
    "ROLE_TIMEOUTS_SQL",
    "SIGNATURES_SQL",
    "TIMEOUT_SETTINGS",
    "PostgresTransport",
    "Protocol",
    "numbered",
    "role_timeouts",
]

Protocol = Literal["pipeline", "simple"]

# A NULL timeout resets it to the session's value, which is what PostgREST leaves in place
# for a role without its own setting (the authenticator's).
_LOCAL_CONTEXT = (
    b"select set_config('role', %s, true), set_config('request.jwt.claims', %s, true),"
    b" set_config('statement_timeout', %s, true), set_config('lock_timeout', %s, true)"
)
_SESSION_CONTEXT = _LOCAL_CONTEXT.replace(b", true)", b", false)")
# Appended to the call's select: it runs only in the session context it was sent for.
_GATE = b" where current_user = %s::name and current_setting('request.jwt.claims', true) = %s"


def _gate_values(principal: Principal) -> list[Any]:
    """The values of _GATE's placeholders: the context the call was sent for."""
    return [principal.role, principal.claims_json]


# The role settings the transport applies per call, as PostgREST applies them to the role it
# switches to (a role's own settings only take effect at login, which never happens here).
TIMEOUT_SETTINGS = ("statement_timeout", "lock_timeout")
# admin_shutdown, crash_shutdown, cannot_connect_now: what a restarting server says.
_SHUTDOWN = frozenset({"57P01", "57P02", "57P03"})
# invalid_sql_statement_name: a statement this connection prepared is gone (DISCARD ALL).
_NOT_PREPARED = "26000"
# Every function of the public schema with its input arguments' names and types, as
# PostgREST's schema cache knows them: the store calls them by name with these casts.
SIGNATURES_SQL = b"""
select p.proname::text, a.name, format_type(a.type, null)
  from pg_proc p
 left join lateral unnest(p.proargnames[1:p.pronargs], p.proargtypes::oid[]) as a(name, type) on true
 where p.pronamespace = 'public'::regnamespace and p.prokind = 'f'
"""
# Per-role statement_timeout and lock_timeout as PostgREST applies them: (role, setting,
# value); this database's setting wins over the all-databases one (ordered last, so it
# overwrites in the dict).
ROLE_TIMEOUTS_SQL = b"""
select r.rolname, split_part(c.setting, '=', 1), substr(c.setting, strpos(c.setting, '=') + 1)
  from pg_db_role_setting s
  join pg_roles r on r.oid = s.setrole
  cross join lateral unnest(s.setconfig) as c(setting)
 where s.setdatabase in (0, (select d.oid from pg_database d where d.datname = current_database()))
   and split_part(c.setting, '=', 1) in ('statement_timeout', 'lock_timeout')
 order by s.setdatabase
"""
_PLACEHOLDER = re.compile(rb"%(.)")
_TUPLES_OK = pq.ExecStatus.TUPLES_OK
_COMMAND_OK = pq.ExecStatus.COMMAND_OK
_FATAL_ERROR = pq.ExecStatus.FATAL_ERROR
_PIPELINE_SYNC = pq.ExecStatus.PIPELINE_SYNC


def numbered(stmt: bytes) -> bytes:
    """A statement with psycopg's placeholders (`%s`, `%%`) in libpq's (`$1`, `%`)."""
    counter = itertools.count(1)

    def replace(found: re.Match[bytes]) -> bytes:
        if found[1] == b"s":
            return b"$%d" % next(counter)
        if found[1] == b"%":
            return b"%"
        raise ValueError(f"unsupported placeholder %{found[1].decode(errors='replace')} in {stmt!r}")

    return _PLACEHOLDER.sub(replace, stmt)


_NUMBERED_CONTEXT = {True: numbered(_SESSION_CONTEXT), False: numbered(_LOCAL_CONTEXT)}

# role, claims, then the TIMEOUT_SETTINGS values (None: the session's)
_Context = tuple[str | None, ...]


class _Session:
    """What a pooled connection's session holds for the store, whichever transport uses it:
    the context it holds, if known (the gate checks it anyway); the statements prepared on it
    (by name) or run so far (by count, until its `prepare_threshold`); and a Transformer bound
    to it (psycopg's dumpers)."""

    __slots__ = ("context", "counter", "encoding", "names", "transformer", "uses")

    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self.context: _Context | None = None
        self.names: dict[bytes, bytes] = {}
        self.uses: dict[bytes, int] = {}
        self.counter = itertools.count()
        self.transformer = Transformer(conn)
        self.encoding = conn.info.encoding

    def dump(self, values: Sequence[Any]) -> list[bytes | None]:
        """Values in the text format, as psycopg's dumpers write them (DataError for a NUL in a
        text): texts and integers here, anything else by the Transformer."""
        out: list[bytes | None] = []
        for value in values:
            kind = type(value)
            if value is None:
                out.append(None)
            elif kind is str:
                if "\x00" in value:
                    raise psycopg.DataError("PostgreSQL text fields cannot contain NUL (0x00) bytes")
                out.append(value.encode(self.encoding))
            elif kind is int:
                out.append(b"%d" % value)
            else:
                formats = [PyFormat.TEXT] * len(values)
                return list(self.transformer.dump_sequence(values, formats))  # type: ignore[arg-type]
        return out

    def name(self, conn: psycopg.AsyncConnection[Any], gated: bytes) -> tuple[bytes | None, bool]:
        """(the statement's name on this connection, whether to prepare it now); no name: run
        it unnamed. Prepared on its `prepare_threshold`-th execution, psycopg's rule."""
        name = self.names.get(gated)
        if name is not None:
            return name, False
        threshold = conn.prepare_threshold
        if threshold is None:
            return None, False
        uses = self.uses.get(gated, 0)
        if uses < threshold:
            self.uses[gated] = uses + 1
            return None, False
        return b"_store_%d" % next(self.counter), True

    def forget(self) -> None:
        """The server has none of them any more (it said so: 26000)."""
        self.names.clear()
        self.uses.clear()


# Per connection, shared by every transport over it: a session's state is the connection's.
_sessions: weakref.WeakKeyDictionary[psycopg.AsyncConnection[Any], _Session] = weakref.WeakKeyDictionary()


def _session_of(conn: psycopg.AsyncConnection[Any]) -> _Session:
    found = _sessions.get(conn)
    if found is None:
        found = _sessions[conn] = _Session(conn)
    return found


def role_timeouts(rows: list[tuple[str, str, str]]) -> dict[str, dict[str, str]]:
    """The rows of ROLE_TIMEOUTS_SQL as {role: {setting: value}}."""
    timeouts: dict[str, dict[str, str]] = {}
    for role, name, value in rows:
        timeouts.setdefault(role, {})[name] = value
    return timeouts


def _checked(results: Sequence[pq.abc.PGresult], encoding: str) -> pq.abc.PGresult:
    """The last of a statement's results; psycopg's exception for an error result."""
    for result in results:
        if result.status == _FATAL_ERROR:
            raise error_from_result(result, encoding=encoding)
    if not results:
        raise psycopg.InterfaceError("the server sent no result")
    return results[-1]


class PostgresTransport:
    """Store calls over a direct connection pool (the embedded default)."""

    def __init__(
        self,
        pool: AsyncConnectionPool,
        *,
        protocol: Protocol = "pipeline",
        per_conversation: int = 4,
        transaction_pooler: bool = False,
    ) -> None:
        """`protocol`: how the context and the call travel in their one round trip (see the
        module's docstring). `per_conversation`: how many calls of one conversation may hold a
        pooled connection at once (app.store.lanes). `transaction_pooler`: the pool's
        connections go through one (DB_TRANSACTION_POOLER): no context is left in a session."""
        self.pool = pool
        self.protocol = protocol
        self.lanes = Lanes(per_conversation)
        # Whether a context set in a session is kept there for the next call (see the module).
        self._keeps_context = not transaction_pooler and protocol == "pipeline"
        # Each statement with the positions of its jsonb arguments, by function and arguments.
        self._statements: dict[tuple[str, tuple[str, ...]], tuple[bytes, tuple[int, ...]]] = {}
        self._gated: dict[bytes, bytes] = {}  # each statement with the gate, built once
        self._signatures: dict[str, dict[str, str]] | None = None
        self._timeouts: dict[str, dict[str, str]] | None = None
        self._catalog_lock = asyncio.Lock()
        self._busy = 0  # connections checked out by calls in progress

    async def _read_catalog(self) -> None:
        """The store functions' signatures and each API role's own timeouts, read on first use
        and kept, as PostgREST keeps its schema cache until it reloads."""
        async with self._catalog_lock:
            if self._signatures is not None and self._timeouts is not None:
                return
            async with connection(self.pool) as conn:
                await self._reset_session(conn)
                if self._signatures is None:
                    cur = await conn.execute(SIGNATURES_SQL)
                    signatures: dict[str, dict[str, str]] = {}
                    for function, name, type_ in await cur.fetchall():
                        arguments = signatures.setdefault(function, {})
                        if name is not None:  # None: a function without arguments
                            arguments[name] = type_
                    self._signatures = signatures
                if self._timeouts is None:
                    cur = await conn.execute(ROLE_TIMEOUTS_SQL)
                    self._timeouts = role_timeouts(await cur.fetchall())

    async def role_timeouts(self) -> Mapping[str, Mapping[str, str]]:
        """Each API role's own statement_timeout and lock_timeout, as PostgREST applies them."""
        if self._timeouts is None:
            await self._read_catalog()
        assert self._timeouts is not None
        return self._timeouts

    async def signatures(self) -> Mapping[str, Mapping[str, str]]:
        """Argument names and types of every function in the public schema, from pg_proc."""
        if self._signatures is None:
            await self._read_catalog()
        assert self._signatures is not None
        return self._signatures

    async def statement(self, function: str, names: tuple[str, ...]) -> tuple[bytes, tuple[int, ...]]:
        """`select public.<fn>(name => $n::type, ...)::text`, rendered once per argument set,
        and the positions of its jsonb arguments. The casts pick the declared overload whatever
        type psycopg would infer for a Python value."""
        key = (function, names)
        found = self._statements.get(key)
        if found is not None:
            return found
        signatures = self._signatures if self._signatures is not None else await self.signatures()
        types = signatures.get(function)
        if types is None or not set(names) <= types.keys():
            # A migration may have added it since the catalog was read: read it again, once.
            self._signatures = None
            types = (await self.signatures()).get(function)
            if types is None or not set(names) <= types.keys():
                raise StoreError(f"unknown store function or argument: {function}{names}")
        args = sql.SQL(", ").join(
            sql.SQL("{} => {}::{}").format(sql.Identifier(n), sql.Placeholder(), sql.SQL(types[n]))
            for n in names
        )
        stmt = sql.SQL("select public.{}({})::text").format(sql.Identifier(function), args).as_bytes()
        found = self._statements[key] = (stmt, tuple(i for i, n in enumerate(names) if types[n] == "jsonb"))
        return found

    async def call(
        self, function: str, args: Mapping[str, Any], principal: Principal, *, retry: bool = False
    ) -> bytes:
        """`retry`: the call may run twice to the same effect (a read, or an append under an
        idempotency key); see run(). The function's JSON as the server sent it."""
        try:
            stmt, jsonb = await self.statement(function, tuple(args))
        except psycopg.Error as exc:
            raise self._domain_error(exc) from exc
        params = list(args.values())
        for i in jsonb:
            params[i] = Jsonb(params[i])
        conversation_id = args.get("p_conversation_id")
        if isinstance(conversation_id, str):
            async with self.lanes.lane(self.lane_key(principal, conversation_id)):
                result = await self._attempts(stmt, params, principal, retry)
        else:
            result = await self._attempts(stmt, params, principal, retry)
        value = result.get_value(0, 0) if result.ntuples else None
        if value is None:
            raise StoreError(f"{function} returned nothing")
        return value

    @staticmethod
    def lane_key(principal: Principal, conversation_id: str) -> tuple[str | None, str]:
        """The lane of a call: the caller's (a user's `sub`, or the service's none) in that
        conversation. Keyed by the caller too, since the lane is taken before the database
        checks that the caller may touch the conversation (app.store.lanes)."""
        return (principal.claims.get("sub"), conversation_id)

    async def run(
        self, stmt: bytes, params: list[Any], principal: Principal, *, retry: bool = False
    ) -> tuple[Any, ...] | None:
        """One statement as `principal`, in one transaction and one round trip; its first row
        (loaded by psycopg), or None. `stmt`: a select of expressions, without FROM or WHERE
        (the gate is appended), with psycopg's placeholders.

        A connection the server closed while it sat idle is never used (app.db.connection).
        One that breaks between that test and the answer (a restart
        racing the call) may or may not have run the statement: with `retry` the statement is
        sent once more on another connection, which is safe only for a call that may run twice
        to the same effect."""
        result = await self._attempts(stmt, params, principal, retry)
        if not result.ntuples:
            return None
        transformer = Transformer()
        transformer.set_pgresult(result)
        row: tuple[Any, ...] = transformer.load_row(0, tuple)
        return row

    async def _attempts(
        self, stmt: bytes, params: list[Any], principal: Principal, retry: bool
    ) -> pq.abc.PGresult:
        for attempt in (1, 2):
            try:
                return await self._round_trip(stmt, params, principal)
            except psycopg.Error as exc:
                if retry and attempt == 1 and _connection_lost(exc):
                    continue
                raise self._domain_error(exc) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    async def _round_trip(self, stmt: bytes, params: list[Any], principal: Principal) -> pq.abc.PGresult:
        """The call's result (its rows, none when it returned none)."""
        timeouts = self._timeouts if self._timeouts is not None else await self.role_timeouts()
        own = timeouts.get(principal.role, {})
        context: _Context = (principal.role, principal.claims_json, *map(own.get, TIMEOUT_SETTINGS))
        gated_params = [*params, *_gate_values(principal)]
        conn = await checkout(self.pool)
        self._busy += 1
        session = _session_of(conn)
        try:
            if self.protocol == "simple":
                simple = psycopg.AsyncClientCursor(conn)
                await simple.execute(_LOCAL_CONTEXT + b"; " + stmt + _GATE, [*context, *gated_params])
                simple.nextset()
                assert simple.pgresult is not None
                return simple.pgresult
            gated = self._gated.get(stmt)
            if gated is None:
                gated = self._gated[stmt] = numbered(stmt + _GATE)
            values = session.dump(gated_params)
            if self._keeps_context and session.context == context:
                try:
                    found: pq.abc.PGresult | None = await self._exchange(conn, session, gated, values)
                except psycopg.errors.InvalidSqlStatementName:
                    session.forget()  # nothing ran: send it again, with the context
                    found = None
                if found is not None and found.ntuples:
                    return found
                # The gate held: the session lost the context it had (see the module docstring).
                session.context = None
            try:
                result = await self._exchange(conn, session, gated, values, context)
            except psycopg.errors.InvalidSqlStatementName:
                session.forget()  # nothing ran (one transaction): send it unnamed
                result = await self._exchange(conn, session, gated, values, context)
            session.context = context if self._keeps_context else None
            return result
        except BaseException:
            session.context = None  # rolled back, or unknown: set it again next time
            raise
        finally:
            self._busy -= 1
            await self.pool.putconn(conn)

    async def _exchange(
        self,
        conn: psycopg.AsyncConnection[Any],
        session: _Session,
        gated: bytes,
        values: list[bytes | None],
        context: _Context | None = None,
    ) -> pq.abc.PGresult:
        """One round trip: the context's statement (when given), the call's Parse (when it is
        to be prepared now), the gated call, one Sync: one implicit transaction, so a failing
        call takes the context with it. Pipeline mode only when there is more than the call."""
        pgconn, encoding = conn.pgconn, session.encoding
        name, prepare = session.name(conn, gated)
        if context is None and not prepare:
            if name is None:
                pgconn.send_query_params(gated, values)
            else:
                pgconn.send_query_prepared(name, values)
            return _checked(await conn.wait(generators.execute(pgconn)), encoding)
        pgconn.enter_pipeline_mode()
        try:
            if context is not None:
                pgconn.send_query_params(
                    _NUMBERED_CONTEXT[self._keeps_context],
                    [None if v is None else v.encode() for v in context],
                )
            if name is not None and prepare:
                pgconn.send_prepare(name, gated)
            if name is None:
                pgconn.send_query_params(gated, values)
            else:
                pgconn.send_query_prepared(name, values)
            pgconn.pipeline_sync()
            await conn.wait(generators.send(pgconn))
            results: list[list[pq.abc.PGresult]] = []
            while True:  # one list of results per statement, then the Sync's
                found = await conn.wait(generators.fetch_many(pgconn))
                if found and found[0].status == _PIPELINE_SYNC:
                    break
                results.append(found)
        finally:
            try:
                pgconn.exit_pipeline_mode()
            except psycopg.OperationalError:
                await conn.close()  # results left unread: the pool replaces the connection
        if name is not None and prepare and results[-2] and results[-2][-1].status == _COMMAND_OK:
            session.names[gated] = name  # prepared, whatever the call did
        for found in results:
            call = _checked(found, encoding)  # the first error is the cause; the rest aborted
        return call

    async def _reset_session(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """The login role's own session for the transport's catalog reads. A connection the
        transport used may hold a context even when none is trusted (a failed call's rollback
        restores the one before it)."""
        session = _sessions.get(conn)
        if session is not None:  # a store transport used it
            session.context = None
            await conn.execute(b"reset all")

    def _domain_error(self, exc: psycopg.Error) -> StoreError:
        """SQLSTATE first (a statement timeout is an OperationalError too); then what psycopg
        raises without one: NUL bytes refused client-side, a pool whose every connection is
        busy (this instance is overloaded), lost connections and a database that cannot be
        reached (it is down)."""
        if exc.sqlstate:
            return error_for_sqlstate(
                exc.sqlstate, exc.diag.message_primary or str(exc), exc.diag.message_detail
            )
        if isinstance(exc, psycopg.DataError):
            return InvalidInputError(str(exc), sqlstate="22021")
        if isinstance(exc, PoolTimeout) and self._busy >= self.pool.max_size:
            return PoolExhaustedError(
                f"all {self.pool.max_size} database connections stayed busy for {self.pool.timeout:g} s"
            )
        if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
            return UnavailableError(f"database unavailable: {exc}")
        return StoreError(str(exc))

    async def close(self) -> None:
        """Nothing of its own to release: the pool belongs to whoever opened it (the app)."""


def _connection_lost(exc: psycopg.Error) -> bool:
    """The connection broke under the call (closed by the server, or the server shut down),
    as opposed to the statement failing or the pool having no connection to give."""
    if isinstance(exc, PoolTimeout) or not isinstance(exc, psycopg.OperationalError):
        return False
    return exc.sqlstate is None or exc.sqlstate.startswith("08") or exc.sqlstate in _SHUTDOWN
