"""The tool registry and the shipped tools."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
import pytest

from app.llm.provider import ToolCall
from app.llm.tools import ToolRegistry, builtin_tools, evaluate


class WeatherArgs(msgspec.Struct):
    city: Annotated[str, msgspec.Meta(description="City name")]
    unit: Literal["c", "f"] = "c"
    days: int = 1


def test_struct_tool_schema_and_description() -> None:
    registry = ToolRegistry()

    @registry.tool
    async def weather(args: WeatherArgs) -> dict[str, Any]:
        """The forecast for a city.

        Longer explanation that is not part of the description."""
        return {"city": args.city}

    (spec,) = registry.specs()
    assert spec.name == "weather"
    assert spec.description == "The forecast for a city."
    assert spec.parameters == {
        "type": "object",
        "properties": {
            "city": {"type": "string", "description": "City name"},
            "unit": {"enum": ["c", "f"], "default": "c"},
            "days": {"type": "integer", "default": 1},
        },
        "required": ["city"],
    }
    assert weather.__name__ == "weather"  # the decorator returns the function


async def test_struct_arguments_validated_and_converted() -> None:
    registry = ToolRegistry()
    seen: list[WeatherArgs] = []

    @registry.tool(name="forecast", description="Forecast.")
    async def weather(args: WeatherArgs) -> str:
        seen.append(args)
        return f"sunny in {args.city}"

    ok = await registry.run(ToolCall("c1", "forecast", {"city": "Lyon", "days": "3"}))
    assert ok.content == "sunny in Lyon"
    assert not ok.is_error
    assert seen == [WeatherArgs("Lyon", "c", 3)]  # lenient conversion of "3"

    missing = await registry.run(ToolCall("c2", "forecast", {"unit": "c"}))
    assert missing.is_error
    assert missing.content.startswith("error: invalid arguments for forecast:")
    assert "city" in missing.content

    wrong = await registry.run(ToolCall("c3", "forecast", {"city": "Lyon", "unit": "kelvin"}))
    assert wrong.is_error
    assert "unit" in wrong.content
    assert len(seen) == 1  # the function never ran with bad arguments


async def test_json_schema_tool_minimal_validation() -> None:
    registry = ToolRegistry()

    async def tickets(args: dict[str, Any]) -> int:
        return len(args["team"])

    registry.register(
        tickets,
        name="ticket_count",
        description="Open tickets of a team.",
        parameters={
            "type": "object",
            "properties": {
                "team": {"type": "string"},
                "priority": {"type": "integer", "enum": [1, 2, 3]},
            },
            "required": ["team"],
            "additionalProperties": False,
        },
    )
    assert (await registry.run(ToolCall("a", "ticket_count", {"team": "core"}))).content == "4"
    cases = {
        "missing required argument(s): team": {},
        "argument 'team' must be of type string": {"team": 5},
        "argument 'priority' must be of type integer": {"team": "x", "priority": True},
        "argument 'priority' must be one of [1, 2, 3]": {"team": "x", "priority": 7},
        "unknown argument(s): colour": {"team": "x", "colour": "red"},
    }
    for message, args in cases.items():
        result = await registry.run(ToolCall("a", "ticket_count", args))
        assert result.is_error
        assert result.content == f"error: invalid arguments for ticket_count: {message}"


async def test_failing_tool_returns_its_error() -> None:
    registry = ToolRegistry()

    @registry.tool
    async def explode(args: dict[str, Any]) -> str:
        """Always fails."""
        raise RuntimeError("database is on fire")

    result = await registry.run(ToolCall("x", "explode", {}))
    assert result.is_error
    assert result.content == "error: explode failed: RuntimeError: database is on fire"


async def test_slow_tool_times_out() -> None:
    registry = ToolRegistry(timeout=0.05)

    @registry.tool
    async def slow(args: dict[str, Any]) -> str:
        """Takes forever."""
        await asyncio.sleep(10)  # a tool that hangs: its timeout is under test
        return "never"

    @registry.tool(timeout=1.0)
    async def patient(args: dict[str, Any]) -> str:
        """Has its own timeout."""
        await asyncio.sleep(0.1)  # slower than the registry's timeout, within its own
        return "done"

    result = await registry.run(ToolCall("x", "slow", {}))
    assert result == result.__class__("error: slow did not finish within 0.05 s", True)
    assert (await registry.run(ToolCall("y", "patient", {}))).content == "done"


async def test_unknown_tool_and_long_results() -> None:
    registry = ToolRegistry(max_result_chars=10)

    @registry.tool
    async def chatty(args: dict[str, Any]) -> str:
        """Talks a lot."""
        return "x" * 100

    unknown = await registry.run(ToolCall("x", "nope", {}))
    assert unknown.is_error
    assert unknown.content == "error: unknown tool 'nope' (available: chatty)"
    assert (await registry.run(ToolCall("x", "chatty", {}))).content == "x" * 10 + " [truncated]"


def test_registration_errors() -> None:
    registry = ToolRegistry()

    def sync_tool(args: dict[str, Any]) -> str:
        return ""

    with pytest.raises(TypeError, match="must be async"):
        registry.register(sync_tool)  # type: ignore[arg-type]

    async def dup(args: dict[str, Any]) -> str:
        return ""

    registry.register(dup)
    with pytest.raises(ValueError, match="already registered"):
        registry.register(dup)
    with pytest.raises(ValueError, match="tool name"):
        registry.register(dup, name="has space")


# -- shipped tools -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("2+2", 4),
        ("(3 + 4) * 5", 35),
        ("7 / 2", 3.5),
        ("7 // 2", 3),
        ("2^10", 1024),
        ("-3 ** 2", -9),
        ("sqrt(16) + abs(-2)", 6),
        ("round(pi, 2)", 3.14),
        ("max(1, 5, 3) % 4", 1),
        ("0.1 + 0.2", 0.30000000000000004),
    ],
)
def test_evaluate(expression: str, value: float) -> None:
    assert evaluate(expression) == value


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("__import__('os').system('id')", "unsupported expression"),
        ("open('/etc/passwd')", "unsupported expression"),
        ("(1).__class__", "unsupported expression"),
        ("x + 1", "unsupported expression"),
        ("2 ** 100000", "exponent too large"),
        ("10 ** 10 ** 10", "exponent too large"),
        ("1 / 0", "division by zero"),
        ("2 +", "not an arithmetic expression"),
        ("'a' * 3", "unsupported expression"),
        ("1" * 501, "too long"),
    ],
)
def test_evaluate_refuses(expression: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        evaluate(expression)


async def test_builtin_tools() -> None:
    registry = builtin_tools()
    assert registry.names == ["current_time", "calculator"]
    assert registry.get("calculator") is not None
    calc = await registry.run(ToolCall("a", "calculator", {"expression": "6 * 7"}))
    assert calc.content == "6 * 7 = 42"

    now = await registry.run(ToolCall("b", "current_time", {"timezone": "Asia/Tokyo"}))
    data = msgspec.json.decode(now.content)
    assert data["timezone"] == "Asia/Tokyo"
    assert data["utc_offset"] == "+0900"
    assert datetime.fromisoformat(data["iso"]).utcoffset() is not None
    default = msgspec.json.decode((await registry.run(ToolCall("c", "current_time", {}))).content)
    assert default["timezone"] == "UTC"

    bad = await registry.run(ToolCall("d", "current_time", {"timezone": "Mars/Olympus"}))
    assert bad.is_error
    assert "unknown time zone 'Mars/Olympus'" in bad.content
    refused = await registry.run(ToolCall("e", "calculator", {"expression": "__import__('os')"}))
    assert refused.is_error
    assert "unsupported expression" in refused.content
