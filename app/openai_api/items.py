"""OpenAI items <-> our messages: the one place the mapping lives (see the package docstring).

Parsing is lenient about what the SDKs add (`status`, `annotations`, unknown keys are ignored)
and strict about what changes meaning: an unknown item type, a part that is not text, a role we
cannot store is an InvalidRequest naming the parameter (`input[2].content[0].type`), OpenAI's 400.
"""

from __future__ import annotations

import uuid
from typing import Any

from app.llm import client_call
from app.openai_api.compaction import read_summary, write_summary
from app.openai_api.errors import InvalidRequest
from app.store.models import Message, NewMessage, Role

__all__ = [
    "EMPTY_OUTPUT",
    "ITEM_KEY",
    "item_id",
    "item_type",
    "message_to_item",
    "new_item_id",
    "parse_item",
    "parse_items",
    "unix",
]

# Where the item's own details live in a message's metadata.
ITEM_KEY = "openai"
# A function_call_output may be empty; a stored message may not (its content check).
EMPTY_OUTPUT = "(empty)"

_PREFIX = {"message": "msg", "function_call": "fc", "function_call_output": "fco", "compaction": "cmp"}
_ROLES: dict[str, Role] = {
    "user": "user",
    "assistant": "assistant",
    "system": "system",
    "developer": "system",
}
_TEXT_PARTS = {"input_text", "output_text", "text"}


def new_item_id(item_type: str) -> str:
    return f"{_PREFIX.get(item_type, 'item')}_{uuid.uuid4().hex}"


def unix(message: Message) -> int:
    return int(message.created_at.timestamp())


def item_type(message: Message) -> str:
    details = message.metadata.get(ITEM_KEY)
    if isinstance(details, dict) and isinstance(details.get("type"), str):
        return str(details["type"])
    if message.role == "tool":
        return "function_call_output"
    return "function_call" if client_call(message) is not None else "message"


def item_id(message: Message) -> str:
    """The item id: the key the API stored the item under, else `<prefix>_<uuid hex>`."""
    details = message.metadata.get(ITEM_KEY)
    if isinstance(details, dict) and message.idempotency_key:
        return message.idempotency_key
    return f"{_PREFIX.get(item_type(message), 'msg')}_{message.id.hex}"


def message_to_item(message: Message) -> dict[str, Any]:
    """A stored message as the OpenAI item it is (or stands for, when written natively)."""
    details: dict[str, Any] = message.metadata.get(ITEM_KEY) or {}
    if not isinstance(details, dict):
        details = {}
    kind = item_type(message)
    status = details.get("status", "completed")
    if kind == "function_call":
        call = client_call(message)
        return {
            "id": item_id(message),
            "type": "function_call",
            "call_id": details.get("call_id") or (call.id if call else f"call_{message.seq}"),
            "name": details.get("name") or (call.name if call else "function"),
            "arguments": message.content,
            "status": status,
        }
    if kind == "function_call_output":
        call_id = details.get("call_id") or message.metadata.get("tool_call_id") or f"call_{message.seq}"
        output = "" if details.get("empty") else message.content
        return {
            "id": item_id(message),
            "type": "function_call_output",
            "call_id": call_id,
            "output": output,
            "status": status,
        }
    if kind == "compaction":
        return {
            "id": item_id(message),
            "type": "compaction",
            "encrypted_content": details.get("encrypted_content") or write_summary(message.content),
        }
    role = details.get("role") or message.role
    part_type = "output_text" if message.role == "assistant" else "input_text"
    parts = details.get("parts")
    content: list[dict[str, Any]]
    if isinstance(parts, list):
        content = [dict(p) for p in parts if isinstance(p, dict)]
    else:
        content = [{"type": part_type, "text": message.content}]
    for part in content:
        if part.get("type") == "output_text":
            part.setdefault("annotations", [])
    return {"id": item_id(message), "type": "message", "role": role, "status": status, "content": content}


def _text_parts(content: Any, param: str) -> list[dict[str, str]]:
    if isinstance(content, str):
        return [{"type": "", "text": content}]
    if not isinstance(content, list) or not content:
        raise InvalidRequest(f"Invalid '{param}': expected a string or a non-empty array of parts.", param)
    parts = []
    for n, part in enumerate(content):
        if (
            not isinstance(part, dict)
            or part.get("type") not in _TEXT_PARTS
            or not isinstance(part.get("text"), str)
        ):
            kind = part.get("type") if isinstance(part, dict) else type(part).__name__
            raise InvalidRequest(
                f"Invalid '{param}[{n}]': only text parts (input_text, output_text) are supported, "
                f"got {kind!r}.",
                f"{param}[{n}].type",
            )
        parts.append({"type": str(part["type"]), "text": str(part["text"])})
    return parts


