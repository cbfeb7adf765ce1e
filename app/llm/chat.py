"""A chat turn, independent of HTTP: store the user message, ask the model (running the tools
it asks for), store the answer.

Store calls per turn (each one SQL function call): `begin_chat_turn` (appends the user
message, returns the history window ending with it), then one `append_message` per tool
result, then one `append_message` for the assistant's reply. A plain turn costs 2.

Messages sent to the model: the system prompt, then the history window oldest to newest
(only the new user message when `include_history` is false). With a token budget the
database chooses the window (the newest messages whose token counts fit, never a tool result
without its round, the latest summary of what was left out, sent as a system message after the
prompt); otherwise it is the last `history_limit` messages. Tool messages of earlier turns are
sent as the assistant's tool call (rebuilt from their metadata) followed by the result, the
shape every OpenAI-compatible server accepts.

Failures:
* The provider fails (ProviderError: timeout, HTTP error, unreachable, malformed or empty
  answer): the user message stays stored, tool results already stored stay (each is a
  complete record of a tool run), no assistant message is stored, the error propagates.
  An answer the database refuses to store (longer than max_content_chars) is such a failure
  too (ReplyRejected, 502): it is the model's output, not the client's input.
* Idempotency is the database's: with an `idempotency_key`, the user message is appended
  under that key and each tool result and the reply under keys the database derives from it
  (`append_message(p_turn_key, p_tool_index)`). A retried turn never stores the user message
  twice. On a replayed key `begin_chat_turn` itself returns what the first attempt stored: if
  it completed, its reply, which is returned (`replayed=True`) without calling the model; if it
  stopped after storing tool results, those results, after which the model loop resumes (the
  model reads them; they are neither run nor stored again). Two concurrent attempts with one
  key may both reach the model, but only one reply is stored and both return it.
* Streaming (`stream_turn` / `stream_events`): deltas are yielded as the model produces them;
  the assistant message is stored once, after the model's last round completed, and the final
  `TurnCompleted` event carries its id. If the consumer goes away before that (the async
  generator is closed or its task cancelled, as when an HTTP client disconnects), nothing is
  stored for the assistant: the history then ends with the user message (and any tool results
  of that turn), exactly as after a provider failure, and the turn can be retried with the
  same idempotency key. Once the model's answer is complete, its append is shielded from
  cancellation: it is stored whole or not at all.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Sequence
from contextlib import asynccontextmanager
from typing import Any, ClassVar, TypeVar
from uuid import UUID

import msgspec

from app.llm.provider import (
    ChatMessage,
    Completion,
    CompletionRequest,
    MalformedResponse,
    Provider,
    ReplyRejected,
    TextDelta,
    ToolCall,
    ToolSpec,
    Usage,
)
from app.llm.tools import ToolRegistry
from app.store.errors import InvalidInputError
from app.store.manager import ConversationManager
from app.store.models import Compaction, Context, Message

__all__ = [
    "ChatEvent",
    "ChatResult",
    "SentContext",
    "ToolCallRecord",
    "ToolExecuted",
    "TurnCompleted",
    "TurnDelta",
    "TurnStart",
    "TurnStarted",
    "begin_turn",
    "complete_turn",
    "history_messages",
    "run_turn",
    "stream_events",
    "stream_turn",
]

log = logging.getLogger("app.llm.chat")

T = TypeVar("T")


class ToolCallRecord(msgspec.Struct, frozen=True):
    """A tool the model called in a turn, as recorded in the reply's metadata."""

    tool: str
    args: dict[str, Any]


class SentContext(msgspec.Struct, frozen=True, kw_only=True):
    """What the model was sent from the conversation: the messages' `seqs` (oldest first), the
    summary it read (`summary_seq`, the seqs it `covers`), and with a token budget their token
    total (the summary's included) and that budget."""

    seqs: list[int]
    summary_seq: int | None = None
    covers: list[int] | None = None
    tokens: int | None = None
    token_budget: int | None = None


