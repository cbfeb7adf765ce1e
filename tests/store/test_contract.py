"""The store's contract, run on both transports (the `store` fixture is parametrized).

Every ConversationManager method, its typed result, ordering and pagination, idempotency,
expiry, the admin operations, each class of domain error, and what a user may see.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import psycopg
import pytest

from app.store import (
    ConflictError,
    ConversationManager,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
    Principal,
)
from app.store.models import (
    AppendResult,
    BegunTurn,
    ClearResult,
    Context,
    ContextFit,
    Conversation,
    ConversationExport,
    ConversationList,
    ConversationPage,
    DeleteResult,
    ExportMessage,
    ExtendResult,
    FinishedTurn,
    Message,
    NewMessage,
    Stats,
    SummaryInput,
)
from tests.store.conftest import new_id, new_user

UserStore = Callable[[Principal], ConversationManager]
Expire = Callable[[str], Awaitable[None]]


async def with_messages(store: ConversationManager, n: int, **create: Any) -> str:
    if store.principal.is_service:  # only the service chooses conversation ids
        create.setdefault("conversation_id", new_id())
    cid = (await store.create_conversation(**create)).conversation_id
    for i in range(1, n + 1):
        await store.add_message(cid, "user" if i % 2 else "assistant", f"message {i}")
    return cid


async def setting(admin: psycopg.AsyncConnection[Any], name: str) -> int:
    cur = await admin.execute(f"select {name} from public.ai_conversation_settings")  # noqa: S608
    row = await cur.fetchone()
    assert row is not None
    return int(row[0])


# -- conversations -----------------------------------------------------------------------


async def test_create_conversation_defaults(
    store: ConversationManager, admin: psycopg.AsyncConnection[Any]
) -> None:
    conversation = await store.create_conversation()
    assert type(conversation) is Conversation
    uuid.UUID(conversation.conversation_id)  # generated id
    assert conversation.user_id is None
    assert conversation.metadata == {}
    assert conversation.message_count == conversation.last_seq == 0
    assert conversation.ttl_hours == await setting(admin, "ttl_hours")
    assert conversation.created_at.tzinfo is not None
    assert conversation.expires_at - conversation.created_at == timedelta(hours=conversation.ttl_hours)


async def test_create_conversation_with_everything(store: ConversationManager) -> None:
    cid, user_id = new_id(), uuid.uuid4()
    conversation = await store.create_conversation(
        user_id, conversation_id=cid, metadata={"model": "gpt", "n": [1, 2]}, ttl_hours=2
    )
    assert conversation.conversation_id == cid
    assert conversation.user_id == user_id
    assert conversation.metadata == {"model": "gpt", "n": [1, 2]}
    assert conversation.ttl_hours == 2
    assert conversation.expires_at - conversation.created_at == timedelta(hours=2)


async def test_duplicate_conversation_id_conflicts(store: ConversationManager) -> None:
    cid = (await store.create_conversation(conversation_id=new_id())).conversation_id
    with pytest.raises(ConflictError) as caught:
        await store.create_conversation(conversation_id=cid)
    assert caught.value.sqlstate == "23505"


async def test_expired_conversation_id_can_be_reused(store: ConversationManager, expire: Expire) -> None:
    cid = await with_messages(store, 1)
    await expire(cid)
    again = await store.create_conversation(conversation_id=cid)
    assert again.message_count == 0


async def test_get_conversation_pages_back_to_the_first_message(store: ConversationManager) -> None:
    cid = await with_messages(store, 7)
    page = await store.get_conversation(cid, limit=3)
    assert type(page) is ConversationPage
    assert page.message_count == page.last_seq == 7
    assert [m.seq for m in page.messages] == [5, 6, 7]  # the newest page, oldest first
    assert page.next_cursor == 5
    page = await store.get_conversation(cid, limit=3, before=page.next_cursor)
    assert [m.seq for m in page.messages] == [2, 3, 4]
    page = await store.get_conversation(cid, limit=3, before=page.next_cursor)
    assert [m.seq for m in page.messages] == [1]
    assert page.next_cursor is None


async def test_get_conversation_default_limit_and_empty(store: ConversationManager) -> None:
    empty = await store.get_conversation((await store.create_conversation()).conversation_id)
    assert empty.messages == []
    assert empty.next_cursor is None
    cid = await with_messages(store, 3)
    page = await store.get_conversation(cid)
    assert [m.content for m in page.messages] == ["message 1", "message 2", "message 3"]
    assert page.next_cursor is None


async def test_get_conversation_limit_zero_returns_no_messages(store: ConversationManager) -> None:
    cid = await with_messages(store, 2)
    page = await store.get_conversation(cid, limit=0)
    assert page.messages == []
    assert page.message_count == 2


async def test_list_conversations_newest_first_with_cursor(store: ConversationManager) -> None:
    user_id = uuid.uuid4()
    ids = [(await store.create_conversation(user_id)).conversation_id for _ in range(5)]
    await store.add_message(ids[1], "user", "bump")  # most recently updated now
    first = await store.get_user_conversations(user_id, limit=2)
    assert type(first) is ConversationList
    assert [c.conversation_id for c in first.conversations] == [ids[1], ids[4]]
    assert first.next_cursor is not None
    second = await store.get_user_conversations(user_id, limit=2, cursor=first.next_cursor)
    assert [c.conversation_id for c in second.conversations] == [ids[3], ids[2]]
    third = await store.get_user_conversations(user_id, limit=2, cursor=second.next_cursor)
    assert [c.conversation_id for c in third.conversations] == [ids[0]]
    assert third.next_cursor is None
    assert all(c.user_id == user_id for c in first.conversations + second.conversations)


async def test_list_conversations_default_limit_is_ten(store: ConversationManager) -> None:
    user_id = uuid.uuid4()
    for _ in range(11):
        await store.create_conversation(user_id)
    listed = await store.get_user_conversations(user_id)
    assert len(listed.conversations) == 10
    assert listed.next_cursor is not None


async def test_list_skips_expired(store: ConversationManager, expire: Expire) -> None:
    user_id = uuid.uuid4()
    kept, gone = (await store.create_conversation(user_id)), (await store.create_conversation(user_id))
    await expire(gone.conversation_id)
    listed = await store.get_user_conversations(user_id)
    assert [c.conversation_id for c in listed.conversations] == [kept.conversation_id]


async def test_extend_ttl(store: ConversationManager) -> None:
    conversation = await store.create_conversation(ttl_hours=1)
    extended = await store.extend_ttl(conversation.conversation_id, hours=5)
    assert type(extended) is ExtendResult
    assert extended.conversation_id == conversation.conversation_id
    assert extended.expires_at == conversation.expires_at + timedelta(hours=5)
    default = await store.extend_ttl(conversation.conversation_id)
    assert default.expires_at == extended.expires_at + timedelta(hours=24)


async def test_extend_ttl_out_of_range(
    store: ConversationManager, admin: psycopg.AsyncConnection[Any]
) -> None:
    cid = (await store.create_conversation()).conversation_id
    for hours in (0, -1, await setting(admin, "max_ttl_hours") + 1):
        with pytest.raises(InvalidInputError):
            await store.extend_ttl(cid, hours=hours)


async def test_clear_keeps_the_conversation_and_never_reuses_seq(store: ConversationManager) -> None:
    cid = await with_messages(store, 3)
    cleared = await store.clear_conversation(cid)
    assert type(cleared) is ClearResult
    assert cleared == ClearResult(conversation_id=cid, cleared=3)
    page = await store.get_conversation(cid)
    assert page.messages == []
    assert page.message_count == 0
    appended = await store.add_message(cid, "user", "after clear")
    assert appended.message.seq == 4


async def test_delete(store: ConversationManager) -> None:
    cid = await with_messages(store, 2)
    deleted = await store.delete_conversation(cid)
    assert deleted == DeleteResult(conversation_id=cid, deleted=True)
    with pytest.raises(NotFoundError):
        await store.get_conversation(cid)
    with pytest.raises(NotFoundError):
        await store.delete_conversation(cid)


# -- messages ----------------------------------------------------------------------------


async def test_add_message_typed_and_ordered(store: ConversationManager) -> None:
    cid = (await store.create_conversation()).conversation_id
    metadata = {"model": "m", "tokens": {"in": 3, "out": 5}, "duration_ms": 12, "tool_calls": [{"id": "t1"}]}
    results = [
        await store.add_message(cid, role, f"{role} says", metadata)
        for role in ("system", "user", "assistant", "tool")
    ]
    assert all(type(r) is AppendResult and not r.replayed for r in results)
    assert [r.message.seq for r in results] == [1, 2, 3, 4]
    message = results[2].message
    assert type(message) is Message
    assert isinstance(message.id, uuid.UUID)
    assert message.conversation_id == cid
    assert message.role == "assistant"
    assert message.content == "assistant says"
    assert message.metadata == metadata
    assert message.created_at.tzinfo is not None
    assert (await store.get_conversation(cid)).message_count == 4


async def test_add_message_slides_expiry(store: ConversationManager) -> None:
    conversation = await store.create_conversation(ttl_hours=1)
    await asyncio.sleep(0.01)  # the clock moves on: a later write has a later time (under test)
    await store.add_message(conversation.conversation_id, "user", "hi")
    page = await store.get_conversation(conversation.conversation_id)
    assert page.expires_at > conversation.expires_at
    assert page.updated_at > conversation.updated_at


async def test_idempotent_replay_returns_the_original(store: ConversationManager) -> None:
    cid = await with_messages(store, 1)
    first = await store.add_message(cid, "user", "pay once", {"a": 1}, idempotency_key="k-1")
    again = await store.add_message(cid, "user", "pay once", {"a": 1}, idempotency_key="k-1")
    assert not first.replayed
    assert again.replayed
    assert again.message == first.message
    assert again.message.idempotency_key == "k-1"
    page = await store.get_conversation(cid)
    assert page.message_count == 2
    assert page.last_seq == 2
    other = await store.add_message(cid, "user", "another", idempotency_key="k-2")
    assert other.message.seq == 3
    assert not other.replayed


async def test_get_messages_window_and_before(store: ConversationManager) -> None:
    cid = await with_messages(store, 12)
    newest = await store.get_messages(cid)
    assert all(type(m) is Message for m in newest)
    assert [m.seq for m in newest] == list(range(3, 13))  # default limit 10, oldest first
    assert [m.seq for m in await store.get_messages(cid, limit=3, before=5)] == [2, 3, 4]
    assert await store.get_messages(cid, limit=5, before=1) == []


async def begin(
    store: ConversationManager, content: str, *, metadata: Any = None, **options: Any
) -> BegunTurn:
    """A turn of one user message (what /chat begins)."""
    return await store.begin_turn([NewMessage("user", content, metadata or {})], **options)


async def test_begin_turn_creates_appends_and_returns_history(store: ConversationManager) -> None:
    turn = await begin(store, "hello", metadata={"client": "t"}, conversation_metadata={"topic": "x"})
    assert type(turn) is BegunTurn
    assert turn.created
    assert not turn.replayed
    (message,) = turn.input
    assert message.seq == 1
    assert message.role == "user"
    assert message.metadata == {"client": "t"}
    assert turn.history == [message]
    assert turn.turn is not None
    assert (turn.turn.kind, turn.turn.state, turn.turn.last_seq) == ("chat", "in_progress", 1)
    cid = turn.conversation_id
    assert cid is not None
    assert (await store.get_conversation(cid)).metadata == {"topic": "x"}
    await store.add_message(cid, "assistant", "hi there")
    second = await begin(store, "and again", conversation_id=cid, history_limit=2)
    assert not second.created
    assert [m.content for m in second.history] == ["hi there", "and again"]


async def test_begin_turn_create_if_missing_and_replay(store: ConversationManager) -> None:
    cid = new_id()
    turn = await begin(store, "hi", conversation_id=cid, create_if_missing=True, idempotency_key="i")
    assert turn.created
    assert turn.conversation_id == cid
    replay = await begin(store, "hi", conversation_id=cid, create_if_missing=True, idempotency_key="i")
    assert replay.replayed
    assert not replay.created
    assert replay.input == turn.input
    assert replay.turn is not None
    assert turn.turn is not None
    assert replay.turn.id == turn.turn.id  # the key names the turn
    with pytest.raises(NotFoundError):
        await begin(store, "hi", conversation_id=new_id())


async def test_finish_turn_stores_the_output_once(store: ConversationManager) -> None:
    begun = await begin(store, "2+2?", idempotency_key="f")
    assert begun.turn is not None
    reply = NewMessage("assistant", "4.", {"model": "m"})
    finished = await store.finish_turn(begun.turn.id, [reply], result={"model": "m"})
    assert type(finished) is FinishedTurn
    assert not finished.replayed
    assert (finished.turn.state, finished.turn.result) == ("completed", {"model": "m"})
    (stored,) = finished.messages
    assert (stored.role, stored.content, stored.idempotency_key) == ("assistant", "4.", "f:assistant")
    assert finished.turn.last_seq == stored.seq
    again = await store.finish_turn(begun.turn.id, [NewMessage("assistant", "four")])
    assert again.replayed
    assert again.messages == [stored]
    done = await begin(store, "2+2?", conversation_id=begun.conversation_id, idempotency_key="f")
    assert done.reply == stored
    with pytest.raises(NotFoundError):
        await store.finish_turn(uuid.uuid4(), [reply])
    with pytest.raises(InvalidInputError):
        await store.finish_turn(begun.turn.id, [reply], state="done")  # type: ignore[arg-type]


async def test_a_failed_turn_says_so_and_a_retry_resumes_it(store: ConversationManager) -> None:
    begun = await begin(store, "hello", idempotency_key="r")
    assert begun.turn is not None
    failed = await store.finish_turn(begun.turn.id, state="failed", result={"error": {"code": "x"}})
    assert (failed.turn.state, failed.messages) == ("failed", [])
    retry = await begin(store, "hello", conversation_id=begun.conversation_id, idempotency_key="r")
    assert retry.replayed
    assert retry.turn is not None
    assert (retry.turn.id, retry.turn.state) == (begun.turn.id, "in_progress")


async def test_token_window_summary_and_context(store: ConversationManager) -> None:
    cid = (await store.create_conversation(conversation_id=new_id())).conversation_id
    for i in range(1, 5):
        appended = await store.add_message(cid, "user" if i % 2 else "assistant", f"m{i}", {"tokens": 10})
        assert appended.message.tokens == 10
    turn = await begin(store, "abcd", conversation_id=cid, token_budget=20, history_limit=100)
    assert [m.seq for m in turn.history] == [4, 5]
    assert turn.context is not None
    assert (turn.context.tokens, turn.context.token_budget, turn.context.first_seq) == (11, 20, 4)
    assert turn.context.left_out is not None
    assert turn.context.left_out.unsummarized == [1, 3]
    assert not turn.context.compaction.due

    source = await store.get_summary_input(cid, 1, 3)
    assert type(source) is SummaryInput
    assert [m.seq for m in source.messages] == [1, 2, 3]
    stored = await store.append_summary(cid, "S: m1-m3", 1, 3, model="m", tokens=5)
    assert stored.message.is_summary
    assert stored.message.metadata == {"kind": "summary", "covers": [1, 3], "model": "m", "tokens": 5}
    assert (await store.append_summary(cid, "S again", 1, 3)).replayed
    context = await store.get_context(cid, 100)
    assert type(context) is Context
    assert context.summary is not None
    assert context.summary.seq == stored.message.seq
    assert [m.seq for m in context.messages] == [4, 5]
    assert context.tokens == 5 + 11
    with pytest.raises(InvalidInputError):  # a summary covers only what came before it
        await store.append_summary(cid, "S", 1, 99)
    with pytest.raises(InvalidInputError):
        await store.get_context(cid, 0)


async def test_the_turn_key_derives_results_and_reply_and_replays_return_them(
    store: ConversationManager,
) -> None:
    turn = await begin(store, "2+2?", idempotency_key="t")
    cid = turn.conversation_id
    assert cid is not None
    tool = await store.add_message(cid, "tool", "4", {"round": 1}, turn_key="t", tool_index=1)
    assert tool.message.idempotency_key == "t:tool:1"
    resumed = await begin(store, "2+2?", conversation_id=cid, idempotency_key="t")
    assert resumed.replayed
    assert resumed.reply is None
    assert resumed.tool_results == [tool.message]
    reply = await store.add_message(cid, "assistant", "4.", turn_key="t")
    assert reply.message.idempotency_key == "t:assistant"
    assert (await store.add_message(cid, "assistant", "four", turn_key="t")).message == reply.message
    done = await begin(store, "2+2?", conversation_id=cid, idempotency_key="t")
    assert done.reply == reply.message
    assert [m.seq for m in await store.get_messages(cid)] == [1, 2, 3]
    with pytest.raises(InvalidInputError):
        await store.add_message(cid, "tool", "x", turn_key="t")


# -- admin -------------------------------------------------------------------------------


async def test_export_import_round_trip(store: ConversationManager) -> None:
    user_id = uuid.uuid4()
    cid = await with_messages(store, 3, user_id=user_id, metadata={"source": "test"})
    await store.add_message(cid, "tool", "result", {"tool_calls": [{"id": "c"}]}, idempotency_key="x")
    export = await store.export_conversation(cid)
    assert type(export) is ConversationExport
    assert export.conversation_id == cid
    assert export.user_id == user_id
    assert [(m.seq, m.role, m.content) for m in export.messages] == [
        (1, "user", "message 1"),
        (2, "assistant", "message 2"),
        (3, "user", "message 3"),
        (4, "tool", "result"),
    ]
    await store.delete_conversation(cid)
    restored = await store.import_conversation(export)
    assert type(restored) is Conversation
    assert restored.conversation_id == cid
    assert restored.user_id == user_id
    assert restored.metadata == {"source": "test"}
    assert restored.message_count == 4
    again = await store.export_conversation(cid)
    strip = ("id",)
    assert [msgspec.structs.replace(m, **dict.fromkeys(strip)) for m in again.messages] == [
        msgspec.structs.replace(m, **dict.fromkeys(strip)) for m in export.messages
    ]
    assert again.created_at == export.created_at
    # The restored idempotency key still deduplicates.
    replay = await store.add_message(cid, "tool", "result", idempotency_key="x")
    assert replay.replayed
    assert replay.message.seq == 4


async def test_export_pages_are_the_export(store: ConversationManager) -> None:
    cid = await with_messages(store, 5, metadata={"source": "paged"})
    export = await store.export_conversation(cid)
    pages = [await store.export_conversation_page(cid, limit=2)]
    while pages[-1].next_after_seq is not None:
        pages.append(await store.export_conversation_page(cid, pages[-1].next_after_seq, limit=2))
    assert [p.next_after_seq for p in pages] == [2, 4, None]
    fields = msgspec.json.decode(bytes(pages[0].conversation), type=ConversationExport)
    assert fields == msgspec.structs.replace(export, messages=[])
    messages = [m for p in pages for m in msgspec.json.decode(bytes(p.messages), type=list[ExportMessage])]
    assert messages == export.messages
    # A byte budget smaller than one message still makes progress, one message a page.
    assert (
        len(msgspec.json.decode(bytes((await store.export_conversation_page(cid, max_bytes=1)).messages)))
        == 1
    )
    with pytest.raises(InvalidInputError):
        await store.export_conversation_page(cid, limit=0)
    with pytest.raises(NotFoundError):
        await store.export_conversation_page(new_id())


async def test_import_from_a_plain_document(store: ConversationManager) -> None:
    cid = new_id()
    document = {
        "conversation_id": cid,
        "metadata": {"k": "v"},
        "messages": [
            {"role": "assistant", "content": "second", "seq": 2},
            {"role": "user", "content": "first", "seq": 1},
        ],
    }
    restored = await store.import_conversation(document)
    assert restored.message_count == 2
    assert [m.content for m in await store.get_messages(cid)] == ["first", "second"]


async def test_import_clash_conflicts(store: ConversationManager) -> None:
    cid = await with_messages(store, 1)
    export = await store.export_conversation(cid)
    with pytest.raises(ConflictError):
        await store.import_conversation(export)


async def test_import_rejects_bad_messages(store: ConversationManager) -> None:
    document = {"conversation_id": new_id(), "messages": [{"role": "robot", "content": "x"}]}
    with pytest.raises(InvalidInputError):
        await store.import_conversation(document)


async def stats_delta(
    store: ConversationManager, change: Callable[[], Awaitable[Any]], expected: dict[str, int]
) -> None:
    """Stats deltas on a shared database: other sessions may write at the same time, so a
    mismatch is retried a few times before it counts."""
    for _ in range(5):
        before = await store.stats()
        await change()
        after = await store.stats()
        delta = {k: getattr(after, k) - getattr(before, k) for k in expected}
        if delta == expected:
            return
    raise AssertionError(f"stats moved by {delta}, expected {expected}")


async def test_stats(store: ConversationManager, expire: Expire) -> None:
    stats = await store.stats()
    assert type(stats) is Stats
    assert stats.active_conversations == stats.total_conversations - stats.expired_conversations
    assert stats.ttl_hours >= 1

    async def create_with_messages() -> None:
        await with_messages(store, 3)

    await stats_delta(
        store,
        create_with_messages,
        {"total_conversations": 1, "total_messages": 3, "expired_conversations": 0},
    )

    async def expire_one() -> None:
        await expire(await with_messages(store, 0))

    await stats_delta(store, expire_one, {"total_conversations": 1, "expired_conversations": 1})


async def test_cleanup_removes_expired(
    store: ConversationManager, expire: Expire, admin: psycopg.AsyncConnection[Any]
) -> None:
    gone, kept = await with_messages(store, 2), await with_messages(store, 1)
    await expire(gone)
    with pytest.raises(NotFoundError):
        await store.get_conversation(gone)
    removed = await store.cleanup_expired()
    assert isinstance(removed, int)
    assert removed >= 1
    cur = await admin.execute(
        "select (select count(*) from public.ai_conversations where conversation_id = %s),"
        " (select count(*) from public.ai_conversation_messages where conversation_id = %s)",
        (gone, gone),
    )
    assert await cur.fetchone() == (0, 0)
    assert (await store.get_conversation(kept)).message_count == 1
    assert await store.cleanup_expired(batch_size=10) >= 0


async def test_cleanup_batch_size_out_of_range(store: ConversationManager) -> None:
    with pytest.raises(InvalidInputError):
        await store.cleanup_expired(batch_size=0)


# -- errors ------------------------------------------------------------------------------


async def test_missing_and_expired_are_not_found(store: ConversationManager, expire: Expire) -> None:
    expired = await with_messages(store, 1)
    await expire(expired)
    for cid in (new_id(), expired):
        calls: list[Awaitable[Any]] = [
            store.get_conversation(cid),
            store.get_messages(cid),
            store.add_message(cid, "user", "x"),
            store.extend_ttl(cid),
            store.clear_conversation(cid),
            store.delete_conversation(cid),
            store.export_conversation(cid),
        ]
        for call in calls:
            with pytest.raises(NotFoundError) as caught:
                await call
            assert caught.value.sqlstate == "P0002"


@pytest.mark.parametrize(
    ("role", "content", "metadata"),
    [
        pytest.param("robot", "x", None, id="bad-role"),
        pytest.param("user", "", None, id="empty-content"),
        pytest.param("user", "a\x00b", None, id="nul-in-content"),
        pytest.param("user", "x", {"k": "a\x00b"}, id="nul-in-metadata"),
        pytest.param("user", "x", ["not", "an", "object"], id="metadata-not-object"),
    ],
)
async def test_invalid_message_input(
    store: ConversationManager, role: Any, content: str, metadata: Any
) -> None:
    cid = (await store.create_conversation()).conversation_id
    with pytest.raises(InvalidInputError):
        await store.add_message(cid, role, content, metadata)
    assert (await store.get_conversation(cid)).message_count == 0


async def test_oversize_content_and_metadata(
    store: ConversationManager, admin: psycopg.AsyncConnection[Any]
) -> None:
    cid = (await store.create_conversation()).conversation_id
    max_chars = await setting(admin, "max_content_chars")
    await store.add_message(cid, "user", "é" * max_chars)  # characters, not bytes
    with pytest.raises(InvalidInputError) as caught:
        await store.add_message(cid, "user", "x" * (max_chars + 1))
    assert caught.value.sqlstate == "22023"
    max_bytes = await setting(admin, "max_metadata_bytes")
    with pytest.raises(InvalidInputError):
        await store.add_message(cid, "user", "x", {"blob": "x" * max_bytes})
    with pytest.raises(InvalidInputError):
        await store.create_conversation(metadata={"blob": "x" * max_bytes})


@pytest.mark.parametrize(
    "create",
    [
        pytest.param({"metadata": [1, 2]}, id="metadata-not-object"),
        pytest.param({"conversation_id": "has spaces"}, id="bad-id-format"),
        pytest.param({"conversation_id": "nul\x00id"}, id="nul-in-id"),
        pytest.param({"ttl_hours": 0}, id="ttl-zero"),
        pytest.param({"ttl_hours": 10_000_000}, id="ttl-too-long"),
    ],
)
async def test_invalid_conversation_input(store: ConversationManager, create: dict[str, Any]) -> None:
    with pytest.raises(InvalidInputError):
        await store.create_conversation(**create)


@pytest.mark.parametrize("limit", [0, -1, 100_001])
async def test_limits_out_of_range(store: ConversationManager, limit: int) -> None:
    cid = (await store.create_conversation()).conversation_id
    for call in (
        store.get_messages(cid, limit=limit),
        store.get_user_conversations(uuid.uuid4(), limit=limit),
        begin(store, "x", conversation_id=cid, history_limit=limit),
    ):
        with pytest.raises(InvalidInputError):
            await call
    if limit != 0:
        with pytest.raises(InvalidInputError):
            await store.get_conversation(cid, limit=limit)


async def test_malformed_cursor(store: ConversationManager) -> None:
    with pytest.raises(InvalidInputError):
        await store.get_user_conversations(uuid.uuid4(), cursor="not-a-cursor")


# -- users -------------------------------------------------------------------------------


async def test_user_owns_what_it_creates(as_user: UserStore) -> None:
    alice = new_user()
    store = as_user(alice)
    conversation = await store.create_conversation()
    assert conversation.user_id == alice.user_id
    with pytest.raises(ConflictError):  # its own id: the owner may know it is taken
        await store.create_conversation(conversation_id=conversation.conversation_id)
    await store.add_message(conversation.conversation_id, "user", "mine")
    page = await store.get_conversation(conversation.conversation_id)
    assert [m.content for m in page.messages] == ["mine"]
    listed = await store.get_user_conversations()
    assert [c.conversation_id for c in listed.conversations] == [conversation.conversation_id]
    assert (await store.get_user_conversations(alice.user_id)).conversations == listed.conversations
    turn = await begin(store, "turn", conversation_id=conversation.conversation_id)
    assert [m.content for m in turn.history] == ["mine", "turn"]
    await store.extend_ttl(conversation.conversation_id, 1)
    assert (await store.export_conversation(conversation.conversation_id)).user_id == alice.user_id
    assert (await store.clear_conversation(conversation.conversation_id)).cleared == 2
    assert (await store.delete_conversation(conversation.conversation_id)).deleted


async def test_user_never_sees_other_users_or_anonymous(
    store: ConversationManager, as_user: UserStore
) -> None:
    alice, bob = new_user(), new_user()
    bobs = await with_messages(store, 1, user_id=bob.user_id)
    anonymous = await with_messages(store, 1)
    alices = as_user(alice)
    await alices.create_conversation()
    for cid in (bobs, anonymous):
        calls: list[Awaitable[Any]] = [
            alices.get_conversation(cid),
            alices.get_messages(cid),
            alices.add_message(cid, "user", "intrude"),
            begin(alices, "intrude", conversation_id=cid),
            begin(alices, "intrude", conversation_id=cid, token_budget=100),
            alices.get_context(cid, 100),
            alices.get_summary_input(cid, 1, 1),
            alices.append_summary(cid, "intrude", 1, 1),
            alices.extend_ttl(cid),
            alices.clear_conversation(cid),
            alices.export_conversation(cid),
            alices.delete_conversation(cid),
        ]
        for call in calls:
            with pytest.raises(NotFoundError):
                await call
        # Users do not choose ids: a taken id answers exactly like a free one (no oracle).
        with pytest.raises(ForbiddenError) as taken:
            await alices.create_conversation(conversation_id=cid)
        with pytest.raises(ForbiddenError) as free:
            await alices.create_conversation(conversation_id=new_id())
        assert (taken.value.sqlstate, taken.value.message) == (free.value.sqlstate, free.value.message)
    listed = await alices.get_user_conversations(limit=100)
    assert {c.user_id for c in listed.conversations} == {alice.user_id}
    # Nothing changed for the owners.
    assert (await store.get_conversation(bobs)).message_count == 1
    assert (await store.get_conversation(anonymous)).message_count == 1
    assert [m.content for m in await as_user(bob).get_messages(bobs)] == ["message 1"]


async def test_user_forbidden_operations(store: ConversationManager, as_user: UserStore) -> None:
    alice, bob = new_user(), new_user()
    alices = as_user(alice)
    calls: list[Awaitable[Any]] = [
        alices.stats(),
        alices.cleanup_expired(),
        alices.import_conversation({"conversation_id": new_id(), "user_id": str(alice.user_id)}),
        alices.create_conversation(bob.user_id),
        alices.get_user_conversations(bob.user_id),
        begin(alices, "x", user_id=bob.user_id),
    ]
    for call in calls:
        with pytest.raises(ForbiddenError) as caught:
            await call
        assert caught.value.sqlstate == "42501"


async def test_concurrent_appends_stay_gapless(store: ConversationManager) -> None:
    cid = (await store.create_conversation()).conversation_id
    results = await asyncio.gather(*(store.add_message(cid, "user", f"m{i}") for i in range(20)))
    assert sorted(r.message.seq for r in results) == list(range(1, 21))


async def test_timestamps_are_recent(store: ConversationManager) -> None:
    conversation = await store.create_conversation()
    assert abs(conversation.created_at - datetime.now(UTC)) < timedelta(minutes=5)


# -- items (the /v1 API's store calls) -----------------------------------------------------
async def respond(
    store: ConversationManager,
    cid: str | None,
    inputs: list[NewMessage],
    outputs: list[NewMessage],
    **options: Any,
) -> tuple[str, BegunTurn, FinishedTurn]:
    """A /v1 response as the engine stores one: a turn of kind response, its input, its output."""
    begun = await store.begin_turn(inputs, kind="response", conversation_id=cid, token_budget=1000, **options)
    assert begun.turn is not None
    finished = await store.finish_turn(begun.turn.id, outputs)
    return f"resp_{begun.turn.id.hex}", begun, finished


async def test_items_append_list_get_delete(store: ConversationManager) -> None:
    cid = (await store.create_conversation(conversation_id=new_id())).conversation_id
    resp, begun, finished = await respond(
        store, cid, [NewMessage("user", "one", {"openai": {"type": "message"}}, "msg_one")],
        [NewMessage("assistant", "two", {"openai": {"source": "output"}})],
    )  # fmt: skip
    stored = [
        *begun.input,
        *finished.messages,
        *await store.append_messages(cid, [NewMessage("user", "three")]),
    ]
    assert [m.seq for m in stored] == [1, 2, 3]
    assert stored[0].idempotency_key == "msg_one"
    page = await store.list_messages(cid, limit=2)
    assert [m.seq for m in page.messages] == [3, 2]
    assert page.has_more
    rest = await store.list_messages(cid, limit=2, after=f"msg_{stored[1].id.hex}")
    assert [m.seq for m in rest.messages] == [1]
    assert not rest.has_more
    assert (await store.get_message(cid, "msg_one")).content == "one"
    record = await store.get_response(resp)
    assert ([m.seq for m in record.input], [m.seq for m in record.output]) == ([1], [2])
    assert (record.turn.kind, record.turn.state) == ("response", "completed")
    assert record.conversation.conversation_id == cid
    assert not record.latest
    items = await store.list_response_items(resp)
    assert ([m.seq for m in items.messages], items.has_more) == ([1], False)
    updated = await store.update_conversation(cid, {"metadata": {"topic": "t"}})
    assert updated.metadata == {"topic": "t"}
    after_delete = await store.delete_message(cid, "msg_one")
    assert after_delete.message_count == 2
    with pytest.raises(NotFoundError):
        await store.get_message(cid, "msg_one")
    assert (await store.delete_response(resp)).deleted == 1
    with pytest.raises(NotFoundError):
        await store.get_response(resp)


async def test_a_response_is_its_turns_messages_never_an_id_in_metadata(store: ConversationManager) -> None:
    """Issue 22, item 9: a message elsewhere that carries a response's id in its metadata is
    not that response's, and does not make one."""
    resp, _, _ = await respond(store, None, [NewMessage("user", "q")], [NewMessage("assistant", "a")])
    other = (await store.create_conversation()).conversation_id
    forged = f"resp_{uuid.uuid4().hex}"
    await store.append_messages(
        other,
        [
            NewMessage("assistant", "not the answer", {"openai": {"response_id": resp, "source": "output"}}),
            NewMessage("assistant", "no response", {"openai": {"response_id": forged, "source": "output"}}),
        ],
    )
    record = await store.get_response(resp)
    assert [m.content for m in record.output] == ["a"]
    with pytest.raises(NotFoundError):
        await store.get_response(forged)


