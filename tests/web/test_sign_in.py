"""Signing in, two ways.

- Locally: the sign-in screen shows the command that mints a token (`python -m app token`),
  copyable; the command, run as copied, prints a token that signs the page in as that user.
- With a Supabase project (SUPABASE_URL and SUPABASE_ANON_KEY): email and password through
  supabase-js Auth, against a stand-in of Supabase Auth (tests/web/gotrue.py) that checks
  exactly what supabase-js sends: the password grant, the refresh, the sign-out.
"""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from playwright.async_api import Page, Request, expect

from app.config import LOCAL_JWT_SECRET
from tests.api.helpers import JWT_SECRET, SERVICE_KEY, mint
from tests.harness.processes import ApiProcess
from tests.web.conftest import NewPage
from tests.web.gotrue import GoTrue
from tests.web.server import ROOT, web_api

pytestmark = pytest.mark.browser

CLIPBOARD = ["clipboard-read", "clipboard-write"]
EMAIL, PASSWORD = "ada@example.com", "correct horse battery staple"
ANON_KEY = mint({"iss": "supabase", "role": "anon", "iat": 0, "exp": 4_000_000_000})


@pytest.fixture(scope="module")
async def api_with_local_secret() -> AsyncIterator[ApiProcess]:
    """Auth required, signed with the Supabase CLI's local secret: what `supabase start` gives."""
    server = web_api("web-local-secret", auth="required", SUPABASE_JWT_SECRET=LOCAL_JWT_SECRET)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture(scope="module")
def gotrue() -> Iterator[GoTrue]:
    stand_in = GoTrue(anon_key=ANON_KEY, secret=JWT_SECRET, email=EMAIL, password=PASSWORD)
    stand_in.start()
    yield stand_in
    stand_in.stop()


@pytest.fixture(scope="module")
async def api_with_project(gotrue: GoTrue) -> AsyncIterator[ApiProcess]:
    """Users sign in with the project's Auth; the API reaches its database directly (no service
    key: the store stays on the Postgres transport)."""
    server = web_api(
        "web-supabase",
        auth="required",
        SUPABASE_URL=gotrue.url,
        SUPABASE_ANON_KEY=ANON_KEY,
        SUPABASE_SERVICE_ROLE_KEY="",
    )
    await server.start()
    yield server
    await server.stop()


