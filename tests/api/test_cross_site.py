"""Cross-site safety: JSON content types, loopback Host and Origin with API_AUTH=disabled, CORS."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from app.config import ServerSettings
from app.crosssite import host_name, is_json_media_type
from tests.api.helpers import SERVICE, Client, new_id

BODY = b'{"conversation_id": "%s", "ttl_hours": 1}'


def assert_error(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "message", "details"}
    assert body["error"] == code, body


async def stored(admin: Any, conversation_id: str) -> bool:
    cursor = await admin.execute(
        "select 1 from public.ai_conversations where conversation_id = %s", (conversation_id,)
    )
    return await cursor.fetchone() is not None


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "text/plain",
        "text/plain;charset=UTF-8",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/json; charset=utf-16",
        "application/jsonx",
        "json",
    ],
)
async def test_a_body_that_is_not_declared_json_is_415(
    client: Client, admin: Any, content_type: str | None
) -> None:
    cid = new_id("ctype")
    headers = {**SERVICE, **({"Content-Type": content_type} if content_type else {})}
    response = await client.post("/conversations", content=BODY % cid.encode(), headers=headers)
    assert_error(response, 415, "unsupported_media_type")
    assert not await stored(admin, cid)


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/json; charset=utf-8",
        'Application/JSON;charset="UTF-8"',
        "application/vnd.api+json",
    ],
)
async def test_json_content_types_are_accepted(client: Client, admin: Any, content_type: str) -> None:
    cid = new_id("ctype")
    headers = {**SERVICE, "Content-Type": content_type}
    response = await client.post("/conversations", content=BODY % cid.encode(), headers=headers)
    assert response.status_code == 201, response.text
    assert await stored(admin, cid)


async def test_requests_without_a_body_need_no_content_type(client: Client) -> None:
    created = await client.post("/conversations", headers=SERVICE)
    assert created.status_code == 201, created.text
    cid = created.json()["conversation_id"]
    extended = await client.post(f"/conversations/{cid}/extend", headers={**SERVICE, "Content-Length": "0"})
    assert extended.status_code == 200, extended.text
    assert (await client.post(f"/conversations/{cid}/clear", headers=SERVICE)).status_code == 200


async def test_a_text_plain_body_is_refused_on_every_json_endpoint(client: Client) -> None:
    for path in ["/chat", "/conversations/x/messages", "/conversations/import", "/conversations/x/extend"]:
        response = await client.post(path, content=b"{}", headers={**SERVICE, "Content-Type": "text/plain"})
        assert_error(response, 415, "unsupported_media_type")


# -- API_AUTH=disabled: loopback Host, same-site Origin ---------------------------------------
@pytest.fixture
def open_client(app_client: Callable[..., Any]) -> Callable[..., AsyncTestClient[Any]]:
    def build(**server: Any) -> AsyncTestClient[Any]:
        return app_client(server={"API_AUTH": "disabled", **server})  # type: ignore[no-any-return]

    return build


@pytest.mark.parametrize(
    "host", ["evil.example", "evil.example:8001", "127.0.0.1.nip.io", "192.168.1.5:8001"]
)
async def test_auth_disabled_refuses_a_foreign_host_with_421(
    open_client: Callable[..., AsyncTestClient[Any]], admin: Any, host: str
) -> None:
    cid = new_id("rebind")
    async with open_client() as client:
        assert_error(await client.get("/stats", headers={"Host": host}), 421, "misdirected_request")
        response = await client.post(
            "/conversations",
            content=BODY % cid.encode(),
            headers={"Host": host, "Content-Type": "application/json"},
        )
        assert_error(response, 421, "misdirected_request")
    assert not await stored(admin, cid)


@pytest.mark.parametrize("host", ["localhost:8001", "127.0.0.1:8001", "[::1]:8001", "localhost", "127.0.0.1"])
async def test_auth_disabled_accepts_loopback_hosts(
    open_client: Callable[..., AsyncTestClient[Any]], host: str
) -> None:
    async with open_client() as client:
        assert (await client.get("/stats", headers={"Host": host})).status_code == 200


@pytest.mark.parametrize("origin", ["https://evil.example", "http://127.0.0.1.evil.example", "null"])
async def test_auth_disabled_refuses_a_cross_site_origin(
    open_client: Callable[..., AsyncTestClient[Any]], admin: Any, origin: str
) -> None:
    cid = new_id("drive-by")
    async with open_client() as client:
        response = await client.post(
            "/conversations",
            content=BODY % cid.encode(),
            headers={"Origin": origin, "Content-Type": "application/json"},
        )
        assert_error(response, 403, "cross_site_request")
        cleanup = await client.post("/admin/cleanup", headers={"Origin": origin})
        assert_error(cleanup, 403, "cross_site_request")
        assert_error(await client.get("/stats", headers={"Origin": origin}), 403, "cross_site_request")
    assert not await stored(admin, cid)


async def test_auth_disabled_accepts_a_loopback_origin(
    open_client: Callable[..., AsyncTestClient[Any]],
) -> None:
    async with open_client() as client:
        for origin in ["http://localhost:5173", "http://127.0.0.1:8001", "http://[::1]:3000"]:
            assert (await client.get("/stats", headers={"Origin": origin})).status_code == 200


async def test_auth_required_serves_any_host(client: Client) -> None:
    # A bearer token is never sent by a browser on its own: no rebinding or drive-by risk.
    response = await client.get(
        "/stats", headers={**SERVICE, "Host": "api.example.com", "Origin": "https://x.example"}
    )
    assert response.status_code == 200


# -- CORS ----------------------------------------------------------------------------------
async def test_cors_is_off_by_default(client: Client) -> None:
    response = await client.get("/health", headers={"Origin": "https://app.example"})
    assert "access-control-allow-origin" not in response.headers


async def test_cors_allows_the_configured_origins(open_client: Callable[..., AsyncTestClient[Any]]) -> None:
    async with open_client(API_CORS_ORIGINS="https://app.example") as client:
        preflight = await client.options(
            "/conversations",
            headers={
                "Origin": "https://app.example",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type, authorization",
            },
        )
        assert preflight.status_code in (200, 204), preflight.text
        assert preflight.headers["access-control-allow-origin"] == "https://app.example"
        assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
        response = await client.get("/stats", headers={"Origin": "https://app.example"})
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == "https://app.example"
        assert_error(
            await client.get("/stats", headers={"Origin": "https://other.example"}), 403, "cross_site_request"
        )


@pytest.mark.parametrize(
    "value", ["*", "app.example", "ftp://app.example", "https://app.example/path", "https://a:0x"]
)
def test_bad_cors_origins_are_refused(value: str) -> None:
    with pytest.raises(ValueError, match="API_CORS_ORIGINS"):
        ServerSettings.model_validate({"API_CORS_ORIGINS": value})


def test_the_rules_parse_what_they_check() -> None:
    assert host_name("[::1]:8001") == "::1"
    assert host_name("localhost:8001") == "localhost"
    assert host_name("127.0.0.1") == "127.0.0.1"
    assert is_json_media_type("application/problem+json")
    assert not is_json_media_type("text/json")
