"""Tools the model may call: a registry of async Python functions with JSON-schema'd arguments.

Adding a tool to a service takes a msgspec Struct for the arguments and an async function;
the JSON schema the model sees is derived from the Struct (field types, defaults, and
`msgspec.Meta(description=...)`), the description from the docstring::

    from typing import Annotated
    import msgspec
    from app.llm.tools import ToolRegistry, builtin_tools

    tools = builtin_tools()          # current_time and calculator; or ToolRegistry() for none

    class OrderArgs(msgspec.Struct):
        order_id: Annotated[str, msgspec.Meta(description="The order number, e.g. A-1234")]

    @tools.tool
    async def order_status(args: OrderArgs) -> dict[str, str]:
        \"\"\"Where an order is: status and expected delivery date.\"\"\"
        return await shop.lookup(args.order_id)   # any JSON-able value, or a string

A tool without a Struct registers a hand-written schema; its function takes the arguments
dict, checked minimally (required properties, JSON types, enums, no unknown properties
when the schema says `additionalProperties: false`)::

    tools.register(ticket_count, name="ticket_count", description="Open tickets of a team.",
                   parameters={"type": "object", "properties": {"team": {"type": "string"}},
                               "required": ["team"]})

Whatever goes wrong in a tool (invalid arguments, an exception, a timeout, an unknown tool
name) becomes the tool's result, an `error: ...` text the model reads and can react to; the
turn goes on. Results longer than `max_result_chars` are cut.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import logging
import math
import operator
from collections.abc import Awaitable, Callable, Iterable, Iterator
from datetime import datetime
from typing import Annotated, Any, TypeVar, get_type_hints, overload
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from app.llm.provider import ToolCall, ToolSpec

__all__ = [
    "CalculatorArgs",
    "CurrentTimeArgs",
    "Tool",
    "ToolRegistry",
    "ToolResult",
    "builtin_tools",
    "calculator",
    "current_time",
    "evaluate",
]

log = logging.getLogger("app.llm.tools")

ToolFunction = Callable[[Any], Awaitable[Any]]
F = TypeVar("F", bound=ToolFunction)


class ToolResult(msgspec.Struct, frozen=True):
    """What a tool call produced, as the text the model reads."""

    content: str
    is_error: bool = False


class Tool:
    """A named async function with a JSON schema for its arguments object.

    `params_type` (a msgspec Struct) is what the function receives, converted and validated
    from the model's arguments; without it the function receives the arguments dict.
    """

    __slots__ = ("description", "fn", "name", "parameters", "params_type", "timeout")

    def __init__(
        self,
        name: str,
        description: str,
        parameters: dict[str, Any],
        fn: ToolFunction,
        *,
        params_type: type[msgspec.Struct] | None = None,
        timeout: float | None = None,
    ) -> None:
        if not name or not name.replace("_", "").replace("-", "").isalnum() or len(name) > 64:
            raise ValueError(f"tool name {name!r}: 1-64 letters, digits, '_' or '-'")
        self.name = name
        self.description = description
        self.parameters = parameters
        self.fn = fn
        self.params_type = params_type
        self.timeout = timeout

    @property
    def spec(self) -> ToolSpec:
        return ToolSpec(self.name, self.description, self.parameters)

    def validate(self, arguments: dict[str, Any]) -> Any:
        """The function's argument: a Struct, or the checked dict. Raises ValueError."""
        if self.params_type is not None:
            try:
                return msgspec.convert(arguments, type=self.params_type, strict=False)
            except msgspec.ValidationError as exc:
                raise ValueError(str(exc)) from exc
        check_arguments(self.parameters, arguments)
        return arguments

    def __repr__(self) -> str:
        return f"Tool({self.name!r})"


def struct_schema(params_type: type[msgspec.Struct]) -> dict[str, Any]:
    """The JSON schema of a Struct as an inline object schema (nested Structs in `$defs`)."""
    (ref,), components = msgspec.json.schema_components([params_type], ref_template="#/$defs/{name}")
    name = ref["$ref"].rsplit("/", 1)[-1]
    schema = dict(components.pop(name))
    schema.pop("title", None)
    if components:
        schema["$defs"] = components
    return schema


_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
    "null": (type(None),),
}


def check_arguments(schema: dict[str, Any], arguments: dict[str, Any]) -> None:
    """A minimal check of an arguments object against its schema's top level: required
    properties present, JSON types and enums respected, no unknown properties when
    `additionalProperties` is false. Raises ValueError naming the first problem."""
    properties: dict[str, Any] = schema.get("properties") or {}
    missing = [name for name in schema.get("required") or () if name not in arguments]
    if missing:
        raise ValueError(f"missing required argument(s): {', '.join(missing)}")
    if schema.get("additionalProperties") is False:
        unknown = sorted(set(arguments) - set(properties))
        if unknown:
            raise ValueError(f"unknown argument(s): {', '.join(unknown)}")
    for name, value in arguments.items():
        prop = properties.get(name)
        if not isinstance(prop, dict):
            continue
        types = prop.get("type")
        if types is not None:
            allowed = [types] if isinstance(types, str) else list(types)
            ok = any(
                isinstance(value, _JSON_TYPES.get(t, object))
                and not (t in ("integer", "number") and isinstance(value, bool))
                for t in allowed
            )
            if not ok:
                raise ValueError(f"argument {name!r} must be of type {' or '.join(allowed)}")
        if "enum" in prop and value not in prop["enum"]:
            raise ValueError(f"argument {name!r} must be one of {prop['enum']}")


