"""Bearer tokens to principals: the service role key, or a Supabase access token.

- The configured service role key (SUPABASE_SERVICE_ROLE_KEY, a legacy JWT or an
  `sb_secret_...` key) is compared in constant time and acts as the service.
- Any other token must be a JWT signed by the project: HS256 with the JWT secret, or ES256 /
  RS256 with a key of the project's JWKS (fetched asynchronously with httpx and cached; an
  unknown `kid` refetches it, at most once per `jwks_min_refresh_seconds`). `exp` is required
  (honoured to within `JWT_LEEWAY_SECONDS`); `iat` and `nbf` may be up to
  `JWT_CLOCK_SKEW_SECONDS` (30) in the future, as PostgREST allows, since the issuer's clock may
  run a little ahead of this server's; `exp`, `nbf` and `iat` must be JSON numbers (RFC 7519
  NumericDate: pyjwt alone accepts `"exp": "9999999999"`); `alg: none` and every other
  algorithm are refused. A verified token whose `role` is `service_role` (Supabase's legacy
  service key) acts as the service; one whose role is `authenticated`, with the configured
  audience and a UUID `sub`, acts as that user.
- Verified tokens are remembered for a short while (never past their `exp`) so a client
  reusing its token pays for the signature check once, not on every request.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from typing import Any
from uuid import UUID

import httpx
import jwt

from app.auth.loopback import is_loopback
from app.config import LOCAL_JWT_SECRET, Settings
from app.store.errors import UnavailableError
from app.store.transport import SERVICE, Principal

__all__ = [
    "AuthError",
    "JWKSCache",
    "SigningKeysUnavailableError",
    "TokenVerifier",
    "jwks_url_for",
]

log = logging.getLogger("app.auth")

_ASYMMETRIC = frozenset({"ES256", "RS256"})
_NUMERIC_DATES = ("exp", "nbf", "iat")
_TOKEN_CACHE_MAX = 4096


class SigningKeysUnavailableError(UnavailableError):
    """The JWKS endpoint cannot be reached and no keys are cached (a 503: retry later)."""


class AuthError(Exception):
    """The credentials are missing or not acceptable (a 401)."""

    def __init__(self, message: str, *, error: str = "invalid_token") -> None:
        super().__init__(message)
        self.message = message
        self.error = error  # RFC 6750 error code for WWW-Authenticate


def jwks_url_for(settings: Settings) -> str | None:
    """SUPABASE_JWKS_URL, or the project's well-known JWKS when SUPABASE_URL is set."""
    if settings.auth.jwks_url:
        return settings.auth.jwks_url
    if settings.supabase.url:
        return settings.supabase.url.rstrip("/") + "/auth/v1/.well-known/jwks.json"
    return None


class JWKSCache:
    """The project's public signing keys, fetched without blocking the event loop.

    pyjwt's PyJWKClient fetches with urllib, synchronously: on an event loop that would stall
    every request while the JWKS endpoint answers. This fetches with httpx.AsyncClient, one
    request at a time (concurrent misses wait for the same fetch), and keeps the keys for
    `ttl` seconds; stale keys are kept if a refresh fails.
    """

    def __init__(self, url: str, *, ttl: float, min_refresh: float, timeout: float = 5.0) -> None:
        self.url = url
        self.ttl = ttl
        self.min_refresh = min_refresh
        self.timeout = timeout
        self.fetches = 0
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = float("-inf")
        self._lock = asyncio.Lock()
        self._client: httpx.AsyncClient | None = None

    async def get(self, kid: str) -> jwt.PyJWK:
        now = time.monotonic()
        key = self._keys.get(kid)
        if key is not None and now - self._fetched_at < self.ttl:
            return key
        if key is None and now - self._fetched_at < self.min_refresh:
            raise AuthError("token signed with an unknown key")
        async with self._lock:
            # Another request may have refreshed while this one waited.
            if self._fetched_at < now:
                await self._refresh()
        key = self._keys.get(kid)
        if key is None:
            raise AuthError("token signed with an unknown key")
        return key

    async def _refresh(self) -> None:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.timeout)
        self.fetches += 1
        try:
            response = await self._client.get(self.url, headers={"Accept": "application/json"})
            response.raise_for_status()
            document = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("JWKS fetch from %s failed: %s", self.url, exc)
            if self._keys:
                self._fetched_at = time.monotonic() - self.ttl + self.min_refresh  # retry soon
                return
            raise SigningKeysUnavailableError("the project's signing keys cannot be fetched") from exc
        keys: dict[str, jwt.PyJWK] = {}
        for data in document.get("keys", []) if isinstance(document, dict) else []:
            if not isinstance(data, dict) or not isinstance(data.get("kid"), str):
                continue
            if data.get("use", "sig") != "sig":
                continue
            try:
                key = jwt.PyJWK(data)
            except jwt.PyJWTError as exc:
                log.warning("JWKS key %s skipped: %s", data.get("kid"), exc)
                continue
            if key.algorithm_name in _ASYMMETRIC:  # never a symmetric key from a URL
                keys[data["kid"]] = key
        self._keys = keys
        self._fetched_at = time.monotonic()

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


