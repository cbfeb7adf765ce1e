"""Fixtures of the store tests: both transports over the real local database.

`transport` (under the root conftest's `store`) is parametrized over the transports, so every
contract test runs on the Postgres transport (a psycopg pool; in both its protocols, and
through a real transaction pooler, pgbouncer, as behind Supabase's pooler) and on the
PostgREST transport (supabase-py), whose HTTP requests a respx router answers by running
them on the same database (postgrest_emulator.py).

The database is shared with other suites and other sessions: every test makes its own ids and
never assumes empty tables.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import jwt
import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from app.config import LOCAL_JWT_SECRET, DatabaseSettings, SupabaseSettings
from app.db import create_pool
from app.store import ConversationManager, Principal
from app.store.postgres import PostgresTransport
from app.store.postgrest import PostgrestTransport
from app.store.transport import Transport
from tests.store.postgrest_emulator import PostgrestEmulator

SUPABASE_URL = "http://supabase.test"


def sign(claims: dict[str, Any]) -> str:
    return jwt.encode(claims, LOCAL_JWT_SECRET, algorithm="HS256")


SERVICE_KEY = sign({"role": "service_role", "iss": "supabase-demo"})
ANON_KEY = sign({"role": "anon", "iss": "supabase-demo"})


def user_token(user_id: uuid.UUID, *, expires_in: int = 3600) -> str:
    now = int(time.time())
    claims = {"sub": str(user_id), "role": "authenticated", "aud": "authenticated", "iat": now}
    return sign({**claims, "exp": now + expires_in})


def new_user() -> Principal:
    """A user as the API hands it to the store: verified claims plus the token itself."""
    user_id = uuid.uuid4()
    token = user_token(user_id)
    claims = jwt.decode(token, LOCAL_JWT_SECRET, algorithms=["HS256"], audience="authenticated")
    return Principal.user(user_id, claims, token)


def new_id(prefix: str = "st") -> str:
    return f"{prefix}-{uuid.uuid4()}"


def supabase_settings(**overrides: str | None) -> SupabaseSettings:
    values = {
        "SUPABASE_URL": SUPABASE_URL,
        "SUPABASE_SERVICE_ROLE_KEY": SERVICE_KEY,
        "SUPABASE_ANON_KEY": ANON_KEY,
    }
    return SupabaseSettings(**{**values, **overrides})  # type: ignore[arg-type]


@pytest.fixture(scope="session")
async def emulator(pool: AsyncConnectionPool) -> PostgrestEmulator:
    return PostgrestEmulator(pool, LOCAL_JWT_SECRET)


@pytest.fixture(scope="session")
async def postgrest_http(emulator: PostgrestEmulator) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client whose requests the emulator's respx router answers (no global patching)."""
    router = emulator.router(SUPABASE_URL)
    async with httpx.AsyncClient(transport=httpx.MockTransport(router.async_handler)) as client:
        yield client


@pytest.fixture(scope="session")
async def transports(pool: AsyncConnectionPool, postgrest_http: httpx.AsyncClient) -> dict[str, Transport]:
    return {
        "postgres": PostgresTransport(pool),
        "postgres-simple": PostgresTransport(pool, protocol="simple"),
        "postgrest": PostgrestTransport.from_settings(supabase_settings(), http_client=postgrest_http),
    }


@pytest.fixture(scope="session")
async def pooler_transport(pgbouncer_url: str) -> AsyncIterator[Transport]:
    """The Postgres transport over the app's own pool through pgbouncer, configured the way
    Supabase's pooler on port 6543 is used (DB_TRANSACTION_POOLER=true)."""
    settings = DatabaseSettings.model_validate(
        {"DATABASE_URL": pgbouncer_url, "DB_TRANSACTION_POOLER": True, "DB_POOL_MAX_SIZE": 8}
    )
    async with create_pool(settings) as pool:
        yield PostgresTransport(pool, transaction_pooler=True)


@pytest.fixture(params=["postgres", "postgres-simple", "postgrest", "pgbouncer"])
def transport(request: pytest.FixtureRequest, transports: dict[str, Transport]) -> Transport:
    """Each transport in turn, under the root conftest's `store` (the service)."""
    if request.param == "pgbouncer":  # started only when a test asks for it
        pooled: Transport = request.getfixturevalue("pooler_transport")
        return pooled
    return transports[request.param]


@pytest.fixture
def as_user(store: ConversationManager) -> Callable[[Principal], ConversationManager]:
    return store.as_principal


@pytest.fixture
def expire(admin: psycopg.AsyncConnection[Any]) -> Callable[[str], Any]:
    async def expire_conversation(conversation_id: str) -> None:
        await admin.execute(
            "update public.ai_conversations set expires_at = now() - interval '1 second'"
            " where conversation_id = %s",
            (conversation_id,),
        )

    return expire_conversation
