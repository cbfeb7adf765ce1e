"""The app served by uvicorn on a free loopback port, driven by the official openai SDK
(AsyncOpenAI over its own HTTP client): the clients our users use, no mocks of our API."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from openai import AsyncOpenAI

from app.server import create_app
from tests.api.helpers import SERVICE, SERVICE_KEY, make_settings, mint, user_claims
from tests.harness.servers import serve_app

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="session")
async def base_url() -> AsyncIterator[str]:
    """The API (auth required, the offline model) for the session."""
    async with serve_app(create_app(make_settings())) as url:
        yield url


@pytest.fixture
def sdk(base_url: str) -> Callable[[str], AsyncOpenAI]:
    """An SDK client with `api_key` as its bearer token (no retries: each call is one request)."""

    def build(api_key: str) -> AsyncOpenAI:
        return AsyncOpenAI(base_url=f"{base_url}/v1", api_key=api_key, max_retries=0, timeout=20)

    return build


@pytest.fixture
async def service(sdk: Callable[[str], AsyncOpenAI]) -> AsyncIterator[AsyncOpenAI]:
    async with sdk(SERVICE_KEY) as client:
        yield client


def user_key(user_id: uuid.UUID) -> str:
    """A user's Supabase access token, as the SDK's api_key."""
    return mint(user_claims(user_id))


@pytest.fixture
async def alice(sdk: Callable[[str], AsyncOpenAI]) -> AsyncIterator[AsyncOpenAI]:
    async with sdk(user_key(uuid.uuid4())) as client:
        yield client


@pytest.fixture
async def bob(sdk: Callable[[str], AsyncOpenAI]) -> AsyncIterator[AsyncOpenAI]:
    async with sdk(user_key(uuid.uuid4())) as client:
        yield client


@pytest.fixture
async def native(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """The native API of the same server, as the service."""
    async with httpx.AsyncClient(base_url=base_url, headers=SERVICE, timeout=20) as client:
        yield client