def _first_paragraph(doc: str | None) -> str:
    return inspect.cleandoc(doc or "").split("\n\n", 1)[0].replace("\n", " ").strip()


class ToolRegistry:
    """The tools offered to the model, by name.

    `timeout` bounds each tool run (a tool may set its own); `max_result_chars` cuts long
    results (messages are stored, and the store limits their size).
    """

    def __init__(
        self, tools: Iterable[Tool] = (), *, timeout: float = 10.0, max_result_chars: int = 20_000
    ) -> None:
        self.timeout = timeout
        self.max_result_chars = max_result_chars
        self._tools: dict[str, Tool] = {}
        for tool in tools:
            self.add(tool)

    def add(self, tool: Tool) -> Tool:
        if tool.name in self._tools:
            raise ValueError(f"tool {tool.name!r} is already registered")
        self._tools[tool.name] = tool
        return tool

    def register(
        self,
        fn: ToolFunction,
        *,
        name: str | None = None,
        description: str | None = None,
        parameters: dict[str, Any] | type[msgspec.Struct] | None = None,
        timeout: float | None = None,
    ) -> Tool:
        """Register `fn`. `parameters` is a JSON schema (fn gets the dict) or a Struct type (fn
        gets the Struct); by default the Struct annotated on fn's first parameter. The name
        defaults to fn's, the description to its docstring's first paragraph."""
        if not inspect.iscoroutinefunction(fn):
            raise TypeError(f"tool function {fn!r} must be async")
        params_type: type[msgspec.Struct] | None = None
        if isinstance(parameters, type) and issubclass(parameters, msgspec.Struct):
            params_type = parameters
        elif parameters is None:
            first = next(iter(inspect.signature(fn).parameters.values()), None)
            try:
                hint = get_type_hints(fn).get(first.name) if first else None
            except NameError:  # annotations naming a type local to a function
                hint = first.annotation if first else None
            if isinstance(hint, type) and issubclass(hint, msgspec.Struct):
                params_type = hint
        if params_type is not None:
            schema = struct_schema(params_type)
        elif isinstance(parameters, dict):
            schema = parameters
        else:
            schema = {"type": "object", "properties": {}}
        tool = Tool(
            name or fn.__name__,
            description if description is not None else _first_paragraph(fn.__doc__),
            schema,
            fn,
            params_type=params_type,
            timeout=timeout,
        )
        return self.add(tool)

    @overload
    def tool(self, fn: F) -> F: ...

    @overload
    def tool(
        self,
        fn: None = None,
        *,
        name: str | None = None,
        description: str | None = None,
        timeout: float | None = None,
    ) -> Callable[[F], F]: ...

    def tool(
        self,
        fn: F | None = None,
        *,
        name: str | None = None,
        description: str | None = None,
        timeout: float | None = None,
    ) -> F | Callable[[F], F]:
        """Decorator form of `register` (`@registry.tool` or `@registry.tool(name=...)`);
        returns the function unchanged."""

        def decorate(f: F) -> F:
            self.register(f, name=name, description=description, timeout=timeout)
            return f

        return decorate(fn) if fn is not None else decorate

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __iter__(self) -> Iterator[Tool]:
        return iter(self._tools.values())

    def __len__(self) -> int:
        return len(self._tools)

    @property
    def names(self) -> list[str]:
        return list(self._tools)

    def specs(self) -> list[ToolSpec]:
        return [t.spec for t in self._tools.values()]

    def subset(self, names: Iterable[str]) -> ToolRegistry:
        """A registry with only the named tools (unknown names raise KeyError)."""
        registry = ToolRegistry(timeout=self.timeout, max_result_chars=self.max_result_chars)
        for name in names:
            registry.add(self._tools[name])
        return registry

    async def run(self, call: ToolCall) -> ToolResult:
        """Run one call; every failure is returned as an error result, never raised
        (cancellation excepted)."""
        tool = self._tools.get(call.name)
        if tool is None:
            known = ", ".join(self._tools) or "none"
            return ToolResult(f"error: unknown tool {call.name!r} (available: {known})", True)
        try:
            argument = tool.validate(call.arguments)
        except ValueError as exc:
            return ToolResult(f"error: invalid arguments for {tool.name}: {exc}", True)
        timeout = tool.timeout if tool.timeout is not None else self.timeout
        try:
            async with asyncio.timeout(timeout):
                value = await tool.fn(argument)
        except TimeoutError:
            return ToolResult(f"error: {tool.name} did not finish within {timeout:g} s", True)
        except Exception as exc:
            log.warning("tool %s failed: %r", tool.name, exc)
            return ToolResult(f"error: {tool.name} failed: {type(exc).__name__}: {exc}", True)
        content = value if isinstance(value, str) else msgspec.json.encode(value).decode()
        if len(content) > self.max_result_chars:
            content = content[: self.max_result_chars] + " [truncated]"
        return ToolResult(content or "(no output)")


