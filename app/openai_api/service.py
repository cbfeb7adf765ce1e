"""/v1/responses as a face of the turn engine: a parser (`response_request`) and a renderer
(`render`) of the response object. Where a response goes, what it stores and what the model is
sent are the engine's (app.turns) and the database's (public.begin_turn), as for /chat:

* a response is a turn of kind `response`, its id the turn's (`resp_<32 hex digits>`);
* `conversation`, `previous_response_id` (continued in its conversation when it is the latest
  thing there, summaries aside, else in a fork at its last message, decided under the
  conversation's lock) or a new conversation;
* `truncation`: `disabled` (OpenAI's default, and ours) sends the whole history or nothing:
  400 `context_length_exceeded` before anything is stored; `auto` sends what fits. Both use the
  database's token-budgeted window: CHAT_TOKEN_BUDGET tokens of history (its default where it
  is 0), at most CHAT_HISTORY_MAX messages; `max_output_tokens` only caps the answer;
* the request's function tools are offered to the model and its calls are output items for the
  client (never run here); the envelope (model, instructions, tools, metadata, truncation...) is
  kept on the turn, and the output (a text message under the id the stream announced, then one
  function_call per call) is stored by the engine's second call;
* `store: false` stores nothing: the window is read for what the input leaves of the budget.
"""

from __future__ import annotations

import time
import uuid
from typing import Any, Literal

import msgspec

from app.dto import find_nul
from app.llm import ToolCall, ToolSpec
from app.openai_api.errors import InvalidRequest
from app.openai_api.items import ITEM_KEY, message_to_item, new_item_id, parse_items
from app.openai_api.schemas import ConversationRef, CreateResponseIn, ResponseObject
from app.store import LimitReachedError, NotFoundError
from app.store.models import Message, TurnRecord, TurnState
from app.turns import TurnRequest

__all__ = ["begin_error", "call_item_id", "render", "response_id", "response_request", "usage_object"]

_STATUS: dict[TurnState, str] = {
    "queued": "queued",
    "in_progress": "in_progress",
    "completed": "completed",
    "stopped": "cancelled",
    "failed": "failed",
}
_FIELDS = frozenset(ResponseObject.__struct_fields__)


def response_id(turn_id: uuid.UUID) -> str:
    """A turn's id as a response id."""
    return f"resp_{turn_id.hex}"


def call_item_id(response: str, call: ToolCall) -> str:
    """The item id of a function_call output item: derived from the response and the call, so
    a stream and the stored item agree."""
    return f"fc_{uuid.uuid5(uuid.NAMESPACE_URL, response + '/' + call.id).hex}"


def usage_object(prompt: int, completion: int) -> dict[str, Any]:
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": prompt + completion,
    }


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


def response_request(data: CreateResponseIn, model: str) -> TurnRequest:
    """The parser: a responses.create body as the turn it asks for (400s before any store call).
    The response's id is chosen here (its turn's id), so its items carry it from the start."""
    if data.input is None or data.input == []:
        raise InvalidRequest("Missing required parameter: 'input'.", "input")
    # PostgreSQL stores no U+0000 in text or jsonb: refused here, naming where, not by the insert.
    nul = find_nul(msgspec.to_builtins(data))
    if nul is not None:
        param = nul.removeprefix("$.")
        raise InvalidRequest(f"Invalid '{param}': text may not contain the NUL character (U+0000).", param)
    if data.conversation is not None and data.previous_response_id is not None:
        raise InvalidRequest(
            "Mutually exclusive parameters: 'conversation' and 'previous_response_id'.",
            "previous_response_id",
        )
    tools = _tools(data)
    reply_key = new_item_id("message")
    turn_id = uuid.uuid4()
    rid = response_id(turn_id)
    conversation = (
        data.conversation.id if isinstance(data.conversation, ConversationRef) else data.conversation
    )
    truncation: Literal["auto", "disabled"] = data.truncation or "disabled"
    envelope: dict[str, Any] = {
        "created_at": int(time.time()),
        "model": model,
        "instructions": data.instructions,
        "metadata": dict(data.metadata or {}),
        "tools": [msgspec.to_builtins(t) for t in data.tools or []],
        "tool_choice": data.tool_choice or "auto",
        "parallel_tool_calls": data.parallel_tool_calls if data.parallel_tool_calls is not None else True,
        "truncation": truncation,
        "max_output_tokens": data.max_output_tokens,
        "previous_response_id": data.previous_response_id,
        "store": data.store,
        "temperature": data.temperature,
        "top_p": data.top_p,
        "background": data.background,
        # The message item the stream announces before it is stored: any instance that encodes
        # the stream again (a resume) names it the same.
        "output_message_id": reply_key,
    }
    return TurnRequest(
        kind="response",
        turn_id=turn_id,
        input=parse_items(data.input, "input", {"response_id": rid, "source": "input"}),
        conversation_id=conversation,
        previous_response_id=data.previous_response_id,
        truncate=truncation == "auto",
        store=data.store,
        instructions=data.instructions,
        server_tools=False,
        client_tools=tools,
        tool_choice="none" if data.tool_choice == "none" else None,
        max_output_tokens=data.max_output_tokens,
        reply_key=reply_key,
        call_key=lambda call: call_item_id(rid, call),
        output_metadata={ITEM_KEY: {"response_id": rid, "source": "output"}},
        envelope=envelope,
    )


