"""The Postgres transport: a psycopg pool and PostgREST's per-request security context.

Each call is one transaction that sets, like PostgREST does, the role, the JWT claims and
the role's statement_timeout (all transaction-local), then calls the function with named
arguments.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from app.store.errors import StoreError, UnavailableError, error_for_sqlstate
from app.store.functions import FUNCTIONS
from app.store.transport import Principal

__all__ = ["PostgresTransport"]

_CONTEXT = (
    "select set_config('role', %s, true), set_config('request.jwt.claims', %s, true),"
    " set_config('statement_timeout', %s, true)"
)
_ROLE_TIMEOUTS = """
select r.rolname, coalesce((
  select split_part(c, '=', 2) from pg_db_role_setting s, unnest(s.setconfig) c
   where s.setrole = r.oid and s.setdatabase = 0 and c like 'statement_timeout=%%'), '0')
  from pg_roles r where r.rolname in ('service_role', 'authenticated', 'anon')
"""


class PostgresTransport:
    """Store calls over a direct connection pool (the embedded default)."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self.pool = pool
        self._sql: dict[tuple[str, tuple[str, ...]], sql.Composed] = {}
        self._timeouts: dict[str, str] | None = None

    async def _role_timeouts(self, conn: psycopg.AsyncConnection[Any]) -> dict[str, str]:
        if self._timeouts is None:
            cur = await conn.execute(_ROLE_TIMEOUTS)
            self._timeouts = {name: value for name, value in await cur.fetchall()}
        return self._timeouts

    def _statement(self, function: str, names: tuple[str, ...]) -> sql.Composed:
        key = (function, names)
        stmt = self._sql.get(key)
        if stmt is None:
            types = FUNCTIONS[function]
            args = sql.SQL(", ").join(
                sql.SQL("{} => {}::{}").format(sql.Identifier(n), sql.Placeholder(), sql.SQL(types[n]))
                for n in names
            )
            stmt = sql.SQL("select public.{}({})::text").format(sql.Identifier(function), args)
            self._sql[key] = stmt
        return stmt

    async def call(self, function: str, args: Mapping[str, Any], principal: Principal) -> str:
        names = tuple(args)
        stmt = self._statement(function, names)
        params = [Jsonb(v) if FUNCTIONS[function][n] == "jsonb" else v for n, v in args.items()]
        try:
            async with self.pool.connection() as conn:
                timeouts = await self._role_timeouts(conn)
                async with conn.transaction():
                    await conn.execute(
                        _CONTEXT, (principal.role, principal.claims_json, timeouts.get(principal.role, "0"))
                    )
                    cur = await conn.execute(stmt, params)
                    row = await cur.fetchone()
        except PoolTimeout as exc:
            raise UnavailableError("no database connection available") from exc
        except psycopg.OperationalError as exc:
            raise UnavailableError(f"database unavailable: {exc}") from exc
        except psycopg.Error as exc:
            # psycopg itself refuses NUL bytes in text (a DataError without SQLSTATE).
            sqlstate = exc.sqlstate or ("22021" if isinstance(exc, psycopg.DataError) else None)
            raise error_for_sqlstate(
                sqlstate, exc.diag.message_primary or str(exc), exc.diag.message_detail
            ) from exc
        if row is None or row[0] is None:
            raise StoreError(f"{function} returned nothing")
        return str(row[0])

    async def close(self) -> None:
        await self.pool.close()
