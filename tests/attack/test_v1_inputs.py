"""JSON nested 1,000 deep, on every route that takes JSON: a 400 with a clear JSON body, never a
500 (the /v1 routes and the `metadata=` query decoded it with a recursive decoder that raised
RecursionError; the native bodies already answered 400)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from tests.api.helpers import SERVICE, Client
from tests.api.test_errors import assert_error

Create = Callable[..., Awaitable[dict[str, Any]]]
DEEP = 1000


def deep_array(depth: int = DEEP) -> str:
    return "[" * depth + "]" * depth


def deep_object(depth: int = DEEP) -> str:
    return '{"a":' * depth + "1" + "}" * depth


def openai_error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error: dict[str, Any] = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}, error
    assert error["message"]
    return error


@pytest.mark.parametrize("nested", [deep_array, deep_object], ids=["array", "object"])
async def test_v1_bodies_nested_too_deeply_are_a_400(
    client: Client, create: Create, nested: Callable[..., str]
) -> None:
    cid = (await create())["conversation_id"]
    headers = {**SERVICE, "content-type": "application/json"}
    bodies = {
        "/v1/conversations": '{"metadata": {"k": "v"}, "items": ' + nested() + "}",
        f"/v1/conversations/{cid}": '{"metadata": ' + nested() + "}",
        f"/v1/conversations/{cid}/items": '{"items": ' + nested() + "}",
        "/v1/responses": '{"model": "any", "input": ' + nested() + "}",
    }
    for path, body in bodies.items():
        response = await client.post(path, content=body.encode(), headers=headers)
        error = openai_error(response, 400)
        assert error["type"] == "invalid_request_error", (path, error)
        assert "nested too deeply" in error["message"], (path, error)
    # Nothing was stored: the conversation holds no item.
    items = await client.get(f"/v1/conversations/{cid}/items", headers=SERVICE)
    assert items.json()["data"] == []


@pytest.mark.parametrize("nested", [deep_array, deep_object], ids=["array", "object"])
async def test_a_metadata_query_nested_too_deeply_is_a_400(
    client: Client, nested: Callable[..., str]
) -> None:
    value = '{"k": ' + nested() + "}"  # within the parameter's 10,000 characters
    response = await client.get("/conversations", params={"metadata": value}, headers=SERVICE)
    body = assert_error(response, 400, "bad_request")
    assert "nested too deeply" in body["message"]


async def test_native_bodies_nested_too_deeply_stay_a_400(client: Client, create: Create) -> None:
    cid = (await create())["conversation_id"]
    response = await client.post(
        f"/conversations/{cid}/messages",
        content=('{"role": "user", "content": "x", "metadata": ' + deep_object() + "}").encode(),
        headers={**SERVICE, "content-type": "application/json"},
    )
    body = assert_error(response, 400, "bad_request")
    assert "nested too deeply" in body["message"]
