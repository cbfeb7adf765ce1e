"""Fixtures for the HTTP API tests: the real app (Postgres transport) on the real local
database, driven by Litestar's AsyncTestClient, with tokens minted in tests/api/helpers.py.

The database is shared with the other suites: every test uses its own ids and never assumes
empty tables.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from app.server import create_app
from tests.api.helpers import SERVICE, Client, api_client, make_settings, new_id


@pytest.fixture(scope="session")
async def client() -> AsyncIterator[Client]:
    """The API with auth required, shared by the tests of the session."""
    async with api_client(create_app(make_settings())) as test_client:
        yield test_client


@pytest.fixture
def app_client() -> Callable[..., Any]:
    """Build a client for an app with other settings: `async with app_client(server={...}) as c`."""

    def build(**groups: dict[str, Any]) -> AsyncTestClient[Litestar]:
        return api_client(create_app(make_settings(**groups)))

    return build


@pytest.fixture
def create(client: Client) -> Callable[..., Awaitable[dict[str, Any]]]:
    """Create a conversation as the service (owned by `user_id`, or anonymous)."""

    async def create_conversation(
        user_id: uuid.UUID | str | None = None, messages: int = 0, **body: Any
    ) -> dict[str, Any]:
        body.setdefault("conversation_id", new_id())
        body.setdefault("ttl_hours", 1)  # leave little behind in the shared database
        if user_id is not None:
            body["user_id"] = str(user_id)
        response = await client.post("/conversations", json=body, headers=SERVICE)
        assert response.status_code == 201, response.text
        conversation: dict[str, Any] = response.json()
        for n in range(messages):
            appended = await client.post(
                f"/conversations/{conversation['conversation_id']}/messages",
                json={"role": "user" if n % 2 == 0 else "assistant", "content": f"message {n + 1}"},
                headers=SERVICE,
            )
            assert appended.status_code == 201, appended.text
        return conversation

    return create_conversation
