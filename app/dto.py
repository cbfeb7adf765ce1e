"""Strict JSON request bodies: one msgspec pass from bytes to the handler's struct.

Litestar's default body path decodes JSON to Python objects and then converts them with
`strict=False` (so `"24"` would pass as an int); its DTO backends are lax in the same way.
`StrictBody[T]` keeps Litestar's DTO machinery (OpenAPI request schemas, `data: T` in the
handler, 400 for a missing body) and replaces only the decoding: `msgspec.json.decode(body,
type=T)`, strict, which rejects unknown fields (the structs forbid them), wrong types, bad
UUIDs and non-object metadata in the same pass. NUL characters are refused here, before any
database call: PostgreSQL cannot store them in text or jsonb. So are bytes that are not UTF-8
(RFC 8259 requires it): msgspec raises UnicodeDecodeError for them, not a DecodeError.

JSON nested deeper than the decoder's recursion limit (about a thousand levels) is a 400 on
every route: msgspec raises RecursionError for it, which StrictBody answers here, and
`JSONRequest` answers for the routes that decode with Litestar's own `Request.json()` (the
`/v1` routes); `decode_json_text` does the same for JSON carried in a query parameter.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec
from litestar import Request
from litestar.dto import MsgspecDTO
from litestar.exceptions import ClientException, ValidationException
from litestar.openapi.spec import Reference, Schema
from litestar.typing import FieldDefinition

if TYPE_CHECKING:
    from litestar._openapi.schema_generation import SchemaCreator

__all__ = ["NESTED_TOO_DEEPLY", "JSONRequest", "StrictBody", "decode_body", "decode_json_text", "find_nul"]

T = TypeVar("T", bound=msgspec.Struct)

_NUL_ESCAPE = b"\\u0000"  # the only way a JSON text can carry U+0000 (raw control bytes are invalid)
NESTED_TOO_DEEPLY = "JSON nested too deeply"
_AT_PATH = re.compile(r"^(?P<message>.*?)(?: - at `(?P<path>[^`]*)`)?$", re.DOTALL)


def find_nul(value: Any) -> str | None:
    """The JSON path of the first string (or object key) containing U+0000, if any.
    Iterative: a deeply nested document cannot exhaust the stack here."""
    stack: list[tuple[str, Any]] = [("$", value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return path
        elif isinstance(item, dict):
            for key, child in item.items():
                if "\x00" in key:
                    return f"{path}.{key!r}"
                stack.append((f"{path}.{key}", child))
        elif isinstance(item, list):
            stack.extend((f"{path}[{index}]", child) for index, child in enumerate(item))
    return None


def _key(path: str | None) -> str | None:
    if not path or path == "$":
        return None
    return path[2:] if path.startswith("$.") else path.removeprefix("$")


def decode_body(raw: bytes, type_: type[T]) -> T:
    """Decode a JSON body strictly into `type_`; 400 when it is not JSON, 422 when it does
    not fit (with the offending field in `details`)."""
    if _NUL_ESCAPE in raw:
        try:
            found = find_nul(msgspec.json.decode(raw))
        except (msgspec.DecodeError, RecursionError, UnicodeDecodeError):
            found = None  # reported below
        if found is not None:
            raise ValidationException(
                "NUL characters (\\u0000) are not allowed",
                extra=[
                    {"message": "contains a NUL character", "key": _key(found) or "body", "source": "body"}
                ],
                status_code=422,
            )
    try:
        return msgspec.json.decode(raw, type=type_)
    except msgspec.ValidationError as exc:
        match = _AT_PATH.match(str(exc))
        message = match["message"] if match else str(exc)
        path = match["path"] if match else None
        raise ValidationException(
            "invalid request body",
            extra=[{"message": message, "key": _key(path) or "body", "source": "body"}],
            status_code=422,
        ) from exc
    except msgspec.DecodeError as exc:
        raise ClientException(f"malformed JSON body: {exc}", status_code=400) from exc
    except RecursionError as exc:
        raise ClientException(f"{NESTED_TOO_DEEPLY} (body)", status_code=400) from exc
    except UnicodeDecodeError as exc:
        raise ClientException("malformed body: not valid UTF-8", status_code=400) from exc


def decode_json_text(text: str, name: str) -> Any:
    """A JSON value carried in a query parameter `name`: None when it is not JSON (the caller
    says what was expected), a 400 when it is nested too deeply to decode."""
    try:
        return msgspec.json.decode(text)
    except msgspec.DecodeError:
        return None
    except RecursionError as exc:
        raise ClientException(f"{NESTED_TOO_DEEPLY} ({name})", status_code=400) from exc


class JSONRequest(Request[Any, Any, Any]):
    """Litestar's Request, whose `json()` answers a body nested too deeply for the decoder with
    a 400 instead of letting RecursionError through as a 500 (Litestar turns a DecodeError into
    a 400 itself, not this). The app's request class (app.core), so every route decoding its
    body with Litestar's own decoder gets it."""

    async def json(self) -> Any:
        try:
            return await super().json()
        except RecursionError as exc:
            raise ClientException(f"{NESTED_TOO_DEEPLY} (body)", status_code=400) from exc


class StrictBody(MsgspecDTO[T]):
    """A request DTO (`dto=StrictBody[Model], return_dto=None`) that decodes strictly.

    It uses the DTO's public hooks only, and each override has a reason in Litestar 2.25:
    its DTO backends always decode with `strict=False` (no setting changes that), so
    `decode_bytes` decodes straight into the model; and its transfer-model generation turns
    an optional constrained field (`Annotated[str, Meta(pattern=...)] | None`) into
    `Annotated[Optional[str], Meta(...)]`, which msgspec rejects, so no transfer model is
    generated (`create_for_field_definition`) and the OpenAPI schema is the model's own
    (`create_openapi_schema`). Strictness itself is the models': `forbid_unknown_fields`.
    """

    @classmethod
    def create_for_field_definition(
        cls, field_definition: FieldDefinition, handler_id: str, backend_cls: Any = None
    ) -> None:
        return None

    @classmethod
    def create_openapi_schema(
        cls, field_definition: FieldDefinition, handler_id: str, schema_creator: SchemaCreator
    ) -> Reference | Schema:
        return schema_creator.for_field_definition(
            FieldDefinition.from_annotation(
                cls.model_type, kwarg_definition=field_definition.kwarg_definition
            )
        )

    def decode_bytes(self, value: bytes) -> Any:
        return decode_body(value, self.model_type)

    def decode_builtins(self, value: dict[str, Any]) -> Any:
        try:
            return msgspec.convert(value, type=self.model_type)
        except msgspec.ValidationError as exc:
            raise ValidationException(
                "invalid request body", extra=[{"message": str(exc)}], status_code=422
            ) from exc
