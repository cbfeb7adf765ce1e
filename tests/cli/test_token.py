"""`python -m app token`: a user's access token for the local stack, as Supabase Auth issues it.

It refuses a JWT secret that is not the Supabase CLI's local default unless forced, and the
token it mints is accepted by the API as that user, under RLS.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import jwt
import pytest

from app.__main__ import main
from app.config import LOCAL_JWT_SECRET, get_settings
from app.server import create_app
from tests.api.helpers import JWT_SECRET, SERVICE, api_client, bearer, make_settings, new_id

# The claims Supabase Auth writes into a session's access token (email and password sign-in).
GOTRUE_CLAIMS = {
    "iss", "sub", "aud", "exp", "iat", "email", "phone", "app_metadata", "user_metadata", "role",
    "aal", "amr", "session_id", "is_anonymous",
}  # fmt: skip


@pytest.fixture
def secret(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """`secret(value)` sets SUPABASE_JWT_SECRET for the command (None: unset, the default)."""

    def use(value: str | None) -> None:
        if value is None:
            monkeypatch.delenv("SUPABASE_JWT_SECRET", raising=False)
        else:
            monkeypatch.setenv("SUPABASE_JWT_SECRET", value)
        get_settings.cache_clear()

    yield use
    get_settings.cache_clear()


async def token(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = await asyncio.to_thread(main, ["token", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


async def test_with_the_local_default_secret_it_mints_a_gotrue_token(
    secret: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    secret(None)
    user = uuid.uuid4()
    code, out, err = await token(capsys, "--user", str(user), "--email", "ada@example.com", "--ttl", "30m")
    assert code == 0, err
    minted = out.strip()
    assert "\n" not in minted  # the token alone on stdout: TOKEN=$(python -m app token ...)
    assert jwt.get_unverified_header(minted) == {"alg": "HS256", "typ": "JWT"}
    claims = jwt.decode(minted, LOCAL_JWT_SECRET, algorithms=["HS256"], audience="authenticated")
    assert set(claims) == GOTRUE_CLAIMS
    assert claims["sub"] == str(user)
    assert claims["role"] == "authenticated"
    assert claims["aud"] == "authenticated"
    assert claims["email"] == "ada@example.com"
    assert claims["exp"] - claims["iat"] == 1800
    assert claims["iss"] == "http://127.0.0.1:54321/auth/v1"
    assert uuid.UUID(claims["session_id"])
    assert claims["is_anonymous"] is False
    assert "local default secret" in err


async def test_another_secret_is_refused_unless_forced(
    secret: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    secret(JWT_SECRET)
    user = str(uuid.uuid4())
    code, out, err = await token(capsys, "--user", user)
    assert code == 2
    assert out == ""  # nothing minted
    assert "Refused" in err
    assert "--force" in err

    code, out, err = await token(capsys, "--user", user, "--force")
    assert code == 0, err
    claims = jwt.decode(out.strip(), JWT_SECRET, algorithms=["HS256"], audience="authenticated")
    assert claims["sub"] == user
    assert claims["exp"] - claims["iat"] == 3600  # the default: an hour, as Supabase Auth's
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(out.strip(), LOCAL_JWT_SECRET, algorithms=["HS256"], audience="authenticated")


@pytest.mark.parametrize("argv", [["--user", "not-a-uuid"], ["--ttl", "8d"], ["--ttl", "0"], ["--ttl", "1w"]])
async def test_bad_options_mint_nothing(
    secret: Any, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    secret(None)
    full = argv if "--user" in argv else ["--user", str(uuid.uuid4()), *argv]
    code, out, _ = await token(capsys, *full)
    assert code == 2
    assert out == ""


async def test_an_empty_secret_signs_nothing(secret: Any, capsys: pytest.CaptureFixture[str]) -> None:
    secret("")
    code, out, err = await token(capsys, "--user", str(uuid.uuid4()), "--force")
    assert code == 2
    assert out == ""
    assert "empty" in err


async def test_the_minted_token_acts_as_its_user(secret: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """Against the API (auth required, JWT_SECRET): the user sees its own conversation only."""
    secret(JWT_SECRET)
    alice, bob = uuid.uuid4(), uuid.uuid4()
    code, out, err = await token(capsys, "--user", str(alice), "--force")
    assert code == 0, err
    async with api_client(create_app(make_settings())) as client:
        mine, theirs = new_id("token"), new_id("token")
        for conversation_id, owner in ((mine, alice), (theirs, bob)):
            created = await client.post(
                "/conversations",
                json={"conversation_id": conversation_id, "user_id": str(owner), "ttl_hours": 1},
                headers=SERVICE,
            )
            assert created.status_code == 201, created.text
        headers = bearer(out.strip())
        listed = await client.get("/conversations?limit=100", headers=headers)
        assert listed.status_code == 200, listed.text
        assert [c["conversation_id"] for c in listed.json()["conversations"]] == [mine]
        assert (await client.get(f"/conversations/{theirs}", headers=headers)).status_code == 404
        appended = await client.post(
            f"/conversations/{mine}/messages", json={"role": "user", "content": "hello"}, headers=headers
        )
        assert appended.status_code == 201, appended.text
