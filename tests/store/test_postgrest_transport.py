"""The PostgREST transport: the exact requests supabase-py sends, how every kind of answer
becomes a result or a domain error, and that concurrent users never share a token."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
import respx

from app.config import Settings
from app.store import (
    SERVICE,
    AuthenticationError,
    ConflictError,
    ConversationManager,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
    Principal,
    StatementTimeoutError,
    StoreError,
    UnavailableError,
)
from app.store.factory import create_transport
from app.store.models import AppendResult
from app.store.postgrest import PostgrestTransport
from tests.store.conftest import (
    ANON_KEY,
    SERVICE_KEY,
    SUPABASE_URL,
    new_id,
    new_user,
    supabase_settings,
    user_token,
)
from tests.store.postgrest_emulator import PostgrestEmulator, status_for_sqlstate

RPC = f"{SUPABASE_URL}/rest/v1/rpc"
MESSAGE = {
    "id": "8d3a3c4e-5a0e-4f39-9d43-3d4c8a0e2b11",
    "conversation_id": "c-1",
    "seq": 1,
    "role": "user",
    "content": "hi",
    "metadata": {},
    "created_at": "2026-11-26T08:00:00.123456+00:00",
    "idempotency_key": None,
}


@pytest.fixture
def router() -> respx.Router:
    return respx.Router(base_url=SUPABASE_URL, assert_all_called=False)


@pytest.fixture
async def make(router: respx.Router) -> AsyncIterator[Callable[..., PostgrestTransport]]:
    """A transport whose HTTP requests `router` answers."""
    clients: list[httpx.AsyncClient] = []

    def build(**settings: str | None) -> PostgrestTransport:
        http = httpx.AsyncClient(transport=httpx.MockTransport(router.async_handler))
        clients.append(http)
        return PostgrestTransport.from_settings(supabase_settings(**settings), http_client=http)

    yield build
    for client in clients:
        await client.aclose()


# -- the requests ------------------------------------------------------------------------


async def test_service_call_request(router: respx.Router, make: Callable[..., PostgrestTransport]) -> None:
    route = router.post(f"{RPC}/append_message").respond(200, json={"message": MESSAGE, "replayed": False})
    store = ConversationManager(make())
    result = await store.add_message("c-1", "user", "hi", {"model": "m"}, idempotency_key="k")
    assert type(result) is AppendResult
    assert result.message.seq == 1
    request = route.calls.last.request
    assert request.method == "POST"
    assert str(request.url) == f"{RPC}/append_message"
    assert request.headers["apikey"] == SERVICE_KEY
    assert request.headers["authorization"] == f"Bearer {SERVICE_KEY}"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["accept-profile"] == request.headers["content-profile"] == "public"
    assert json.loads(request.content) == {
        "p_conversation_id": "c-1",
        "p_role": "user",
        "p_content": "hi",
        "p_metadata": {"model": "m"},
        "p_idempotency_key": "k",
    }
    # Exactly one of each credential header.
    assert len(request.headers.get_list("authorization")) == len(request.headers.get_list("apikey")) == 1


async def test_user_call_request(router: respx.Router, make: Callable[..., PostgrestTransport]) -> None:
    route = router.post(f"{RPC}/get_messages").respond(200, json=[MESSAGE])
    user = new_user()
    messages = await ConversationManager(make(), user).get_messages("c-1", limit=5)
    assert [m.content for m in messages] == ["hi"]
    request = route.calls.last.request
    assert request.method == "POST"
    assert request.url.path == "/rest/v1/rpc/get_messages"
    assert request.headers["apikey"] == ANON_KEY
    assert request.headers.get_list("authorization") == [f"Bearer {user.token}"]
    assert len(request.headers.get_list("apikey")) == 1
    assert len(request.headers.get_list("x-client-info")) == 1
    assert json.loads(request.content) == {"p_conversation_id": "c-1", "p_limit": 5}


async def test_user_call_without_anon_key_sends_the_service_key_as_apikey(
    router: respx.Router, make: Callable[..., PostgrestTransport]
) -> None:
    route = router.post(f"{RPC}/conversation_stats").respond(403, json={"code": "42501", "message": "no"})
    user = new_user()
    with pytest.raises(ForbiddenError):
        await ConversationManager(make(SUPABASE_ANON_KEY=None), user).stats()
    request = route.calls.last.request
    assert request.headers["apikey"] == SERVICE_KEY
    assert request.headers["authorization"] == f"Bearer {user.token}"
    assert request.content == b"{}"


async def test_user_without_token_is_refused_before_any_request(
    router: respx.Router, make: Callable[..., PostgrestTransport]
) -> None:
    route = router.post(f"{RPC}/conversation_stats")
    with pytest.raises(StoreError):
        await ConversationManager(make(), Principal.user(uuid.uuid4())).stats()
    assert not route.called


async def test_concurrent_users_never_share_a_token(
    router: respx.Router, make: Callable[..., PostgrestTransport]
) -> None:
    """Each request must carry its own caller's token: the route answers after a random delay
    so that requests of different users interleave, and checks every one."""
    users = [new_user() for _ in range(8)]
    by_token = {u.token: u for u in users}
    mismatches: list[str] = []

    async def answer(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0.001 * (hash(request.content) % 5))  # answers out of order: under test
        body = json.loads(request.content)
        caller = by_token.get(request.headers["authorization"].removeprefix("Bearer "))
        expected = SERVICE_KEY if body["p_conversation_id"] == "service" else None
        if expected is not None:
            if request.headers["authorization"] != f"Bearer {SERVICE_KEY}":
                mismatches.append("service call without the service key")
        elif caller is None or body["p_conversation_id"] != str(caller.user_id):
            mismatches.append(f"{body['p_conversation_id']} sent {request.headers['authorization'][:30]}")
        return httpx.Response(200, json=[])

    router.post(f"{RPC}/get_messages").mock(side_effect=answer)
    transport = make()
    shared_headers = dict(transport.client.postgrest.headers)
    calls = [
        transport.call("get_messages", {"p_conversation_id": str(u.user_id)}, u)
        for u in users
        for _ in range(10)
    ] + [transport.call("get_messages", {"p_conversation_id": "service"}, SERVICE) for _ in range(10)]
    await asyncio.gather(*calls)
    assert mismatches == []
    assert dict(transport.client.postgrest.headers) == shared_headers  # never mutated


# -- the answers ---------------------------------------------------------------------------


def pgrst(status: int, code: str, message: str = "m", details: Any = None) -> httpx.Response:
    return httpx.Response(status, json={"code": code, "message": message, "details": details, "hint": None})


@pytest.mark.parametrize(
    ("response", "error"),
    [
        # Database errors: the body's code is the SQLSTATE, whatever the status.
        pytest.param(pgrst(500, "P0002"), NotFoundError, id="P0002-500"),
        pytest.param(pgrst(409, "23505"), ConflictError, id="23505-409"),
        pytest.param(pgrst(400, "22023"), InvalidInputError, id="22023-400"),
        pytest.param(pgrst(400, "23514"), InvalidInputError, id="23514-400"),
        pytest.param(pgrst(400, "22P05"), InvalidInputError, id="22P05-400"),
        pytest.param(pgrst(403, "42501"), ForbiddenError, id="42501-403"),
        pytest.param(pgrst(500, "57014"), StatementTimeoutError, id="57014-statement-timeout"),
        pytest.param(pgrst(503, "08006"), UnavailableError, id="08006-503"),
        pytest.param(pgrst(400, "P0001"), StoreError, id="P0001-400"),
        # PostgREST's own.
        pytest.param(pgrst(401, "PGRST301"), AuthenticationError, id="PGRST301-bad-jwt"),
        pytest.param(pgrst(401, "PGRST302"), AuthenticationError, id="PGRST302-no-jwt"),
        pytest.param(pgrst(401, "PGRST303"), AuthenticationError, id="PGRST303-expired"),
        pytest.param(pgrst(404, "PGRST202"), StoreError, id="PGRST202-no-function"),
        pytest.param(pgrst(503, "PGRST000"), UnavailableError, id="PGRST000"),
        pytest.param(pgrst(503, "PGRST001"), UnavailableError, id="PGRST001"),
        pytest.param(pgrst(503, "PGRST002"), UnavailableError, id="PGRST002"),
        pytest.param(pgrst(504, "PGRST003"), UnavailableError, id="PGRST003"),
        # Answers that are not PostgREST's (a gateway, a proxy).
        pytest.param(httpx.Response(502, text="<html>Bad Gateway</html>"), UnavailableError, id="502-html"),
        pytest.param(httpx.Response(503, text="upstream down"), UnavailableError, id="503-text"),
        pytest.param(httpx.Response(504, text=""), UnavailableError, id="504-empty"),
        pytest.param(httpx.Response(522, text="cloudflare"), UnavailableError, id="522-cloudflare"),
        pytest.param(httpx.Response(429, text="slow down"), UnavailableError, id="429-rate-limited"),
        pytest.param(httpx.Response(500, text="oops"), StoreError, id="500-text"),
        pytest.param(httpx.Response(400, text="{not json"), StoreError, id="400-malformed-json"),
        pytest.param(httpx.Response(401, json={"message": "Invalid API key"}), StoreError, id="401-gateway"),
        pytest.param(httpx.Response(200, text="{not json"), StoreError, id="200-malformed-json"),
        pytest.param(httpx.Response(200, text="null"), StoreError, id="200-null"),
        pytest.param(httpx.Response(200, json={"unexpected": 1}), StoreError, id="200-unexpected-shape"),
        # Network failures.
        pytest.param(httpx.ConnectError("refused"), UnavailableError, id="connect-error"),
        pytest.param(httpx.ReadTimeout("slow"), UnavailableError, id="read-timeout"),
        pytest.param(httpx.ConnectTimeout("slow"), UnavailableError, id="connect-timeout"),
        pytest.param(httpx.RemoteProtocolError("reset"), UnavailableError, id="protocol-error"),
    ],
)
async def test_answer_mapping(
    router: respx.Router,
    make: Callable[..., PostgrestTransport],
    response: httpx.Response | Exception,
    error: type[StoreError],
) -> None:
    route = router.post(f"{RPC}/get_conversation")
    if isinstance(response, Exception):
        route.side_effect = response
    else:
        route.return_value = response
    with pytest.raises(StoreError) as caught:
        await ConversationManager(make()).get_conversation("c-1")
    assert type(caught.value) is error
    assert route.call_count == 1  # a POST is never retried


async def test_error_body_fields_are_kept(
    router: respx.Router, make: Callable[..., PostgrestTransport]
) -> None:
    router.post(f"{RPC}/create_conversation").respond(
        409, json={"code": "23505", "message": "conversation c already exists", "details": "d", "hint": "h"}
    )
    with pytest.raises(ConflictError) as caught:
        await ConversationManager(make()).create_conversation(conversation_id="c")
    assert (caught.value.message, caught.value.details, caught.value.sqlstate) == (
        "conversation c already exists",
        "d",
        "23505",
    )


async def test_scalar_result(router: respx.Router, make: Callable[..., PostgrestTransport]) -> None:
    router.post(f"{RPC}/cleanup_expired_conversations").respond(200, json=3)
    assert await ConversationManager(make()).cleanup_expired() == 3


async def test_close_closes_the_http_client() -> None:
    http = httpx.AsyncClient()
    transport = PostgrestTransport.from_settings(supabase_settings(), http_client=http)
    await transport.close()
    assert http.is_closed


def test_factory_picks_postgrest_with_supabase(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUPABASE_URL", SUPABASE_URL)
    monkeypatch.setenv("SUPABASE_SERVICE_ROLE_KEY", SERVICE_KEY)
    monkeypatch.setenv("SUPABASE_ANON_KEY", ANON_KEY)
    transport = create_transport(Settings(), pool=None)  # type: ignore[arg-type]
    assert isinstance(transport, PostgrestTransport)
    assert transport.client.postgrest.headers["apikey"] == SERVICE_KEY
    assert transport.user_api_key == ANON_KEY


def test_emulator_statuses_follow_postgrest() -> None:
    table = {"23505": 409, "23503": 409, "23514": 400, "22023": 400, "P0001": 400, "P0002": 500}
    table.update({"08006": 503, "53300": 503, "53400": 500, "57014": 500, "42883": 404, "PT402": 402})
    assert {code: status_for_sqlstate(code, "authenticated") for code in table} == table
    assert status_for_sqlstate("42501", "authenticated") == 403
    assert status_for_sqlstate("42501", "anon") == 401


# -- through the emulator: PostgREST's own JWT checks ---------------------------------------


async def test_invalid_and_expired_tokens(transports: dict[str, Any], emulator: PostgrestEmulator) -> None:
    transport = transports["postgrest"]
    user_id = uuid.uuid4()
    user = Principal.user(user_id, token=user_token(user_id))
    assert user.token is not None
    forged = Principal.user(user_id, user.claims, user.token[:-4] + "AAAA")
    with pytest.raises(AuthenticationError) as caught:
        await ConversationManager(transport, forged).get_user_conversations()
    assert caught.value.sqlstate == "PGRST301"
    expired = Principal.user(user_id, user.claims, user_token(user_id, expires_in=-60))
    with pytest.raises(AuthenticationError) as caught:
        await ConversationManager(transport, expired).get_user_conversations()
    assert caught.value.sqlstate == "PGRST303"
    assert emulator.requests[-1].headers["authorization"] == f"Bearer {expired.token}"


async def test_emulator_answers_not_found_with_postgrest_status(
    transports: dict[str, Any], emulator: PostgrestEmulator
) -> None:
    with pytest.raises(NotFoundError):
        await ConversationManager(transports["postgrest"]).get_conversation(new_id())
    # PostgREST answers P0002 (a PL/pgSQL error class) with 500: the body's code decides.
    transport = transports["postgrest"]
    response = await transport.client.postgrest.session.post(
        f"{RPC}/get_conversation",
        json={"p_conversation_id": new_id()},
        headers={"apikey": SERVICE_KEY, "Authorization": f"Bearer {SERVICE_KEY}"},
    )
    assert response.status_code == 500
    assert response.json()["code"] == "P0002"
    unknown = await transport.client.postgrest.session.post(
        f"{RPC}/get_conversation",
        json={"p_nonsense": 1},
        headers={"apikey": SERVICE_KEY, "Authorization": f"Bearer {SERVICE_KEY}"},
    )
    assert unknown.status_code == 404
    assert unknown.json()["code"] == "PGRST202"


async def test_concurrent_users_through_postgrest_see_only_their_own(transports: dict[str, Any]) -> None:
    transport = transports["postgrest"]
    users = [new_user() for _ in range(6)]

    async def session(user: Principal) -> None:
        store = ConversationManager(transport, user)
        mine = {(await store.create_conversation()).conversation_id for _ in range(3)}
        for cid in mine:
            await store.add_message(cid, "user", f"from {user.user_id}")
        listed = await store.get_user_conversations(limit=50)
        assert {c.conversation_id for c in listed.conversations} == mine
        for cid in mine:
            assert [m.content for m in await store.get_messages(cid)] == [f"from {user.user_id}"]

    await asyncio.gather(*(session(u) for u in users))
