"""The authentication middleware: `Authorization: Bearer <token>` to a Principal on every
route but the excluded ones (health, OpenAPI), built once per request and kept in
`scope["user"]` (`request.user`)."""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from litestar.types import ASGIApp, Scope

from app.auth.loopback import arrived_on_loopback
from app.auth.tokens import AuthError, TokenVerifier
from app.store.transport import Principal

__all__ = ["BearerAuthMiddleware", "unauthorized"]

REALM = "conversations"


def unauthorized(message: str, error: str | None = None) -> NotAuthorizedException:
    """A 401 with the RFC 6750 challenge."""
    challenge = f'Bearer realm="{REALM}"'
    if error:
        description = "".join(c for c in message if c.isprintable() and c not in '"\\')[:200]
        challenge += f', error="{error}", error_description="{description}"'
    return NotAuthorizedException(message, headers={"WWW-Authenticate": challenge})


class BearerAuthMiddleware(AbstractAuthenticationMiddleware):
    """Sets the request's principal. Without a token, `anonymous` acts (API_AUTH=disabled:
    the service) or the request is refused with 401.

    Litestar's AbstractAuthenticationMiddleware skips the excluded paths and keeps the
    result in `scope["user"]` (`request.user`) and `scope["auth"]` (the token).
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
