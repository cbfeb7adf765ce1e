"""Export and import are a faithful copy (issue 22, item 3).

An export carries every field of a conversation and its messages: title, tags, pinned, archived,
legal hold, last_seq, each message's id, seq (holes included), idempotency key and timestamps,
and the ratings the exporter may read; the import restores them, so exporting the import gives
the same document back, and a summary's `covers` still names the messages it summarizes. Before:
seqs were renumbered 1..n (a summary covering [6, 7] after a clear could not be imported: 422;
with a hole, it then covered other messages), and title, tags, pinned, archived and legal_hold
were dropped. Imported timestamps are checked like every other write (none in the future,
expires_at within max_ttl_hours, created_at <= updated_at, created_at <= expires_at), and an
export written before these fields existed still imports.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from app.__main__ import main
from tests.api.helpers import SERVICE, Client, as_user, new_id
from tests.api.test_errors import assert_error

Admin = psycopg.AsyncConnection[Any]


async def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json() if response.content else None


async def append(client: Client, cid: str, role: str, content: str, **body: Any) -> dict[str, Any]:
    result: dict[str, Any] = await ok(
        await client.post(
            f"/conversations/{cid}/messages", json={"role": role, "content": content, **body}, headers=SERVICE
        ),
        201,
    )
    return result


async def item_id(client: Client, cid: str, seq: int) -> str:
    items = await ok(await client.get(f"/v1/conversations/{cid}/items?order=asc&limit=100", headers=SERVICE))
    found = [i["id"] for i in items["data"] if i["status"] == "completed"]
    page = await ok(await client.get(f"/conversations/{cid}?limit=100", headers=SERVICE))
    return dict(zip([m["seq"] for m in page["messages"]], found, strict=True))[seq]


async def rich_conversation(client: Client, owner: uuid.UUID) -> str:
    """Every field set: a clear (seqs 1-5 gone), a summary covering [6, 7], a deleted message
    (seq 10: a hole), a custom title, tags, pinned, archived, ratings by the service and by the
    owner, idempotency keys, and a legal hold."""
    cid = new_id("imp")
    await ok(
        await client.post(
            "/conversations",
            json={
                "conversation_id": cid,
                "user_id": str(owner),
                "metadata": {"channel": "web"},
                "ttl_hours": 48,
            },
            headers=SERVICE,
        ),
        201,
    )
    for n in range(1, 6):
        await append(client, cid, "user" if n % 2 else "assistant", f"before the clear {n}")
    await ok(await client.post(f"/conversations/{cid}/clear", headers=SERVICE))
    await append(client, cid, "user", "six", idempotency_key="k-6")
    await append(
        client, cid, "assistant", "seven", metadata={"model": "m-1", "tokens": {"prompt": 3, "completion": 4}}
    )
    await append(
        client, cid, "system", "six and seven, summarized", metadata={"kind": "summary", "covers": [6, 7]}
    )
    for n, role in ((9, "user"), (10, "assistant"), (11, "user")):
        await append(client, cid, role, f"message {n}")
    deleted = await client.delete(
        f"/v1/conversations/{cid}/items/{await item_id(client, cid, 10)}", headers=SERVICE
    )
    await ok(deleted)
    await ok(
        await client.patch(
            f"/conversations/{cid}",
            json={"title": "A custom title", "tags": ["billing", "vip"], "pinned": True, "archived": True},
            headers=SERVICE,
        )
    )
    await ok(
        await client.put(
            f"/conversations/{cid}/messages/7/feedback",
            json={"rating": 1, "comment": "useful"},
            headers=SERVICE,
        )
    )
    await ok(
        await client.put(
            f"/conversations/{cid}/messages/9/feedback", json={"rating": -1}, headers=as_user(owner)
        )
    )
    await ok(await client.patch(f"/conversations/{cid}", json={"legal_hold": True}, headers=SERVICE))
    return cid


async def export(client: Client, cid: str) -> dict[str, Any]:
    document: dict[str, Any] = await ok(await client.get(f"/conversations/{cid}/export", headers=SERVICE))
    return document


async def rows(admin: Admin, cid: str) -> dict[str, Any]:
    """Everything stored of a conversation but its internal row id: the row, the messages (with
    their derived token counts), the ratings."""
    cur = await admin.execute(
        """select (select to_jsonb(c) - 'id' from public.ai_conversations c where c.conversation_id = %(c)s),
                  (select jsonb_agg(to_jsonb(m) - 'tokens_before' order by m.seq)
                     from public.ai_conversation_messages m where m.conversation_id = %(c)s),
                  (select jsonb_agg(to_jsonb(f) - 'id' order by f.seq, f.user_id nulls first)
                     from public.ai_message_feedback f where f.conversation_id = %(c)s)""",
        {"c": cid},
    )
    row = await cur.fetchone()
    assert row is not None
    return {"conversation": row[0], "messages": row[1], "feedback": row[2]}


async def test_export_then_import_gives_the_same_conversation_back(client: Client, admin: Admin) -> None:
    owner = uuid.uuid4()
    cid = await rich_conversation(client, owner)
    document = await export(client, cid)
    before = await rows(admin, cid)
    assert [m["seq"] for m in document["messages"]] == [6, 7, 8, 9, 11]
    assert (document["title"], document["tags"], document["legal_hold"], document["last_seq"]) == (
        "A custom title", ["billing", "vip"], True, 11,
    )  # fmt: skip

    await ok(await client.patch(f"/conversations/{cid}", json={"legal_hold": False}, headers=SERVICE))
    assert (await client.delete(f"/conversations/{cid}", headers=SERVICE)).status_code == 204
    await ok(await client.post("/conversations/import", json=document, headers=SERVICE), 201)

    assert await export(client, cid) == document  # field by field, timestamps included
    after = await rows(admin, cid)
    for part in ("messages", "feedback"):
        assert after[part] == before[part], part
    # The conversation row: the same, but for its updated_at when the hold was released and
    # restored (the export's), and tokens_appended (a running sum of what was appended, which
    # counted the messages cleared and deleted before the export).
    changed = {k for k in before["conversation"] if before["conversation"][k] != after["conversation"][k]}
    assert changed <= {"tokens_appended"}, {
        k: (before["conversation"][k], after["conversation"][k]) for k in changed
    }
    # Held again: it cannot be deleted, never expires, and extend is refused as for any held one.
    assert_error(await client.delete(f"/conversations/{cid}", headers=SERVICE), 403)
    # The next message continues after the last seq ever handed out (11), not after the last kept.
    await ok(await client.patch(f"/conversations/{cid}", json={"legal_hold": False}, headers=SERVICE))
    assert (await append(client, cid, "user", "next"))["seq"] == 12
    # The summary still covers its own messages, and the context reads it so.
    context = await ok(await client.get(f"/conversations/{cid}/context", headers=SERVICE))
    assert context["left_out"]["summarized"] == [6, 7]
    assert (await client.delete(f"/conversations/{cid}", headers=SERVICE)).status_code == 204


async def test_the_cli_round_trip_carries_every_field(client: Client, tmp_path: Path) -> None:
    cid = await rich_conversation(client, uuid.uuid4())
    await ok(await client.patch(f"/conversations/{cid}", json={"legal_hold": False}, headers=SERVICE))
    document = await export(client, cid)
    out = tmp_path / "one.jsonl"
    assert await asyncio.to_thread(main, ["export", cid, "-o", str(out)]) == 0
    assert json.loads(out.read_text()) == document
    assert (await client.delete(f"/conversations/{cid}", headers=SERVICE)).status_code == 204
    assert await asyncio.to_thread(main, ["import", str(out)]) == 0
    again = await export(client, cid)
    assert {k: v for k, v in again.items() if k != "expires_at"} == {
        k: v for k, v in document.items() if k != "expires_at"
    }  # a conversation not held comes back with its TTL renewed from now
    assert (await client.delete(f"/conversations/{cid}", headers=SERVICE)).status_code == 204


def at(timestamp: str) -> datetime:
    return datetime.fromisoformat(timestamp)


def document(**fields: Any) -> dict[str, Any]:
    return {
        "conversation_id": new_id("imp"),
        "messages": [{"seq": 1, "role": "user", "content": "hi"}],
        **fields,
    }


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"created_at": "9000-01-01T00:00:00Z"}, "created_at"),
        ({"updated_at": "9000-01-01T00:00:00Z"}, "updated_at"),
        ({"expires_at": "9000-01-01T00:00:00Z"}, "expires_at"),
        ({"created_at": "2026-01-02T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"}, "updated_at"),
        ({"created_at": "2026-01-02T00:00:00Z", "expires_at": "2026-01-01T00:00:00Z"}, "expires_at"),
        (
            {"messages": [{"seq": 1, "role": "user", "content": "hi", "created_at": "9000-01-01T00:00:00Z"}]},
            "created_at",
        ),
        (
            {
                "created_at": "2026-01-02T00:00:00Z",
                "messages": [{"seq": 1, "role": "user", "content": "hi", "created_at": "2026-01-01T00:00Z"}],
            },
            "created_at",
        ),
        ({"messages": [{"seq": 2, "role": "user", "content": c} for c in ("a", "b")]}, "seq"),
        ({"last_seq": 0}, "last_seq"),
        ({"title": ""}, "title"),
        ({"tags": ["x"] * 2 + ["y" * 51]}, "tags"),
    ],
    ids=[
        "created-in-year-9000", "updated-in-year-9000", "expires-past-max-ttl", "updated-before-created",
        "expires-before-created", "message-in-year-9000", "message-before-its-conversation", "seq-twice",
        "last-seq-before-a-message", "empty-title", "bad-tags",
    ],
)  # fmt: skip
async def test_imported_timestamps_and_fields_are_checked(
    client: Client, admin: Admin, fields: dict[str, Any], says: str
) -> None:
    body = document(**fields)
    response = await client.post("/conversations/import", json=body, headers=SERVICE)
    error = assert_error(response, 422)
    assert says in error["message"] or says in json.dumps(error["details"]), error
    cur = await admin.execute(
        "select 1 from public.ai_conversations where conversation_id = %s", (body["conversation_id"],)
    )
    assert await cur.fetchone() is None  # nothing stored


async def test_an_export_of_the_earlier_shape_still_imports(client: Client) -> None:
    cid = new_id("imp-old")
    old = {
        "conversation_id": cid,
        "user_id": None,
        "created_at": "2026-01-01T10:00:00Z",
        "updated_at": "2026-01-01T11:00:00Z",
        "expires_at": "2026-01-02T10:00:00Z",
        "ttl_hours": 24,
        "metadata": {"k": 1},
        "messages": [
            {"id": str(uuid.uuid4()), "seq": 3, "role": "user", "content": "Plan a trip\nsoon",
             "metadata": {}, "idempotency_key": None, "created_at": "2026-01-01T10:05:00Z"},
            {"id": str(uuid.uuid4()), "seq": 5, "role": "assistant", "content": "Sure", "metadata": {},
             "idempotency_key": "k", "created_at": "2026-01-01T10:06:00Z"},
        ],
    }  # fmt: skip
    await ok(await client.post("/conversations/import", json=old, headers=SERVICE), 201)
    back = await export(client, cid)
    assert [(m["seq"], m["id"], at(m["created_at"])) for m in back["messages"]] == [
        (3, old["messages"][0]["id"], at("2026-01-01T10:05:00Z")),
        (5, old["messages"][1]["id"], at("2026-01-01T10:06:00Z")),
    ]
    # What the earlier shape did not carry takes the defaults of a new conversation.
    assert (back["title"], back["tags"], back["pinned"], back["archived"], back["legal_hold"]) == (
        "Plan a trip", [], False, False, False,
    )  # fmt: skip
    assert (at(back["created_at"]), at(back["updated_at"]), back["last_seq"]) == (
        at("2026-01-01T10:00:00Z"), at("2026-01-01T11:00:00Z"), 5,
    )  # fmt: skip
    assert (await client.delete(f"/conversations/{cid}", headers=SERVICE)).status_code == 204
