"""TurnEngine: the one chat turn behind every face.

A turn is two store calls around the model:
1. `begin` (begin_turn, one SQL call): where the turn goes (a new conversation, a given one, or
   the one a previous response lives in, forked when that response is not the latest), its input
   stored, the history window ending with it. Raises the store's errors before anything is sent
   to the model: an unknown conversation is a real 404, a bad input a real 4xx.
2. the model, measured, with the tools on offer: the API's own tools run here, each result
   stored as it comes (append_message, keyed from the turn's key) and the model called again, at
   most CHAT_MAX_TOOL_ROUNDS times; a call of a client tool ends the turn as an output;
3. `finish_turn` (one SQL call): the output (the reply, then the client tool calls) stored, with
   the turn's state and what it cost.
A plain turn therefore costs two store calls on every face. A summary the database reports due
is written after the reply, in the background (app.llm.compaction), and a new conversation gets a
generated title once the answer is out (`title`, which the face schedules after sending).

Failures: the provider failing (ProviderError: timeout, HTTP error, unreachable, malformed or
empty answer) or the store refusing the answer (ReplyRejected: longer than max_content_chars,
the model's output, not the client's input) marks the turn failed (one more call) and raises;
the input and any tool results stay stored, each a complete record. Idempotency is the
database's: a retry with the turn's key stores nothing twice, and `begin` answers what the first
attempt stored (its reply, returned without calling the model, or its tool results, after which
the model loop resumes without running or storing them again). Two concurrent attempts with one
key may both reach the model, but only one reply is stored and both return it.

Streaming: deltas are yielded as the model produces them; the output is stored once the model's
last round completed, and the last event, TurnCompleted, carries it. Once complete, storing it is
shielded from cancellation: it is stored whole or not at all.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar
from uuid import UUID, uuid4

import msgspec

from app.config import LLMSettings
from app.llm.compaction import Compactor
from app.llm.prompt import history_messages
from app.llm.provider import (
    ChatMessage,
    Completion,
    CompletionRequest,
    MalformedResponse,
    Provider,
    ProviderError,
    ReplyRejected,
    TextDelta,
    ToolCall,
    ToolSpec,
    Usage,
)
from app.llm.tools import ToolRegistry
from app.store.errors import InvalidInputError, StoreError
from app.store.manager import ConversationManager
from app.store.models import BegunTurn, Compaction, Context, Message, NewMessage, TurnRecord, WindowChoice
from app.turns.events import (
    ChatResult,
    SentContext,
    ToolCallRecord,
    ToolExecuted,
    TurnCompleted,
    TurnDelta,
    TurnEvent,
    TurnStarted,
    TurnStopped,
)
from app.turns.request import TurnRequest

__all__ = ["TITLE_PROMPT", "Turn", "TurnControl", "TurnEngine"]

log = logging.getLogger("app.turns")

T = TypeVar("T")

TITLE_PROMPT = (
    "Write a title of at most six words for a conversation that starts with the user's message "
    "below. Answer with the title only: no quotes, no punctuation at the end."
)


@dataclass(frozen=True, slots=True)
class Turn:
    """A begun turn: the request, what begin_turn answered, and the window the model is sent
    (`history`, ending with the turn's own message; with nothing stored, the stored window
    followed by the input)."""

    request: TurnRequest
    begun: BegunTurn
    history: list[Message]
    started: float

    @property
    def record(self) -> TurnRecord | None:
        return self.begun.turn

    @property
    def id(self) -> UUID | None:
        return self.begun.turn.id if self.begun.turn is not None else None

    @property
    def conversation_id(self) -> str:
        return self.begun.conversation_id or ""

    @property
    def created(self) -> bool:
        return self.begun.created

    @property
    def replayed(self) -> bool:
        return self.begun.replayed

    @property
    def user_message(self) -> Message:
        """The turn's own message: the last of its input."""
        return self.history[-1] if not self.request.store else self.begun.input[-1]

    @property
    def context(self) -> WindowChoice | None:
        return self.begun.context

    @property
    def summary(self) -> Message | None:
        context = self.begun.context
        return context.summary if context is not None and self.request.include_history else None

    @property
    def compaction(self) -> Compaction | None:
        """A summary the database says is due (after this turn's reply), if any."""
        context = self.begun.context
        if context is None or not context.compaction.due or not self.request.store:
            return None
        return context.compaction

    def sent(self) -> SentContext:
        summary, context = self.summary, self.context
        return SentContext(
            seqs=[m.seq for m in self.history if m.seq],
            summary_seq=summary.seq if summary is not None else None,
            covers=summary.metadata.get("covers") if summary is not None else None,
            tokens=context.tokens if context is not None else None,
            token_budget=context.token_budget if context is not None else None,
        )