async def test_context_fits_and_a_forks_copies(store: ConversationManager, as_user: UserStore) -> None:
    """The /v1 additions: whether a history (up to a seq) and an input fit untruncated, and a
    response's messages being its own, never a fork's copies of them."""
    cid = (await store.create_conversation(conversation_id=new_id())).conversation_id
    resp, _, _ = await respond(
        store, cid, [NewMessage("user", "q", {"tokens": 10})], [NewMessage("assistant", "a", {"tokens": 10})]
    )
    await store.append_messages(cid, [NewMessage("user", "later", {"tokens": 10})])
    nxt = [NewMessage("user", "next", {"tokens": 5})]
    fit = await store.context_fits(cid, 35, 10, messages=nxt)
    assert type(fit) is ContextFit
    assert (fit.fits, fit.tokens, fit.messages, fit.left_out) == (True, 35, 4, None)
    assert fit.context is not None
    assert [m.seq for m in fit.context.messages] == [1, 2, 3]
    short = await store.context_fits(cid, 34, 10, messages=nxt)
    assert not short.fits
    assert short.left_out is not None
    assert (await store.context_fits(cid, 25, 10, at_seq=2, messages=nxt)).fits
    assert (await store.context_fits(None, 5, messages=nxt)).fits
    with pytest.raises(NotFoundError):
        await as_user(new_user()).context_fits(cid, 100)

    assert not (await store.get_response(resp)).latest
    fork = await store.fork_conversation(cid, 2)
    record = await store.get_response(resp)
    assert record.conversation.conversation_id == cid
    assert [m.seq for m in [*record.input, *record.output]] == [1, 2]
    assert (await store.delete_response(resp)).deleted == 2
    assert (await store.get_conversation(fork.conversation_id)).message_count == 2