class ChatResult(msgspec.Struct, frozen=True, kw_only=True):
    """The outcome of a turn, as /chat answers it (and its stream's `done` event carries it):
    the stored reply and what it cost.

    `usage` sums every model call of the turn; `duration_ms` is the time spent on the model
    and the tools (store calls excluded). `created`: this turn started the conversation.
    `replayed`: an idempotent retry answered with the reply an earlier attempt stored.
    `context`: which messages (seqs) the model was sent, and whether a summary was."""

    conversation_id: str
    response: str
    message_id: UUID
    model: str
    usage: Usage
    duration_ms: int
    tool_calls: list[ToolCallRecord]
    finish_reason: str | None = None
    user_message_id: UUID | None = None
    created: bool = False
    replayed: bool = False
    context: SentContext | None = None


class TurnStart(msgspec.Struct, frozen=True):
    """The first half of a turn, after `begin_chat_turn`: the stored user message, the
    history window to send (oldest first, ending with it) with the summary to send before it,
    and on a replay what an earlier attempt stored: its reply, or its tool results."""

    conversation_id: str
    created: bool
    user_message: Message
    history: list[Message]
    replayed: bool = False
    idempotency_key: str | None = None
    reply: Message | None = None
    tool_results: list[Message] = msgspec.field(default_factory=list)
    summary: Message | None = None
    context: Context | None = None

    @property
    def compaction(self) -> Compaction | None:
        """A summary the database says is due (after this turn's reply), if any."""
        if self.context is None or not self.context.compaction.due:
            return None
        return self.context.compaction

    def sent(self) -> SentContext:
        return SentContext(
            seqs=[m.seq for m in self.history],
            summary_seq=self.summary.seq if self.summary is not None else None,
            covers=self.summary.metadata.get("covers") if self.summary is not None else None,
            tokens=self.context.tokens if self.context is not None else None,
            token_budget=self.context.token_budget if self.context is not None else None,
        )


# -- events of a streamed turn: the same structs are the stream's wire format -----------------
# `name` is the server-sent event's name; the struct (for `done`, its `result`) is its data.
class TurnStarted(msgspec.Struct, frozen=True, kw_only=True):
    """Event `start`, first: the conversation (new when `created`) and the stored user message."""

    name: ClassVar[str] = "start"
    conversation_id: str
    user_message_id: UUID
    created: bool
    replayed: bool


class TurnDelta(msgspec.Struct, frozen=True):
    """Event `delta`: the next piece of the answer (the pieces joined are its `response`)."""

    name: ClassVar[str] = "delta"
    text: str


class ToolExecuted(msgspec.Struct, frozen=True, kw_only=True):
    """Event `tool`: a tool ran and its result was stored as a `tool` message."""

    name: ClassVar[str] = "tool"
    tool: str
    args: dict[str, Any]
    content: str
    is_error: bool
    message_id: UUID
    tool_call_id: str
    round: int


class TurnCompleted(msgspec.Struct, frozen=True):
    """Event `done`, last: the stored reply (its data is `result`, the JSON answer)."""

    name: ClassVar[str] = "done"
    result: ChatResult


ChatEvent = TurnStarted | TurnDelta | ToolExecuted | TurnCompleted


# -- helpers -----------------------------------------------------------------------------------
def _tool_group_key(message: Message) -> Any:
    return message.metadata.get("round")


def _item(message: Message) -> dict[str, Any]:
    """The OpenAI item details a message written through /v1 carries (metadata.openai)."""
    details = message.metadata.get("openai")
    return details if isinstance(details, dict) else {}


def _item_call(message: Message) -> ToolCall:
    """A stored function_call item (its content is the arguments' JSON) as a tool call."""
    details = _item(message)
    try:
        arguments = msgspec.json.decode(message.content)
    except msgspec.DecodeError:
        arguments = None
    return ToolCall(
        id=str(details.get("call_id") or f"call_{message.seq}"),
        name=str(details.get("name") or "function"),
        arguments=arguments if isinstance(arguments, dict) else {},
    )