@dataclass(slots=True)
class TurnControl:
    """What a turn's runner (app.turns.runner) gives the engine: `stop`, set to end generation
    early (what was generated is stored, the turn finished as stopped), and `last_batch`,
    awaited before each store call that finishes the turn: the stream's events not written yet,
    as (first seq, events), which finish_turn writes before the stream's end."""

    stop: asyncio.Event = field(default_factory=asyncio.Event)
    last_batch: Callable[[], Awaitable[tuple[int, list[dict[str, Any]]] | None]] | None = None

    async def unwritten(self) -> tuple[list[dict[str, Any]] | None, int | None]:
        """finish_turn's `events` and `event_seq`: the last batch, or nothing (at once, without a
        task to shield, when no journal is kept)."""
        if self.last_batch is None:
            return None, None
        batch = await _shielded(self.last_batch())
        return (batch[1], batch[0]) if batch is not None else (None, None)


class _Stopped(Exception):
    """The model call was interrupted by an explicit stop."""


class _Interrupter:
    """Ends what the current task awaits from the model when `stop` is set meanwhile (_Stopped).

    One waiter on `stop` per model call, not a task per streamed item: the task awaits the model
    directly, and the waiter cancels it only while it is inside `wait`, never at another await of
    the task. An item that is ready costs no trip through the event loop."""

    __slots__ = ("_fired", "_stopper", "_task", "_waiting", "stop")

    def __init__(self, stop: asyncio.Event) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.stop = stop
        self._task = task
        self._waiting = False
        self._fired = False
        self._stopper = asyncio.ensure_future(stop.wait())
        self._stopper.add_done_callback(self._interrupt)

    def _interrupt(self, stopper: asyncio.Future[Any]) -> None:
        if self._waiting and not stopper.cancelled() and not self._fired:
            self._fired = True
            self._task.cancel()

    async def wait(self, awaitable: Awaitable[T]) -> T:
        """The awaitable's result, or _Stopped (the awaitable cancelled) when `stop` is set first.
        A cancellation from elsewhere (shutdown) stays one."""
        if self.stop.is_set():
            close = getattr(awaitable, "close", None)
            if close is not None:
                close()  # never awaited: not left for the garbage collector to warn about
            raise _Stopped
        self._waiting = True
        try:
            result = await awaitable
        except BaseException as exc:
            self._waiting = False
            if not self._fired:
                raise
            self._fired = False
            if self._task.uncancel() > 0 and isinstance(exc, asyncio.CancelledError):
                raise  # cancelled from elsewhere too
            raise _Stopped from exc
        self._waiting = False
        if self._fired:  # the awaitable swallowed the cancellation: stopped all the same
            self._fired = False
            self._task.uncancel()
            raise _Stopped
        return result

    def close(self) -> None:
        self._stopper.remove_done_callback(self._interrupt)
        self._stopper.cancel()


async def _stoppable(iterator: AsyncIterator[T], stop: asyncio.Event | None) -> AsyncIterator[T]:
    """The iterator's items until `stop` is set (then _Stopped, the pending item cancelled)."""
    if stop is None:
        async for item in iterator:
            yield item
        return
    interrupter = _Interrupter(stop)
    try:
        while True:
            try:
                item = await interrupter.wait(anext(iterator))
            except StopAsyncIteration:
                return
            yield item
    finally:
        interrupter.close()


async def _unless_stopped(awaitable: Awaitable[T], stop: asyncio.Event | None) -> T:
    """The awaitable's result, or _Stopped (it cancelled) when `stop` is set first."""
    if stop is None:
        return await awaitable
    interrupter = _Interrupter(stop)
    try:
        return await interrupter.wait(awaitable)
    finally:
        interrupter.close()


def _in_memory(new: NewMessage, conversation_id: str) -> Message:
    """A message that is not stored (store: false), in the shape stored ones have."""
    return Message(
        id=uuid4(),
        conversation_id=conversation_id,
        seq=0,
        role=new.role,
        content=new.content,
        metadata=new.metadata,
        created_at=datetime.now(UTC),
        idempotency_key=new.idempotency_key,
    )


