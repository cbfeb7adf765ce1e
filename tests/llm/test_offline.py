"""The offline provider: deterministic answers, word-count usage, streaming, tool calls."""

from __future__ import annotations

from app.llm.offline import OFFLINE_MODEL, OfflineProvider, arithmetic_in
from app.llm.provider import (
    ChatMessage,
    CompletionRequest,
    StreamDone,
    TextDelta,
    ToolCall,
)
from app.llm.tools import builtin_tools

TOOLS = builtin_tools().specs()


def conversation(*texts: str) -> list[ChatMessage]:
    roles = ["user", "assistant"]
    return [ChatMessage(role="system", content="Be nice.")] + [
        ChatMessage(role=roles[i % 2], content=t)  # type: ignore[arg-type]
        for i, t in enumerate(texts)
    ]


async def test_echo_is_deterministic_and_labelled() -> None:
    provider = OfflineProvider()
    request = CompletionRequest(messages=conversation("How is line 999?", "Fine.", "And line 1000?"))
    first = await provider.complete(request)
    assert first == await OfflineProvider().complete(request)
    assert first.model == OFFLINE_MODEL == "offline-echo (no model configured)"
    assert first.content == (
        'Offline echo (no model configured): you said "And line 1000?". '
        "I saw 2 earlier messages of this conversation."
    )
    assert first.finish_reason == "stop"
    assert first.tool_calls == []
    # Words: "Be nice." 2 + 4 + 1 + 3 = 10 in; the answer's words out.
    assert first.usage.prompt_tokens == 10
    assert first.usage.completion_tokens == len(first.content.split())


async def test_long_messages_are_summarised() -> None:
    words = " ".join(f"w{i}" for i in range(50))
    answer = await OfflineProvider().complete(CompletionRequest(messages=conversation(words)))
    assert '"w0 w1' in answer.content
    assert 'w29 ..."' in answer.content
    assert "w30" not in answer.content
    assert "I saw 0 earlier messages" in answer.content


async def test_stream_yields_words_that_join_to_the_answer() -> None:
    provider = OfflineProvider()
    request = CompletionRequest(messages=conversation("hello   world"))
    events = [e async for e in provider.stream(request)]
    deltas = [e for e in events if isinstance(e, TextDelta)]
    done = events[-1]
    assert isinstance(done, StreamDone)
    assert len(deltas) == len(done.completion.content.split()) > 5
    assert "".join(d.text for d in deltas) == done.completion.content
    assert done.completion == await provider.complete(request)


async def test_tools_called_deterministically() -> None:
    provider = OfflineProvider()
    calc = await provider.complete(CompletionRequest(conversation("What is (2+2) * 10?"), tools=TOOLS))
    assert calc.content == ""
    assert calc.finish_reason == "tool_calls"
    assert calc.tool_calls == [ToolCall("call_2_0", "calculator", {"expression": "(2+2) * 10"})]

    both = await provider.complete(
        CompletionRequest(conversation("What time is it in America/New_York, and 3*3?"), tools=TOOLS)
    )
    assert [(c.name, c.arguments) for c in both.tool_calls] == [
        ("calculator", {"expression": "3*3"}),
        ("current_time", {"timezone": "America/New_York"}),
    ]
    utc = await provider.complete(CompletionRequest(conversation("what TIME is it?"), tools=TOOLS))
    assert [(c.name, c.arguments) for c in utc.tool_calls] == [("current_time", {})]

    # No tools offered, tool_choice none, or nothing to compute: an echo.
    for request in (
        CompletionRequest(conversation("What is 2+2?")),
        CompletionRequest(conversation("What is 2+2?"), tools=TOOLS, tool_choice="none"),
        CompletionRequest(conversation("How is line 999?"), tools=TOOLS),
    ):
        answer = await provider.complete(request)
        assert answer.tool_calls == []
        assert answer.content.startswith("Offline echo")


async def test_answers_from_tool_results() -> None:
    messages = [
        *conversation("What is 2+2?"),
        ChatMessage(role="assistant", tool_calls=[ToolCall("c1", "calculator", {"expression": "2+2"})]),
        ChatMessage(role="tool", content="2+2 = 4", tool_call_id="c1", name="calculator"),
    ]
    answer = await OfflineProvider().complete(CompletionRequest(messages, tools=TOOLS))
    assert answer.content == 'Tool results for "What is 2+2?": calculator: 2+2 = 4.'
    assert answer.tool_calls == []


def test_arithmetic_detection() -> None:
    assert arithmetic_in("what is 2+2?") == "2+2"
    assert arithmetic_in("compute 10 / 4.") == "10 / 4"
    assert arithmetic_in("How is line 999?") is None
    assert arithmetic_in("no numbers") is None
