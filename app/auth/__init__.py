"""Authentication: bearer tokens (service role key, Supabase user JWTs) to store principals."""

from __future__ import annotations

from app.auth.bearer import EXCLUDE_FROM_AUTH, BearerAuth
from app.auth.guards import requires_service
from app.auth.loopback import arrived_on_loopback, is_loopback
from app.auth.tokens import AuthError, JWKSCache, TokenVerifier, jwks_url_for

__all__ = [
    "EXCLUDE_FROM_AUTH",
    "AuthError",
    "BearerAuth",
    "JWKSCache",
    "TokenVerifier",
    "arrived_on_loopback",
    "check_auth_mode",
    "is_loopback",
    "jwks_url_for",
    "requires_service",
]


def check_auth_mode(auth: str, host: str) -> None:
    """Refuse API_AUTH=disabled (anonymous requests act as the service) on any address but
    loopback. Call it with the address actually bound."""
    if auth == "disabled" and not is_loopback(host):
        raise RuntimeError(
            f"API_AUTH=disabled lets anonymous requests act as the service and is allowed only on a "
            f"loopback address (127.0.0.1, ::1, localhost); API_HOST is {host!r}. "
            f"Bind to 127.0.0.1 or unset API_AUTH."
        )
