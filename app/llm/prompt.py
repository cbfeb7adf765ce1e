"""Stored messages as the messages a model is sent: the one place history becomes a prompt.

Every face stores tool calls in one shape, so this module reads nothing of any face's own
metadata:
* a tool the API ran itself (a native /chat tool) is stored as its result only, a `tool`
  message with metadata `tool`, `args`, `tool_call_id` and `round`: the results of one round
  become the assistant's tool call rebuilt from them (ids derived from their seqs) followed by
  the results, the shape every OpenAI-compatible server accepts;
* a tool call the client runs (a function call of /v1, a tool part of the AI SDK) is stored as
  an `assistant` message whose metadata `tool_call` is `{id, name}` and whose content is the
  arguments' JSON; consecutive ones are one assistant message with those calls, and a `tool`
  message whose `tool_call_id` answers one of them is its result (`empty`: an empty output,
  stored as a placeholder since a message's content cannot be empty).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from app.llm.provider import ChatMessage, ToolCall
from app.store.models import Message

__all__ = ["client_call", "history_messages"]


def client_call(message: Message) -> ToolCall | None:
    """The client tool call an assistant message stands for (metadata `tool_call`), if any."""
    call = message.metadata.get("tool_call")
    if message.role != "assistant" or not isinstance(call, dict):
        return None
    try:
        arguments = msgspec.json.decode(message.content)
    except msgspec.DecodeError:
        arguments = None
    return ToolCall(
        id=str(call.get("id") or f"call_{message.seq}"),
        name=str(call.get("name") or "function"),
        arguments=arguments if isinstance(arguments, dict) else {},
    )


def _round(message: Message) -> Any:
    return message.metadata.get("round")


def _rebuilt_call(result: Message) -> ToolCall:
    """The call a native tool result answers, rebuilt from what the result records."""
    args = result.metadata.get("args")
    return ToolCall(
        id=f"call_{result.seq}",
        name=str(result.metadata.get("tool") or "tool"),
        arguments=args if isinstance(args, dict) else {},
    )


def history_messages(history: Sequence[Message]) -> list[ChatMessage]:
    """Stored messages, oldest first, as model messages (see the module docstring)."""
    out: list[ChatMessage] = []
    calls_seen: dict[str, str] = {}  # call id -> tool name, of the client calls sent so far
    i = 0
    while i < len(history):
        message = history[i]
        if client_call(message) is not None:
            calls: list[ToolCall] = []
            while i < len(history) and (call := client_call(history[i])) is not None:
                calls.append(call)
                i += 1
            calls_seen.update((c.id, c.name) for c in calls)
            out.append(ChatMessage(role="assistant", tool_calls=calls))
            continue
        call_id = message.metadata.get("tool_call_id")
        if message.role == "tool" and call_id in calls_seen:
            content = "" if message.metadata.get("empty") else message.content
            out.append(
                ChatMessage(role="tool", content=content, tool_call_id=call_id, name=calls_seen[call_id])
            )
            i += 1
            continue
        if message.role != "tool":
            out.append(ChatMessage(role=message.role, content=message.content))
            i += 1
            continue
        group = [message]
        while (
            i + len(group) < len(history)
            and history[i + len(group)].role == "tool"
            and _round(history[i + len(group)]) == _round(message)
        ):
            group.append(history[i + len(group)])
        rebuilt = [_rebuilt_call(result) for result in group]
        out.append(ChatMessage(role="assistant", tool_calls=rebuilt))
        out.extend(
            ChatMessage(role="tool", content=result.content, tool_call_id=call.id, name=call.name)
            for result, call in zip(group, rebuilt, strict=True)
        )
        i += len(group)
    return out