def run_as_copied(command: str) -> subprocess.CompletedProcess[str]:
    """The command as a person runs it in the project's directory, in a shell without the
    tests' settings (no SUPABASE_JWT_SECRET: the local default)."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp")}
    return subprocess.run(  # noqa: S603  (the page's own command, checked below)
        shlex.split(command), cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )


async def test_a_locally_minted_token_signs_in(new_page: NewPage, api_with_local_secret: ApiProcess) -> None:
    page = await new_page(f"{api_with_local_secret.base_url}/", permissions=CLIPBOARD)
    await expect(page.locator("#sign-in")).to_be_visible()
    await expect(page.locator("#password-form")).to_be_hidden()  # no Supabase project here
    await expect(page.locator("#token-command-note")).to_contain_text("the token it prints works here")
    command = page.locator("#token-command")
    shown = await command.inner_text()
    match = re.fullmatch(r"\.venv/bin/python -m app token --user ([0-9a-f-]{36})", shown)
    assert match, shown
    user = uuid.UUID(match[1])

    await page.get_by_role("button", name="Copy the command").click()
    copied = await page.evaluate("() => navigator.clipboard.readText()")
    assert copied == shown

    # The user already has a conversation (made by the service); the token shows it, and only it.
    async with httpx.AsyncClient(base_url=api_with_local_secret.base_url, timeout=10) as http:
        created = await http.post(
            "/conversations",
            json={"user_id": str(user), "ttl_hours": 1},
            headers={"Authorization": f"Bearer {SERVICE_KEY}"},
        )
        assert created.status_code == 201, created.text
    minted = await asyncio.to_thread(run_as_copied, copied)
    assert minted.returncode == 0, minted.stderr
    await page.locator("#token").fill(minted.stdout.strip())
    await page.locator("#token").press("Enter")
    await expect(page.locator("#identity")).to_contain_text(str(user))
    listed = page.locator("#conversation-list button.conversation")
    await expect(listed).to_have_count(1)
    await expect(listed).to_contain_text(created.json()["conversation_id"])


class ApiCalls:
    """The bearer tokens the page sent to the API."""

    def __init__(self, page: Page, api: ApiProcess) -> None:
        self.api = api
        self.tokens: list[str] = []
        page.on("request", self.on_request)

    def on_request(self, request: Request) -> None:
        if request.url.startswith(f"{self.api.base_url}/conversations"):
            self.tokens.append(request.headers.get("authorization", ""))


async def test_email_and_password_through_supabase_auth(
    new_page: NewPage, api_with_project: ApiProcess, gotrue: GoTrue
) -> None:
    page = await new_page()
    calls = ApiCalls(page, api_with_project)
    await page.goto(f"{api_with_project.base_url}/")
    form = page.locator("#password-form")
    await expect(form).to_be_visible()
    await expect(form).to_contain_text(gotrue.url.removeprefix("http://"))
    await expect(page.locator("#email")).to_be_focused()
    # A token still works, and the screen says why the local command would not here.
    await expect(page.locator("#token-heading")).to_be_visible()
    await expect(page.locator("#token-command-note")).to_contain_text("own JWT secret")

    await page.locator("#email").fill(EMAIL)
    await page.locator("#password").fill("wrong")
    await page.locator("#password").press("Enter")
    await expect(page.locator("#banner")).to_contain_text("Not signed in: Invalid login credentials")
    await expect(page.locator("#sign-in")).to_be_visible()

    assert set(calls.tokens) == {""}  # before signing in the page had no token to send
    calls.tokens.clear()
    await page.locator("#password").fill(PASSWORD)
    await page.locator("#password").press("Enter")
    await expect(page.locator("#identity")).to_contain_text(EMAIL)
    await expect(page.locator("#app")).to_be_visible()
    await expect(page.locator("#banner")).to_be_hidden()

    posts = gotrue.calls()
    grants = [r.path for r in posts]
    assert grants == [
        "/auth/v1/token?grant_type=password",
        "/auth/v1/token?grant_type=password",
        "/auth/v1/token?grant_type=refresh_token",  # the first session was about to expire
    ], grants
    for sent, typed in zip(posts[:2], ("wrong", PASSWORD), strict=True):
        assert sent.body == {"email": EMAIL, "password": typed, "gotrue_meta_security": {}}
    assert posts[2].body == {"refresh_token": "refresh-1"}
    for sent in posts:
        assert sent.headers["apikey"] == ANON_KEY
        assert sent.headers["authorization"] == f"Bearer {ANON_KEY}"
        assert sent.headers["content-type"] == "application/json;charset=UTF-8"
        assert sent.headers["x-supabase-api-version"] == "2024-01-01"
        assert sent.headers["x-client-info"].startswith("supabase-js/")
        assert sent.headers["origin"] == api_with_project.base_url
    # The API only ever saw the refreshed session's token: the page asks supabase-js each time.
    assert calls.tokens
    assert set(calls.tokens) == {f"Bearer {gotrue.issued[-1]}"}
    stored = await page.evaluate("() => Object.keys(localStorage).filter((k) => k.startsWith('sb-'))")
    assert stored == ["sb-127-auth-token"]  # supabase-js's own session storage

    # A reload keeps the session (supabase-js restores it): nothing is sent to Auth again.
    await page.reload()
    await expect(page.locator("#identity")).to_contain_text(EMAIL)
    assert len(gotrue.calls()) == len(posts)

    await page.locator("#sign-out").click()
    await expect(page.locator("#sign-in")).to_be_visible()
    logout = gotrue.calls()[-1]
    assert logout.path == "/auth/v1/logout?scope=global"
    assert logout.headers["authorization"] == f"Bearer {gotrue.issued[-1]}"
    assert logout.headers["apikey"] == ANON_KEY
    assert await page.evaluate("() => Object.keys(localStorage).filter((k) => k.startsWith('sb-'))") == []
