"""ResponsesService: one /v1/responses call as a chat turn over our store.

Store calls of a response (each one SQL function call), as for /chat:
1. the input: `begin_chat_turn` when the input ends with a user message (it appends that
   message, creating the conversation when needed, and returns the history window ending with
   it); any items before it are appended first with `append_messages`. Input that ends with
   something else (function_call_output items answering the model's calls) is appended with
   `append_messages` and the window read with `get_context`. With `truncation: "disabled"`
   (the default) one `context_fits` call comes first, and continuing from an earlier response
   one `fork_conversation`;
2. the model, once, with the request's function tools (the client runs them: the model's
   calls are output items, never executed here);
3. the output: every output item in one `append_messages`.
A plain text turn therefore costs 2 store calls with `truncation: "auto"`, like /chat, and 3
with `disabled`. With `store: false` nothing is written: `context_fits` reads the window of the
stored history for what the input leaves of the budget, and the input is added in memory.

The history window: `window()` is the one place `truncation` maps onto it. Both modes use the
database's token-budgeted window (private.context_window, as /chat and
`GET /conversations/{id}/context` do): CHAT_TOKEN_BUDGET tokens of history (its default where it
is 0: /v1 always has a budget), at most CHAT_HISTORY_MAX messages. The budget is not reduced by
`max_output_tokens`: CHAT_TOKEN_BUDGET is the history's budget, not the model's window (which
the API does not know), and /chat spends it the same way; `max_output_tokens` only caps the
answer. `auto` sends what fits (the newest messages, the latest summary of what they leave
out; when the database says a summary is due, the process's Compactor writes one after the
output is stored, as after a /chat reply). `disabled` (OpenAI's default, and ours) sends the
whole history or nothing: before anything is stored, `context_fits` (the database, counting
the input as its insert will) says whether the history and the input fit with nothing left
out, else 400 `context_length_exceeded`. A summary standing for older messages is something left out.

`previous_response_id` continues in that response's conversation when it is the latest thing
in it (summaries aside). One that is not (something was appended after it) continues from it
without rewriting what came after: `fork_conversation` at the seq of its last output item makes
a new conversation of the same owner with copies of messages 1..seq, and the new response
lives in the fork (with `store: false` the window is read from the source up to that seq).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import Any, Literal

import msgspec

from app.config import LLMSettings
from app.llm.chat import history_messages
from app.llm.compaction import Compactor
from app.llm.provider import (
    ChatMessage,
    Completion,
    CompletionRequest,
    MalformedResponse,
    Provider,
    StreamEvent,
    ToolSpec,
)
from app.openai_api.errors import InvalidRequest
from app.openai_api.items import ITEM_KEY, in_memory, message_to_item, new_item_id, parse_items
from app.openai_api.schemas import ConversationRef, CreateResponseIn, ResponseObject
from app.store.errors import NotFoundError
from app.store.manager import ConversationManager
from app.store.models import Compaction, Context, ContextFit, Message, NewMessage, ResponseRecord

__all__ = ["Begun", "Continuation", "ResponsesService", "Window", "response_from_record", "usage_object"]

_encoder = msgspec.json.Encoder()


def usage_object(prompt: int, completion: int) -> dict[str, Any]:
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": prompt + completion,
    }


class Window(msgspec.Struct, frozen=True, kw_only=True):
    """The history window of a response: the database's for `token_budget` tokens and at most
    `limit` messages; `truncate` (`auto`) sends what fits, else all or a 400."""

    token_budget: int
    limit: int
    truncate: bool


class Continuation(msgspec.Struct, frozen=True):
    """Where a response goes: its conversation (None: a new one, created when `create`), and
    the seq to fork that conversation at (a previous response that is not the latest)."""

    conversation_id: str | None
    create: bool = False
    fork_at: int | None = None


class Begun(msgspec.Struct, kw_only=True):
    """A response after its input is stored: what the model is sent and the envelope the
    response object is built from (`summary`: the latest summary of what `history` leaves out;
    `compaction`: a summary the database says is due, started once the output is stored).
    `message_id` is the id the text output item will be stored under (known first, so a stream
    names it before it is stored)."""

    response_id: str
    conversation_id: str | None
    history: list[Message]
    summary: Message | None
    compaction: Compaction | None
    envelope: dict[str, Any]
    tools: list[ToolSpec]
    started: float
    message_id: str = msgspec.field(default_factory=lambda: new_item_id("message"))


def response_from_record(response_id: str, record: ResponseRecord) -> ResponseObject:
    """A stored response rebuilt from its messages: the envelope sits on its last output item."""
    outputs = [m for m in record.messages if m.metadata.get(ITEM_KEY, {}).get("source") == "output"]
    conversation = ConversationRef(record.conversation.conversation_id)
    if not outputs:  # the model failed after the input was stored
        first = record.messages[0]
        return ResponseObject(
            id=response_id,
            created_at=int(first.created_at.timestamp()),
            model="",
            status="failed",
            output=[],
            usage=None,
            conversation=conversation,
        )
    envelope = dict(outputs[-1].metadata[ITEM_KEY].get("response") or {})
    return ResponseObject(
        id=response_id, output=[message_to_item(m) for m in outputs], conversation=conversation, **envelope
    )


class ResponsesService:
    """One principal's /v1 responses (see the module docstring for the calls and the rules)."""

    __slots__ = ("compactor", "provider", "settings", "store")

    def __init__(
        self,
        store: ConversationManager,
        provider: Provider,
        settings: LLMSettings,
        compactor: Compactor | None = None,
    ) -> None:
        self.store = store
        self.provider = provider
        self.settings = settings
        self.compactor = compactor

    def window(self, truncation: str | None) -> Window:
        """The history window for `truncation` (the one place it is decided)."""
        return Window(
            token_budget=self.settings.default_token_budget,
            limit=self.settings.history_max,
            truncate=truncation == "auto",
        )

    async def retrieve(self, response_id: str) -> ResponseObject:
        return response_from_record(response_id, await self.store.get_response(response_id))

    async def _conversation_of(self, data: CreateResponseIn) -> Continuation:
        """The conversation the response continues, whether it is still to be created, and the
        seq to fork it at (a previous response that is not the latest)."""
        if data.conversation is not None and data.previous_response_id is not None:
            raise InvalidRequest(
                "Mutually exclusive parameters: 'conversation' and 'previous_response_id'.",
                "previous_response_id",
            )
        if data.conversation is not None:
            cid = data.conversation if isinstance(data.conversation, str) else data.conversation.id
            return Continuation(cid)
        if data.previous_response_id is not None:
            try:
                record = await self.store.get_response(data.previous_response_id)
            except NotFoundError:
                raise InvalidRequest(
                    f"Previous response with id '{data.previous_response_id}' not found.",
                    "previous_response_id",
                    code="previous_response_not_found",
                    status_code=404,
                ) from None
            cid = record.conversation.conversation_id
            if record.latest:
                return Continuation(cid)
            outputs = [m for m in record.messages if m.metadata.get(ITEM_KEY, {}).get("source") == "output"]
            return Continuation(cid, fork_at=(outputs or record.messages)[-1].seq)
        # A new conversation's id is the database's to choose (users never choose ids).
        return Continuation(None, create=data.store)

    async def begin(self, data: CreateResponseIn) -> Begun:
        """Check the window (`disabled`), store the input (unless `store` is false; in a fork of
        the conversation when continuing from an earlier response) and read the history window."""
        response_id = f"resp_{uuid.uuid4().hex}"
        if data.input is None or data.input == []:
            raise InvalidRequest("Missing required parameter: 'input'.", "input")
        tools = self._tools(data)
        items = parse_items(data.input, "input", {"response_id": response_id, "source": "input"})
        where = await self._conversation_of(data)
        window = self.window(data.truncation)
        fit: ContextFit | None = None
        if not window.truncate or not data.store:
            fit = await self.store.context_fits(
                where.conversation_id, window.token_budget, window.limit, at_seq=where.fork_at, messages=items
            )
            if not window.truncate and not fit.fits:
                raise InvalidRequest(
                    f"Your input exceeds the context window: the conversation and the input take "
                    f"{fit.tokens} tokens in {fit.messages} messages, more than the {fit.token_budget} "
                    f"tokens or {fit.limit} messages that fit, and truncation is 'disabled'. "
                    "Use truncation 'auto' to send the newest that fit.",
                    "input",
                    code="context_length_exceeded",
                )
        conversation_id: str | None
        compaction: Compaction | None = None
        if data.store:
            history, context, conversation_id = await self._store_input(where, items, window)
            summary = context.summary if context is not None else None
            if context is not None and context.compaction.due:
                compaction = context.compaction
        else:
            context = fit.context if fit is not None else None
            earlier = context.messages if context is not None else []
            history = [*earlier, *(in_memory(m, where.conversation_id or "") for m in items)]
            summary = context.summary if context is not None else None
            conversation_id = where.conversation_id
        envelope: dict[str, Any] = {
            "created_at": int(time.time()),
            "model": self.provider.model,
            "instructions": data.instructions,
            "metadata": dict(data.metadata or {}),
            "tools": [msgspec.to_builtins(t) for t in data.tools or []],
            "tool_choice": data.tool_choice or "auto",
            "parallel_tool_calls": data.parallel_tool_calls if data.parallel_tool_calls is not None else True,
            "truncation": "auto" if window.truncate else "disabled",
            "max_output_tokens": data.max_output_tokens,
            "previous_response_id": data.previous_response_id,
            "store": data.store,
            "temperature": data.temperature,
            "top_p": data.top_p,
        }
        return Begun(
            response_id=response_id,
            conversation_id=conversation_id,
            history=history,
            summary=summary,
            compaction=compaction,
            envelope=envelope,
            tools=tools,
            started=time.perf_counter(),
        )

    async def _store_input(
        self, where: Continuation, items: list[NewMessage], window: Window
    ) -> tuple[list[Message], Context | None, str]:
        """The history window and its context after storing the input, and the conversation's
        id: a fork's when continuing from an earlier response, a new one's when `create` (by
        begin_chat_turn itself when the input ends with a user message)."""
        cid, create = where.conversation_id, where.create
        if where.fork_at is not None:
            assert cid is not None
            cid = (await self.store.fork_conversation(cid, where.fork_at)).conversation_id
        last = items[-1]
        if last.role == "user":
            if items[:-1]:
                if create:
                    cid = (await self.store.create_conversation()).conversation_id
                    create = False
                assert cid is not None
                await self.store.append_messages(cid, items[:-1])
            turn = await self.store.begin_chat_turn(
                last.content,
                conversation_id=cid,
                metadata=last.metadata,
                idempotency_key=last.idempotency_key,
                history_limit=window.limit,
                create_if_missing=create,
                token_budget=window.token_budget,
            )
            return list(turn.history), turn.context, turn.conversation_id
        if create:
            cid = (await self.store.create_conversation()).conversation_id
        assert cid is not None
        await self.store.append_messages(cid, items)
        context = await self.store.get_context(cid, window.token_budget, window.limit)
        return context.messages, context, cid

    @staticmethod
    def _tools(data: CreateResponseIn) -> list[ToolSpec]:
        specs = []
        for n, tool in enumerate(data.tools or []):
            if tool.type != "function" or not tool.name:
                raise InvalidRequest(
                    f"Invalid 'tools[{n}]': only function tools (type 'function' with a name) are supported.",
                    f"tools[{n}].type",
                )
            specs.append(
                ToolSpec(
                    name=tool.name,
                    description=tool.description or "",
                    parameters=tool.parameters or {"type": "object", "properties": {}},
                )
            )
        return specs

    def request(self, begun: Begun, data: CreateResponseIn) -> CompletionRequest:
        """What the model is sent: the instructions (else the configured system prompt), then
        the summary of what the window leaves out, if any, then the window oldest first."""
        messages: list[ChatMessage] = []
        system = data.instructions or self.settings.system_prompt
        if system:
            messages.append(ChatMessage(role="system", content=system))
        if begun.summary is not None:
            messages.append(ChatMessage(role="system", content=begun.summary.content))
        messages.extend(history_messages(begun.history))
        tools = begun.tools
        choice: Literal["none"] | None = "none" if data.tool_choice == "none" else None
        return CompletionRequest(
            messages=messages,
            tools=tools,
            tool_choice=choice if tools else None,
            max_tokens=data.max_output_tokens,
        )

    async def complete(self, begun: Begun, data: CreateResponseIn) -> ResponseObject:
        completion = await self.provider.complete(self.request(begun, data))
        return await self.finish(begun, completion)

    def stream(self, begun: Begun, data: CreateResponseIn) -> AsyncIterator[StreamEvent]:
        return self.provider.stream(self.request(begun, data))

    def output_items(self, begun: Begun, completion: Completion) -> list[NewMessage]:
        """The model's answer as the output items to store: its text as one assistant message
        (under the id the stream announced), then one function_call per tool call."""
        if not completion.content.strip() and not completion.tool_calls:
            raise MalformedResponse(
                f"model returned an empty answer (finish_reason={completion.finish_reason})",
                details={"finish_reason": completion.finish_reason},
            )
        source = {"response_id": begun.response_id, "source": "output"}
        out: list[NewMessage] = []
        duration_ms = round((time.perf_counter() - begun.started) * 1000)
        native = {
            "model": completion.model or self.provider.model,
            "tokens": {
                "prompt": completion.usage.prompt_tokens,
                "completion": completion.usage.completion_tokens,
            },
            "duration_ms": duration_ms,
            "finish_reason": completion.finish_reason,
        }
        if completion.content.strip():
            out.append(
                NewMessage(
                    role="assistant",
                    content=completion.content,
                    metadata={ITEM_KEY: {"type": "message", **source}, **native},
                    idempotency_key=begun.message_id,
                )
            )
        for call in completion.tool_calls:
            out.append(
                NewMessage(
                    role="assistant",
                    content=_encoder.encode(call.arguments).decode(),
                    metadata={
                        ITEM_KEY: {"type": "function_call", "call_id": call.id, "name": call.name, **source},
                        **native,
                    },
                    idempotency_key=call_item_id(begun, call.id),
                )
            )
        envelope = dict(begun.envelope)
        envelope.update(
            model=native["model"],
            status="completed",
            usage=usage_object(completion.usage.prompt_tokens, completion.usage.completion_tokens),
            completed_at=int(time.time()),
        )
        last = out[-1]
        out[-1] = NewMessage(
            role=last.role,
            content=last.content,
            metadata={**last.metadata, ITEM_KEY: {**last.metadata[ITEM_KEY], "response": envelope}},
            idempotency_key=last.idempotency_key,
        )
        return out

    async def finish(self, begun: Begun, completion: Completion) -> ResponseObject:
        """Store the output items (one call) and answer the response object."""
        items = self.output_items(begun, completion)
        if begun.conversation_id is not None and begun.envelope["store"]:
            stored = await self.store.append_messages(begun.conversation_id, items)
            if begun.compaction is not None and self.compactor is not None:
                self.compactor.schedule(self.store, self.provider, begun.conversation_id, begun.compaction)
        else:
            stored = [in_memory(m, begun.conversation_id or "") for m in items]
        envelope = dict(stored[-1].metadata[ITEM_KEY]["response"])
        return ResponseObject(
            id=begun.response_id,
            output=[message_to_item(m) for m in stored],
            conversation=ConversationRef(begun.conversation_id) if begun.conversation_id else None,
            **envelope,
        )


def call_item_id(begun: Begun, call_id: str) -> str:
    """The item id of a function_call output item: derived from the response and the call, so
    a stream and the stored item agree."""
    return f"fc_{uuid.uuid5(uuid.NAMESPACE_URL, begun.response_id + '/' + call_id).hex}"
