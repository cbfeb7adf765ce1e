"""User access tokens minted on this machine, to try the API as a user where no Auth server runs.

Supabase Auth (GoTrue) signs a session's access token with the project's JWT secret (HS256, the
legacy secret) and these claims: `iss`, `sub` (the user's id), `aud` and `role`
(`authenticated`), `iat`, `exp`, `email`, `phone`, `app_metadata`, `user_metadata`, `aal`,
`amr`, `session_id` and `is_anonymous`. `mint_user_token` writes the same, so the API, RLS
(`auth.uid()`, `auth.jwt()`) and the web client cannot tell it from a real session's token.

Whoever holds the secret can mint a token for anyone; that is harmless only with the Supabase
CLI's public local secret (`LOCAL_JWT_SECRET`), which the API itself refuses off loopback. The
`token` command (app.cli) therefore refuses any other secret unless it is forced.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import jwt

from app.config import LOCAL_JWT_SECRET, Settings

__all__ = [
    "LOCAL_AUTH_URL",
    "MAX_TTL_SECONDS",
    "is_local_secret",
    "issuer_for",
    "mint_user_token",
    "user_token_claims",
]

# Where `supabase start` serves Auth: the `iss` of the tokens it issues.
LOCAL_AUTH_URL = "http://127.0.0.1:54321/auth/v1"
# Supabase Auth's upper bound on an access token's lifetime (JWT expiry limit: one week).
MAX_TTL_SECONDS = 7 * 24 * 3600


def is_local_secret(settings: Settings) -> bool:
    """The JWT secret is the Supabase CLI's public local default (a token signed with it proves
    nothing, so minting one gives nothing away)."""
    return settings.auth.jwt_secret == LOCAL_JWT_SECRET


def issuer_for(settings: Settings) -> str:
    """The `iss` Supabase Auth would write: the project's Auth URL, else the local stack's."""
    if settings.supabase.url:
        return settings.supabase.url.rstrip("/") + "/auth/v1"
    return LOCAL_AUTH_URL


def user_token_claims(
    user_id: uuid.UUID,
    *,
    ttl_seconds: int,
    issuer: str = LOCAL_AUTH_URL,
    email: str | None = None,
    now: int | None = None,
    session_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    """The claims of an access token of `user_id`'s session, as Supabase Auth writes them after
    an email and password sign-in. Raises ValueError for a lifetime outside 1 s .. one week."""
    if not 1 <= ttl_seconds <= MAX_TTL_SECONDS:
        raise ValueError(f"a token lives between 1 second and {MAX_TTL_SECONDS} seconds (one week)")
    issued = int(time.time()) if now is None else now
    return {
        "iss": issuer,
        "sub": str(user_id),
        "aud": "authenticated",
        "exp": issued + ttl_seconds,
        "iat": issued,
        "email": email or "",
        "phone": "",
        "app_metadata": {"provider": "email", "providers": ["email"]},
        "user_metadata": {},
        "role": "authenticated",
        "aal": "aal1",
        "amr": [{"method": "password", "timestamp": issued}],
        "session_id": str(session_id or uuid.uuid4()),
        "is_anonymous": False,
    }


def mint_user_token(secret: str, claims: dict[str, Any]) -> str:
    """`claims` signed with `secret` (HS256, header `{"alg": "HS256", "typ": "JWT"}`, as Supabase
    Auth signs with a project's legacy JWT secret). Raises ValueError without a secret."""
    if not secret:
        raise ValueError("no JWT secret to sign with (SUPABASE_JWT_SECRET is empty)")
    return jwt.encode(claims, secret, algorithm="HS256")