def history_messages(history: Sequence[Message]) -> list[ChatMessage]:
    """Stored messages as model messages. Consecutive tool results (of one round) become the
    assistant's tool call rebuilt from their metadata (`tool`, `args`) followed by the results,
    with ids derived from their sequence numbers. Items written through /v1 keep their own
    shape: consecutive function_call items are one assistant message with those tool calls,
    and a function_call_output answering one of them is the tool result with its call_id."""
    out: list[ChatMessage] = []
    calls_seen: dict[str, str] = {}
    i = 0
    while i < len(history):
        m = history[i]
        if _item(m).get("type") == "function_call":
            item_calls: list[ToolCall] = []
            while i < len(history) and _item(history[i]).get("type") == "function_call":
                item_calls.append(_item_call(history[i]))
                i += 1
            calls_seen.update((c.id, c.name) for c in item_calls)
            out.append(ChatMessage(role="assistant", tool_calls=item_calls))
            continue
        call_id = _item(m).get("call_id")
        if m.role == "tool" and call_id in calls_seen:
            content = "" if _item(m).get("empty") else m.content
            out.append(
                ChatMessage(role="tool", content=content, tool_call_id=call_id, name=calls_seen[call_id])
            )
            i += 1
            continue
        if m.role != "tool":
            out.append(ChatMessage(role=m.role, content=m.content))
            i += 1
            continue
        group = [m]
        while (
            i + len(group) < len(history)
            and history[i + len(group)].role == "tool"
            and _tool_group_key(history[i + len(group)]) == _tool_group_key(m)
        ):
            group.append(history[i + len(group)])
        calls: list[ToolCall] = []
        for t in group:
            args = t.metadata.get("args")
            calls.append(
                ToolCall(
                    id=f"call_{t.seq}",
                    name=str(t.metadata.get("tool") or "tool"),
                    arguments=args if isinstance(args, dict) else {},
                )
            )
        out.append(ChatMessage(role="assistant", tool_calls=calls))
        out.extend(
            ChatMessage(role="tool", content=t.content, tool_call_id=c.id, name=c.name)
            for t, c in zip(group, calls, strict=True)
        )
        i += len(group)
    return out


def _tool_record(message: Message) -> ToolCallRecord:
    args = message.metadata.get("args")
    return ToolCallRecord(str(message.metadata.get("tool") or "tool"), args if isinstance(args, dict) else {})


