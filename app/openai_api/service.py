"""ResponsesService: one /v1/responses call as a chat turn over our store.

Store calls of a response (each one SQL function call), as for /chat:
1. the input: `begin_chat_turn` when the input ends with a user message (it appends that
   message, creating the conversation when needed, and returns the history window ending with
   it); any items before it are appended first with `append_messages`. Input that ends with
   something else (function_call_output items answering the model's calls) is appended with
   `append_messages` and the window read with `get_messages`;
2. the model, once, with the request's function tools (the client runs them: the model's
   calls are output items, never executed here);
3. the output: every output item in one `append_messages`.
A plain text turn therefore costs 2 store calls, like /chat. With `store: false` nothing is
written: the window is read from `conversation` (when given) and the input is added in memory.

The history window: `window()` is the one place `truncation` maps onto it. Today the window is
count-based (CHAT_HISTORY_LIMIT messages, the chat turn's `history_limit`); when the
token-budgeted window of the context issue lands, `auto` becomes its token budget there and
nothing else changes. `disabled` takes up to CHAT_HISTORY_MAX messages and answers 400
`context_length_exceeded`, before storing anything, when the conversation has more.

`previous_response_id` continues in that response's conversation when it is the latest thing
in it. One that is not (something was appended after it) would need a fork of the
conversation at that point, which the store does not have yet: 409 `fork_unsupported`.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import Any, Literal

import msgspec

from app.config import LLMSettings
from app.llm.chat import history_messages
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
from app.store.models import Message, NewMessage, ResponseRecord

__all__ = ["Begun", "ResponsesService", "response_from_record", "usage_object"]

_encoder = msgspec.json.Encoder()


def usage_object(prompt: int, completion: int) -> dict[str, Any]:
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": prompt + completion,
    }


class Begun(msgspec.Struct, kw_only=True):
    """A response after its input is stored: what the model is sent and the envelope the
    response object is built from. `output_ids` are the ids the output items will be stored
    under (known first, so a stream names them before they are stored)."""

    response_id: str
    conversation_id: str | None
    history: list[Message]
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

    __slots__ = ("provider", "settings", "store")

    def __init__(self, store: ConversationManager, provider: Provider, settings: LLMSettings) -> None:
        self.store = store
        self.provider = provider
        self.settings = settings

    def window(self, truncation: str | None) -> int:
        """The history window for `truncation` (the one place it is decided)."""
        if truncation == "disabled":
            return self.settings.history_max
        return self.settings.history_window(None)

    async def retrieve(self, response_id: str) -> ResponseObject:
        return response_from_record(response_id, await self.store.get_response(response_id))

    async def _conversation_of(self, data: CreateResponseIn) -> tuple[str | None, bool]:
        """The conversation the response continues, and whether it is still to be created."""
        if data.conversation is not None and data.previous_response_id is not None:
            raise InvalidRequest(
                "Mutually exclusive parameters: 'conversation' and 'previous_response_id'.",
                "previous_response_id",
            )
        if data.conversation is not None:
            cid = data.conversation if isinstance(data.conversation, str) else data.conversation.id
            return cid, False
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
            if not record.latest:
                raise InvalidRequest(
                    f"Response '{data.previous_response_id}' is not the latest of its conversation: "
                    "continuing from it would fork the conversation, which this store does not "
                    "support yet. Continue from the latest response, or pass 'conversation'.",
                    "previous_response_id",
                    code="fork_unsupported",
                    status_code=409,
                )
            return record.conversation.conversation_id, False
        # A new conversation's id is the database's to choose (users never choose ids).
        return None, data.store

    async def begin(self, data: CreateResponseIn) -> Begun:
        """Store the input (unless `store` is false) and read the history window."""
        response_id = f"resp_{uuid.uuid4().hex}"
        if data.input is None or data.input == []:
            raise InvalidRequest("Missing required parameter: 'input'.", "input")
        tools = self._tools(data)
        items = parse_items(data.input, "input", {"response_id": response_id, "source": "input"})
        conversation_id, create = await self._conversation_of(data)
        window = self.window(data.truncation)
        if data.truncation == "disabled" and conversation_id and not create:
            known = await self.store.get_conversation(conversation_id, limit=0)
            if known.message_count + len(items) > window:
                raise InvalidRequest(
                    f"The conversation has {known.message_count} messages and the input {len(items)}: "
                    f"more than the {window} that fit. Use truncation 'auto'.",
                    "input",
                    code="context_length_exceeded",
                )
        history, conversation_id = await self._store_input(conversation_id, create, items, window, data.store)
        envelope: dict[str, Any] = {
            "created_at": int(time.time()),
            "model": self.provider.model,
            "instructions": data.instructions,
            "metadata": dict(data.metadata or {}),
            "tools": [msgspec.to_builtins(t) for t in data.tools or []],
            "tool_choice": data.tool_choice or "auto",
            "parallel_tool_calls": data.parallel_tool_calls if data.parallel_tool_calls is not None else True,
            "truncation": data.truncation or "auto",
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
            envelope=envelope,
            tools=tools,
            started=time.perf_counter(),
        )

    async def _store_input(
        self, cid: str | None, create: bool, items: list[NewMessage], window: int, store: bool
    ) -> tuple[list[Message], str | None]:
        """The history window after storing the input, and the conversation's id (created here
        when `create`: by begin_chat_turn itself when the input ends with a user message)."""
        if not store:
            earlier = await self.store.get_messages(cid, limit=window) if cid else []
            fresh = [in_memory(m, cid or "") for m in items]
            return [*earlier, *fresh][-window:], cid
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
                history_limit=window,
                create_if_missing=create,
            )
            return list(turn.history), turn.conversation_id
        if create:
            cid = (await self.store.create_conversation()).conversation_id
        assert cid is not None
        await self.store.append_messages(cid, items)
        return await self.store.get_messages(cid, limit=window), cid

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
        the history window oldest first."""
        messages: list[ChatMessage] = []
        system = data.instructions or self.settings.system_prompt
        if system:
            messages.append(ChatMessage(role="system", content=system))
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
