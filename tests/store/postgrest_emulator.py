"""PostgREST's RPC endpoint, emulated over the real local database for the contract tests.

A respx route answers `POST {SUPABASE_URL}/rest/v1/rpc/<fn>` the way PostgREST does: it verifies
the bearer token (HS256; no token means the anonymous role), finds the function in the catalog
by its name and the body's argument names (PGRST202 otherwise), runs it in one transaction after
`set_config('role' | 'request.jwt.claims' | 'statement_timeout', ..., true)` with the arguments
read from the JSON body by `json_to_record` (PostgREST's own approach, so NUL escapes fail in the
database as they do there), and answers the result as JSON, or an error body
`{code, message, details, hint}` with the HTTP status of PostgREST's documented SQLSTATE table
(docs/references/errors.rst).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import psycopg
import respx
from psycopg import sql
from psycopg_pool import AsyncConnectionPool

from app.store.postgres import ROLE_TIMEOUTS_SQL, TIMEOUT_SETTINGS, role_timeouts

__all__ = ["PostgrestEmulator", "status_for_sqlstate"]

_CONTEXT = (
    "select set_config('role', %s, true), set_config('request.jwt.claims', %s, true),"
    " set_config('statement_timeout', %s, true), set_config('lock_timeout', %s, true)"
)
_FUNCTION = """
select coalesce(p.proargnames, '{}'), p.proargtypes::regtype[]::text[], p.pronargdefaults
  from pg_proc p
 where p.pronamespace = 'public'::regnamespace and p.proname = %s and p.prokind = 'f'
"""
_EXACT = {
    "23503": 409, "23505": 409, "25006": 405, "53400": 500, "P0001": 400,
    "42883": 404, "42P01": 404, "42P17": 500,
}  # fmt: skip
_CLASSES = {
    "08": 503, "09": 500, "0L": 403, "0P": 403, "25": 500, "28": 403, "2D": 500, "38": 500,
    "39": 500, "3B": 500, "40": 500, "53": 503, "54": 500, "55": 500, "57": 500, "58": 500,
    "F0": 500, "HV": 500, "P0": 500, "XX": 500,
}  # fmt: skip


def status_for_sqlstate(sqlstate: str, role: str) -> int:
    """PostgREST's HTTP status for a database error."""
    if sqlstate == "42501":
        return 401 if role == "anon" else 403
    if sqlstate.startswith("PT") and sqlstate[2:].isdigit():
        return int(sqlstate[2:])
    return _EXACT.get(sqlstate) or _CLASSES.get(sqlstate[:2], 400)


def _error(
    status: int, code: str | None, message: str, details: Any = None, hint: Any = None
) -> httpx.Response:
    body = {"code": code, "details": details, "hint": hint, "message": message}
    return httpx.Response(status, json=body)


@dataclass(frozen=True)
class _Function:
    args: dict[str, str]  # name -> type, in declaration order
    required: frozenset[str]


class PostgrestEmulator:
    """Answers RPC requests by running them on the database behind `pool` (login role postgres)."""

    def __init__(self, pool: AsyncConnectionPool, jwt_secret: str) -> None:
        self.pool = pool
        self.jwt_secret = jwt_secret
        self.requests: list[httpx.Request] = []
        self._functions: dict[str, _Function | None] = {}
        self._timeouts: dict[str, dict[str, str]] | None = None

    def router(self, base_url: str) -> respx.Router:
        router = respx.Router(base_url=base_url, assert_all_called=False)
        router.post(path__regex=r"^/rest/v1/rpc/(?P<fn>[A-Za-z0-9_]+)$", name="rpc").mock(
            side_effect=self.handle
        )
        return router

    async def handle(self, request: httpx.Request, fn: str) -> httpx.Response:
        self.requests.append(request)
        if "apikey" not in request.headers:
            return httpx.Response(401, json={"message": "No API key found in request"})
        claims: dict[str, Any] = {"role": "anon"}
        if auth := request.headers.get("authorization"):
            scheme, _, token = auth.partition(" ")
            try:
                if scheme.lower() != "bearer":
                    raise jwt.InvalidTokenError("not a bearer token")
                claims = jwt.decode(
                    token, self.jwt_secret, algorithms=["HS256"], options={"verify_aud": False}
                )
            except jwt.ExpiredSignatureError:
                return _error(401, "PGRST303", "JWT expired")
            except jwt.InvalidTokenError as exc:
                return _error(401, "PGRST301", f"JWSError {exc}")
        role = str(claims.get("role", "anon"))
        try:
            body = json.loads(request.content or b"{}")
        except ValueError as exc:
            return _error(400, "PGRST102", "Empty or invalid json", str(exc))
        if not isinstance(body, dict):
            return _error(400, "PGRST102", "the body must be a JSON object")
        function = await self._function(fn)
        if function is None or not set(body) <= function.args.keys() or not function.required <= set(body):
            return _error(
                404,
                "PGRST202",
                f"Could not find the function public.{fn}({', '.join(sorted(body))}) in the schema cache",
                hint="Perhaps you meant to call another function",
            )
        try:
            text = await self._run(fn, function, request.content.decode() or "{}", body, role, claims)
        except psycopg.Error as exc:
            if exc.sqlstate is None:
                raise
            return _error(
                status_for_sqlstate(exc.sqlstate, role),
                exc.sqlstate,
                exc.diag.message_primary or str(exc),
                exc.diag.message_detail,
                exc.diag.message_hint,
            )
        return httpx.Response(200, content=text.encode(), headers={"content-type": "application/json"})

    async def _run(
        self,
        fn: str,
        function: _Function,
        payload: str,
        body: dict[str, Any],
        role: str,
        claims: dict[str, Any],
    ) -> str:
        names = [n for n in function.args if n in body]
        call = sql.SQL("public.{}({})").format(
            sql.Identifier(fn),
            sql.SQL(", ").join(sql.SQL("{0} => _.{0}").format(sql.Identifier(n)) for n in names),
        )
        if names:
            columns = sql.SQL(", ").join(
                sql.SQL("{} {}").format(sql.Identifier(n), sql.SQL(function.args[n])) for n in names
            )
            stmt = sql.SQL("select to_json({})::text from json_to_record(%s::json) as _({})").format(
                call, columns
            )
            params: list[Any] = [payload]
        else:
            stmt, params = sql.SQL("select to_json({})::text").format(call), []
        timeouts = await self._role_timeouts()
        async with self.pool.connection() as conn, conn.transaction():
            own = timeouts.get(role, {})
            await conn.execute(_CONTEXT, (role, json.dumps(claims), *(own.get(n) for n in TIMEOUT_SETTINGS)))
            cur = await conn.execute(stmt, params)
            row = await cur.fetchone()
        return str(row[0]) if row and row[0] is not None else "null"

    async def _function(self, fn: str) -> _Function | None:
        if fn not in self._functions:
            async with self.pool.connection() as conn:
                cur = await conn.execute(_FUNCTION, (fn,))
                row = await cur.fetchone()
            if row is None:
                self._functions[fn] = None
            else:
                names, types, defaults = row
                self._functions[fn] = _Function(
                    dict(zip(names, types, strict=True)), frozenset(names[: len(names) - defaults])
                )
        return self._functions[fn]

    async def _role_timeouts(self) -> dict[str, dict[str, str]]:
        if self._timeouts is None:
            async with self.pool.connection() as conn:
                cur = await conn.execute(ROLE_TIMEOUTS_SQL)
                self._timeouts = role_timeouts(await cur.fetchall())
        return self._timeouts
