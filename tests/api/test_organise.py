"""HTTP routes of issue 12: PATCH /conversations/{id} and the listing's filters, /search, fork,
feedback, /usage, erasure and the legal hold. The rules are the database's (pgTAP tests them one
by one); these tests show each route reaches them and answers in the API's shapes."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg

from tests.api.helpers import SERVICE, Client, as_user, new_id

Create = Callable[..., Awaitable[dict[str, Any]]]


async def append(
    client: Client, cid: str, role: str, content: str, headers: dict[str, str] = SERVICE, **body: Any
) -> dict[str, Any]:
    response = await client.post(
        f"/conversations/{cid}/messages", json={"role": role, "content": content, **body}, headers=headers
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


# -- titles and organise ---------------------------------------------------------------------------


async def test_title_comes_from_the_first_user_message(client: Client, create: Create) -> None:
    cid = (await create())["conversation_id"]
    await append(client, cid, "system", "You are terse.")
    await append(client, cid, "user", "  \n  Plan a trip to Lisbon in May, three days, on foot\nand more")
    await append(client, cid, "user", "a second question")
    body = (await client.get(f"/conversations/{cid}", headers=SERVICE)).json()
    assert body["title"] == "Plan a trip to Lisbon in May, three days, on foot"


async def test_patch_changes_only_what_is_sent(client: Client, create: Create) -> None:
    user = uuid.uuid4()
    cid = (await create(user, metadata={"a": 1, "b": 2}))["conversation_id"]
    me = as_user(user)
    response = await client.patch(
        f"/conversations/{cid}",
        json={
            "title": "Trip",
            "pinned": True,
            "tags": ["travel", "travel", "2026"],
            "metadata_patch": {"b": None, "c": 3},
        },
        headers=me,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["title"], body["pinned"], body["archived"]) == ("Trip", True, False)
    assert body["tags"] == ["travel", "2026"]
    assert body["metadata"] == {"a": 1, "c": 3}
    replaced = (await client.patch(f"/conversations/{cid}", json={"metadata": {"z": 0}}, headers=me)).json()
    assert replaced["metadata"] == {"z": 0}
    assert replaced["title"] == "Trip"
    cleared = (await client.patch(f"/conversations/{cid}", json={"title": None}, headers=me)).json()
    assert cleared["title"] is None


async def test_patch_rejects_bad_input_and_foreign_conversations(client: Client, create: Create) -> None:
    user = uuid.uuid4()
    cid = (await create(user))["conversation_id"]
    me = as_user(user)
    assert (
        await client.patch(f"/conversations/{cid}", json={"colour": "red"}, headers=me)
    ).status_code == 422
    assert (
        await client.patch(f"/conversations/{cid}", json={"pinned": "yes"}, headers=me)
    ).status_code == 422
    too_many = {"tags": [f"t{i}" for i in range(21)]}
    assert (await client.patch(f"/conversations/{cid}", json=too_many, headers=me)).status_code == 422
    assert (
        await client.patch(f"/conversations/{cid}", json={"title": "x" * 201}, headers=me)
    ).status_code == 422
    both = {"metadata": {}, "metadata_patch": {}}
    assert (await client.patch(f"/conversations/{cid}", json=both, headers=me)).status_code == 422
    other = as_user(uuid.uuid4())
    response = await client.patch(f"/conversations/{cid}", json={"title": "mine now"}, headers=other)
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


async def test_list_filters_and_order(client: Client, create: Create) -> None:
    user = uuid.uuid4()
    me = as_user(user)
    ids = [(await create(user, messages=1))["conversation_id"] for _ in range(4)]
    await client.patch(f"/conversations/{ids[0]}", json={"pinned": True, "tags": ["a", "b"]}, headers=me)
    await client.patch(f"/conversations/{ids[1]}", json={"archived": True, "tags": ["a"]}, headers=me)
    await client.patch(
        f"/conversations/{ids[2]}", json={"tags": ["a"], "metadata": {"project": "x"}}, headers=me
    )

    async def listed(query: str) -> list[str]:
        response = await client.get(f"/conversations?{query}", headers=me)
        assert response.status_code == 200, response.text
        return [c["conversation_id"] for c in response.json()["conversations"]]

    # pinned first, then most recently updated (a PATCH updates too); archived hidden
    assert await listed("limit=10") == [ids[0], ids[2], ids[3]]
    assert await listed("archived=true") == [ids[1]]
    assert await listed("pinned=true") == [ids[0]]
    assert await listed("tag=a") == [ids[0], ids[2]]
    assert await listed("tag=a&tag=b") == [ids[0]]
    assert await listed('metadata={"project":"x"}') == [ids[2]]
    assert (await client.get("/conversations?metadata=[1]", headers=me)).status_code == 422
    page = (await client.get("/conversations?limit=1", headers=me)).json()
    assert page["conversations"][0]["last_message"] == {
        "role": "user",
        "content": "message 1",
        "created_at": page["conversations"][0]["last_message"]["created_at"],
    }
    second = (await client.get(f"/conversations?limit=2&cursor={page['next_cursor']}", headers=me)).json()
    assert [c["conversation_id"] for c in second["conversations"]] == [ids[2], ids[3]]


# -- legal hold -------------------------------------------------------------------------------------


async def test_legal_hold_is_the_services_and_keeps_the_conversation(client: Client, create: Create) -> None:
    user = uuid.uuid4()
    me = as_user(user)
    cid = (await create(user, messages=1))["conversation_id"]
    refused = await client.patch(f"/conversations/{cid}", json={"legal_hold": True}, headers=me)
    assert refused.status_code == 403
    held = (await client.patch(f"/conversations/{cid}", json={"legal_hold": True}, headers=SERVICE)).json()
    assert held["legal_hold"] is True
    assert held["expires_at"].startswith("9999-12-31")
    assert (await client.delete(f"/conversations/{cid}", headers=me)).status_code == 403
    assert (await client.post(f"/conversations/{cid}/clear", headers=SERVICE)).status_code == 403
    erased = (await client.delete(f"/users/{user}/data", headers=SERVICE)).json()
    assert (erased["conversations_kept"], erased["kept_reason"]) == (1, "legal hold")
    assert (await client.get(f"/conversations/{cid}", headers=me)).status_code == 200
    released = (
        await client.patch(f"/conversations/{cid}", json={"legal_hold": False}, headers=SERVICE)
    ).json()
    assert not released["expires_at"].startswith("9999")
    assert (await client.delete(f"/conversations/{cid}", headers=me)).status_code == 204


# -- search ----------------------------------------------------------------------------------------


async def test_search_finds_only_the_callers_messages(client: Client, create: Create) -> None:
    word = "zq" + uuid.uuid4().hex[:10]
    alice, bob = uuid.uuid4(), uuid.uuid4()
    mine = (await create(alice))["conversation_id"]
    theirs = (await create(bob))["conversation_id"]
    await append(client, mine, "user", f"where is the {word} kept?")
    await append(client, mine, "assistant", f"The {word} is in the {word} drawer.")
    await append(client, theirs, "user", f"bob's {word} secret")
    response = await client.get(f"/search?q={word}", headers=as_user(alice))
    assert response.status_code == 200, response.text
    hits = response.json()["hits"]
    assert [(h["conversation_id"], h["seq"]) for h in hits] == [(mine, 2), (mine, 1)]
    assert f"<mark>{word}</mark>" in hits[0]["snippet"]
    assert hits[0]["title"] == f"where is the {word} kept?"
    page = (await client.get(f"/search?q={word}&limit=1", headers=as_user(alice))).json()
    assert len(page["hits"]) == 1
    assert page["next_cursor"]
    rest = (
        await client.get(f"/search?q={word}&limit=5&cursor={page['next_cursor']}", headers=as_user(alice))
    ).json()
    assert [h["seq"] for h in rest["hits"]] == [1]
    assert rest["next_cursor"] is None
    everyone = (await client.get(f"/search?q={word}", headers=SERVICE)).json()["hits"]
    assert {h["conversation_id"] for h in everyone} == {mine, theirs}
    only_bob = (await client.get(f"/search?q={word}&user_id={bob}", headers=SERVICE)).json()["hits"]
    assert [h["conversation_id"] for h in only_bob] == [theirs]
    assert (await client.get(f"/search?q={word}&user_id={bob}", headers=as_user(alice))).status_code == 403
    assert (await client.get("/search?q=", headers=as_user(alice))).status_code == 422


# -- fork ------------------------------------------------------------------------------------------


async def test_fork_copies_the_first_messages(client: Client, create: Create) -> None:
    user = uuid.uuid4()
    me = as_user(user)
    cid = (await create(user, messages=4))["conversation_id"]
    named = await client.post(
        f"/conversations/{cid}/fork", json={"at_seq": 2, "conversation_id": new_id("fork")}, headers=me
    )
    assert named.status_code == 403, named.text  # only the service chooses conversation ids
    response = await client.post(
        f"/conversations/{cid}/fork", json={"at_seq": 2, "title": "Branch"}, headers=me
    )
    assert response.status_code == 201, response.text
    fork = response.json()
    fork_id = fork["conversation_id"]
    assert (fork["user_id"], fork["title"]) == (str(user), "Branch")
    assert fork["metadata"]["forked_from"] == {"conversation_id": cid, "seq": 2}
    messages = (await client.get(f"/conversations/{fork_id}", headers=me)).json()["messages"]
    assert [(m["seq"], m["content"]) for m in messages] == [(1, "message 1"), (2, "message 2")]
    assert (
        await client.post(f"/conversations/{cid}/fork", json={"at_seq": 9}, headers=me)
    ).status_code == 422
    other = as_user(uuid.uuid4())
    assert (
        await client.post(f"/conversations/{cid}/fork", json={"at_seq": 1}, headers=other)
    ).status_code == 404


# -- feedback --------------------------------------------------------------------------------------


async def test_feedback_put_replace_delete(client: Client, create: Create) -> None:
    user = uuid.uuid4()
    me = as_user(user)
    cid = (await create(user, messages=2))["conversation_id"]
    url = f"/conversations/{cid}/messages/2/feedback"
    first = await client.put(url, json={"rating": 1, "comment": "spot on"}, headers=me)
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["message"]["seq"] == 2
    assert (body["feedback"]["rating"], body["feedback"]["comment"]) == (1, "spot on")
    second = (await client.put(url, json={"rating": -1}, headers=me)).json()
    assert (second["feedback"]["rating"], second["feedback"]["comment"]) == (-1, None)
    assert (await client.put(url, json={"rating": 2}, headers=me)).status_code == 422
    assert (await client.put(url, json={"rating": 1}, headers=as_user(uuid.uuid4()))).status_code == 404
    missing = f"/conversations/{cid}/messages/99/feedback"
    assert (await client.put(missing, json={"rating": 1}, headers=me)).status_code == 404
    assert (await client.delete(url, headers=me)).status_code == 204


# -- usage -----------------------------------------------------------------------------------------


async def test_usage_per_model_with_cost(
    client: Client, create: Create, admin: psycopg.AsyncConnection[Any]
) -> None:
    user = uuid.uuid4()
    me = as_user(user)
    model = "test-model-" + uuid.uuid4().hex[:8]
    await admin.execute(
        "insert into public.ai_model_prices (model, prompt_per_million, completion_per_million)"
        " values (%s, 1, 2)",
        [model],
    )
    try:
        cid = (await create(user))["conversation_id"]
        await append(client, cid, "user", "hi")
        tokens = {"model": model, "tokens": {"prompt": 1000, "completion": 500}}
        await append(client, cid, "assistant", "hello", metadata=tokens)
        total = (await client.get("/usage", headers=me)).json()
        assert total["rows"] == [
            {
                "messages": 2,
                "prompt_tokens": 1000,
                "completion_tokens": 500,
                "cost": 0.002,
                "day": None,
                "model": None,
            }
        ]
        per_model = (await client.get("/usage?group_by=model&group_by=day", headers=me)).json()["rows"]
        assert {r["model"]: r["messages"] for r in per_model} == {"": 1, model: 1}
        assert (await client.get(f"/usage?user_id={uuid.uuid4()}", headers=me)).status_code == 403
        assert (await client.get("/usage?group_by=week", headers=me)).status_code == 422
        by_service = (await client.get(f"/usage?user_id={user}", headers=SERVICE)).json()
        assert by_service["rows"][0]["messages"] == 2
        later = (await client.get("/usage?from=2999-01-01", headers=me)).json()
        assert later["rows"] == [
            {
                "messages": 0,
                "prompt_tokens": 0,
                "completion_tokens": 0,
                "cost": None,
                "day": None,
                "model": None,
            }
        ]
    finally:
        await admin.execute("delete from public.ai_model_prices where model = %s", [model])


# -- erasure ---------------------------------------------------------------------------------------


async def test_erasure_is_the_services_and_recorded(client: Client, create: Create) -> None:
    user = uuid.uuid4()
    cids = [(await create(user, messages=2))["conversation_id"] for _ in range(3)]
    assert (await client.delete(f"/users/{user}/data", headers=as_user(user))).status_code == 403
    response = await client.delete(f"/users/{user}/data", headers=SERVICE)
    assert response.status_code == 200, response.text
    record = response.json()
    assert (record["conversations_removed"], record["messages_removed"], record["conversations_kept"]) == (
        3,
        6,
        0,
    )
    assert "content" not in record
    for cid in cids:
        assert (await client.get(f"/conversations/{cid}", headers=SERVICE)).status_code == 404
    listed = (await client.get(f"/erasures?user_id={user}", headers=SERVICE)).json()
    assert [e["id"] for e in listed] == [record["id"]]
    assert (await client.get("/erasures", headers=as_user(user))).status_code == 403
