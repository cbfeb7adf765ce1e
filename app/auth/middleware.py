"""The authentication middleware: `Authorization: Bearer <token>` to a Principal on every
route but the excluded ones (health, OpenAPI), built once per request and kept in
`scope["user"]` (`request.user`)."""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from litestar.middleware._utils import should_bypass_middleware
from litestar.types import ASGIApp, Receive, Scope, Send

from app.auth.tokens import AuthError, TokenVerifier
from app.store.transport import Principal

__all__ = ["BearerAuthMiddleware", "arrived_on_loopback", "unauthorized"]

REALM = "conversations"


def unauthorized(message: str, error: str | None = None) -> NotAuthorizedException:
    """A 401 with the RFC 6750 challenge."""
    challenge = f'Bearer realm="{REALM}"'
    if error:
        description = "".join(c for c in message if c.isprintable() and c not in '"\\')[:200]
        challenge += f', error="{error}", error_description="{description}"'
    return NotAuthorizedException(message, headers={"WWW-Authenticate": challenge})


@lru_cache(maxsize=64)
def _is_loopback_ip(host: str) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return True  # not an IP: a unix socket path, or an in-process test client
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def arrived_on_loopback(scope: Scope) -> bool:
    """Whether the connection came in on a loopback address (the socket's local address).

    API_AUTH=disabled is refused at startup unless API_HOST is loopback; this also covers a
    bind address given another way (`serve --host 0.0.0.0`): anonymous requests arriving on
    any other interface are not treated as the service.
    """
    server = scope.get("server")
    return not server or _is_loopback_ip(str(server[0]))


class BearerAuthMiddleware(AbstractAuthenticationMiddleware):
    """Sets the request's principal. Without a token, `anonymous` acts (API_AUTH=disabled:
    the service) or the request is refused with 401.

    Reads the Authorization header straight from the ASGI scope (no connection object or
    result allocated per request): this runs on every call of the hot append path.
    """

    __slots__ = ("anonymous", "verifier")

    def __init__(
        self,
        app: ASGIApp,
        verifier: TokenVerifier,
        anonymous: Principal | None = None,
        exclude: str | list[str] | None = None,
    ) -> None:
        super().__init__(app, exclude=exclude)
        self.verifier = verifier
        self.anonymous = anonymous

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not should_bypass_middleware(
            exclude_http_methods=self.exclude_http_methods,
            exclude_opt_key=self.exclude_opt_key,
            exclude_path_pattern=self.exclude,
            scope=scope,
            scopes=self.scopes,
        ):
            scope["user"], scope["auth"] = await self.principal_for(scope)
        await self.app(scope, receive, send)

    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        principal, token = await self.principal_for(connection.scope)
        return AuthenticationResult(principal, token)

    async def principal_for(self, scope: Scope) -> tuple[Principal, str | None]:
        header: bytes | None = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                if header is not None:
                    raise unauthorized("more than one Authorization header", "invalid_request")
                header = value
        if header is None:
            if self.anonymous is not None and arrived_on_loopback(scope):
                return self.anonymous, None
            raise unauthorized("authentication required: send Authorization: Bearer <token>")
        scheme, _, token = header.decode("latin-1").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or " " in token:
            raise unauthorized("malformed Authorization header: expected 'Bearer <token>'", "invalid_request")
        try:
            principal = await self.verifier.verify(token)
        except AuthError as exc:
            raise unauthorized(exc.message, exc.error) from exc
        return principal, token