def _result_from_message(start: TurnStart, message: Message) -> ChatResult:
    """The ChatResult of a reply an earlier attempt stored, rebuilt from its metadata."""
    meta = message.metadata
    tokens: dict[str, Any] = meta.get("tokens") or {}
    calls: list[Any] = meta.get("tool_calls") or []
    return ChatResult(
        conversation_id=start.conversation_id,
        response=message.content,
        message_id=message.id,
        model=str(meta.get("model") or ""),
        usage=Usage(int(tokens.get("prompt") or 0), int(tokens.get("completion") or 0)),
        duration_ms=int(meta.get("duration_ms") or 0),
        tool_calls=[
            ToolCallRecord(str(c.get("tool")), c.get("args") or {}) for c in calls if isinstance(c, dict)
        ],
        finish_reason=meta.get("finish_reason"),
        user_message_id=start.user_message.id,
        created=start.created,
        replayed=True,
        context=start.sent(),
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
                log.error("storing the assistant reply failed after the client left: %r", t.exception())

        task.add_done_callback(_log)
        raise


# -- the turn ----------------------------------------------------------------------------------
async def begin_turn(
    store: ConversationManager,
    *,
    message: str,
    conversation_id: str | None = None,
    user_id: UUID | str | None = None,
    metadata: dict[str, Any] | None = None,
    idempotency_key: str | None = None,
    include_history: bool = True,
    history_limit: int = 10,
    conversation_metadata: dict[str, Any] | None = None,
    create_if_missing: bool = False,
    token_budget: int | None = None,
) -> TurnStart:
    """Store call 1: append the user message (creating the conversation without an id) and
    read the history window (the last `history_limit` messages, or with a `token_budget` the
    database's context window of at most that many). Raises the store's errors (NotFoundError
    for an unknown, expired or foreign conversation) before anything is sent to the model."""
    turn = await store.begin_chat_turn(
        message,
        conversation_id=conversation_id,
        user_id=user_id,
        metadata=metadata,
        idempotency_key=idempotency_key,
        history_limit=history_limit if include_history else 1,
        conversation_metadata=conversation_metadata,
        create_if_missing=create_if_missing,
        token_budget=token_budget,
    )
    history = list(turn.history) if include_history else [turn.message]
    if not history or history[-1].id != turn.message.id:
        history = [*(m for m in history if m.seq < turn.message.seq), turn.message]
    context = turn.context
    return TurnStart(
        conversation_id=turn.conversation_id,
        created=turn.created,
        user_message=turn.message,
        history=history,
        replayed=turn.replayed,
        idempotency_key=idempotency_key,
        reply=turn.reply,
        tool_results=list(turn.tool_results),
        summary=context.summary if context is not None and include_history else None,
        context=context,
    )


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


async def stream_events(
    store: ConversationManager,
    provider: Provider,
    tools: ToolRegistry | None,
    start: TurnStart,
    *,
    system_prompt: str | None = None,
    max_tool_rounds: int = 3,
    stream: bool = True,
) -> AsyncIterator[ChatEvent]:
    """The rest of a turn begun with `begin_turn`, as events: TurnStarted, TurnDelta...
    (ToolExecuted between rounds), TurnCompleted. With `stream=False` the model is called
    without streaming and no TurnDelta is yielded. Raises ProviderError (nothing stored for
    the assistant) and the store's errors."""
    conversation_id = start.conversation_id
    key = start.idempotency_key
    yield TurnStarted(
        conversation_id=conversation_id,
        user_message_id=start.user_message.id,
        created=start.created,
        replayed=start.replayed,
    )
    if start.reply is not None:
        for stored in start.tool_results:
            yield _tool_event(stored)
        result = _result_from_message(start, start.reply)
        if stream:
            yield TurnDelta(result.response)
        yield TurnCompleted(result)
        return

    started = time.perf_counter()
    messages: list[ChatMessage] = []
    if system_prompt:
        messages.append(ChatMessage(role="system", content=system_prompt))
    if start.summary is not None:
        messages.append(ChatMessage(role="system", content=start.summary.content))
    # A resumed attempt: the model reads the tool results the first one stored, after the
    # user message, and the turn's rounds and results go on from there.
    messages.extend(history_messages([*start.history, *start.tool_results]))
    specs: list[ToolSpec] = tools.specs() if tools is not None and max_tool_rounds > 0 else []
    usage = Usage()
    records = [_tool_record(m) for m in start.tool_results]
    texts: list[str] = []
    rounds = max((int(m.metadata.get("round") or 0) for m in start.tool_results), default=0)
    results_stored = len(start.tool_results)
    while True:
        last_round = bool(specs) and rounds >= max_tool_rounds
        request = CompletionRequest(
            messages=list(messages), tools=specs, tool_choice="none" if last_round else None
        )
        completion: Completion | None = None
        separator = "\n\n" if texts else ""
        if stream:
            async with _closing(provider.stream(request)) as events:
                async for event in events:
                    if isinstance(event, TextDelta):
                        if not event.text:
                            continue
                        if separator:
                            yield TurnDelta(separator)
                            separator = ""
                        yield TurnDelta(event.text)
                    else:
                        completion = event.completion
            if completion is None:
                raise MalformedResponse("model provider's stream ended without a final event")
        else:
            completion = await provider.complete(request)
        usage += completion.usage
        if completion.content:
            texts.append(completion.content)
        if not completion.tool_calls or not specs or last_round:
            break

        assert tools is not None
        rounds += 1
        messages.append(
            ChatMessage(
                role="assistant", content=completion.content or None, tool_calls=completion.tool_calls
            )
        )
        results = await asyncio.gather(*(tools.run(call) for call in completion.tool_calls))
        for call, outcome in zip(completion.tool_calls, results, strict=True):
            results_stored += 1
            appended = await store.add_message(
                conversation_id,
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
            messages.append(ChatMessage(role="tool", content=content, tool_call_id=call.id, name=call.name))
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

    response = "\n\n".join(texts)
    if not response.strip():
        raise MalformedResponse(
            f"model returned an empty answer (finish_reason={completion.finish_reason})",
            details={"finish_reason": completion.finish_reason},
        )
    duration_ms = round((time.perf_counter() - started) * 1000)
    model = completion.model or provider.model
    metadata = {
        "model": model,
        "tokens": {"prompt": usage.prompt_tokens, "completion": usage.completion_tokens},
        "duration_ms": duration_ms,
        "tool_calls": [{"tool": r.tool, "args": r.args} for r in records],
        "finish_reason": completion.finish_reason,
    }
    try:
        appended = await _shielded(
            store.add_message(
                conversation_id,
                "assistant",
                response,
                metadata,
                turn_key=key,
            )
        )
    except InvalidInputError as exc:
        raise ReplyRejected(
            f"the model's answer could not be stored: {exc.message}",
            details={"sqlstate": exc.sqlstate, "answer_chars": len(response)},
        ) from exc
    if appended.replayed:  # a concurrent attempt with the same key stored its reply first
        yield TurnCompleted(_result_from_message(start, appended.message))
        return
    yield TurnCompleted(
        ChatResult(
            conversation_id=conversation_id,
            response=response,
            message_id=appended.message.id,
            model=model,
            usage=usage,
            duration_ms=duration_ms,
            tool_calls=records,
            finish_reason=completion.finish_reason,
            user_message_id=start.user_message.id,
            created=start.created,
            context=start.sent(),
        )
    )


async def complete_turn(
    store: ConversationManager,
    provider: Provider,
    tools: ToolRegistry | None,
    start: TurnStart,
    *,
    system_prompt: str | None = None,
    max_tool_rounds: int = 3,
) -> ChatResult:
    """The rest of a turn begun with `begin_turn`, without streaming."""
    async with _closing(
        stream_events(
            store,
            provider,
            tools,
            start,
            system_prompt=system_prompt,
            max_tool_rounds=max_tool_rounds,
            stream=False,
        )
    ) as events:
        async for event in events:
            if isinstance(event, TurnCompleted):
                return event.result
    raise RuntimeError("chat turn ended without a result")  # pragma: no cover


async def run_turn(
    store: ConversationManager,
    provider: Provider,
    tools: ToolRegistry | None,
    *,
    message: str,
    conversation_id: str | None = None,
    user_id: UUID | str | None = None,
    metadata: dict[str, Any] | None = None,
    idempotency_key: str | None = None,
    include_history: bool = True,
    history_limit: int = 10,
    system_prompt: str | None = None,
    max_tool_rounds: int = 3,
    conversation_metadata: dict[str, Any] | None = None,
    create_if_missing: bool = False,
    token_budget: int | None = None,
) -> ChatResult:
    """One whole turn without streaming (see the module docstring for calls and failures)."""
    start = await begin_turn(
        store,
        message=message,
        conversation_id=conversation_id,
        user_id=user_id,
        metadata=metadata,
        idempotency_key=idempotency_key,
        include_history=include_history,
        history_limit=history_limit,
        conversation_metadata=conversation_metadata,
        create_if_missing=create_if_missing,
        token_budget=token_budget,
    )
    return await complete_turn(
        store, provider, tools, start, system_prompt=system_prompt, max_tool_rounds=max_tool_rounds
    )


async def stream_turn(
    store: ConversationManager,
    provider: Provider,
    tools: ToolRegistry | None,
    *,
    message: str,
    conversation_id: str | None = None,
    user_id: UUID | str | None = None,
    metadata: dict[str, Any] | None = None,
    idempotency_key: str | None = None,
    include_history: bool = True,
    history_limit: int = 10,
    system_prompt: str | None = None,
    max_tool_rounds: int = 3,
    conversation_metadata: dict[str, Any] | None = None,
    create_if_missing: bool = False,
    token_budget: int | None = None,
) -> AsyncIterator[ChatEvent]:
    """One whole turn, streamed. An HTTP handler that must answer 404 before it starts an
    event stream calls `begin_turn` first and then iterates `stream_events`."""
    start = await begin_turn(
        store,
        message=message,
        conversation_id=conversation_id,
        user_id=user_id,
        metadata=metadata,
        idempotency_key=idempotency_key,
        include_history=include_history,
        history_limit=history_limit,
        conversation_metadata=conversation_metadata,
        create_if_missing=create_if_missing,
        token_budget=token_budget,
    )
    async with _closing(
        stream_events(
            store, provider, tools, start, system_prompt=system_prompt, max_tool_rounds=max_tool_rounds
        )
    ) as events:
        async for event in events:
            yield event
