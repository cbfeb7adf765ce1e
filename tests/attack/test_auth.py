"""Tokens from a clock a little ahead (issue 22, item 11).

A token's `iat` or `nbf` up to JWT_CLOCK_SKEW_SECONDS (30, PostgREST's own allowance) in the
future is accepted: the issuer's clock (GoTrue's) may run slightly ahead of this server's, and a
freshly minted token was refused before (`iat` 1 s ahead: 401). Beyond it, 401. `exp` keeps its
own JWT_LEEWAY_SECONDS (0): an expired token is never stretched by the skew.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from tests.api.helpers import Client, bearer, mint, user_claims
from tests.api.test_auth import assert_401


def token(**claims: Any) -> dict[str, str]:
    return bearer(mint(user_claims(uuid.uuid4(), **claims)))


@pytest.mark.parametrize("claim", ["iat", "nbf"])
@pytest.mark.parametrize("ahead", [1, 20, 29])
async def test_a_token_from_a_clock_a_little_ahead_is_accepted(
    client: Client, claim: str, ahead: int
) -> None:
    response = await client.get("/conversations", headers=token(**{claim: int(time.time()) + ahead}))
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(("claim", "says"), [("iat", "issued in the future"), ("nbf", "not yet valid")])
async def test_a_token_from_further_ahead_is_refused(client: Client, claim: str, says: str) -> None:
    body = assert_401(await client.get("/conversations", headers=token(**{claim: int(time.time()) + 90})))
    assert says in body["message"]


async def test_the_skew_does_not_stretch_expiry(client: Client) -> None:
    now = int(time.time())
    assert_401(await client.get("/conversations", headers=token(iat=now - 120, exp=now - 5)))


async def test_the_skew_is_a_setting(app_client: Callable[..., Any]) -> None:
    async with app_client(auth={"JWT_CLOCK_SKEW_SECONDS": 0}) as strict:
        body = assert_401(await strict.get("/conversations", headers=token(iat=int(time.time()) + 5)))
        assert "issued in the future" in body["message"]
