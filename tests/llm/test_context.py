"""The token-budgeted window and compaction, through the turn engine,
against the real local database: what the model is sent, what is stored, and that a summary
never delays or fails a reply."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest

from app.config import LLMSettings
from app.llm.compaction import Compactor
from app.llm.offline import OfflineProvider
from app.llm.provider import (
    SUMMARY_INSTRUCTION,
    ChatMessage,
    Completion,
    CompletionRequest,
    ProviderUnavailable,
    StreamDone,
    StreamEvent,
    Usage,
)
from app.llm.tools import builtin_tools
from app.store.manager import ConversationManager
from app.turns import TurnEngine, TurnRequest
from tests.harness.store_calls import CountingTransport
from tests.llm.turns import begin_turn, chat, run_turn

# 2,500 tokens by the estimate (10,000 single-byte characters); the threshold is 4,000.
BIG = "word " * 2000


class Recording:
    """The offline provider, recording requests; summary requests can be made to fail or wait."""

    model = "recording"

    def __init__(self, *, fail_summaries: int = 0, summary_delay: float = 0.0) -> None:
        self.inner = OfflineProvider()
        self.requests: list[CompletionRequest] = []
        self.fail_summaries = fail_summaries
        self.summary_delay = summary_delay

    async def complete(self, request: CompletionRequest) -> Completion:
        self.requests.append(request)
        if request.messages and request.messages[0].content == SUMMARY_INSTRUCTION:
            if self.summary_delay:
                await asyncio.sleep(self.summary_delay)  # a slow summary model: the case under test
            if self.fail_summaries:
                self.fail_summaries -= 1
                raise ProviderUnavailable("summary model down")
        return self.inner.answer(request)

    async def stream(self, request: CompletionRequest) -> AsyncIterator[StreamEvent]:
        yield StreamDone(await self.complete(request))

    async def aclose(self) -> None:
        return None

    @property
    def chats(self) -> list[CompletionRequest]:
        return [r for r in self.requests if not r.messages or r.messages[0].content != SUMMARY_INSTRUCTION]


async def rows(admin: psycopg.AsyncConnection[Any], conversation_id: str) -> list[tuple[Any, ...]]:
    cur = await admin.execute(
        "select seq, role, tokens, metadata from public.ai_conversation_messages"
        " where conversation_id = %s order by seq",
        (conversation_id,),
    )
    return await cur.fetchall()


@pytest.fixture
async def sized(store: ConversationManager, transport: CountingTransport, conversation_id: str) -> str:
    """A conversation of 6 messages with exact counts 100, 200, ..., 600 tokens."""
    await store.create_conversation(conversation_id=conversation_id)
    for n in range(1, 7):
        await store.add_message(
            conversation_id, "user" if n % 2 else "assistant", f"message {n}", {"tokens": 100 * n}
        )
    transport.calls.clear()
    return conversation_id


async def test_the_window_fits_the_budget_and_is_what_the_model_reads(
    store: ConversationManager, transport: CountingTransport, sized: str
) -> None:
    provider = Recording()
    result = await run_turn(store, provider, None, message="next", conversation_id=sized, token_budget=1200)
    # "next" is 1 token: 1 + 600 + 500 fit in 1,200, 400 more would not.
    sent = provider.chats[0].messages
    assert [m.content for m in sent] == ["message 5", "message 6", "next"]
    assert result.context is not None
    assert result.context.seqs == [5, 6, 7]
    assert result.context.summary_seq is None
    assert (result.context.tokens, result.context.token_budget) == (1101, 1200)
    assert transport.calls == ["begin_turn", "finish_turn"]  # still two round trips

    # The budget and the count cap both hold; the larger of two windows is one message more.
    provider = Recording()
    await run_turn(
        store, provider, None, message="again", conversation_id=sized, token_budget=100_000, history_limit=3
    )
    assert len(provider.chats[0].messages) == 3


async def test_a_message_larger_than_the_budget_is_sent_alone(store: ConversationManager, sized: str) -> None:
    provider = Recording()
    result = await run_turn(store, provider, None, message=BIG, conversation_id=sized, token_budget=10)
    assert [m.content for m in provider.chats[0].messages] == [BIG]
    assert result.context is not None
    assert result.context.seqs == [7]
    assert result.context.tokens == 2500


async def test_a_tool_round_at_the_boundary_goes_whole_or_not_at_all(
    store: ConversationManager, conversation_id: str
) -> None:
    await store.create_conversation(conversation_id=conversation_id)
    # A turn with a tool round: user, tool, assistant.
    await run_turn(
        store, OfflineProvider(), builtin_tools(), message="What is 6*7?", conversation_id=conversation_id
    )
    start = await begin_turn(store, message="and?", conversation_id=conversation_id, token_budget=10_000)
    assert [(m.seq, m.role) for m in start.history] == [
        (1, "user"),
        (2, "tool"),
        (3, "assistant"),
        (4, "user"),
    ]
    t = {m.seq: m.tokens for m in start.history}
    more = 1  # "more" by the estimate
    # A budget that reaches the tool result but not the question it answers: the round stays out.
    cut = await begin_turn(
        store, message="more", conversation_id=conversation_id, token_budget=t[2] + t[3] + t[4] + more
    )
    assert [m.seq for m in cut.history] == [3, 4, 5]
    # With its question (and the two "more" since), the round is in, whole.
    whole = await begin_turn(
        store,
        message="more",
        conversation_id=conversation_id,
        token_budget=t[1] + t[2] + t[3] + t[4] + 2 * more,
    )
    assert [m.seq for m in whole.history] == [1, 2, 3, 4, 5, 6]


def service(store: ConversationManager, provider: Any, compactor: Compactor, **settings: Any) -> TurnEngine:
    llm = LLMSettings.model_validate(
        {"LLM_PROVIDER": "offline", "CHAT_HISTORY_LIMIT": 2, "CHAT_SYSTEM_PROMPT": "Be brief."} | settings
    )
    return TurnEngine(store, provider, builtin_tools(), llm, compactor)


def said(message: str, **options: Any) -> TurnRequest:
    """A /chat turn whose window the settings choose (CHAT_HISTORY_LIMIT, CHAT_TOKEN_BUDGET)."""
    return chat(message, history_limit=None, **options)


async def test_compaction_stores_a_summary_after_the_reply_and_the_next_turn_sends_it(
    store: ConversationManager, admin: psycopg.AsyncConnection[Any], conversation_id: str
) -> None:
    provider = Recording()
    compactor = Compactor()
    chat = service(store, provider, compactor)
    await store.create_conversation(conversation_id=conversation_id)
    for n in range(3):  # each turn leaves two messages of ~1,000 tokens out of a window of 2
        start = await chat.begin(said(f"{n}: {BIG}", conversation_id=conversation_id))
        await chat.complete(start)
    await compactor.wait()
    stored = await rows(admin, conversation_id)
    summaries = [r for r in stored if r[3].get("kind") == "summary"]
    assert len(summaries) == 1
    seq, role, tokens, meta = summaries[0]
    assert role == "system"
    assert meta["covers"][0] == 1
    assert meta["covers"][1] < seq
    assert meta["model"] == OfflineProvider().model
    assert tokens == meta["tokens"]
    assert [r[1] for r in stored if r[3].get("kind") != "summary"] == ["user", "assistant"] * 3  # raw kept

    # The next turn sends the summary after the system prompt, then the window after what it covers.
    provider.requests.clear()
    start = await chat.begin(said("what did we say?", conversation_id=conversation_id))
    assert start.summary is not None
    assert start.summary.seq == seq
    result = (await chat.complete(start)).result
    sent = provider.chats[0].messages
    assert sent[0] == ChatMessage(role="system", content="Be brief.")
    assert sent[1].role == "system"
    assert sent[1].content is not None
    assert sent[1].content.startswith(
        f"Summary of messages 1-{meta['covers'][1]} of this conversation: Offline summary"
    )
    assert result.context is not None
    assert result.context.summary_seq == seq
    assert result.context.covers == meta["covers"]
    assert all(s > meta["covers"][1] for s in result.context.seqs)

    # More turns: a later summary extends this one (covers from 1 on, further).
    for n in range(3):
        await chat.complete(await chat.begin(said(f"later {n}: {BIG}", conversation_id=conversation_id)))
        await compactor.wait()
    chain = [r for r in await rows(admin, conversation_id) if r[3].get("kind") == "summary"]
    assert len(chain) >= 2
    assert chain[-1][3]["covers"][0] == 1
    assert chain[-1][3]["covers"][1] > meta["covers"][1]


async def test_a_summary_never_delays_or_fails_the_reply(
    store: ConversationManager,
    admin: psycopg.AsyncConnection[Any],
    conversation_id: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    provider = Recording(fail_summaries=1, summary_delay=0.2)
    compactor = Compactor()
    chat = service(store, provider, compactor)
    await store.create_conversation(conversation_id=conversation_id)
    for n in range(2):
        await chat.complete(await chat.begin(said(f"{n}: {BIG}", conversation_id=conversation_id)))
    start = await chat.begin(said(f"2: {BIG}", conversation_id=conversation_id))
    assert start.compaction is not None
    result = (await chat.complete(start)).result
    assert result.response.startswith("Offline echo")
    assert compactor.running == 1  # the summary is still in the model's hands: the reply did not wait
    with caplog.at_level(logging.WARNING, logger="app.llm.compaction"):
        await compactor.wait()
    assert "failed, retried on a later turn" in caplog.text
    assert not [r for r in await rows(admin, conversation_id) if r[3].get("kind") == "summary"]

    # Still due: the next turn retries it, and this time it is stored.
    await chat.complete(await chat.begin(said("and now?", conversation_id=conversation_id)))
    await compactor.wait()
    assert len([r for r in await rows(admin, conversation_id) if r[3].get("kind") == "summary"]) == 1


async def test_the_task_set_is_bounded(store: ConversationManager, conversation_id: str) -> None:
    provider = Recording(summary_delay=0.2)
    compactor = Compactor(max_tasks=1)
    chat = service(store, provider, compactor)
    ids = [f"{conversation_id}-{n}" for n in range(2)]
    for cid in ids:
        await store.create_conversation(conversation_id=cid)
        for n in range(3):
            await chat.complete(await chat.begin(said(f"{n}: {BIG}", conversation_id=cid)))
    assert compactor.running == 1  # the second conversation's summary was not started: still due
    await compactor.wait()
    start = await chat.begin(said("again", conversation_id=ids[1]))
    assert start.compaction is not None  # and the next turn asks for it again


async def test_concurrent_attempts_with_a_budget_store_one_reply(
    store: ConversationManager, admin: psycopg.AsyncConnection[Any], sized: str
) -> None:
    class Slow(Recording):
        async def complete(self, request: CompletionRequest) -> Completion:
            await asyncio.sleep(0.05)  # a slow model, so that the two attempts overlap
            completion = await super().complete(request)
            return Completion(completion.content, usage=Usage(1, 1), model="slow")

    a, b = await asyncio.gather(
        run_turn(
            store, Slow(), None, message="hi", conversation_id=sized, idempotency_key="dup", token_budget=500
        ),
        run_turn(
            store, Slow(), None, message="hi", conversation_id=sized, idempotency_key="dup", token_budget=500
        ),
    )
    assert a.message_id == b.message_id
    assert [r[1] for r in await rows(admin, sized)][6:] == ["user", "assistant"]