async def test_items_of_another_user_are_not_found(as_user: UserStore) -> None:
    alice, bob = as_user(new_user()), as_user(new_user())
    cid = (await alice.create_conversation()).conversation_id
    resp, begun, _ = await respond(alice, cid, [NewMessage("user", "mine", {}, "msg_a")], [])
    assert begun.turn is not None
    for call in (
        bob.get_message(cid, "msg_a"),
        bob.delete_message(cid, "msg_a"),
        bob.list_messages(cid),
        bob.append_messages(cid, [NewMessage("user", "intruder")]),
        bob.update_conversation(cid, {}),
        bob.get_response(resp),
        bob.delete_response(resp),
        bob.list_response_items(resp),
        bob.finish_turn(begun.turn.id, [NewMessage("assistant", "forged")]),
        bob.begin_turn(
            [NewMessage("user", "x")], kind="response", previous_response_id=resp, token_budget=99
        ),
    ):
        with pytest.raises(NotFoundError):
            await call
    assert (await alice.get_response(resp)).output == []


# -- organise and govern (issue 12) ---------------------------------------------------------


async def test_title_update_and_filtered_listing(as_user: UserStore) -> None:
    alice = new_user()
    store = as_user(alice)
    first = await with_messages(store, 2)
    second = await with_messages(store, 1)
    assert (await store.get_conversation(first)).title == "message 1"
    changed = await store.update_conversation(first, {"pinned": True, "tags": ["x"], "title": "Mine"})
    assert type(changed) is Conversation
    assert (changed.pinned, changed.tags, changed.title) == (True, ["x"], "Mine")
    await store.update_conversation(second, {"archived": True})
    listed = await store.get_user_conversations()
    assert [c.conversation_id for c in listed.conversations] == [first]
    assert listed.conversations[0].last_message is not None
    assert listed.conversations[0].last_message.content == "message 2"
    archived = await store.get_user_conversations(archived=True)
    assert [c.conversation_id for c in archived.conversations] == [second]
    assert (await store.get_user_conversations(tags=["x"], pinned=True)).conversations[0].title == "Mine"
    assert (await store.get_user_conversations(metadata={"nope": 1})).conversations == []
    with pytest.raises(InvalidInputError):
        await store.update_conversation(first, {"tags": ["x" * 51]})
    with pytest.raises(ForbiddenError):
        await store.update_conversation(first, {"legal_hold": True})