def parse_item(raw: Any, param: str, extra: dict[str, Any] | None = None) -> NewMessage:
    """One input item as the message to store. `extra` joins metadata.openai (response_id...)."""
    if not isinstance(raw, dict):
        raise InvalidRequest(f"Invalid '{param}': expected an object.", param)
    kind = raw.get("type") or ("message" if "role" in raw else None)
    details: dict[str, Any] = {"type": kind, **(extra or {})}
    given_id = raw.get("id")
    if given_id is not None and (not isinstance(given_id, str) or not 1 <= len(given_id) <= 255):
        raise InvalidRequest(
            f"Invalid '{param}.id': expected a string of 1 to 255 characters.", f"{param}.id"
        )
    key = given_id or new_item_id(str(kind))
    if kind == "message":
        role = raw.get("role")
        if role not in _ROLES:
            raise InvalidRequest(
                f"Invalid '{param}.role': expected one of user, assistant, system, developer.",
                f"{param}.role",
            )
        parts = _text_parts(raw.get("content"), f"{param}.content")
        stored_role = _ROLES[role]
        if role != stored_role:
            details["role"] = role
        default_part = "output_text" if stored_role == "assistant" else "input_text"
        if len(parts) > 1 or parts[0]["type"] not in ("", default_part):
            details["parts"] = [{**p, "type": p["type"] or default_part} for p in parts]
        text = "\n".join(p["text"] for p in parts)
        if not text:
            raise InvalidRequest(f"Invalid '{param}.content': the text is empty.", f"{param}.content")
        return NewMessage(role=stored_role, content=text, metadata={ITEM_KEY: details}, idempotency_key=key)
    if kind == "function_call":
        for field in ("call_id", "name", "arguments"):
            if not isinstance(raw.get(field), str):
                raise InvalidRequest(f"Missing required parameter: '{param}.{field}'.", f"{param}.{field}")
        details.update(call_id=raw["call_id"], name=raw["name"])
        return NewMessage(
            role="assistant",
            content=raw["arguments"] or "{}",
            # `tool_call`: the shape every face stores a client's tool call in (app.llm.prompt).
            metadata={ITEM_KEY: details, "tool_call": {"id": raw["call_id"], "name": raw["name"]}},
            idempotency_key=key,
        )
    if kind == "function_call_output":
        if not isinstance(raw.get("call_id"), str):
            raise InvalidRequest(f"Missing required parameter: '{param}.call_id'.", f"{param}.call_id")
        output = raw.get("output")
        text = (
            output
            if isinstance(output, str)
            else "\n".join(p["text"] for p in _text_parts(output, f"{param}.output"))
        )
        details["call_id"] = raw["call_id"]
        metadata: dict[str, Any] = {ITEM_KEY: details, "tool_call_id": raw["call_id"]}
        if not text:
            details["empty"] = metadata["empty"] = True
        return NewMessage(role="tool", content=text or EMPTY_OUTPUT, metadata=metadata, idempotency_key=key)
    if kind == "compaction":
        content = raw.get("encrypted_content")
        summary = read_summary(content) if isinstance(content, str) else None
        if summary is None:
            raise InvalidRequest(
                f"Invalid '{param}.encrypted_content': not a compaction item of this API "
                "(POST /v1/responses/compact makes them).",
                f"{param}.encrypted_content",
            )
        details["encrypted_content"] = content
        # The summary is what the model reads, as a system message (as a stored summary is sent).
        return NewMessage(role="system", content=summary, metadata={ITEM_KEY: details}, idempotency_key=key)
    raise InvalidRequest(
        f"Invalid '{param}.type': {kind!r} items are not supported "
        "(message, function_call, function_call_output and compaction are).",
        f"{param}.type",
    )


def parse_items(raw: Any, param: str, extra: dict[str, Any] | None = None) -> list[NewMessage]:
    """`input` (a string: one user message) or a list of items."""
    if isinstance(raw, str):
        if not raw:
            raise InvalidRequest(f"Invalid '{param}': the text is empty.", param)
        return [parse_item({"type": "message", "role": "user", "content": raw}, param, extra)]
    if not isinstance(raw, list):
        raise InvalidRequest(f"Invalid '{param}': expected a string or an array of items.", param)
    return [parse_item(item, f"{param}[{n}]", extra) for n, item in enumerate(raw)]