# -- built-in tools ----------------------------------------------------------------------------
class CurrentTimeArgs(msgspec.Struct, frozen=True):
    timezone: Annotated[
        str, msgspec.Meta(description="IANA time zone name, e.g. 'Europe/Paris' or 'America/New_York'.")
    ] = "UTC"


async def current_time(args: CurrentTimeArgs) -> dict[str, str]:
    """The current date and time in a time zone (UTC by default)."""
    try:
        zone = ZoneInfo(args.timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(
            f"unknown time zone {args.timezone!r}; use an IANA name like 'Europe/Paris'"
        ) from exc
    now = datetime.now(zone)
    return {
        "timezone": args.timezone,
        "iso": now.isoformat(timespec="seconds"),
        "weekday": now.strftime("%A"),
        "utc_offset": now.strftime("%z"),
    }


class CalculatorArgs(msgspec.Struct, frozen=True):
    expression: Annotated[
        str,
        msgspec.Meta(
            description="Arithmetic: numbers, + - * / // % ** and parentheses, the constants pi "
            "and e, and sqrt, abs, round, floor, ceil, log, exp, sin, cos, tan, min, max.",
            max_length=500,
        ),
    ]


_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {ast.UAdd: operator.pos, ast.USub: operator.neg}
_CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e, "tau": math.tau}
_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "sqrt": math.sqrt,
    "abs": abs,
    "round": round,
    "floor": math.floor,
    "ceil": math.ceil,
    "log": math.log,
    "exp": math.exp,
    "sin": math.sin,
    "cos": math.cos,
    "tan": math.tan,
    "min": min,
    "max": max,
}
_MAX_BITS = 4096  # integers larger than this are refused (2**4096 is about 1e1233)


def _bounded(value: Any) -> Any:
    if isinstance(value, int) and value.bit_length() > _MAX_BITS:
        raise ValueError("result too large")
    return value


def evaluate(expression: str) -> int | float:
    """Evaluate arithmetic safely: the expression is parsed with `ast` and only numbers, the
    operators, the constants and the functions listed on CalculatorArgs are interpreted (no
    eval, no names, no attributes); huge powers and integers are refused."""

    def ev(node: ast.AST) -> Any:
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, int | float)
            and not isinstance(node.value, bool)
        ):
            return node.value
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            left, right = ev(node.left), ev(node.right)
            too_big = (
                isinstance(left, int) and isinstance(right, int) and left.bit_length() * right > _MAX_BITS
            )
            if isinstance(node.op, ast.Pow) and (abs(right) > 10_000 or too_big):
                raise ValueError("exponent too large")
            return _bounded(_BINARY[type(node.op)](left, right))
        if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
            return _UNARY[type(node.op)](ev(node.operand))
        if isinstance(node, ast.Name) and node.id in _CONSTANTS:
            return _CONSTANTS[node.id]
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in _FUNCTIONS
            and not node.keywords
        ):
            return _bounded(_FUNCTIONS[node.func.id](*(ev(a) for a in node.args)))
        raise ValueError(f"unsupported expression: {ast.unparse(node)}")

    if len(expression) > 500:
        raise ValueError("expression too long (500 characters at most)")
    try:
        tree = ast.parse(expression.strip().replace("^", "**"), mode="eval")
    except SyntaxError as exc:
        raise ValueError(f"not an arithmetic expression: {exc.msg}") from exc
    try:
        result = ev(tree)
    except (ZeroDivisionError, OverflowError, TypeError) as exc:
        raise ValueError(str(exc)) from exc
    if isinstance(result, float) and result.is_integer() and abs(result) < 2**53:
        return int(result)
    return result  # type: ignore[no-any-return]


async def calculator(args: CalculatorArgs) -> str:
    """Evaluate an arithmetic expression exactly; use it for any calculation."""
    return f"{args.expression} = {evaluate(args.expression)}"


def builtin_tools(*, timeout: float = 10.0, max_result_chars: int = 20_000) -> ToolRegistry:
    """A registry with the shipped tools: `current_time` and `calculator`."""
    registry = ToolRegistry(timeout=timeout, max_result_chars=max_result_chars)
    registry.register(current_time)
    registry.register(calculator)
    return registry
