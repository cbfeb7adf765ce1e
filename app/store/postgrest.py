"""The PostgREST transport: supabase-py's AsyncClient `rpc()` against a Supabase project.

PostgREST sets the security context itself from the bearer token (role, claims, the role's
statement_timeout), so the transport only chooses the credentials:

- the service calls with the service key as `apikey` and `Authorization: Bearer <key>`, the
  headers supabase-py's client already carries;
- a user's call forwards the user's own access token (`apikey` = the anon key, or the service
  key when none is configured) through a postgrest client made for that call, which shares
  the HTTP connection pool but owns its headers: concurrent requests never see each other's
  token, and the shared client is never mutated.

Failures become the store's domain errors: the `code` of PostgREST's `{code, message, details,
hint}` body is a SQLSTATE for database errors (mapped like the Postgres transport maps them) or
a `PGRSTxxx` code of PostgREST's own; bodies that are not PostgREST's (a gateway's 502/503/504)
and network failures mean the service is unavailable.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
import msgspec
from postgrest import APIError, AsyncPostgrestClient
from supabase import AsyncClient, AsyncClientOptions

from app.config import SupabaseSettings
from app.store.errors import (
    AuthenticationError,
    StoreError,
    UnavailableError,
    error_for_sqlstate,
)
from app.store.transport import Principal

__all__ = ["DEFAULT_TIMEOUT", "PostgrestTransport"]

# Longer than any API role's statement_timeout (authenticated: 8 s), so the database's own
# timeout answers first, with its error.
DEFAULT_TIMEOUT = httpx.Timeout(15.0, connect=5.0)

# PGRST000-002: PostgREST cannot reach the database; PGRST003: no pool connection in time.
_UNAVAILABLE_CODES = frozenset({"PGRST000", "PGRST001", "PGRST002", "PGRST003"})
# PGRST301: the JWT does not verify; PGRST302: no token and no anonymous role;
# PGRST303: the claims do not validate (expired, wrong audience).
_AUTHENTICATION_CODES = frozenset({"PGRST301", "PGRST302", "PGRST303"})
# Statuses of answers without a PostgREST body (postgrest-py then puts the status in `code`):
# rate limited, and gateway errors (520-599: Cloudflare's origin errors, checked by range).
_UNAVAILABLE_STATUSES = frozenset({"429", "502", "503", "504"})


class PostgrestTransport:
    """Store calls through Supabase's Data API (PostgREST) with supabase-py."""

    def __init__(self, client: AsyncClient, *, user_api_key: str | None = None) -> None:
        self.client = client
        self.user_api_key = user_api_key or client.supabase_key

    @classmethod
    def from_settings(
        cls, settings: SupabaseSettings, http_client: httpx.AsyncClient | None = None
    ) -> PostgrestTransport:
        """A transport for the configured project. The HTTP client (created here unless given)
        carries the timeouts and the connection pool every call shares."""
        if not (settings.url and settings.service_role_key):
            raise ValueError("SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY are required")
        http = http_client or httpx.AsyncClient(timeout=DEFAULT_TIMEOUT, follow_redirects=True, http2=True)
        options = AsyncClientOptions(httpx_client=http, auto_refresh_token=False, persist_session=False)
        # AsyncClient() rather than acreate_client(): the latter only restores a signed-in
        # session from storage, which a server-side service client never has.
        client = AsyncClient(settings.url, settings.service_role_key, options)
        return cls(client, user_api_key=settings.anon_key)

    def _rest(self, principal: Principal) -> AsyncPostgrestClient:
        shared = self.client.postgrest
        if principal.is_service:
            return shared
        if not principal.token:
            raise StoreError("a user's call over PostgREST needs the user's access token")
        rest = AsyncPostgrestClient(
            str(shared.base_url),
            schema=self.client.options.schema,
            http_client=shared.session,
            retry_enabled=shared.retry_enabled,
        )
        rest.headers.update(shared.headers)  # replaces case-insensitively: no duplicate header
        rest.headers["apikey"] = self.user_api_key
        return rest.auth(principal.token)

    async def call(
        self, function: str, args: Mapping[str, Any], principal: Principal, *, retry: bool = False
    ) -> bytes:
        """`retry` changes nothing here: PostgREST holds the database connections (and tests
        them), and supabase-py's own retries (`retry_enabled`) cover the HTTP hop."""
        rest = self._rest(principal)
        try:
            response = await rest.rpc(function, dict(args)).execute()
        except APIError as exc:
            raise _domain_error(exc) from exc
        except httpx.TimeoutException as exc:
            raise UnavailableError(f"PostgREST did not answer in time: {exc!r}") from exc
        except httpx.TransportError as exc:
            raise UnavailableError(f"PostgREST unreachable: {exc!r}") from exc
        # postgrest-py hands back the body text when it is not JSON; no store function
        # returns a bare JSON string, so a str here is a body that was not JSON at all.
        if isinstance(response.data, str):
            raise StoreError(f"{function}: PostgREST answered with a body that is not JSON")
        if response.data is None:
            raise StoreError(f"{function} returned nothing")
        return msgspec.json.encode(response.data)

    async def close(self) -> None:
        """Closes the HTTP connection pool."""
        await self.client.postgrest.session.aclose()


def _domain_error(exc: APIError) -> StoreError:
    code = exc.code or ""
    message = exc.message or "PostgREST request failed"
    if (
        code in _UNAVAILABLE_CODES
        or code in _UNAVAILABLE_STATUSES
        or (len(code) == 3 and "520" <= code <= "599")
    ):
        return UnavailableError(message, details=exc.details, sqlstate=code)
    if code in _AUTHENTICATION_CODES or code == "401":
        return AuthenticationError(message, details=exc.details, sqlstate=code)
    if len(code) == 5 and not code.startswith("PGRST"):
        return error_for_sqlstate(code, message, exc.details)
    # PGRST202 (the function is not in the schema cache: migrations not deployed), PostgREST's
    # other errors and answers that are not PostgREST's: none is the caller's fault.
    return StoreError(message, details=exc.details, sqlstate=code or None)
