"""Bytes that are not UTF-8 inside a JSON body: 400 in the one error shape, nothing stored."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from tests.api.helpers import SERVICE, Client, new_id

JSON = {**SERVICE, "Content-Type": "application/json"}
Create = Callable[..., Awaitable[dict[str, Any]]]


def assert_not_utf8(response: Any) -> None:
    assert response.status_code == 400, response.text
    body = response.json()
    assert set(body) == {"error", "message", "details"}
    assert body["error"] == "bad_request"
    assert "not valid UTF-8" in body["message"]


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b'{"conversation_id": "%s", "metadata": {"k": "\xff"}}', id="metadata-value"),
        pytest.param(b'{"conversation_id": "%s", "metadata": {"\xc3": 1}}', id="metadata-key"),
        pytest.param(b'{"conversation_id": "%s", "metadata": {"k": "\\u0000\xff"}}', id="with-nul-escape"),
    ],
)
async def test_create_refuses_invalid_utf8(client: Client, admin: Any, raw: bytes) -> None:
    cid = new_id("utf8")
    assert_not_utf8(await client.post("/conversations", content=raw % cid.encode(), headers=JSON))
    row = await (
        await admin.execute("select 1 from public.ai_conversations where conversation_id = %s", (cid,))
    ).fetchone()
    assert row is None


async def test_append_chat_and_import_refuse_invalid_utf8(client: Client, create: Create, admin: Any) -> None:
    cid = str((await create())["conversation_id"])
    bad = b'{"role": "user", "content": "caf\xe9"}'
    assert_not_utf8(await client.post(f"/conversations/{cid}/messages", content=bad, headers=JSON))
    chat = b'{"conversation_id": "%s", "message": "hi", "metadata": {"m": "\xff\xfe"}}' % cid.encode()
    assert_not_utf8(await client.post("/chat", content=chat, headers=JSON))
    imported = new_id("utf8-import")
    document = b'{"conversation_id": "%s", "metadata": {"k": "\xff"}, "messages": []}' % imported.encode()
    assert_not_utf8(await client.post("/conversations/import", content=document, headers=JSON))
    assert_not_utf8(await client.post(f"/conversations/{cid}/extend", content=b'{"\xff": 2}', headers=JSON))
    count = await (
        await admin.execute(
            "select count(*) from public.ai_conversation_messages where conversation_id = %s",
            (cid,),
        )
    ).fetchone()
    assert count == (0,)
    gone = await (
        await admin.execute("select 1 from public.ai_conversations where conversation_id = %s", (imported,))
    ).fetchone()
    assert gone is None
