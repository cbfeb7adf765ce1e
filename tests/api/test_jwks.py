"""Asymmetric user tokens (ES256, RS256) verified against the project's JWKS.

The JWKS endpoint is an HTTP peer (Supabase Auth) that cannot run here: respx serves it.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import jwt
import pytest
import respx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from litestar.testing import AsyncTestClient

from tests.api.helpers import bearer, user_claims

JWKS_URL = "https://project-ref.supabase.test/auth/v1/.well-known/jwks.json"


def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def jwk(private_key: Any, kid: str) -> dict[str, Any]:
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        data: dict[str, Any] = ECAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
        data["alg"] = "ES256"
    else:
        data = RSAAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
        data["alg"] = "RS256"
    return {**data, "kid": kid, "use": "sig", "key_ops": ["verify"]}


def token(private_key: Any, kid: str, alg: str = "ES256", **claims: Any) -> str:
    return jwt.encode(
        user_claims(claims.pop("sub", uuid.uuid4()), **claims),
        private_key,
        algorithm=alg,
        headers={"kid": kid},
    )


def hs256_with_public_key(key: ec.EllipticCurvePrivateKey) -> str:
    """Algorithm confusion: an HS256 token whose HMAC secret is the public key (PEM)."""

    def b64(data: bytes) -> bytes:
        return base64.urlsafe_b64encode(data).rstrip(b"=")

    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signing_input = (
        b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "es-1"}).encode())
        + b"."
        + b64(json.dumps(user_claims(uuid.uuid4())).encode())
    )
    signature = b64(hmac.new(pem, signing_input, hashlib.sha256).digest())
    return (signing_input + b"." + signature).decode()


class JWKS:
    """A fake Supabase Auth JWKS endpoint that counts its fetches."""

    def __init__(self, router: respx.MockRouter, url: str = JWKS_URL) -> None:
        self.keys: list[dict[str, Any]] = []
        self.status = 200
        self.delay = 0.0
        self.route = router.get(url).mock(side_effect=self.serve)

    async def serve(self, request: httpx.Request) -> httpx.Response:
        if self.delay:
            await asyncio.sleep(self.delay)  # a slow JWKS endpoint, where a test asks for one
        return httpx.Response(self.status, json={"keys": self.keys})

    @property
    def fetches(self) -> int:
        return self.route.call_count


@pytest.fixture
def jwks_server() -> AsyncIterator[JWKS]:
    with respx.mock(assert_all_called=False) as router:
        yield JWKS(router)


@pytest.fixture
def jwks_client(app_client: Callable[..., Any]) -> Callable[..., AsyncTestClient[Any]]:
    def build(**auth: Any) -> AsyncTestClient[Any]:
        return app_client(auth={"SUPABASE_JWKS_URL": JWKS_URL, **auth})  # type: ignore[no-any-return]

    return build


async def test_es256_tokens_verify_and_the_jwks_is_fetched_once(
    jwks_server: JWKS, jwks_client: Callable[..., AsyncTestClient[Any]]
) -> None:
    key = ec_key()
    jwks_server.keys = [jwk(key, "es-1")]
    async with jwks_client() as client:
        for _ in range(5):
            user = uuid.uuid4()
            response = await client.post("/conversations", headers=bearer(token(key, "es-1", sub=user)))
            assert response.status_code == 201, response.text
            assert response.json()["user_id"] == str(user)
    assert jwks_server.fetches == 1


async def test_rs256_tokens_verify(
    jwks_server: JWKS, jwks_client: Callable[..., AsyncTestClient[Any]]
) -> None:
    key = rsa_key()
    jwks_server.keys = [jwk(ec_key(), "es-1"), jwk(key, "rs-1")]
    async with jwks_client() as client:
        response = await client.get("/conversations", headers=bearer(token(key, "rs-1", alg="RS256")))
        assert response.status_code == 200, response.text


async def test_unknown_kid_is_401_without_refetching_at_once(
    jwks_server: JWKS, jwks_client: Callable[..., AsyncTestClient[Any]]
) -> None:
    key = ec_key()
    jwks_server.keys = [jwk(key, "es-1")]
    async with jwks_client() as client:
        assert (await client.get("/conversations", headers=bearer(token(key, "es-1")))).status_code == 200
        for _ in range(3):
            response = await client.get("/conversations", headers=bearer(token(key, "es-unknown")))
            assert response.status_code == 401
            assert response.json()["error"] == "unauthorized"
    # Unknown key ids refetch at most once per SUPABASE_JWKS_MIN_REFRESH_SECONDS (30 s here).
    assert jwks_server.fetches == 1


async def test_a_rotated_key_is_picked_up(
    jwks_server: JWKS, jwks_client: Callable[..., AsyncTestClient[Any]]
) -> None:
    old, new = ec_key(), ec_key()
    jwks_server.keys = [jwk(old, "old")]
    async with jwks_client(SUPABASE_JWKS_MIN_REFRESH_SECONDS=0) as client:
        assert (await client.get("/conversations", headers=bearer(token(old, "old")))).status_code == 200
        jwks_server.keys = [jwk(old, "old"), jwk(new, "new")]
        assert (await client.get("/conversations", headers=bearer(token(new, "new")))).status_code == 200
    assert jwks_server.fetches == 2


async def test_concurrent_misses_share_one_fetch(
    jwks_server: JWKS, jwks_client: Callable[..., AsyncTestClient[Any]]
) -> None:
    key = ec_key()
    jwks_server.keys = [jwk(key, "es-1")]
    jwks_server.delay = 0.2
    async with jwks_client() as client:
        started = time.perf_counter()
        responses = await asyncio.gather(
            *(client.get("/conversations", headers=bearer(token(key, "es-1"))) for _ in range(5)),
            client.get("/health"),
        )
        assert [r.status_code for r in responses] == [200] * 6
        assert time.perf_counter() - started < 2
    assert jwks_server.fetches == 1


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda key: token(ec_key(), "es-1"), id="signed-by-another-key"),
        pytest.param(lambda key: token(key, "es-1", exp=int(time.time()) - 5), id="expired"),
        pytest.param(lambda key: token(key, "es-1", aud="other"), id="wrong-audience"),
        pytest.param(lambda key: token(key, "es-1", exp=None), id="missing-exp"),
        pytest.param(lambda key: token(key, "es-1")[:-6] + "AAAAAA", id="tampered"),
        pytest.param(lambda key: hs256_with_public_key(key), id="alg-confusion-hs256"),
        pytest.param(lambda key: token(rsa_key(), "es-1", alg="RS256"), id="rs256-header-on-an-ec-key"),
    ],
)
async def test_bad_asymmetric_tokens_are_401(
    jwks_server: JWKS, jwks_client: Callable[..., AsyncTestClient[Any]], forge: Callable[[Any], str]
) -> None:
    key = ec_key()
    jwks_server.keys = [jwk(key, "es-1")]
    async with jwks_client() as client:
        response = await client.get("/conversations", headers=bearer(forge(key)))
        assert response.status_code == 401, response.text
        assert response.headers["www-authenticate"].startswith("Bearer")


async def test_symmetric_keys_in_the_jwks_are_ignored(
    jwks_server: JWKS, jwks_client: Callable[..., AsyncTestClient[Any]]
) -> None:
    secret = b"a-symmetric-key-published-by-mistake-0123456789"
    k = base64.urlsafe_b64encode(secret).rstrip(b"=").decode()
    jwks_server.keys = [{"kty": "oct", "kid": "hs", "k": k, "alg": "HS256"}]
    async with jwks_client() as client:
        forged = jwt.encode(user_claims(uuid.uuid4()), secret, algorithm="HS256", headers={"kid": "hs"})
        assert (await client.get("/conversations", headers=bearer(forged))).status_code == 401


async def test_jwks_unreachable_is_503(
    jwks_server: JWKS, jwks_client: Callable[..., AsyncTestClient[Any]]
) -> None:
    jwks_server.status = 500
    async with jwks_client() as client:
        response = await client.get("/conversations", headers=bearer(token(ec_key(), "es-1")))
        assert response.status_code == 503
        assert response.json()["error"] == "unavailable"
        assert "retry-after" in response.headers


async def test_the_jwks_url_defaults_to_the_projects(app_client: Callable[..., Any]) -> None:
    key = ec_key()
    with respx.mock(assert_all_called=False) as router:
        server = JWKS(router, "https://abc.supabase.test/auth/v1/.well-known/jwks.json")
        server.keys = [jwk(key, "k")]
        # SUPABASE_URL without the service key: the store stays on the Postgres transport.
        async with app_client(
            supabase={"SUPABASE_URL": "https://abc.supabase.test", "SUPABASE_SERVICE_ROLE_KEY": None}
        ) as client:
            assert (await client.get("/conversations", headers=bearer(token(key, "k")))).status_code == 200
        assert server.fetches == 1
