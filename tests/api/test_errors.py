"""Every error class answers the one JSON shape {"error", "message", "details"}."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from app.core import services_of
from app.store import ConversationManager
from app.store.errors import (
    AuthenticationError,
    ConflictError,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
    StoreError,
    UnavailableError,
)
from tests.api.helpers import MAX_BODY, SERVICE, Client, as_user, expire, new_id

Create = Callable[..., Awaitable[dict[str, Any]]]


def assert_error(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert set(body) == {"error", "message", "details"}, body
    assert isinstance(body["message"], str)
    assert body["message"]
    if code is not None:
        assert body["error"] == code, body
    return body


@pytest.fixture
async def cid(create: Create) -> str:
    return str((await create())["conversation_id"])


# -- 400 / 422: bad input --------------------------------------------------------------------
async def test_malformed_json_is_400(client: Client, cid: str) -> None:
    response = await client.post(
        f"/conversations/{cid}/messages",
        content=b'{"role": "user", "content": ',
        headers={**SERVICE, "Content-Type": "application/json"},
    )
    assert_error(response, 400, "bad_request")


async def test_missing_body_is_422(client: Client, cid: str) -> None:
    body = assert_error(await client.post(f"/conversations/{cid}/messages", headers=SERVICE), 422)
    assert body["error"] == "validation_error"


@pytest.mark.parametrize(
    ("payload", "key"),
    [
        pytest.param({"role": "user"}, "body", id="missing-content"),
        pytest.param({"content": "hi"}, "body", id="missing-role"),
        pytest.param({"role": "user", "content": 42}, "content", id="content-not-a-string"),
        pytest.param({"role": "robot", "content": "hi"}, "role", id="bad-role"),
        pytest.param({"role": "user", "content": "hi", "metadata": [1, 2]}, "metadata", id="metadata-array"),
        pytest.param({"role": "user", "content": "hi", "metadata": "x"}, "metadata", id="metadata-string"),
        pytest.param({"role": "user", "content": "hi", "extra": 1}, "body", id="unknown-field"),
        pytest.param(
            {"role": "user", "content": "hi", "idempotency_key": ""}, "idempotency_key", id="empty-key"
        ),
        pytest.param(
            {"role": "user", "content": "hi", "idempotency_key": 7}, "idempotency_key", id="key-int"
        ),
        pytest.param(["role", "user"], "body", id="not-an-object"),
    ],
)
async def test_bad_message_bodies_are_422(client: Client, cid: str, payload: Any, key: str) -> None:
    body = assert_error(
        await client.post(f"/conversations/{cid}/messages", json=payload, headers=SERVICE), 422
    )
    assert body["error"] == "validation_error"
    assert body["details"][0]["key"] == key


async def test_unknown_field_names_the_field(client: Client, cid: str) -> None:
    response = await client.post(
        f"/conversations/{cid}/messages",
        json={"role": "user", "content": "x", "colour": "red"},
        headers=SERVICE,
    )
    body = assert_error(response, 422, "validation_error")
    assert "colour" in body["details"][0]["message"]


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param({"role": "user", "content": "a\u0000b"}, id="content"),
        pytest.param({"role": "user", "content": "ok", "metadata": {"k": "v\u0000"}}, id="metadata-value"),
        pytest.param({"role": "user", "content": "ok", "metadata": {"k\u0000": 1}}, id="metadata-key"),
        pytest.param({"role": "user", "content": "ok", "metadata": {"a": [{"b": "\u0000"}]}}, id="nested"),
        pytest.param({"role": "user", "content": "ok", "idempotency_key": "\u0000"}, id="idempotency-key"),
    ],
)
async def test_nul_characters_are_rejected_before_the_database(
    client: Client, cid: str, payload: dict[str, Any]
) -> None:
    body = assert_error(
        await client.post(f"/conversations/{cid}/messages", json=payload, headers=SERVICE), 422
    )
    assert body["error"] == "validation_error"
    assert "NUL" in body["message"]
    count = (await client.get(f"/conversations/{cid}", headers=SERVICE)).json()["message_count"]
    assert count == 0


async def test_an_escaped_backslash_u0000_is_just_text(client: Client, cid: str) -> None:
    response = await client.post(
        f"/conversations/{cid}/messages",
        json={"role": "user", "content": "\\u0000 literally"},
        headers=SERVICE,
    )
    assert response.status_code == 201
    assert response.json()["content"] == "\\u0000 literally"


async def test_empty_content_is_422(client: Client, cid: str) -> None:
    response = await client.post(
        f"/conversations/{cid}/messages", json={"role": "user", "content": ""}, headers=SERVICE
    )
    assert_error(response, 422, "invalid_input")


async def test_oversize_content_is_422(client: Client, cid: str) -> None:
    # The database's max_content_chars (100,000 by default); the body is within the size limit.
    response = await client.post(
        f"/conversations/{cid}/messages", json={"role": "user", "content": "x" * 100_001}, headers=SERVICE
    )
    body = assert_error(response, 422, "invalid_input")
    assert "limit" in body["message"]


async def test_oversize_metadata_is_422(client: Client, cid: str) -> None:
    response = await client.post(
        f"/conversations/{cid}/messages",
        json={"role": "user", "content": "x", "metadata": {"blob": "y" * 70_000}},
        headers=SERVICE,
    )
    assert_error(response, 422, "invalid_input")


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param({"user_id": "not-a-uuid"}, id="malformed-uuid"),
        pytest.param({"metadata": [1]}, id="metadata-not-object"),
        pytest.param({"ttl_hours": "24"}, id="ttl-as-string"),
        pytest.param({"ttl_hours": 1.5}, id="ttl-float"),
        pytest.param({"conversation_id": "has space"}, id="bad-id"),
        pytest.param({"conversation_id": "x" * 256}, id="id-too-long"),
        pytest.param({"conversation_id": ""}, id="empty-id"),
        pytest.param({"owner": "me"}, id="unknown-field"),
    ],
)
async def test_bad_create_bodies_are_422(client: Client, payload: dict[str, Any]) -> None:
    assert_error(await client.post("/conversations", json=payload, headers=SERVICE), 422, "validation_error")


@pytest.mark.parametrize("ttl", [0, -5, 100_000])
async def test_ttl_out_of_range_is_422(client: Client, ttl: int) -> None:
    response = await client.post("/conversations", json={"ttl_hours": ttl}, headers=SERVICE)
    assert_error(response, 422, "invalid_input")


@pytest.mark.parametrize("hours", [0, -1, 1_000_000])
async def test_extend_hours_out_of_range_is_422(client: Client, cid: str, hours: int) -> None:
    response = await client.post(f"/conversations/{cid}/extend", json={"hours": hours}, headers=SERVICE)
    assert_error(response, 422, "invalid_input")


async def test_extend_hours_must_be_an_integer(client: Client, cid: str) -> None:
    response = await client.post(f"/conversations/{cid}/extend", json={"hours": "5"}, headers=SERVICE)
    assert_error(response, 422, "validation_error")


@pytest.mark.parametrize(
    ("path", "params"),
    [
        pytest.param("/conversations", {"limit": 0}, id="list-limit-0"),
        pytest.param("/conversations", {"limit": 1_000_000}, id="list-limit-huge"),
        pytest.param("/conversations", {"limit": -1}, id="list-limit-negative"),
        pytest.param("/conversations", {"limit": "ten"}, id="list-limit-not-int"),
        pytest.param("/conversations", {"limit": 2**40}, id="list-limit-beyond-int32"),
        pytest.param("/conversations", {"user_id": "nope"}, id="list-malformed-uuid"),
        pytest.param("/conversations", {"cursor": "garbage"}, id="list-malformed-cursor"),
        pytest.param("/conversations", {"cursor": "a b"}, id="list-cursor-charset"),
    ],
)
async def test_bad_list_parameters_are_422(client: Client, path: str, params: dict[str, Any]) -> None:
    assert_error(await client.get(path, params=params, headers=SERVICE), 422)


@pytest.mark.parametrize(
    "params",
    [{"limit": 1_000_000}, {"limit": -1}, {"limit": "x"}, {"before": "x"}, {"before": -3}],
)
async def test_bad_read_parameters_are_422(client: Client, cid: str, params: dict[str, Any]) -> None:
    assert_error(await client.get(f"/conversations/{cid}", params=params, headers=SERVICE), 422)


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/conversations/has%20space", id="space"),
        pytest.param("/conversations/semi;colon", id="semicolon"),
        pytest.param("/conversations/nul%00byte", id="nul"),
        pytest.param("/conversations/" + "x" * 256, id="too-long"),
        pytest.param("/conversations/%C3%A9t%C3%A9", id="non-ascii"),
        pytest.param("/conversations/quote'/export", id="quote-export"),
    ],
)
async def test_bad_path_ids_are_422(client: Client, path: str) -> None:
    body = assert_error(await client.get(path, headers=SERVICE), 422, "validation_error")
    assert body["details"][0]["key"] == "conversation_id"


async def test_differing_idempotency_keys_are_422(client: Client, cid: str) -> None:
    response = await client.post(
        f"/conversations/{cid}/messages",
        json={"role": "user", "content": "hi", "idempotency_key": "a"},
        headers={**SERVICE, "Idempotency-Key": "b"},
    )
    assert_error(response, 422, "validation_error")


async def test_import_rejects_a_malformed_export(client: Client) -> None:
    bad = {"conversation_id": new_id(), "messages": [{"role": "user"}]}
    assert_error(
        await client.post("/conversations/import", json=bad, headers=SERVICE), 422, "validation_error"
    )
    bad = {"conversation_id": new_id(), "messages": [], "surprise": True}
    assert_error(
        await client.post("/conversations/import", json=bad, headers=SERVICE), 422, "validation_error"
    )


# -- 404, 405, 409, 413 ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("GET", "", None),
        ("POST", "/messages", {"role": "user", "content": "hi"}),
        ("POST", "/extend", {"hours": 1}),
        ("POST", "/clear", None),
        ("DELETE", "", None),
        ("GET", "/export", None),
    ],
)
async def test_unknown_conversation_is_404(client: Client, method: str, suffix: str, body: Any) -> None:
    url = f"/conversations/{new_id('missing')}{suffix}"
    response = await client.request(method, url, json=body, headers=SERVICE)
    assert_error(response, 404, "not_found")


async def test_expired_conversation_is_404(client: Client, cid: str, admin: Any) -> None:
    await expire(admin, cid)
    assert_error(await client.get(f"/conversations/{cid}", headers=SERVICE), 404, "not_found")
    response = await client.post(
        f"/conversations/{cid}/messages", json={"role": "user", "content": "x"}, headers=SERVICE
    )
    assert_error(response, 404, "not_found")


async def test_unknown_route_is_404(client: Client) -> None:
    assert_error(await client.get("/no/such/route", headers=SERVICE), 404, "not_found")


async def test_wrong_method_is_405(client: Client) -> None:
    response = await client.put("/stats", headers=SERVICE)
    assert_error(response, 405, "method_not_allowed")
    assert "GET" in response.headers["allow"]


async def test_duplicate_conversation_id_is_409(client: Client, cid: str) -> None:
    response = await client.post("/conversations", json={"conversation_id": cid}, headers=SERVICE)
    assert_error(response, 409, "conflict")


async def test_import_over_a_live_conversation_is_409(client: Client, cid: str) -> None:
    document = (await client.get(f"/conversations/{cid}/export", headers=SERVICE)).json()
    assert_error(await client.post("/conversations/import", json=document, headers=SERVICE), 409, "conflict")


async def test_oversize_body_is_413(client: Client, cid: str) -> None:
    response = await client.post(
        f"/conversations/{cid}/messages",
        json={"role": "user", "content": "x" * (MAX_BODY + 1)},
        headers=SERVICE,
    )
    assert_error(response, 413, "payload_too_large")


async def test_oversize_body_is_413_before_authentication_matters(client: Client, cid: str) -> None:
    user = uuid.uuid4()
    response = await client.post(
        "/conversations/import",
        json={
            "conversation_id": new_id(),
            "messages": [{"role": "user", "content": "x" * (2 * 1024 * 1024)}],
        },
        headers=SERVICE,
    )
    assert_error(response, 413, "payload_too_large")
    # A user is refused before the body is read.
    response = await client.post(
        "/conversations/import", json={"conversation_id": "x"}, headers=as_user(user)
    )
    assert_error(response, 403, "forbidden")


# -- 503 and 500 -------------------------------------------------------------------------------
async def test_database_unreachable_is_503_with_retry_after(app_client: Callable[..., Any]) -> None:
    unreachable = {
        "DATABASE_URL": "postgresql://postgres:postgres@127.0.0.1:9/postgres",
        "DB_POOL_TIMEOUT": 0.5,
    }
    client: AsyncTestClient[Any]
    async with app_client(db=unreachable, server={"API_RETRY_AFTER_SECONDS": 7}) as client:
        response = await client.post(
            "/conversations/x/messages", json={"role": "user", "content": "hi"}, headers=SERVICE
        )
        assert_error(response, 503, "unavailable")
        assert response.headers["retry-after"] == "7"
        assert "postgres" not in response.text  # no connection details
        health = await client.get("/health")
        assert health.status_code == 503


async def test_unexpected_errors_are_500_without_internals(app_client: Callable[..., Any]) -> None:
    class Broken(ConversationManager):
        def as_principal(self, principal: Any) -> Broken:
            return self

        async def stats(self) -> Any:
            raise RuntimeError("secret internals: password=hunter2")

    client: AsyncTestClient[Any]
    async with app_client() as client:
        running = services_of(client.app).running
        running.store = Broken(running.store.transport)
        response = await client.get("/stats", headers=SERVICE)
        body = assert_error(response, 500, "internal_error")
        assert "hunter2" not in response.text
        assert body["details"] is None


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (NotFoundError("conversation x not found or expired", sqlstate="P0002"), 404, "not_found"),
        (ConflictError("conversation x already exists", sqlstate="23505"), 409, "conflict"),
        (InvalidInputError("limit must be between 1 and 1000", sqlstate="22023"), 422, "invalid_input"),
        (ForbiddenError("permission denied for function", sqlstate="42501"), 403, "forbidden"),
        (AuthenticationError("JWT expired"), 401, "unauthorized"),
        (UnavailableError("database unavailable: host db.internal:5432 refused"), 503, "unavailable"),
        (StoreError("cannot decode: column x", sqlstate="XX000"), 500, "internal_error"),
    ],
)
async def test_store_errors_map_to_statuses(
    app_client: Callable[..., Any], error: StoreError, status: int, code: str
) -> None:
    class Failing(ConversationManager):
        def as_principal(self, principal: Any) -> Failing:
            return self

        async def get_conversation(self, *args: Any, **kwargs: Any) -> Any:
            raise error

    client: AsyncTestClient[Any]
    async with app_client() as client:
        running = services_of(client.app).running
        running.store = Failing(running.store.transport)
        response = await client.get("/conversations/any-id", headers=SERVICE)
        body = assert_error(response, status, code)
        if status >= 500:
            assert "db.internal" not in response.text
            assert "column x" not in response.text
        if status == 503:
            assert response.headers["retry-after"] == "1"
        if status == 401:
            assert response.headers["www-authenticate"].startswith("Bearer")
        if status in (404, 409, 422, 403):
            assert body["message"] == error.message


@pytest.mark.parametrize("nul", [False, True])
async def test_deeply_nested_json_is_400_not_500(client: Client, cid: str, nul: bool) -> None:
    depth = 50_000
    inner = b'"\\u0000"' if nul else b"1"
    metadata = b'{"a":' + b"[" * depth + inner + b"]" * depth + b"}"
    body = b'{"role":"user","content":"x","metadata":' + metadata + b"}"
    response = await client.post(
        f"/conversations/{cid}/messages",
        content=body,
        headers={**SERVICE, "Content-Type": "application/json"},
    )
    assert_error(response, 400, "bad_request")


async def test_nul_deep_inside_metadata_is_found(client: Client, cid: str) -> None:
    metadata: Any = "\u0000"
    for _ in range(200):
        metadata = {"k": [metadata]}
    response = await client.post(
        f"/conversations/{cid}/messages",
        json={"role": "user", "content": "x", "metadata": metadata},
        headers=SERVICE,
    )
    body = assert_error(response, 422, "validation_error")
    assert body["details"][0]["key"].startswith("metadata.k[0]")
