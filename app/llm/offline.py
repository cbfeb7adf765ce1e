"""The offline provider: no key, no network, the same answer for the same input.

It is the default only when no model is configured, and says so in every answer's `model`
("offline-echo (no model configured)"). What it answers, given the messages it is sent:

* The last message is the user's: when tools are offered (and `tool_choice` is not "none"),
  it calls `calculator` if the message contains arithmetic such as `2+2` or `(3 + 4) * 5`,
  and `current_time` if it contains the word "time" (with the first IANA zone name it
  mentions, e.g. "Europe/Paris", else UTC); both when both apply. Otherwise it echoes:
  `Offline echo (no model configured): you said "<the first 30 words>". I saw <n> earlier
  message(s) of this conversation.` where n counts the non-system messages before it.
* The last messages are tool results: it reports them, `Tool results for "<user message>":
  calculator: 2+2 = 4.`, and stops (finish reason "stop").
* The request is a summary request (its first message is `SUMMARY_INSTRUCTION`): it answers
  `Offline summary (no model configured) of <n> message(s): <role>: <first words>; ...`, the
  first 8 words of each message after the instruction (an earlier summary included).

Token usage counts words (whitespace-separated): prompt tokens over every message sent (tool
call arguments included), completion tokens over the answer. `stream` yields the answer word
by word (the deltas joined are exactly the answer); `delay` sleeps before each word, to
demonstrate streaming or simulate a slow model in benchmarks.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import msgspec

from app.llm.provider import (
    SUMMARY_INSTRUCTION,
    ChatMessage,
    Completion,
    CompletionRequest,
    StreamDone,
    StreamEvent,
    TextDelta,
    ToolCall,
    Usage,
)

__all__ = ["OFFLINE_MODEL", "OfflineProvider"]

OFFLINE_MODEL = "offline-echo (no model configured)"

_CANDIDATE = re.compile(r"[\d.()\s+\-*/%^]+")
_ARITHMETIC = re.compile(r"\d\s*(?:\*\*|[-+*/%^])\s*[\d(]")
_TIME = re.compile(r"\btime\b", re.IGNORECASE)
_ZONE = re.compile(r"\b(UTC|[A-Z][A-Za-z_]+/[A-Z][A-Za-z_]+(?:/[A-Z][A-Za-z_]+)?)\b")
_WORDS = re.compile(r"\S+\s*")
SUMMARY_WORDS = 30


def _words(text: str | None) -> int:
    return len(text.split()) if text else 0


def _summary(text: str) -> str:
    words = text.split()
    return " ".join(words[:SUMMARY_WORDS]) + (" ..." if len(words) > SUMMARY_WORDS else "")


def _offline_summary(messages: list[ChatMessage]) -> str:
    parts = [
        f"{m.role}: {' '.join((m.content or '').split()[:8])}"
        for m in messages
        if m.content  # an assistant's rebuilt tool call has none; its results follow
    ]
    return f"Offline summary (no model configured) of {len(parts)} message(s): {'; '.join(parts)}."


def arithmetic_in(text: str) -> str | None:
    """The first arithmetic expression in `text` (`2+2` in "what is 2+2?"), if any."""
    for match in _CANDIDATE.finditer(text):
        candidate = match.group().strip().rstrip(".").strip()
        if _ARITHMETIC.search(candidate):
            return candidate
    return None


class OfflineProvider:
    """A deterministic stand-in for a model (see the module docstring for what it says)."""

    def __init__(self, *, model: str = OFFLINE_MODEL, delay: float = 0.0) -> None:
        self.model = model
        self.delay = delay

    async def aclose(self) -> None:
        return None

    async def complete(self, request: CompletionRequest) -> Completion:
        if self.delay:
            await asyncio.sleep(self.delay)
        return self.answer(request)

    async def stream(self, request: CompletionRequest) -> AsyncIterator[StreamEvent]:
        completion = self.answer(request)
        for word in _WORDS.findall(completion.content):
            if self.delay:
                await asyncio.sleep(self.delay)
            yield TextDelta(word)
        yield StreamDone(completion)

    def answer(self, request: CompletionRequest) -> Completion:
        messages = request.messages
        prompt = sum(
            _words(m.content)
            + sum(_words(msgspec.json.encode(c.arguments).decode()) for c in m.tool_calls or ())
            for m in messages
        )
        if messages and messages[0].content == SUMMARY_INSTRUCTION:
            return self._completion(_offline_summary(messages[1:]), prompt, "stop")
        user_index = max((i for i, m in enumerate(messages) if m.role == "user"), default=-1)
        user = messages[user_index].content or "" if user_index >= 0 else ""
        last = messages[-1] if messages else ChatMessage(role="user", content="")

        if last.role == "tool":
            results: list[str] = []
            for m in reversed(messages):
                if m.role != "tool":
                    break
                results.append(f"{m.name or 'tool'}: {m.content}")
            content = f'Tool results for "{_summary(user)}": {"; ".join(reversed(results))}.'
            return self._completion(content, prompt, "stop")

        offered = {t.name for t in request.tools} if request.tool_choice != "none" else set()
        if last.role == "user" and offered:
            calls: list[ToolCall] = []
            expression = arithmetic_in(user)
            if expression and "calculator" in offered:
                calls.append(
                    ToolCall(f"call_{len(messages)}_{len(calls)}", "calculator", {"expression": expression})
                )
            if _TIME.search(user) and "current_time" in offered:
                zone = _ZONE.search(user)
                args = {"timezone": zone.group(1)} if zone else {}
                calls.append(ToolCall(f"call_{len(messages)}_{len(calls)}", "current_time", args))
            if calls:
                completion_tokens = sum(_words(msgspec.json.encode(c.arguments).decode()) for c in calls)
                return Completion(
                    content="",
                    tool_calls=calls,
                    usage=Usage(prompt, completion_tokens),
                    model=self.model,
                    finish_reason="tool_calls",
                )

        earlier = sum(1 for m in messages[: max(user_index, 0)] if m.role != "system")
        content = (
            f'Offline echo (no model configured): you said "{_summary(user)}". '
            f"I saw {earlier} earlier message{'' if earlier == 1 else 's'} of this conversation."
        )
        return self._completion(content, prompt, "stop")

    def _completion(self, content: str, prompt: int, finish_reason: str) -> Completion:
        return Completion(
            content=content,
            usage=Usage(prompt, _words(content)),
            model=self.model,
            finish_reason=finish_reason,
        )
