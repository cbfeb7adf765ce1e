"""ConversationManager: the store's public face, one SQL function call per method.

No rule lives here: TTL, ordering, idempotency, visibility and limits are enforced by the
database. The manager names the call, drops unset arguments (so SQL defaults apply) and
decodes the JSON answer into typed structs.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any, Literal, TypeVar
from uuid import UUID

import msgspec

from app.store.errors import StoreError
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
    Erasure,
    ExportPage,
    ExtendResult,
    FeedbackDeleted,
    FeedbackResult,
    FinishedTurn,
    LeaseRenewal,
    Message,
    MessagePage,
    NewMessage,
    ResponseDeleted,
    ResponseRecord,
    Role,
    SearchResult,
    Stats,
    StreamWindow,
    SummaryInput,
    TurnKind,
    TurnRecord,
    TurnView,
    Usage,
)
from app.store.transport import SERVICE, Principal, Transport
from app.unique import unique_token

__all__ = ["OWN_KEY_PREFIX", "ConversationManager"]

T = TypeVar("T")

# The idempotency keys the store gives appends that came without one.
OWN_KEY_PREFIX = "auto:"


def _own_key() -> str:
    """A fresh idempotency key for an append whose caller sent none: a retry of the call
    (after a connection broke under it, when it may have committed) then replays the first
    attempt instead of storing the message twice."""
    return OWN_KEY_PREFIX + unique_token()


def _first_for_caller(result: AppendResult, own_key: bool) -> AppendResult:
    """A replay of the store's own key is its own retry finding the first attempt committed:
    for the caller, who sent no key, the message was appended once, now (201, not 200)."""
    if result.replayed and own_key:
        return msgspec.structs.replace(result, replayed=False)
    return result


class ConversationManager:
    """Conversation history kept in Supabase, acting as one principal (the service by default)."""

    __slots__ = ("principal", "transport")

    def __init__(self, transport: Transport, principal: Principal = SERVICE) -> None:
        self.transport = transport
        self.principal = principal

    def as_principal(self, principal: Principal) -> ConversationManager:
        """The same store acting as someone else (cheap: shares the transport)."""
        return ConversationManager(self.transport, principal)

    async def _call(self, function: str, result_type: type[T], *, retry: bool = False, **args: Any) -> T:
        """`retry`: the call may run twice to the same effect (see Transport.call)."""
        raw = await self.transport.call(
            function, {k: v for k, v in args.items() if v is not None}, self.principal, retry=retry
        )
        try:
            return msgspec.json.decode(raw, type=result_type)
        except msgspec.DecodeError as exc:  # ValidationError included: a schema/code mismatch
            raise StoreError(f"{function} answered in an unexpected shape: {exc}") from exc

    # -- conversations -------------------------------------------------------------------
    async def create_conversation(
        self,
        user_id: UUID | str | None = None,
        *,
        conversation_id: str | None = None,
        metadata: dict[str, Any] | None = None,
        ttl_hours: int | None = None,
    ) -> Conversation:
        return await self._call(
            "create_conversation",
            Conversation,
            p_conversation_id=conversation_id,
            p_user_id=str(user_id) if user_id else None,
            p_metadata=metadata,
            p_ttl_hours=ttl_hours,
        )

    async def get_conversation(
        self, conversation_id: str, limit: int = 50, before: int | None = None
    ) -> ConversationPage:
        return await self._call(
            "get_conversation",
            ConversationPage,
            retry=True,
            p_conversation_id=conversation_id,
            p_message_limit=limit,
            p_before_seq=before,
        )

    async def get_stream_window(
        self, conversation_id: str, limit: int = 0, before: int | None = None
    ) -> StreamWindow:
        """get_conversation as a live stream reads it: the row it is bound to and a window of
        messages (see StreamWindow). NotFoundError when the caller may not read it."""
        return await self._call(
            "get_conversation",
            StreamWindow,
            retry=True,
            p_conversation_id=conversation_id,
            p_message_limit=limit,
            p_before_seq=before,
        )

    async def get_user_conversations(
        self,
        user_id: UUID | str | None = None,
        limit: int = 10,
        cursor: str | None = None,
        *,
        archived: bool = False,
        pinned: bool | None = None,
        tags: Sequence[str] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> ConversationList:
        """Pinned first, then most recently updated; archived ones only with archived=True."""
        return await self._call(
            "list_conversations",
            ConversationList,
            retry=True,
            p_user_id=str(user_id) if user_id else None,
            p_limit=limit,
            p_cursor=cursor,
            p_archived=archived,
            p_pinned=pinned,
            p_tags=list(tags) if tags else None,
            p_metadata=metadata,
        )

    async def update_conversation(self, conversation_id: str, changes: dict[str, Any]) -> Conversation:
        """Write the fields present in `changes` (title, metadata or metadata_patch, archived,
        pinned, tags; legal_hold for the service), keep the others."""
        return await self._call(
            "update_conversation", Conversation, p_conversation_id=conversation_id, p_changes=changes
        )

    async def fork_conversation(
        self,
        conversation_id: str,
        at_seq: int,
        *,
        new_conversation_id: str | None = None,
        title: str | None = None,
    ) -> Conversation:
        """A new conversation of the same owner with copies of messages 1..at_seq."""
        return await self._call(
            "fork_conversation",
            Conversation,
            p_conversation_id=conversation_id,
            p_at_seq=at_seq,
            p_new_conversation_id=new_conversation_id,
            p_title=title,
        )

    async def search(
        self,
        query: str,
        *,
        user_id: UUID | str | None = None,
        limit: int = 20,
        cursor: str | None = None,
    ) -> SearchResult:
        return await self._call(
            "search_messages",
            SearchResult,
            p_query=query,
            p_user_id=str(user_id) if user_id else None,
            p_limit=limit,
            p_cursor=cursor,
        )

    async def extend_ttl(self, conversation_id: str, hours: int = 24) -> ExtendResult:
        return await self._call(
            "extend_conversation", ExtendResult, p_conversation_id=conversation_id, p_hours=hours
        )

    async def clear_conversation(self, conversation_id: str) -> ClearResult:
        return await self._call("clear_conversation", ClearResult, p_conversation_id=conversation_id)

    async def delete_conversation(self, conversation_id: str) -> DeleteResult:
        return await self._call("delete_conversation", DeleteResult, p_conversation_id=conversation_id)

    # -- messages ------------------------------------------------------------------------
    async def add_message(
        self,
        conversation_id: str,
        role: Role,
        content: str,
        metadata: dict[str, Any] | None = None,
        *,
        idempotency_key: str | None = None,
        turn_key: str | None = None,
        tool_index: int | None = None,
    ) -> AppendResult:
        """Append one message. A chat turn's tool result (its `tool_index`-th) or reply passes
        the turn's idempotency key as `turn_key`: the database derives the message's own.
        Without either key the append gets one of its own (see _own_key), so the transport may
        send it again after a broken connection without storing it twice."""
        own = idempotency_key is None and turn_key is None
        result = await self._call(
            "append_message",
            AppendResult,
            retry=True,
            p_conversation_id=conversation_id,
            p_role=role,
            p_content=content,
            p_metadata=metadata,
            p_idempotency_key=_own_key() if own else idempotency_key,
            p_turn_key=turn_key,
            p_tool_index=tool_index,
        )
        return _first_for_caller(result, own)

    async def append_messages(self, conversation_id: str, messages: list[NewMessage]) -> list[Message]:
        """Append several messages in order, all or none (a replayed key returns the original)."""
        return await self._call(
            "append_messages",
            list[Message],
            p_conversation_id=conversation_id,
            p_messages=msgspec.to_builtins(messages),
        )

    async def get_message(self, conversation_id: str, item_id: str) -> Message:
        """One message by item id: its idempotency key, or `<prefix>_<uuid hex>`."""
        return await self._call("get_message", Message, p_conversation_id=conversation_id, p_item_id=item_id)

    async def list_messages(
        self, conversation_id: str, limit: int = 20, order: str = "desc", after: str | None = None
    ) -> MessagePage:
        """A page of messages in seq order (`asc` or `desc`) after the item `after`."""
        return await self._call(
            "list_messages",
            MessagePage,
            p_conversation_id=conversation_id,
            p_limit=limit,
            p_order=order,
            p_after=after,
        )

    async def delete_message(self, conversation_id: str, item_id: str) -> Conversation:
        """Delete one message by item id (its seq is never reused); returns the conversation."""
        return await self._call(
            "delete_message", Conversation, p_conversation_id=conversation_id, p_item_id=item_id
        )

    async def get_response(self, response_id: str) -> ResponseRecord:
        """One /v1 response: its turn, its conversation and the messages its turn stored."""
        return await self._call("get_response", ResponseRecord, retry=True, p_response_id=response_id)

    async def list_response_items(
        self, response_id: str, limit: int = 20, order: str = "desc", after: str | None = None
    ) -> MessagePage:
        """A page of one response's input items in seq order (`asc` or `desc`) after the item `after`."""
        return await self._call(
            "list_response_items",
            MessagePage,
            retry=True,
            p_response_id=response_id,
            p_limit=limit,
            p_order=order,
            p_after=after,
        )

    async def delete_response(self, response_id: str) -> ResponseDeleted:
        return await self._call("delete_response", ResponseDeleted, p_response_id=response_id)

    async def get_messages(
        self, conversation_id: str, limit: int = 10, before: int | None = None
    ) -> list[Message]:
        return await self._call(
            "get_messages",
            list[Message],
            retry=True,
            p_conversation_id=conversation_id,
            p_limit=limit,
            p_before_seq=before,
        )

    async def begin_turn(
        self,
        input: Sequence[NewMessage],
        *,
        kind: TurnKind = "chat",
        conversation_id: str | None = None,
        previous_response_id: str | None = None,
        create_if_missing: bool = False,
        user_id: UUID | str | None = None,
        conversation_metadata: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
        history_limit: int = 10,
        token_budget: int | None = None,
        truncate: bool = True,
        store: bool = True,
        request: dict[str, Any] | None = None,
        turn_id: UUID | None = None,
        regenerate: bool = False,
        superseded_id: str | None = None,
    ) -> BegunTurn:
        """The first of a turn's two round trips (begin_turn): where it goes, its input stored,
        the history window ending with it. The turn's key names it and its own message (the
        last input) when that has none; without one the turn gets a key of its own, as appends
        do (see _own_key), so the transport may send the call again."""
        own = idempotency_key is None
        turn = await self._call(
            "begin_turn",
            BegunTurn,
            # Without a conversation a second run would start a second one.
            retry=conversation_id is not None or previous_response_id is not None,
            p_input=msgspec.to_builtins(list(input)),
            p_kind=kind,
            p_conversation_id=conversation_id,
            p_previous_response_id=previous_response_id,
            p_create_if_missing=create_if_missing or None,
            p_user_id=str(user_id) if user_id else None,
            p_conversation_metadata=conversation_metadata,
            p_idempotency_key=_own_key() if own and store else idempotency_key,
            p_history_limit=history_limit,
            p_token_budget=token_budget,
            p_truncate=None if truncate else False,
            p_store=None if store else False,
            p_request=request,
            p_turn_id=str(turn_id) if turn_id else None,
            p_regenerate=regenerate or None,
            p_superseded_id=superseded_id,
        )
        if turn.replayed and own:  # the store's own retry: new for the caller
            return msgspec.structs.replace(turn, replayed=False)
        return turn

    async def finish_turn(
        self,
        turn_id: UUID,
        messages: Sequence[NewMessage] = (),
        *,
        state: Literal["completed", "stopped", "failed"] = "completed",
        result: dict[str, Any] | None = None,
        events: list[dict[str, Any]] | None = None,
        event_seq: int | None = None,
    ) -> FinishedTurn:
        """The second round trip (finish_turn): the turn's output stored and its state, after the
        last batch of its stream (`events` from `event_seq`: written as append_turn_events would,
        left out if it does not continue the stream). A finished turn answers its stored output,
        so the call may run twice."""
        return await self._call(
            "finish_turn",
            FinishedTurn,
            retry=True,
            p_turn_id=str(turn_id),
            p_messages=msgspec.to_builtins(list(messages)),
            p_state=state,
            p_result=result,
            p_events=events,
            p_event_seq=event_seq,
        )

    async def get_turn(
        self, turn_id: UUID | str, after_event: int | None = None, limit: int | None = None
    ) -> TurnView:
        """One turn (its id, or a response id) with its output; with `after_event`, the batches of
        its stream after that seq. NotFoundError when the caller may not see it."""
        return await self._call(
            "get_turn",
            TurnView,
            retry=True,
            p_turn_id=str(turn_id),
            p_after_event=after_event,
            p_limit=limit,
        )

    async def get_running_turn(self, conversation_id: str) -> TurnView | None:
        """The conversation's newest turn still in progress, from the start of its stream; None
        when there is none. NotFoundError when the caller may not read the conversation."""
        running: type[TurnView | None] = TurnView | None  # type: ignore[assignment]
        return await self._call("get_running_turn", running, retry=True, p_conversation_id=conversation_id)

    async def stop_turn(self, turn_id: UUID | str) -> TurnRecord:
        """Ask a running turn to stop (idempotent: a finished one is answered as it is)."""
        return await self._call("stop_turn", TurnRecord, retry=True, p_turn_id=str(turn_id))

    async def append_turn_events(self, turn_id: UUID, seq: int, events: list[dict[str, Any]]) -> bool:
        """Write a batch of a running turn's events from `seq` (the service). False: the turn is not
        running any more, or the batch was written already."""
        written: bool = await self._call(
            "append_turn_events", bool, retry=True, p_turn_id=str(turn_id), p_seq=seq, p_events=events
        )
        return written

    async def renew_turn_leases(self, turn_ids: Sequence[UUID]) -> LeaseRenewal:
        return await self._call(
            "renew_turn_leases", LeaseRenewal, retry=True, p_turn_ids=[str(t) for t in turn_ids]
        )

    async def fail_expired_turns(self, turn_id: UUID | None = None) -> int:
        """Mark failed the running turns whose lease ran out (or only `turn_id`); how many."""
        failed: int = await self._call(
            "fail_expired_turns", int, retry=True, p_turn_id=str(turn_id) if turn_id else None
        )
        return failed

    async def get_context(self, conversation_id: str, token_budget: int, limit: int | None = None) -> Context:
        """What the next turn with this token budget would send (its new message aside)."""
        return await self._call(
            "get_context",
            Context,
            p_conversation_id=conversation_id,
            p_token_budget=token_budget,
            p_limit=limit,
        )

    async def context_fits(
        self,
        conversation_id: str | None,
        token_budget: int,
        limit: int | None = None,
        *,
        at_seq: int | None = None,
        messages: list[NewMessage] | None = None,
    ) -> ContextFit:
        """Whether the history up to `at_seq` (all of it; none without a conversation) and the
        `messages` about to be stored fit the budget and the cap untruncated (stores nothing)."""
        return await self._call(
            "context_fits",
            ContextFit,
            retry=True,  # it stores nothing
            p_conversation_id=conversation_id,
            p_token_budget=token_budget,
            p_limit=limit,
            p_at_seq=at_seq,
            p_messages=[
                {"role": m.role, "content": m.content, "metadata": m.metadata} for m in messages or []
            ],
        )

    async def get_summary_input(self, conversation_id: str, first_seq: int, last_seq: int) -> SummaryInput:
        return await self._call(
            "get_summary_input",
            SummaryInput,
            p_conversation_id=conversation_id,
            p_first_seq=first_seq,
            p_last_seq=last_seq,
        )

    async def append_summary(
        self,
        conversation_id: str,
        content: str,
        first_seq: int,
        last_seq: int,
        *,
        model: str | None = None,
        tokens: int | None = None,
    ) -> AppendResult:
        """Store a summary of seqs first_seq..last_seq (once per range: a second is a replay)."""
        return await self._call(
            "append_summary",
            AppendResult,
            p_conversation_id=conversation_id,
            p_content=content,
            p_first_seq=first_seq,
            p_last_seq=last_seq,
            p_model=model,
            p_tokens=tokens,
        )

    async def set_feedback(
        self, conversation_id: str, seq: int, rating: Literal[1, -1], comment: str | None = None
    ) -> FeedbackResult:
        return await self._call(
            "set_message_feedback",
            FeedbackResult,
            p_conversation_id=conversation_id,
            p_seq=seq,
            p_rating=rating,
            p_comment=comment,
        )

    async def delete_feedback(self, conversation_id: str, seq: int) -> FeedbackDeleted:
        return await self._call(
            "delete_message_feedback", FeedbackDeleted, p_conversation_id=conversation_id, p_seq=seq
        )

    async def get_usage(
        self,
        user_id: UUID | str | None = None,
        *,
        start: date | None = None,
        end: date | None = None,
        group_by: Sequence[Literal["day", "model"]] = (),
    ) -> Usage:
        """Messages, tokens and cost over the UTC days [start, end), in one row or per day
        and/or model (the usage ledger plus the messages since its last roll-up)."""
        return await self._call(
            "get_usage",
            Usage,
            p_user_id=str(user_id) if user_id else None,
            p_from=start.isoformat() if start else None,
            p_to=end.isoformat() if end else None,
            p_group_by=list(group_by) if group_by else None,
        )

    # -- admin ---------------------------------------------------------------------------
    async def stats(self) -> Stats:
        return await self._call("conversation_stats", Stats, retry=True)

    async def cleanup_expired(self, batch_size: int | None = None) -> int:
        return await self._call("cleanup_expired_conversations", int, p_batch_size=batch_size)

    async def export_conversation(self, conversation_id: str) -> ConversationExport:
        return await self._call(
            "export_conversation", ConversationExport, retry=True, p_conversation_id=conversation_id
        )

    async def export_conversation_page(
        self,
        conversation_id: str,
        after_seq: int | None = None,
        *,
        limit: int | None = None,
        max_bytes: int | None = None,
    ) -> ExportPage:
        """One page of the export, messages after seq `after_seq` (see app.store.export)."""
        return await self._call(
            "export_conversation_page",
            ExportPage,
            p_conversation_id=conversation_id,
            p_after_seq=after_seq,
            p_limit=limit,
            p_max_bytes=max_bytes,
        )

    async def import_conversation(self, export: ConversationExport | dict[str, Any]) -> Conversation:
        document = msgspec.to_builtins(export) if isinstance(export, ConversationExport) else export
        return await self._call("import_conversation", Conversation, p_export=document)

    async def erase_user_data(self, user_id: UUID | str, batch_size: int | None = None) -> Erasure:
        """Erase a user's conversations (legal holds kept) and return the erasure record."""
        return await self._call("erase_user_data", Erasure, p_user_id=str(user_id), p_batch_size=batch_size)

    async def list_erasures(self, user_id: UUID | str | None = None, limit: int = 50) -> list[Erasure]:
        return await self._call(
            "list_erasures", list[Erasure], p_user_id=str(user_id) if user_id else None, p_limit=limit
        )