class TokenVerifier:
    """Turns a bearer token into a Principal, or raises AuthError."""

    def __init__(self, settings: Settings) -> None:
        key = settings.supabase.service_role_key
        self._service_key = key.encode() if key else None
        secret = settings.auth.jwt_secret
        if secret == LOCAL_JWT_SECRET and not is_loopback(settings.server.host):
            # The CLI's local secret is public: anyone could mint a service token with it.
            log.warning(
                "SUPABASE_JWT_SECRET is the Supabase CLI's public local secret and the API is not "
                "bound to loopback: HS256 tokens are refused. Set the project's JWT secret."
            )
            secret = ""
        self._secret = secret or None
        self._audience = settings.auth.audience
        self._leeway = settings.auth.leeway_seconds
        self._clock_skew = settings.auth.clock_skew_seconds
        self._cache_seconds = settings.auth.token_cache_seconds
        url = jwks_url_for(settings)
        self.jwks = (
            JWKSCache(
                url,
                ttl=settings.auth.jwks_cache_seconds,
                min_refresh=settings.auth.jwks_min_refresh_seconds,
            )
            if url
            else None
        )
        self._cache: dict[str, tuple[Principal, float]] = {}

    async def verify(self, token: str) -> Principal:
        cached = self._cache.get(token)
        if cached is not None:
            if time.time() < cached[1]:
                return cached[0]
            del self._cache[token]
        if self._service_key is not None and hmac.compare_digest(token.encode(), self._service_key):
            return SERVICE
        claims = await self._decode(token)
        principal = self._principal(claims, token)
        if self._cache_seconds:
            if len(self._cache) >= _TOKEN_CACHE_MAX:
                self._cache.clear()
            self._cache[token] = (principal, min(float(claims["exp"]), time.time() + self._cache_seconds))
        return principal

    async def _decode(self, token: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise AuthError("malformed token") from exc
        alg = header.get("alg")
        key: Any
        if alg == "HS256":
            if self._secret is None:
                raise AuthError("HS256 tokens are not accepted")
            key = self._secret
        elif alg in _ASYMMETRIC:
            kid = header.get("kid")
            if self.jwks is None or not isinstance(kid, str):
                raise AuthError("asymmetric tokens need a key id and a configured JWKS")
            jwk = await self.jwks.get(kid)
            if jwk.algorithm_name != alg:
                raise AuthError("token algorithm does not match its key")
            key = jwk.key
        else:
            raise AuthError("token algorithm is not accepted (HS256, ES256 or RS256)")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[alg],
                # iat and nbf: checked below, with the clock skew (pyjwt has one leeway for all).
                options={"require": ["exp"], "verify_aud": False, "verify_iat": False, "verify_nbf": False},
                leeway=self._leeway,
            )
        except jwt.ExpiredSignatureError as exc:
            raise AuthError("token expired") from exc
        except jwt.MissingRequiredClaimError as exc:
            raise AuthError(f"token lacks the {exc.claim} claim") from exc
        except jwt.InvalidSignatureError as exc:
            raise AuthError("token signature is invalid") from exc
        except jwt.PyJWTError as exc:
            raise AuthError("invalid token") from exc
        for name in _NUMERIC_DATES:
            value = claims.get(name)
            if name in claims and (isinstance(value, bool) or not isinstance(value, int | float)):
                raise AuthError(f"token {name} claim is not a NumericDate (a JSON number)")
        latest = time.time() + self._clock_skew
        if claims.get("nbf", 0) > latest:
            raise AuthError("token not yet valid")
        if claims.get("iat", 0) > latest:
            raise AuthError("token issued in the future")
        return claims

    def _principal(self, claims: dict[str, Any], token: str) -> Principal:
        role = claims.get("role")
        if role == "service_role":
            return Principal("service_role", claims, token)
        if role != "authenticated":
            raise AuthError("token is neither a user's access token nor the service role key")
        aud = claims.get("aud")
        if not (aud == self._audience or (isinstance(aud, list) and self._audience in aud)):
            raise AuthError("token audience is not accepted")
        sub = claims.get("sub")
        try:
            user_id = UUID(sub) if isinstance(sub, str) else None
        except ValueError:
            user_id = None
        if user_id is None:
            raise AuthError("token subject is not a user id")
        return Principal.user(user_id, claims, token)

    async def close(self) -> None:
        if self.jwks is not None:
            await self.jwks.close()
