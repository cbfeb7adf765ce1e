"""Authentication and authorization: who may call what, and the attacks of issue 3 part 5."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from app.config import LOCAL_JWT_SECRET
from app.server import create_app
from tests.api.helpers import (
    JWT_SECRET,
    SERVICE,
    SERVICE_KEY,
    Client,
    as_user,
    bearer,
    make_settings,
    mint,
    new_id,
    user_claims,
)

Create = Callable[..., Awaitable[dict[str, Any]]]
ANY_HOST = "0.0.0.0"  # noqa: S104


def assert_401(response: Any) -> dict[str, Any]:
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"].startswith('Bearer realm="conversations"')
    body: dict[str, Any] = response.json()
    assert body["error"] == "unauthorized"
    assert set(body) == {"error", "message", "details"}
    return body


def assert_403(response: Any) -> None:
    assert response.status_code == 403, response.text
    assert response.json()["error"] == "forbidden"


def unsigned(claims: dict[str, Any], alg: str = "none") -> str:
    def b64(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{b64({'alg': alg, 'typ': 'JWT'})}.{b64(claims)}."


# -- who is who ----------------------------------------------------------------------------
async def test_the_service_role_key_acts_as_the_service(client: Client) -> None:
    assert (await client.get("/stats", headers=SERVICE)).status_code == 200


async def test_a_legacy_service_role_jwt_acts_as_the_service(client: Client) -> None:
    now = int(time.time())
    token = mint({"iss": "supabase", "role": "service_role", "iat": now, "exp": now + 60})
    assert (await client.get("/stats", headers=bearer(token))).status_code == 200


async def test_a_user_token_acts_as_its_subject(client: Client) -> None:
    user = uuid.uuid4()
    created = await client.post("/conversations", headers=as_user(user))
    assert created.status_code == 201
    assert created.json()["user_id"] == str(user)


async def test_anonymous_request_is_401_when_auth_is_required(client: Client) -> None:
    body = assert_401(await client.get("/conversations"))
    assert "Bearer" in body["message"]
    assert_401(await client.post("/conversations", json={}))
    assert_401(await client.get("/stats"))


async def test_health_and_schema_need_no_token(client: Client) -> None:
    assert (await client.get("/health")).status_code == 200
    assert (await client.get("/schema/openapi.json")).status_code == 200


# -- forged and broken tokens --------------------------------------------------------------
@pytest.mark.parametrize(
    "token",
    [
        pytest.param(
            lambda u: mint(user_claims(u), secret="not-the-project-secret-" + "x" * 20), id="wrong-secret"
        ),
        pytest.param(lambda u: mint(user_claims(u), secret=LOCAL_JWT_SECRET), id="public-local-secret"),
        pytest.param(lambda u: unsigned(user_claims(u)), id="alg-none"),
        pytest.param(lambda u: unsigned(user_claims(u), alg="None"), id="alg-None"),
        pytest.param(
            lambda u: unsigned({"role": "service_role", "exp": int(time.time()) + 60}), id="none-service"
        ),
        pytest.param(lambda u: mint(user_claims(u, exp=int(time.time()) - 10)), id="expired"),
        pytest.param(lambda u: mint(user_claims(u, exp=None)), id="missing-exp"),
        # RFC 7519: exp, nbf and iat are NumericDates (JSON numbers), not numeric strings.
        pytest.param(lambda u: mint(user_claims(u, exp=str(int(time.time()) + 3600))), id="exp-string"),
        pytest.param(lambda u: mint(user_claims(u, exp=True)), id="exp-bool"),
        pytest.param(lambda u: mint(user_claims(u, nbf=str(int(time.time()) - 60))), id="nbf-string"),
        pytest.param(lambda u: mint(user_claims(u, iat=str(int(time.time())))), id="iat-string"),
        pytest.param(
            lambda u: mint({"role": "service_role", "exp": str(int(time.time()) + 60)}),
            id="service-exp-string",
        ),
        pytest.param(lambda u: mint(user_claims(u, aud="someone-else")), id="wrong-audience"),
        pytest.param(lambda u: mint(user_claims(u, aud=None)), id="missing-audience"),
        pytest.param(lambda u: mint(user_claims(u, nbf=int(time.time()) + 600)), id="not-yet-valid"),
        pytest.param(lambda u: mint(user_claims(u, role="anon")), id="anon-role"),
        pytest.param(lambda u: mint(user_claims(u, role="postgres")), id="other-role"),
        pytest.param(lambda u: mint(user_claims(u, role=None)), id="no-role"),
        pytest.param(lambda u: mint(user_claims(u, sub="admin")), id="sub-not-uuid"),
        pytest.param(lambda u: mint(user_claims(u, sub=None)), id="no-sub"),
        pytest.param(lambda u: mint(user_claims(u))[:-4] + "AAAA", id="tampered-signature"),
        pytest.param(lambda u: "not.a.jwt", id="garbage"),
        pytest.param(lambda u: SERVICE_KEY + "x", id="service-key-suffix"),
        pytest.param(lambda u: SERVICE_KEY[:-1], id="service-key-prefix"),
    ],
)
async def test_bad_tokens_are_401(client: Client, token: Callable[[uuid.UUID], str]) -> None:
    assert_401(await client.get("/conversations", headers=bearer(token(uuid.uuid4()))))


async def test_a_token_with_a_tampered_payload_is_401(client: Client) -> None:
    header, _, signature = mint(user_claims(uuid.uuid4())).split(".")
    forged = base64.urlsafe_b64encode(json.dumps({"role": "service_role", "exp": 2**31}).encode()).rstrip(
        b"="
    )
    assert_401(await client.get("/stats", headers=bearer(f"{header}.{forged.decode()}.{signature}")))


async def test_hs512_is_not_accepted(client: Client) -> None:
    import jwt

    token = jwt.encode(
        user_claims(uuid.uuid4()), JWT_SECRET + "-long-enough-for-hs512" * 3, algorithm="HS512"
    )
    assert_401(await client.get("/conversations", headers=bearer(token)))


async def test_asymmetric_tokens_without_a_jwks_are_401(client: Client) -> None:
    import jwt
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    token = jwt.encode(user_claims(uuid.uuid4()), key, algorithm="ES256", headers={"kid": "k1"})
    assert_401(await client.get("/conversations", headers=bearer(token)))


@pytest.mark.parametrize(
    "header",
    [
        "Basic dXNlcjpwYXNz",
        "Bearer",
        "Bearer ",
        "Bearer a b",
        "Token abc",
        "bearer",
        "",
    ],
)
async def test_malformed_authorization_headers_are_401(client: Client, header: str) -> None:
    assert_401(await client.get("/conversations", headers={"Authorization": header}))


async def test_the_bearer_scheme_is_case_insensitive(client: Client) -> None:
    assert (await client.get("/stats", headers={"Authorization": f"bearer {SERVICE_KEY}"})).status_code == 200


# -- a user acts only as itself ------------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        pytest.param("GET", "", None, id="read"),
        pytest.param("POST", "/messages", {"role": "user", "content": "mine now"}, id="append"),
        pytest.param("POST", "/extend", {"hours": 100}, id="extend"),
        pytest.param("POST", "/clear", None, id="clear"),
        pytest.param("DELETE", "", None, id="delete"),
        pytest.param("GET", "/export", None, id="export"),
    ],
)
async def test_another_users_conversation_is_404(
    client: Client, create: Create, method: str, suffix: str, body: Any
) -> None:
    alice, bob = uuid.uuid4(), uuid.uuid4()
    cid = (await create(bob, messages=2))["conversation_id"]
    before = (await client.get(f"/conversations/{cid}", headers=as_user(bob))).json()
    response = await client.request(
        method, f"/conversations/{cid}{suffix}", json=body, headers=as_user(alice)
    )
    assert response.status_code == 404, response.text
    assert response.json()["error"] == "not_found"
    # Bob's conversation is untouched.
    after = (await client.get(f"/conversations/{cid}", headers=as_user(bob))).json()
    assert after == before


async def test_an_anonymous_conversation_is_invisible_to_users(client: Client, create: Create) -> None:
    cid = (await create())["conversation_id"]
    assert (await client.get(f"/conversations/{cid}", headers=as_user(uuid.uuid4()))).status_code == 404


async def test_a_user_lists_only_its_own_conversations(client: Client, create: Create) -> None:
    alice, bob = uuid.uuid4(), uuid.uuid4()
    mine = (await create(alice))["conversation_id"]
    await create(bob)
    listed = (await client.get("/conversations", headers=as_user(alice))).json()["conversations"]
    assert [c["conversation_id"] for c in listed] == [mine]


async def test_a_user_naming_another_user_id_is_403(client: Client) -> None:
    alice, bob = uuid.uuid4(), uuid.uuid4()
    created = await client.post("/conversations", json={"user_id": str(bob)}, headers=as_user(alice))
    assert_403(created)
    listed = await client.get("/conversations", params={"user_id": str(bob)}, headers=as_user(alice))
    assert_403(listed)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/stats", None),
        ("POST", "/admin/cleanup", None),
        ("POST", "/conversations/import", {"conversation_id": "stolen", "messages": []}),
    ],
)
async def test_admin_endpoints_are_403_for_users(client: Client, method: str, path: str, body: Any) -> None:
    assert_403(await client.request(method, path, json=body, headers=as_user(uuid.uuid4())))


async def test_a_user_cannot_take_over_an_id_by_import(client: Client, create: Create) -> None:
    user = uuid.uuid4()
    document = {"conversation_id": new_id("hijack"), "user_id": str(user), "messages": []}
    assert_403(await client.post("/conversations/import", json=document, headers=as_user(user)))
    assert (
        await client.get(f"/conversations/{document['conversation_id']}", headers=SERVICE)
    ).status_code == 404


# -- API_AUTH=disabled -----------------------------------------------------------------------
async def test_auth_disabled_lets_anonymous_requests_act_as_the_service(
    app_client: Callable[..., Any],
) -> None:
    client: AsyncTestClient[Any]
    async with app_client(server={"API_AUTH": "disabled"}) as client:
        created = await client.post("/conversations", json={"metadata": {"seed": True}})
        assert created.status_code == 201
        cid = created.json()["conversation_id"]
        appended = await client.post(f"/conversations/{cid}/messages", json={"role": "user", "content": "Hi"})
        assert appended.status_code == 201
        assert (await client.get(f"/conversations/{cid}")).json()["message_count"] == 1
        assert (await client.get("/stats")).status_code == 200
        # A token, when sent, still counts: users stay users, and bad tokens are refused.
        assert (await client.get(f"/conversations/{cid}", headers=as_user(uuid.uuid4()))).status_code == 404
        assert_401(await client.get("/stats", headers=bearer("forged")))


@pytest.mark.parametrize("host", [ANY_HOST, "::", "192.168.1.10", "example.com", "10.0.0.1"])
def test_auth_disabled_is_refused_on_a_non_loopback_host(host: str) -> None:
    settings = make_settings(server={"API_AUTH": "disabled", "API_HOST": host})
    with pytest.raises(RuntimeError, match="API_AUTH=disabled"):
        create_app(settings)


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost", "127.0.0.2"])
def test_auth_disabled_is_allowed_on_loopback(host: str) -> None:
    create_app(make_settings(server={"API_AUTH": "disabled", "API_HOST": host}))


def test_auth_required_may_bind_anywhere() -> None:
    create_app(make_settings(server={"API_HOST": ANY_HOST}))


async def test_the_public_local_secret_is_refused_off_loopback(app_client: Callable[..., Any]) -> None:
    client: AsyncTestClient[Any]
    async with app_client(
        server={"API_HOST": ANY_HOST}, auth={"SUPABASE_JWT_SECRET": LOCAL_JWT_SECRET}
    ) as client:
        token = mint({"role": "service_role", "exp": int(time.time()) + 60}, secret=LOCAL_JWT_SECRET)
        assert_401(await client.get("/stats", headers=bearer(token)))
    async with app_client(auth={"SUPABASE_JWT_SECRET": LOCAL_JWT_SECRET}) as client:
        # On loopback (the local stack) it is the secret `supabase start` signs with.
        assert (await client.get("/stats", headers=bearer(token))).status_code == 200


async def test_two_authorization_headers_are_401(client: Client) -> None:
    headers = [("Authorization", f"Bearer {SERVICE_KEY}"), ("Authorization", "Bearer someone-else")]
    assert_401(await client.get("/stats", headers=headers))


async def test_attacker_controlled_token_fields_are_not_echoed_in_headers(client: Client) -> None:
    token = unsigned(user_claims(uuid.uuid4()), alg='x", error="none\r\nSet-Cookie: session=evil')
    response = await client.get("/conversations", headers=bearer(token))
    assert_401(response)
    assert "set-cookie" not in response.headers
    assert "evil" not in response.headers["www-authenticate"]
    assert "evil" not in response.text


async def raw_get(app: Any, path: str, server: tuple[str, int] | None) -> tuple[int, bytes]:
    """One GET straight through the ASGI app, with the socket addresses of our choosing."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"localhost:8001")],  # a loopback Host: API_AUTH=disabled needs one
        "client": ("203.0.113.9", 40000),
        "server": server,
        "state": {},
    }
    messages: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    await app(scope, receive, send)
    return messages[0]["status"], b"".join(m.get("body", b"") for m in messages[1:])


@pytest.mark.parametrize(
    ("server", "status"),
    [
        (("127.0.0.1", 8001), 200),
        (("::1", 8001), 200),
        (("::ffff:127.0.0.1", 8001), 200),
        (("192.168.1.5", 8001), 401),
        (("10.1.2.3", 8001), 401),
        (("2001:db8::1", 8001), 401),
    ],
)
async def test_auth_disabled_serves_anonymous_requests_only_on_loopback_sockets(
    app_client: Callable[..., Any], server: tuple[str, int], status: int
) -> None:
    # Even if the server was bound elsewhere than API_HOST (e.g. `serve --host 0.0.0.0`).
    client: AsyncTestClient[Any]
    async with app_client(server={"API_AUTH": "disabled"}) as client:
        got, body = await raw_get(client.app, "/stats", server)
        assert got == status, body
