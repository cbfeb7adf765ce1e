"""GET /conversations/{id}/context and /chat's token budget, through the real app and the
offline provider: what the next turn sends, which seqs /chat reports it sent, a summary made
after a long conversation, and who may read a context."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest

from app.core import services_of
from app.server import create_app
from tests.api.helpers import SERVICE, Client, api_client, as_user, make_settings
from tests.api.test_chat import llm_settings
from tests.api.test_errors import assert_error
from tests.harness.waiting import eventually

BIG = "word " * 2000  # 2,500 tokens by the estimate; the compaction threshold is 4,000


@pytest.fixture(scope="module")
async def chat() -> AsyncIterator[Client]:
    """The API with the offline provider, a window of at most 4 messages."""
    settings = make_settings(llm=llm_settings(CHAT_HISTORY_LIMIT=4, CHAT_TOKEN_BUDGET=6000))
    async with api_client(create_app(settings)) as client:
        yield client


async def turn(
    chat: Client, message: str, headers: dict[str, str] | None = None, **body: Any
) -> dict[str, Any]:
    response = await chat.post("/chat", json={"message": message, **body}, headers=headers or SERVICE)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def test_the_context_is_what_the_next_turn_sends(chat: Client) -> None:
    first = await turn(chat, "hello")
    cid = first["conversation_id"]
    assert first["context"] == {
        "seqs": [1],
        "summary_seq": None,
        "covers": None,
        "tokens": 2,
        "token_budget": 6000,
    }
    context = await chat.get(f"/conversations/{cid}/context", headers=SERVICE)
    assert context.status_code == 200, context.text
    body = context.json()
    assert [m["seq"] for m in body["messages"]] == [1, 2]
    assert body["tokens"] == sum(m["tokens"] for m in body["messages"])
    assert body["summary"] is None
    assert body["compaction"]["due"] is False
    nxt = await turn(chat, "again", conversation_id=cid)
    assert nxt["context"]["seqs"] == [1, 2, 3]  # the context, then the new message

    small = (
        await chat.get(f"/conversations/{cid}/context", params={"token_budget": 1}, headers=SERVICE)
    ).json()
    assert [m["seq"] for m in small["messages"]] == [4]
    assert small["token_budget"] == 1
    assert small["left_out"]["unsummarized"] == [1, 3]
    answer = await turn(chat, "x", conversation_id=cid, token_budget=1)
    assert answer["context"]["seqs"] == [5]


async def test_a_long_conversation_gets_a_summary_and_keeps_its_history(chat: Client) -> None:
    cid = (await turn(chat, BIG))["conversation_id"]
    for n in range(4):
        await turn(chat, f"{n} {BIG}", conversation_id=cid)
    # The summary is made in the background, after the reply (in the app's own event loop,
    # the test client's thread: nothing there this test could await).
    context: dict[str, Any] = {}

    async def summarized() -> bool:
        context.update((await chat.get(f"/conversations/{cid}/context", headers=SERVICE)).json())
        return context["summary"] is not None and services_of(chat.app).running.compactor.running == 0

    await eventually(summarized, within=5)
    summary = context["summary"]
    assert summary is not None
    assert summary["role"] == "system"
    assert summary["metadata"]["kind"] == "summary"
    first, last = summary["metadata"]["covers"]
    assert first == 1
    assert all(m["seq"] > last for m in context["messages"])
    assert context["tokens"] <= 6000

    answer = await turn(chat, "what did we discuss?", conversation_id=cid)
    assert answer["context"]["summary_seq"] == summary["seq"]
    assert answer["context"]["covers"] == [first, last]
    # Every raw message is still there, and the summary marked among them.
    page = (await chat.get(f"/conversations/{cid}", params={"limit": 100}, headers=SERVICE)).json()
    kinds = [m["metadata"].get("kind") for m in page["messages"]]
    assert kinds.count("summary") >= 1
    assert [m["role"] for m in page["messages"] if m["metadata"].get("kind") != "summary"][:10] == [
        "user",
        "assistant",
    ] * 5
    export = (await chat.get(f"/conversations/{cid}/export", headers=SERVICE)).json()
    assert {m["seq"] for m in page["messages"]} <= {m["seq"] for m in export["messages"]}


async def test_a_users_context_is_its_own(chat: Client, admin: psycopg.AsyncConnection[Any]) -> None:
    alice, bob = uuid.uuid4(), uuid.uuid4()
    cid = (await turn(chat, "mine", headers=as_user(alice)))["conversation_id"]
    assert (await chat.get(f"/conversations/{cid}/context", headers=as_user(alice))).status_code == 200
    assert_error(await chat.get(f"/conversations/{cid}/context", headers=as_user(bob)), 404, "not_found")
    assert_error(await chat.get(f"/conversations/{cid}/context"), 401)
    anonymous = (await turn(chat, "nobody's"))["conversation_id"]
    assert_error(await chat.get(f"/conversations/{anonymous}/context", headers=as_user(alice)), 404)


@pytest.mark.parametrize("budget", [0, -1, "many", 2**31])
async def test_a_bad_token_budget_is_422(chat: Client, budget: Any) -> None:
    cid = (await turn(chat, "hi"))["conversation_id"]
    assert_error(
        await chat.get(f"/conversations/{cid}/context", params={"token_budget": budget}, headers=SERVICE), 422
    )
    if budget == 0:  # /chat: no budget, the count window
        assert (await turn(chat, "hi", conversation_id=cid, token_budget=0))["context"][
            "token_budget"
        ] is None
        return
    assert_error(
        await chat.post(
            "/chat", json={"message": "hi", "conversation_id": cid, "token_budget": budget}, headers=SERVICE
        ),
        422,
    )


async def test_no_token_budget_is_the_count_window() -> None:
    settings = make_settings(llm=llm_settings(CHAT_TOKEN_BUDGET=0, CHAT_HISTORY_LIMIT=2))
    async with api_client(create_app(settings)) as client:
        cid = (await turn(client, "one"))["conversation_id"]
        answer = await turn(client, "two", conversation_id=cid)
        assert answer["context"] == {
            "seqs": [2, 3],
            "summary_seq": None,
            "covers": None,
            "tokens": None,
            "token_budget": None,
        }
        assert (await client.get(f"/conversations/{cid}/context", headers=SERVICE)).status_code == 200
