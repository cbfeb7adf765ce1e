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

Protocol "simple" sends the transaction-local context and the call as one simple-query
message with the values bound client-side (psycopg's ClientCursor): also one implicit
transaction. The values, message content and JWT claims included, become SQL text: they show
in pg_stat_activity and in the server log of every failing call, and nothing is prepared.
`python -m bench.store_transport` measures the variants.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Mapping
from typing import Any, Literal

import psycopg
from psycopg import sql
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
# The role settings the transport applies per call, as PostgREST applies them to the role it
# switches to (a role's own settings only take effect at login, which never happens here).
TIMEOUT_SETTINGS = ("statement_timeout", "lock_timeout")
# admin_shutdown, crash_shutdown, cannot_connect_now: what a restarting server says.
_SHUTDOWN = frozenset({"57P01", "57P02", "57P03"})
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


# role, claims, then the TIMEOUT_SETTINGS values (None: the session's)
_Context = tuple[str | None, ...]


class _Session:
    """What the transport keeps per pooled connection: a cursor (making one per call costs
    more than the call's own Python work) and the context its session holds, if known."""

    __slots__ = ("context", "cursor")

    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self.cursor = conn.cursor()
        self.context: _Context | None = None


def role_timeouts(rows: list[tuple[str, str, str]]) -> dict[str, dict[str, str]]:
    """The rows of ROLE_TIMEOUTS_SQL as {role: {setting: value}}."""
    timeouts: dict[str, dict[str, str]] = {}
    for role, name, value in rows:
        timeouts.setdefault(role, {})[name] = value
    return timeouts


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
        self._sessions: weakref.WeakKeyDictionary[psycopg.AsyncConnection[Any], _Session] = (
            weakref.WeakKeyDictionary()
        )
        self._statements: dict[tuple[str, tuple[str, ...]], bytes] = {}
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

    async def statement(self, function: str, names: tuple[str, ...]) -> tuple[bytes, Mapping[str, str]]:
        """`select public.<fn>(name => $n::type, ...)::text`, rendered once per argument set,
        with the argument types. The casts pick the declared overload whatever type psycopg
        would infer for a Python value."""
        signatures = self._signatures if self._signatures is not None else await self.signatures()
        types = signatures.get(function)
        if types is None or not set(names) <= types.keys():
            # A migration may have added it since the catalog was read: read it again, once.
            self._signatures = None
            types = (await self.signatures()).get(function)
            if types is None or not set(names) <= types.keys():
                raise StoreError(f"unknown store function or argument: {function}{names}")
        key = (function, names)
        stmt = self._statements.get(key)
        if stmt is None:
            args = sql.SQL(", ").join(
                sql.SQL("{} => {}::{}").format(sql.Identifier(n), sql.Placeholder(), sql.SQL(types[n]))
                for n in names
            )
            stmt = sql.SQL("select public.{}({})::text").format(sql.Identifier(function), args).as_bytes()
            self._statements[key] = stmt
        return stmt, types

    async def call(
        self, function: str, args: Mapping[str, Any], principal: Principal, *, retry: bool = False
    ) -> str:
        """`retry`: the call may run twice to the same effect (a read, or an append under an
        idempotency key); see run()."""
        try:
            stmt, types = await self.statement(function, tuple(args))
        except psycopg.Error as exc:
            raise self._domain_error(exc) from exc
        params = [Jsonb(v) if types[n] == "jsonb" else v for n, v in args.items()]
        conversation_id = args.get("p_conversation_id")
        if isinstance(conversation_id, str):
            async with self.lanes.lane(self.lane_key(principal, conversation_id)):
                row = await self.run(stmt, params, principal, retry=retry)
        else:
            row = await self.run(stmt, params, principal, retry=retry)
        if row is None or row[0] is None:
            raise StoreError(f"{function} returned nothing")
        return str(row[0])

    @staticmethod
    def lane_key(principal: Principal, conversation_id: str) -> tuple[str | None, str]:
        """The lane of a call: the caller's (a user's `sub`, or the service's none) in that
        conversation. Keyed by the caller too, since the lane is taken before the database
        checks that the caller may touch the conversation (app.store.lanes)."""
        return (principal.claims.get("sub"), conversation_id)

    async def run(
        self, stmt: bytes, params: list[Any], principal: Principal, *, retry: bool = False
    ) -> tuple[Any, ...] | None:
        """One statement as `principal`, in one transaction and one round trip; the first row.

        A connection the server closed while it sat idle is never used (app.db.connection).
        One that breaks between that test and the answer (a restart
        racing the call) may or may not have run the statement: with `retry` the statement is
        sent once more on another connection, which is safe only for a call that may run twice
        to the same effect."""
        for attempt in (1, 2):
            try:
                return await self._round_trip(stmt, params, principal)
            except psycopg.Error as exc:
                if retry and attempt == 1 and _connection_lost(exc):
                    continue
                raise self._domain_error(exc) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    async def _round_trip(
        self, stmt: bytes, params: list[Any], principal: Principal
    ) -> tuple[Any, ...] | None:
        """`stmt`: a select of expressions, without FROM or WHERE (the gate is appended)."""
        timeouts = self._timeouts if self._timeouts is not None else await self.role_timeouts()
        own = timeouts.get(principal.role, {})
        context: _Context = (principal.role, principal.claims_json, *map(own.get, TIMEOUT_SETTINGS))
        gated = self._gated.get(stmt)
        if gated is None:
            gated = self._gated[stmt] = stmt + _GATE
        gated_params = [*params, principal.role, principal.claims_json]
        conn = await checkout(self.pool)
        self._busy += 1
        session = self._sessions.get(conn)
        if session is None:
            session = self._sessions[conn] = _Session(conn)
        cur = session.cursor
        try:
            if self.protocol == "simple":
                simple = psycopg.AsyncClientCursor(conn)
                await simple.execute(_LOCAL_CONTEXT + b"; " + gated, [*context, *gated_params])
                simple.nextset()
                return await simple.fetchone()
            if session.context == context:
                await cur.execute(gated, gated_params)
                found: tuple[Any, ...] | None = await cur.fetchone()
                if found is not None:
                    return found
                # The gate held: the session lost the context it had (see the module docstring).
                session.context = None
            async with conn.pipeline():  # leaving it sends the Sync and reads both results
                await cur.execute(_SESSION_CONTEXT if self._keeps_context else _LOCAL_CONTEXT, context)
                await cur.execute(gated, gated_params)
            row = await cur.fetchone()
            if self._keeps_context:
                session.context = context
            return row
        except BaseException:
            session.context = None  # rolled back, or unknown: set it again next time
            raise
        finally:
            self._busy -= 1
            await self.pool.putconn(conn)

    async def _reset_session(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """The login role's own session for the transport's catalog reads. A connection the
        transport used may hold a context even when none is trusted (a failed call's rollback
        restores the one before it)."""
        session = self._sessions.get(conn)
        if session is not None:
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
