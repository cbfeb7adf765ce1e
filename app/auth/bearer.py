"""Bearer authentication: `Authorization: Bearer <token>` to the request's Principal, on every
route but the public ones (health, metrics, the OpenAPI description, the web client's files).

The API's one middleware (app.entry) asks `BearerAuth` whether a request needs a principal
and which, and keeps it in `scope["user"]` (`request.user`) and the token in `scope["auth"]`,
where Litestar's own authentication middleware kept them."""

from __future__ import annotations

import re
from collections.abc import Sequence

from litestar.exceptions import NotAuthorizedException
from litestar.types import Scope

from app.auth.loopback import arrived_on_loopback
from app.auth.tokens import AuthError, TokenVerifier
from app.store.transport import Principal

__all__ = ["EXCLUDE_FROM_AUTH", "BearerAuth", "unauthorized"]

REALM = "conversations"
# The route option that makes a route public (Litestar's name for it).
EXCLUDE_FROM_AUTH = "exclude_from_auth"


def unauthorized(message: str, error: str | None = None) -> NotAuthorizedException:
    """A 401 with the RFC 6750 challenge."""
    challenge = f'Bearer realm="{REALM}"'
    if error:
        description = "".join(c for c in message if c.isprintable() and c not in '"\\')[:200]
        challenge += f', error="{error}", error_description="{description}"'
    return NotAuthorizedException(message, headers={"WWW-Authenticate": challenge})


class BearerAuth:
    """Sets the request's principal. Without a token, `anonymous` acts (API_AUTH=disabled:
    the service) or the request is refused with 401. `exclude`: path patterns (regular
    expressions) that need no principal, as are routes whose `opt` sets EXCLUDE_FROM_AUTH
    and CORS preflights (OPTIONS), the exclusions of Litestar's authentication middleware."""

    __slots__ = ("anonymous", "exclude", "verifier")

    def __init__(
        self, verifier: TokenVerifier, anonymous: Principal | None = None, exclude: Sequence[str] = ()
    ) -> None:
        self.verifier = verifier
        self.anonymous = anonymous
        self.exclude = re.compile("|".join(exclude)) if exclude else None

    def required(self, scope: Scope) -> bool:
        """Whether the request needs a principal (see the class docstring)."""
        if scope.get("method") == "OPTIONS":
            return False
        handler = scope.get("route_handler")
        if handler is not None and handler.opt.get(EXCLUDE_FROM_AUTH):
            return False
        if self.exclude is None:
            return True
        # A mounted app (static files) sees its own path: the request's is the raw one.
        path = scope["raw_path"].decode() if getattr(handler, "is_mount", False) else scope["path"]
        return self.exclude.search(path) is None

    async def principal_for(self, scope: Scope) -> tuple[Principal, str | None]:
        """The principal and its token; raises the 401 otherwise."""
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
