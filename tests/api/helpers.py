"""Settings, tokens and ids for the HTTP API tests."""

from __future__ import annotations

import time
import uuid
from typing import Any

import jwt
from litestar import Litestar
from litestar.testing import AsyncTestClient

from app.config import (
    AuthSettings,
    DatabaseSettings,
    LLMSettings,
    RealtimeSettings,
    ServerSettings,
    Settings,
    SupabaseSettings,
)
from tests.conftest import DATABASE_URL

SERVICE_KEY = "sb_secret_api-tests-" + uuid.uuid4().hex
JWT_SECRET = "api-tests-jwt-secret-" + uuid.uuid4().hex
MAX_BODY = 256 * 1024
MAX_IMPORT = 1024 * 1024

Client = AsyncTestClient[Litestar]
# The test client's requests arrive on the address of this name: loopback, as with `make run`.
BASE_URL = "http://127.0.0.1"


def api_client(app: Litestar) -> Client:
    """A test client of `app` (its lifespan runs on entering it)."""
    return AsyncTestClient(app=app, base_url=BASE_URL)


def make_settings(
    *,
    db: dict[str, Any] | None = None,
    server: dict[str, Any] | None = None,
    supabase: dict[str, Any] | None = None,
    auth: dict[str, Any] | None = None,
    llm: LLMSettings | None = None,
    realtime: RealtimeSettings | None = None,
) -> Settings:
    """Settings for a test app; every security-relevant value explicit (not from the env)."""
    settings = Settings()
    settings.db = DatabaseSettings.model_validate(
        {"DATABASE_URL": DATABASE_URL, "DB_POOL_MIN_SIZE": 1, "DB_POOL_MAX_SIZE": 4, **(db or {})}
    )
    settings.server = ServerSettings.model_validate(
        {
            "API_HOST": "127.0.0.1",
            "API_AUTH": "required",
            "API_MAX_BODY_BYTES": MAX_BODY,
            "API_MAX_IMPORT_BYTES": MAX_IMPORT,
            "API_RETRY_AFTER_SECONDS": 1,
            **(server or {}),
        }
    )
    settings.supabase = SupabaseSettings.model_validate(
        {
            "SUPABASE_URL": None,
            "SUPABASE_SERVICE_ROLE_KEY": SERVICE_KEY,
            "SUPABASE_ANON_KEY": None,
            **(supabase or {}),
        }
    )
    settings.auth = AuthSettings.model_validate(
        {
            "SUPABASE_JWT_SECRET": JWT_SECRET,
            "SUPABASE_JWKS_URL": None,
            "JWT_AUDIENCE": "authenticated",
            "JWT_LEEWAY_SECONDS": 0,
            "JWT_CLOCK_SKEW_SECONDS": 30,
            **(auth or {}),
        }
    )
    if llm is not None:
        settings.llm = llm
    if realtime is not None:
        settings.realtime = realtime
    return settings


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


SERVICE = bearer(SERVICE_KEY)


def user_claims(user_id: uuid.UUID | str, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": str(user_id),
        "role": "authenticated",
        "aud": "authenticated",
        "iat": now,
        "exp": now + 3600,
        "email": "someone@example.com",
        "session_id": str(uuid.uuid4()),
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def mint(claims: dict[str, Any], secret: str = JWT_SECRET, **headers: Any) -> str:
    return jwt.encode(claims, secret, algorithm="HS256", headers=headers or None)


def as_user(user_id: uuid.UUID | str, **overrides: Any) -> dict[str, str]:
    """Authorization header of a user's Supabase access token (HS256, the project secret)."""
    return bearer(mint(user_claims(user_id, **overrides)))


def new_id(prefix: str = "api") -> str:
    return f"{prefix}-{uuid.uuid4()}"


async def expire(admin: Any, conversation_id: str) -> None:
    """Make a conversation expired (only a superuser may move expires_at into the past)."""
    await admin.execute(
        "update public.ai_conversations set expires_at = now() - interval '1 second'"
        " where conversation_id = %s",
        (conversation_id,),
    )
