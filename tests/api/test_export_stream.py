"""GET /conversations/{id}/export streams the document one page of messages at a time.

The pages are export_conversation_page calls; with max_page_size lowered to 2 a conversation of
5 messages takes three. The streamed body is the document export_conversation() builds, and
POST /conversations/import takes it back byte for byte.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import psycopg
import pytest

from tests.api.helpers import SERVICE, Client, as_user

Create = Callable[..., Awaitable[dict[str, Any]]]
Admin = psycopg.AsyncConnection[Any]


@pytest.fixture
async def small_pages(admin: Admin) -> AsyncIterator[None]:
    """Pages of two messages (the export's default page is max_page_size messages)."""
    row = await (await admin.execute("select max_page_size from public.ai_conversation_settings")).fetchone()
    assert row is not None
    await admin.execute("update public.ai_conversation_settings set max_page_size = 2")
    try:
        yield
    finally:
        await admin.execute("update public.ai_conversation_settings set max_page_size = %s", (row[0],))


@pytest.mark.usefixtures("small_pages")
async def test_the_streamed_export_is_the_whole_document(
    client: Client, create: Create, admin: Admin
) -> None:
    user = uuid.uuid4()
    cid = (await create(user, messages=5, metadata={"k": "v"}))["conversation_id"]
    response = await client.get(f"/conversations/{cid}/export", headers=as_user(user))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert b"\n" not in response.content  # one JSON line, as the CLI writes it
    row = await (await admin.execute("select public.export_conversation(%s)", (cid,))).fetchone()
    assert row is not None
    assert response.json() == row[0]
    assert [m["seq"] for m in response.json()["messages"]] == [1, 2, 3, 4, 5]


@pytest.mark.usefixtures("small_pages")
async def test_the_streamed_body_imports_as_it_is(client: Client, create: Create) -> None:
    cid = (await create(messages=3))["conversation_id"]
    body = (await client.get(f"/conversations/{cid}/export", headers=SERVICE)).content
    assert (await client.delete(f"/conversations/{cid}", headers=SERVICE)).status_code == 204
    imported = await client.post(
        "/conversations/import", content=body, headers={**SERVICE, "content-type": "application/json"}
    )
    assert imported.status_code == 201, imported.text
    assert imported.json()["message_count"] == 3
    again = (await client.get(f"/conversations/{cid}/export", headers=SERVICE)).json()
    assert [(m["role"], m["content"]) for m in again["messages"]] == [
        (m["role"], m["content"]) for m in json.loads(body)["messages"]
    ]


async def test_an_empty_conversation_exports_no_messages(client: Client, create: Create) -> None:
    cid = (await create())["conversation_id"]
    document = (await client.get(f"/conversations/{cid}/export", headers=SERVICE)).json()
    assert document["messages"] == []
    assert document["conversation_id"] == cid


async def test_an_unknown_or_foreign_conversation_is_404_before_any_byte(
    client: Client, create: Create
) -> None:
    cid = (await create(uuid.uuid4(), messages=1))["conversation_id"]
    for headers in (as_user(uuid.uuid4()), SERVICE):
        target = cid if headers is not SERVICE else "no-such-conversation"
        response = await client.get(f"/conversations/{target}/export", headers=headers)
        assert response.status_code == 404
        assert response.json()["error"] == "not_found"