async def test_search_fork_feedback_usage(store: ConversationManager, as_user: UserStore) -> None:
    alice, bob = new_user(), new_user()
    word = "w" + uuid.uuid4().hex[:12]
    alices = as_user(alice)
    cid = (await alices.create_conversation()).conversation_id
    await alices.add_message(cid, "user", f"find {word} here")
    await alices.add_message(cid, "assistant", "ok", {"model": "m", "tokens": {"prompt": 3, "completion": 4}})
    found = await alices.search(word)
    assert [(h.conversation_id, h.seq) for h in found.hits] == [(cid, 1)]
    assert "<mark>" in found.hits[0].snippet
    assert (await as_user(bob).search(word)).hits == []
    fork = await alices.fork_conversation(cid, 1, title="Fork")
    assert fork.metadata["forked_from"] == {"conversation_id": cid, "seq": 1}
    assert fork.message_count == 1
    assert fork.user_id == alice.user_id
    rated = await alices.set_feedback(cid, 2, -1, "wrong")
    assert (rated.message.seq, rated.feedback.rating, rated.feedback.comment) == (2, -1, "wrong")
    assert (await alices.delete_feedback(cid, 2)).deleted
    with pytest.raises(NotFoundError):
        await as_user(bob).set_feedback(cid, 2, 1)
    with pytest.raises(NotFoundError):
        await as_user(bob).fork_conversation(cid, 1)
    usage = await alices.get_usage(group_by=["model"])
    assert {r.model: (r.messages, r.prompt_tokens, r.completion_tokens) for r in usage.rows} == {
        "": (1, 0, 0),  # the user message; the fork's copy of it is not usage
        "m": (1, 3, 4),
    }
    with pytest.raises(ForbiddenError):
        await alices.get_usage(bob.user_id)
    assert (await store.get_usage(alice.user_id)).rows[0].messages == 2


async def test_erasure_keeps_legal_holds(store: ConversationManager, as_user: UserStore) -> None:
    alice = new_user()
    kept = await with_messages(store, 1, user_id=alice.user_id)
    gone = await with_messages(store, 2, user_id=alice.user_id)
    held = await store.update_conversation(kept, {"legal_hold": True})
    assert held.legal_hold
    assert held.expires_at.year == 9999
    with pytest.raises(ForbiddenError):
        await as_user(alice).erase_user_data(alice.user_id)
    erasure = await store.erase_user_data(alice.user_id)
    assert (erasure.conversations_removed, erasure.messages_removed) == (1, 2)
    assert (erasure.conversations_kept, erasure.kept_reason) == (1, "legal hold")
    with pytest.raises(NotFoundError):
        await store.get_conversation(gone)
    assert (await store.list_erasures(alice.user_id))[0].id == erasure.id
    with pytest.raises(ForbiddenError):
        await store.delete_conversation(kept)
    await store.update_conversation(kept, {"legal_hold": False})
    await store.delete_conversation(kept)