def _tool_record(message: Message) -> ToolCallRecord:
    args = message.metadata.get("args")
    return ToolCallRecord(str(message.metadata.get("tool") or "tool"), args if isinstance(args, dict) else {})


def _tool_event(message: Message) -> ToolExecuted:
    meta = message.metadata
    args = meta.get("args")
    return ToolExecuted(
        tool=str(meta.get("tool") or "tool"),
        args=args if isinstance(args, dict) else {},
        content=message.content,
        is_error=bool(meta.get("is_error")),
        message_id=message.id,
        tool_call_id=str(meta.get("tool_call_id") or f"call_{message.seq}"),
        round=int(meta.get("round") or 0),
    )


@asynccontextmanager
async def _closing(iterator: AsyncIterator[T]) -> AsyncIterator[AsyncIterator[T]]:
    """Close an async generator when leaving the block (early exits included), so a provider's
    HTTP stream is released as soon as the consumer stops, not when it is garbage collected."""
    try:
        yield iterator
    finally:
        aclose = getattr(iterator, "aclose", None)
        if aclose is not None:
            await aclose()


async def _shielded(awaitable: Awaitable[T]) -> T:
    """Await to completion even if the caller is cancelled meanwhile: the work then finishes
    in the background, and a failure there is logged (nobody is left to raise it to)."""
    task = asyncio.ensure_future(awaitable)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:

        def _log(t: asyncio.Future[T]) -> None:
            if not t.cancelled() and t.exception() is not None:
                log.error("storing a turn's output failed after the client left: %r", t.exception())

        task.add_done_callback(_log)
        raise


