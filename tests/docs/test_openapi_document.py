"""The OpenAPI document describes every route fully: an operation_id of its own and an example
for every JSON body it takes or sends; and every example fits the struct it illustrates.

Litestar makes up an operationId when a route sets none (`ConversationsCreateConversation`),
so the document always has one: ours are snake_case names, the operation's own (the SQL
function's and the manager method's where there is one), which is how a missing one shows.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest

from app import __version__
from app.examples import EXAMPLES
from app.server import create_app
from tests.api.helpers import make_settings

OPERATION_ID = re.compile(r"^[a-z][a-z0-9_]*$")
METHODS = ("get", "put", "post", "delete", "patch")


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return create_app(make_settings()).openapi_schema.to_schema()


def _operations(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method in METHODS:
            if method in item:
                yield f"{method.upper()} {path}", item[method]


def _bodies(operation: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, media type object) of every JSON body of the operation: its request and its answers."""
    request = operation.get("requestBody", {}).get("content", {})
    bodies = [("request", request.get("application/json"))]
    for status, response in operation["responses"].items():
        bodies.append((status, (response.get("content") or {}).get("application/json")))
    yield from ((where, media) for where, media in bodies if media is not None)


def _has_example(media: dict[str, Any], components: dict[str, Any]) -> bool:
    if media.get("examples") or media.get("example") is not None:
        return True
    schema = media.get("schema", {})
    if schema.get("type") == "array":
        schema = schema.get("items", {})
    if "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[1]]
    return bool(schema.get("examples"))


def _within(example: Any, encoded: Any) -> bool:
    """Whether `example` reads back from `encoded` unchanged: every key it sets, at every level
    (what decoding dropped or changed, such as a misspelt key, shows here)."""
    if isinstance(example, dict):
        return isinstance(encoded, dict) and all(
            key in encoded and _within(value, encoded[key]) for key, value in example.items()
        )
    if isinstance(example, list):
        return (
            isinstance(encoded, list)
            and len(example) == len(encoded)
            and all(_within(a, b) for a, b in zip(example, encoded, strict=True))
        )
    return bool(example == encoded)


def test_every_route_has_an_operation_id_of_its_own(document: dict[str, Any]) -> None:
    ids = {where: operation.get("operationId", "") for where, operation in _operations(document)}
    assert [where for where, name in ids.items() if not OPERATION_ID.match(name)] == []
    assert len(set(ids.values())) == len(ids), "operation ids are unique"


def test_every_route_has_a_summary(document: dict[str, Any]) -> None:
    assert [where for where, operation in _operations(document) if not operation.get("summary")] == []


def test_every_json_body_has_an_example(document: dict[str, Any]) -> None:
    components = document["components"]["schemas"]
    missing = [
        f"{where} {body}"
        for where, operation in _operations(document)
        for body, media in _bodies(operation)
        if not _has_example(media, components)
    ]
    assert missing == []


def test_every_schema_has_an_example(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    assert [name for name, schema in schemas.items() if not schema.get("examples")] == []


@pytest.mark.parametrize(
    "struct", list(EXAMPLES), ids=lambda struct: f"{struct.__module__}.{struct.__qualname__}"
)
def test_every_example_fits_its_struct(struct: type) -> None:
    example = EXAMPLES[struct]
    decoded = msgspec.json.decode(msgspec.json.encode(example), type=struct)
    assert _within(example, msgspec.to_builtins(decoded)), f"{struct.__name__}: fields lost on decoding"


def test_the_document_shows_the_package_version(document: dict[str, Any]) -> None:
    assert document["info"]["version"] == __version__
