"""CHAT_GENERATE_TITLES: after a new conversation's first turn, the model's title replaces the
one the database set from the first user message; off, offline or failing, nothing changes."""

from __future__ import annotations

from typing import Any

import psycopg

from app.config import LLMSettings
from app.llm.provider import ProviderUnavailable
from app.llm.tools import ToolRegistry
from app.store.manager import ConversationManager
from app.turns import TITLE_PROMPT, Turn, TurnEngine
from tests.llm.test_chat import Scripted, text
from tests.llm.turns import chat as said


async def _title(engine: TurnEngine, turn: Turn) -> None:
    """Generate the title as a face does once the answer is out."""
    task = engine.title(turn)
    assert task is not None
    await task()


def settings(**values: Any) -> LLMSettings:
    return LLMSettings.model_validate({"LLM_BASE_URL": "http://llm.test/v1", **values})


async def title_of(admin: psycopg.AsyncConnection[Any], conversation_id: str) -> str | None:
    cur = await admin.execute(
        "select title from public.ai_conversations where conversation_id = %s", [conversation_id]
    )
    row = await cur.fetchone()
    assert row is not None
    return row[0]


async def test_generated_title_replaces_the_first_line(
    store: ConversationManager, admin: psycopg.AsyncConnection[Any]
) -> None:
    provider = Scripted(text('  "Lisbon in three days."  '))
    chat = TurnEngine(store, provider, ToolRegistry(), settings(CHAT_GENERATE_TITLES="true"))
    start = await chat.begin(said("I want to walk around Lisbon for three days in May"))
    assert chat.title(start) is not None
    assert (
        await title_of(admin, start.conversation_id) == "I want to walk around Lisbon for three days in May"
    )
    await _title(chat, start)
    assert await title_of(admin, start.conversation_id) == "Lisbon in three days"
    assert provider.requests[0].messages[0].content == TITLE_PROMPT
    later = await chat.begin(said("and a day trip?", conversation_id=start.conversation_id))
    assert chat.title(later) is None  # only a conversation's first turn


async def test_no_title_when_off_offline_or_failing(
    store: ConversationManager, admin: psycopg.AsyncConnection[Any]
) -> None:
    off = TurnEngine(store, Scripted(), ToolRegistry(), settings())
    assert off.title(await off.begin(said("hello"))) is None
    offline = TurnEngine(
        store, Scripted(), ToolRegistry(), LLMSettings.model_validate({"CHAT_GENERATE_TITLES": "true"})
    )
    assert offline.title(await offline.begin(said("hello"))) is None
    failing = TurnEngine(
        store, Scripted(ProviderUnavailable("down")), ToolRegistry(), settings(CHAT_GENERATE_TITLES="1")
    )
    start = await failing.begin(said("keep this title"))
    await _title(failing, start)  # logs, raises nothing
    assert await title_of(admin, start.conversation_id) == "keep this title"