class TurnEngine:
    """One principal's turns, with the configured model (measured), tools and limits, and the
    process's Compactor (see the module docstring)."""

    __slots__ = ("compactor", "provider", "settings", "store", "tools")

    def __init__(
        self,
        store: ConversationManager,
        provider: Provider,
        tools: ToolRegistry | None,
        settings: LLMSettings,
        compactor: Compactor | None = None,
    ) -> None:
        self.store = store
        self.provider = provider
        self.tools = tools
        self.settings = settings
        self.compactor = compactor

    # -- begin ---------------------------------------------------------------------------------
    def window(self, request: TurnRequest) -> tuple[int, int | None]:
        """(messages, tokens) of the history window, the one place a request's limits meet the
        settings: at most `history_limit` messages (CHAT_HISTORY_LIMIT by default, capped at
        CHAT_HISTORY_MAX) within `token_budget` tokens (CHAT_TOKEN_BUDGET by default; 0 or
        None from the settings: the last messages). A response always has a budget (OpenAI's
        truncation is about one) and CHAT_HISTORY_MAX messages; without history, the turn's
        own message only."""
        settings = self.settings
        if request.kind == "response":
            return settings.history_max, settings.default_token_budget
        if not request.include_history:
            return 1, None
        return settings.history_window(request.history_limit), settings.token_window(request.token_budget)

    async def context(self, conversation_id: str, token_budget: int | None = None) -> Context:
        """What the next chat turn with this budget (else CHAT_TOKEN_BUDGET) would send."""
        budget = token_budget or self.settings.default_token_budget
        return await self.store.get_context(conversation_id, budget, self.settings.history_window())

    async def begin(self, request: TurnRequest) -> Turn:
        """Store call 1 (see the module docstring)."""
        limit, budget = self.window(request)
        begun = await self.store.begin_turn(
            request.input,
            kind=request.kind,
            conversation_id=request.conversation_id,
            previous_response_id=request.previous_response_id,
            create_if_missing=request.create_if_missing,
            user_id=request.user_id,
            conversation_metadata=request.conversation_metadata,
            idempotency_key=request.idempotency_key,
            history_limit=limit,
            token_budget=budget,
            truncate=request.truncate,
            store=request.store,
            request=request.envelope or None,
            turn_id=request.turn_id,
            regenerate=request.regenerate,
            superseded_id=request.superseded_id,
        )
        history = list(begun.history)
        if not request.store:
            history.extend(_in_memory(m, begun.conversation_id or "") for m in request.input)
        return Turn(request, begun, history, time.perf_counter())

    # -- the model -----------------------------------------------------------------------------
    def _prompt(self, turn: Turn) -> list[ChatMessage]:
        """The system prompt (the request's instructions, else the configured one), the summary
        of what the window leaves out, then the window oldest first (and, for an attempt that
        resumes, the tool results the first one stored)."""
        messages: list[ChatMessage] = []
        system = turn.request.instructions or self.settings.system_prompt
        if system:
            messages.append(ChatMessage(role="system", content=system))
        if turn.summary is not None:
            messages.append(ChatMessage(role="system", content=turn.summary.content))
        messages.extend(history_messages([*turn.history, *turn.begun.tool_results]))
        return messages

    def _server_specs(self, request: TurnRequest) -> list[ToolSpec]:
        if not request.server_tools or self.tools is None or self.settings.max_tool_rounds <= 0:
            return []
        return self.tools.specs()

    async def events(
        self, turn: Turn, *, stream: bool = True, control: TurnControl | None = None
    ) -> AsyncIterator[TurnEvent]:
        """The rest of the turn as events: TurnStarted, TurnDelta... (ToolExecuted between
        rounds), TurnCompleted (TurnStopped when `control.stop` ended it). With `stream=False`
        the model is called without streaming and no TurnDelta is yielded. Raises ProviderError
        (the turn marked failed) and the store's errors."""
        yield TurnStarted(
            conversation_id=turn.conversation_id,
            user_message_id=turn.user_message.id,
            created=turn.created,
            replayed=turn.replayed,
            turn_id=turn.id,
        )
        if turn.begun.reply is not None:
            for stored in turn.begun.tool_results:
                yield _tool_event(stored)
            done = self._replayed(turn, turn.begun.reply)
            if stream:
                yield TurnDelta(done.result.response)
            yield done
            return
        control = control or TurnControl()
        try:
            async with _closing(self._run(turn, stream, control)) as events:
                async for event in events:
                    if isinstance(event, TurnCompleted):
                        self._compact(turn)
                    yield event
        except (ProviderError, StoreError) as exc:
            await self._fail(turn, exc, control)
            raise

    async def complete(self, turn: Turn) -> TurnCompleted:
        """The rest of the turn without streaming: its last event."""
        async with _closing(self.events(turn, stream=False)) as events:
            async for event in events:
                if isinstance(event, TurnCompleted):
                    return event
        raise RuntimeError("a turn ended without its output")  # pragma: no cover

    async def _run(self, turn: Turn, stream: bool, control: TurnControl) -> AsyncIterator[TurnEvent]:
        request = turn.request
        messages = self._prompt(turn)
        server_specs = self._server_specs(request)
        server_names = {s.name for s in server_specs}
        specs = [*server_specs, *request.client_tools]
        client_calls: list[ToolCall] = []
        max_rounds = self.settings.max_tool_rounds
        key = turn.record.idempotency_key if turn.record is not None else None
        usage = Usage()
        records = [_tool_record(m) for m in turn.begun.tool_results]
        texts: list[str] = []
        rounds = max((int(m.metadata.get("round") or 0) for m in turn.begun.tool_results), default=0)
        results_stored = len(turn.begun.tool_results)
        while True:
            last_round = bool(server_specs) and rounds >= max_rounds
            wants_text = last_round or request.tool_choice == "none"
            model_request = CompletionRequest(
                messages=list(messages),
                tools=specs,
                tool_choice="none" if wants_text and specs else None,
                max_tokens=request.max_output_tokens,
            )
            completion: Completion | None = None
            separator = "\n\n" if texts else ""
            streamed: list[str] = []
            try:
                if control.stop.is_set():
                    raise _Stopped
                if stream:
                    async with _closing(self.provider.stream(model_request)) as pieces:
                        async for piece in _stoppable(pieces, control.stop):
                            if isinstance(piece, TextDelta):
                                if not piece.text:
                                    continue
                                if separator:
                                    yield TurnDelta(separator)
                                    separator = ""
                                streamed.append(piece.text)
                                yield TurnDelta(piece.text)
                            else:
                                completion = piece.completion
                    if completion is None:
                        raise MalformedResponse("model provider's stream ended without a final event")
                else:
                    completion = await _unless_stopped(self.provider.complete(model_request), control.stop)
            except _Stopped:
                # What was generated is the reply: the rounds before, and this one's text so far.
                text = "\n\n".join([*texts, "".join(streamed)] if streamed else texts)
                stopped = Completion(
                    content="", usage=Usage(), model=self.provider.model, finish_reason="stopped"
                )
                yield await self._finish(turn, stopped, text, [], usage, records, control, stopped=True)
                return
            usage += completion.usage
            if completion.content:
                texts.append(completion.content)
            # With client tools on offer, a call of anything but the API's own tools is the
            # client's: it ends the turn as an output (the client answers an unknown one). Else
            # the API runs every call (an unknown tool's result says so), or none without tools.
            client_calls = [
                c for c in completion.tool_calls if request.client_tools and c.name not in server_names
            ]
            server_calls = [c for c in completion.tool_calls if c not in client_calls]
            if client_calls or not server_calls or not server_specs or last_round:
                break
            rounds += 1
            messages.append(
                ChatMessage(role="assistant", content=completion.content or None, tool_calls=server_calls)
            )
            assert self.tools is not None
            # A stop waits for the tools already called: their results are stored, then it ends.
            results = await asyncio.gather(*(self.tools.run(call) for call in server_calls))
            for call, outcome in zip(server_calls, results, strict=True):
                results_stored += 1
                appended = await self.store.add_message(
                    turn.conversation_id,
                    "tool",
                    outcome.content,
                    {
                        "tool": call.name,
                        "args": call.arguments,
                        "tool_call_id": call.id,
                        "round": rounds,
                        "is_error": outcome.is_error,
                    },
                    turn_key=key,
                    tool_index=results_stored if key else None,
                )
                stored = appended.message
                # A concurrent attempt stored this result first: its content is what the history shows.
                content = stored.content if appended.replayed else outcome.content
                messages.append(
                    ChatMessage(role="tool", content=content, tool_call_id=call.id, name=call.name)
                )
                records.append(ToolCallRecord(call.name, call.arguments))
                yield ToolExecuted(
                    tool=call.name,
                    args=call.arguments,
                    content=content,
                    is_error=outcome.is_error,
                    message_id=stored.id,
                    tool_call_id=call.id,
                    round=rounds,
                )
        yield await self._finish(turn, completion, "\n\n".join(texts), client_calls, usage, records, control)

    # -- finish --------------------------------------------------------------------------------
    async def _finish(
        self,
        turn: Turn,
        completion: Completion,
        text: str,
        client_calls: list[ToolCall],
        usage: Usage,
        records: list[ToolCallRecord],
        control: TurnControl,
        *,
        stopped: bool = False,
    ) -> TurnCompleted:
        """Store call 2: the reply, then the client tool calls, and what the turn cost. A stopped
        turn stores what was generated (nothing when no text came) and ends as stopped."""
        if not text.strip() and not client_calls and not stopped:
            raise MalformedResponse(
                f"model returned an empty answer (finish_reason={completion.finish_reason})",
                details={"finish_reason": completion.finish_reason},
            )
        request = turn.request
        duration_ms = round((time.perf_counter() - turn.started) * 1000)
        model = completion.model or self.provider.model
        cost = {
            "model": model,
            "tokens": {"prompt": usage.prompt_tokens, "completion": usage.completion_tokens},
            "duration_ms": duration_ms,
            "finish_reason": completion.finish_reason,
        }
        outputs: list[NewMessage] = []
        if text.strip():
            outputs.append(
                NewMessage(
                    role="assistant",
                    content=text,
                    metadata={
                        **cost,
                        "tool_calls": [{"tool": r.tool, "args": r.args} for r in records],
                        **request.output_metadata,
                    },
                    idempotency_key=request.reply_key,
                )
            )
        for call in client_calls:
            # The turn's tokens are counted once, on its first output message.
            spent = cost if not outputs else {k: v for k, v in cost.items() if k != "tokens"}
            outputs.append(
                NewMessage(
                    role="assistant",
                    content=msgspec.json.encode(call.arguments).decode(),
                    metadata={
                        **spent,
                        "tool_call": {"id": call.id, "name": call.name},
                        **request.output_metadata,
                    },
                    idempotency_key=request.call_key(call) if request.call_key else None,
                )
            )
        record: TurnRecord | None = None
        replayed = False
        if turn.record is not None:
            state: Literal["completed", "stopped"] = "stopped" if stopped else "completed"
            try:
                events, event_seq = await control.unwritten()
                finished = await _shielded(
                    self.store.finish_turn(
                        turn.record.id, outputs, state=state, result=cost, events=events, event_seq=event_seq
                    )
                )
            except InvalidInputError as exc:
                raise ReplyRejected(
                    f"the model's answer could not be stored: {exc.message}",
                    details={"sqlstate": exc.sqlstate, "answer_chars": len(text)},
                ) from exc
            stored, record, replayed = finished.messages, finished.turn, finished.replayed
        else:
            stored = [_in_memory(m, turn.conversation_id) for m in outputs]
        if replayed and stored and stored[0].role == "assistant" and not stored[0].metadata.get("tool_call"):
            return self._replayed(turn, stored[0], record=record, outputs=stored)
        return (TurnStopped if stopped else TurnCompleted)(
            ChatResult(
                conversation_id=turn.conversation_id,
                response=text,
                message_id=stored[0].id if stored else None,
                model=model,
                usage=usage,
                duration_ms=duration_ms,
                tool_calls=records,
                finish_reason=completion.finish_reason,
                user_message_id=turn.user_message.id,
                created=turn.created,
                context=turn.sent(),
                turn_id=turn.id,
            ),
            outputs=stored,
            turn=record,
        )

    def _replayed(
        self,
        turn: Turn,
        reply: Message,
        *,
        record: TurnRecord | None = None,
        outputs: list[Message] | None = None,
    ) -> TurnCompleted:
        """The output an earlier attempt stored, as this attempt's answer."""
        meta = reply.metadata
        tokens: dict[str, Any] = meta.get("tokens") or {}
        calls: list[Any] = meta.get("tool_calls") or []
        return TurnCompleted(
            ChatResult(
                conversation_id=turn.conversation_id,
                response=reply.content,
                message_id=reply.id,
                model=str(meta.get("model") or ""),
                usage=Usage(int(tokens.get("prompt") or 0), int(tokens.get("completion") or 0)),
                duration_ms=int(meta.get("duration_ms") or 0),
                tool_calls=[
                    ToolCallRecord(str(c.get("tool")), c.get("args") or {})
                    for c in calls
                    if isinstance(c, dict)
                ],
                finish_reason=meta.get("finish_reason"),
                user_message_id=turn.user_message.id,
                created=turn.created,
                replayed=True,
                context=turn.sent(),
                turn_id=turn.id,
            ),
            outputs=outputs or [reply],
            turn=record or turn.record,
        )

    async def _fail(self, turn: Turn, exc: ProviderError | StoreError, control: TurnControl) -> None:
        """Marks the turn failed with what failed; a store that cannot even do that only logs
        (the turn stays in progress until its lease runs out, and a retry with its key resumes it)."""
        if turn.record is None:
            return
        error = {"code": exc.code, "message": exc.message}
        try:
            events, event_seq = await control.unwritten()
            await _shielded(
                self.store.finish_turn(
                    turn.record.id,
                    state="failed",
                    result={"error": error},
                    events=events,
                    event_seq=event_seq,
                )
            )
        except StoreError as failure:
            log.warning("could not mark turn %s failed: %s", turn.record.id, failure)

    def _compact(self, turn: Turn) -> None:
        compaction = turn.compaction
        if compaction is not None and self.compactor is not None:
            self.compactor.schedule(self.store, self.provider, turn.conversation_id, compaction)

    # -- titles --------------------------------------------------------------------------------
    def title(self, turn: Turn) -> Callable[[], Awaitable[None]] | None:
        """What the face runs once the answer is out, for a new conversation when titles are
        generated (CHAT_GENERATE_TITLES and a configured model): None otherwise."""
        settings = self.settings
        if not (
            turn.created and turn.request.store and settings.generate_titles and not settings.uses_offline
        ):
            return None
        return lambda: self._generate_title(turn)

    async def _generate_title(self, turn: Turn) -> None:
        """Ask the model for a title and store it (one update_conversation call). A failure only
        logs: the database already titled the conversation from its first user message."""
        request = CompletionRequest(
            messages=[
                ChatMessage(role="system", content=TITLE_PROMPT),
                ChatMessage(role="user", content=turn.user_message.content[:2000]),
            ],
            max_tokens=24,
        )
        try:
            title = " ".join((await self.provider.complete(request)).content.split()).strip(" \"'.")[:80]
            if title:
                await self.store.update_conversation(turn.conversation_id, {"title": title})
        except (ProviderError, StoreError) as exc:
            log.warning("no generated title for %s: %s", turn.conversation_id, exc)