def _reason(details: Any) -> dict[str, Any]:
    """The structured detail the database gives with some errors ({"reason": ...})."""
    if isinstance(details, str) and details.startswith("{"):
        try:
            decoded = msgspec.json.decode(details)
        except msgspec.DecodeError:
            return {}
        return decoded if isinstance(decoded, dict) else {}
    return {}


def begin_error(exc: Exception, data: CreateResponseIn) -> Exception:
    """A begin_turn failure as OpenAI words it: a previous response that is not there (404
    previous_response_not_found), a history that does not fit with truncation disabled (400
    context_length_exceeded); anything else as the native handlers decide."""
    reason = _reason(getattr(exc, "details", None))
    if isinstance(exc, NotFoundError) and reason.get("reason") == "previous_response_not_found":
        return InvalidRequest(
            f"Previous response with id '{data.previous_response_id}' not found.",
            "previous_response_id",
            code="previous_response_not_found",
            status_code=404,
        )
    if isinstance(exc, LimitReachedError) and reason.get("reason") == "context_length_exceeded":
        return InvalidRequest(
            f"Your input exceeds the context window: the conversation and the input take "
            f"{reason.get('tokens')} tokens in {reason.get('messages')} messages, more than the "
            f"{reason.get('token_budget')} tokens or {reason.get('limit')} messages that fit, and "
            "truncation is 'disabled'. Use truncation 'auto' to send the newest that fit.",
            "input",
            code="context_length_exceeded",
        )
    return exc


def render(
    envelope: dict[str, Any],
    *,
    id: str,
    state: TurnState,
    conversation_id: str | None,
    output: list[Message],
    record: TurnRecord | None = None,
    result: dict[str, Any] | None = None,
) -> ResponseObject:
    """The response object: the envelope kept on the turn, its state and what finished it
    (model, tokens, error), and the output items. A response of an earlier release kept all of
    it in its envelope."""
    result = result if result is not None else (record.result if record is not None else {})
    fields = {k: v for k, v in envelope.items() if k in _FIELDS}
    tokens = result.get("tokens")
    if isinstance(tokens, dict):
        fields["usage"] = usage_object(int(tokens.get("prompt") or 0), int(tokens.get("completion") or 0))
    if result.get("model"):
        fields["model"] = result["model"]
    if isinstance(result.get("error"), dict):
        fields["error"] = result["error"]
    if record is not None and record.finished_at is not None and state == "completed":
        fields.setdefault("completed_at", int(record.finished_at.timestamp()))
    if state == "completed" and "completed_at" not in fields:
        fields["completed_at"] = int(time.time())
    fields.setdefault(
        "created_at", int(record.created_at.timestamp()) if record is not None else int(time.time())
    )
    fields.setdefault("model", "")
    fields.setdefault("usage", None)
    fields["status"] = _STATUS[state]
    return ResponseObject(
        id=id,
        output=[message_to_item(m) for m in output],
        conversation=ConversationRef(conversation_id) if conversation_id else None,
        **fields,
    )
