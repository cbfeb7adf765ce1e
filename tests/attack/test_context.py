"""GET /conversations/{id}/context when the summary covers every message left: the window is
empty, and nothing is left out but what the summary covers (it answered 500 before: the
window's "unsummarized" range was [the summary's own seq, null])."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from tests.api.helpers import SERVICE, Client

Create = Callable[..., Awaitable[dict[str, Any]]]


async def test_a_summary_covering_every_message_left_is_the_whole_context(
    client: Client, create: Create
) -> None:
    cid = (await create(messages=10))["conversation_id"]
    summary = await client.post(
        f"/conversations/{cid}/messages",
        json={
            "role": "system",
            "content": "the first eight messages, summarized",
            "metadata": {"kind": "summary", "covers": [1, 8]},
        },
        headers=SERVICE,
    )
    assert summary.status_code == 201, summary.text
    assert summary.json()["seq"] == 11
    items = await client.get(
        f"/v1/conversations/{cid}/items", params={"order": "desc", "limit": 3}, headers=SERVICE
    )
    assert items.status_code == 200, items.text
    by_seq = {item["id"]: item for item in items.json()["data"]}
    assert len(by_seq) == 3
    # Items 9 and 10 (the two newest but the summary) deleted through /v1.
    for item_id in list(by_seq)[1:]:
        deleted = await client.delete(f"/v1/conversations/{cid}/items/{item_id}", headers=SERVICE)
        assert deleted.status_code == 200, deleted.text

    context = await client.get(
        f"/conversations/{cid}/context", params={"token_budget": 1000}, headers=SERVICE
    )
    assert context.status_code == 200, context.text
    body = context.json()
    assert body["summary"]["seq"] == 11
    assert body["messages"] == []
    assert body["last_seq"] == 8
    assert body["first_seq"] is None
    assert body["left_out"] == {"summarized": [1, 8], "unsummarized": None, "unsummarized_tokens": 0}
    assert body["compaction"]["due"] is False
    assert body["tokens"] == body["summary"]["tokens"]
