"""Inputs a browser or an HTML client could be hurt by (issue 22, item 11).

- The conversation ids "." and ".." are refused (422) wherever an id is created: no URL can
  address them (dot segments are normalized away). Before: accepted.
- Search snippets are HTML whose only tags are <mark>: the content around them is escaped, so a
  client rendering the snippet as HTML (what <mark> invites) shows the message's text, never its
  markup. Before: the raw content, `<img src=x onerror=...>` included.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
import pytest

from tests.api.helpers import SERVICE, Client, new_id
from tests.api.test_errors import assert_error

Create = Callable[..., Awaitable[dict[str, Any]]]


@pytest.mark.parametrize("dots", [".", ".."])
async def test_dot_segment_ids_are_refused_wherever_an_id_is_created(
    client: Client, create: Create, admin: psycopg.AsyncConnection[Any], dots: str
) -> None:
    created = await client.post("/conversations", json={"conversation_id": dots}, headers=SERVICE)
    assert_error(created, 422, "validation_error")
    source = (await create(messages=1))["conversation_id"]
    fork = await client.post(
        f"/conversations/{source}/fork", json={"at_seq": 1, "conversation_id": dots}, headers=SERVICE
    )
    assert_error(fork, 422, "validation_error")
    imported = await client.post("/conversations/import", json={"conversation_id": dots}, headers=SERVICE)
    assert_error(imported, 422, "invalid_input")
    # The database's rule, whoever inserts.
    with pytest.raises(psycopg.errors.CheckViolation, match="not_dot_segment"):
        await admin.execute("insert into public.ai_conversations (conversation_id) values (%s)", (dots,))


async def test_ids_with_dots_elsewhere_are_still_fine(client: Client) -> None:
    for cid in (f"a.b.{uuid.uuid4().hex}", f"..{uuid.uuid4().hex}", f".{uuid.uuid4().hex}."):
        created = await client.post(
            "/conversations", json={"conversation_id": cid, "ttl_hours": 1}, headers=SERVICE
        )
        assert created.status_code == 201, created.text
        assert (await client.delete(f"/conversations/{cid}", headers=SERVICE)).status_code == 204


async def test_search_snippets_escape_the_content_around_the_highlights(client: Client) -> None:
    cid = new_id("snip")
    word = f"quetzal{uuid.uuid4().hex[:8]}"
    assert (
        await client.post("/conversations", json={"conversation_id": cid, "ttl_hours": 1}, headers=SERVICE)
    ).status_code == 201
    content = f"<img src=x onerror=alert(1)> the {word} & \"quoted\" and 'single' ok"
    appended = await client.post(
        f"/conversations/{cid}/messages", json={"role": "user", "content": content}, headers=SERVICE
    )
    assert appended.status_code == 201, appended.text
    hits = (await client.get("/search", params={"q": word}, headers=SERVICE)).json()["hits"]
    assert len(hits) == 1
    snippet = hits[0]["snippet"]
    # The words around the highlight as the content has them, escaped (ts_headline chooses the
    # fragment and leaves out what its parser takes for whole tags).
    assert snippet.startswith(
        f"onerror=alert(1)&gt; the <mark>{word}</mark> &amp; &quot;quoted&quot; and &#39;single"
    ), snippet
    outside = snippet.replace(f"<mark>{word}</mark>", "")
    for raw in "<>\"'":
        assert raw not in outside, snippet
    assert (await client.delete(f"/conversations/{cid}", headers=SERVICE)).status_code == 204
