"""The web client as served: GET /web/config (what the page may know before sign-in: never a
secret key), its Content-Security-Policy, and the libraries served from node_modules at
/vendor/ (those files only)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import jwt
import pytest

from app.config import LOCAL_JWT_SECRET
from app.webclient import NODE_MODULES, VENDORED, missing_vendored
from tests.api.helpers import JWT_SECRET, SERVICE_KEY, Client

PROJECT = "https://abcdefghijklmnop.supabase.co"


def legacy_key(role: str, secret: str = JWT_SECRET) -> str:
    """A legacy API key as Supabase issues them: a JWT with the role and no user."""
    return jwt.encode({"iss": "supabase", "role": role, "iat": 0, "exp": int(time.time()) + 3600}, secret)


def project(anon_key: str | None, **more: Any) -> dict[str, Any]:
    """SUPABASE_* settings of a project whose Auth the page uses; the store stays on Postgres
    (no service key), as when the API reaches the project's database directly."""
    return {
        "supabase": {
            "SUPABASE_URL": PROJECT,
            "SUPABASE_SERVICE_ROLE_KEY": None,
            "SUPABASE_ANON_KEY": anon_key,
        },
        **more,
    }


async def test_without_a_project_only_tokens(client: Client) -> None:
    response = await client.get("/web/config")  # public: the page asks before anyone signs in
    assert response.status_code == 200, response.text
    assert response.json() == {"supabase": None, "local_tokens": False}  # the tests' own secret


@pytest.mark.parametrize("anon_key", ["sb_publishable_abc123", legacy_key("anon")])
async def test_a_project_with_its_anon_key(app_client: Callable[..., Client], anon_key: str) -> None:
    async with app_client(**project(anon_key)) as client:
        response = await client.get("/web/config")
        assert response.json() == {"supabase": {"url": PROJECT, "anon_key": anon_key}, "local_tokens": False}
        policy = (await client.get("/")).headers["content-security-policy"]
        assert f"connect-src 'self' {PROJECT};" in policy  # the page may reach its Auth, nothing else


@pytest.mark.parametrize(
    "anon_key",
    [
        pytest.param(SERVICE_KEY, id="the service key"),
        pytest.param("sb_secret_abc123", id="a secret key"),
        pytest.param(legacy_key("service_role"), id="a service_role JWT"),
        pytest.param(legacy_key("authenticated"), id="a user's token"),
        pytest.param("not-a-key", id="garbage"),
    ],
)
async def test_anything_but_an_anon_key_is_never_shown(
    app_client: Callable[..., Client], anon_key: str, caplog: pytest.LogCaptureFixture
) -> None:
    settings = project(anon_key)
    if anon_key == SERVICE_KEY:
        settings["supabase"]["SUPABASE_SERVICE_ROLE_KEY"] = SERVICE_KEY
        settings["supabase"]["SUPABASE_URL"] = None  # else the store would use PostgREST
    async with app_client(**settings) as client:
        response = await client.get("/web/config")
        assert response.json()["supabase"] is None
        assert anon_key not in response.text
        assert "connect-src 'self';" in (await client.get("/")).headers["content-security-policy"]
    if settings["supabase"]["SUPABASE_URL"]:
        assert "SUPABASE_ANON_KEY is not an anon" in caplog.text


async def test_local_tokens_with_the_local_secret_on_loopback_only(app_client: Callable[..., Client]) -> None:
    async with app_client(auth={"SUPABASE_JWT_SECRET": LOCAL_JWT_SECRET}) as client:
        assert (await client.get("/web/config")).json()["local_tokens"] is True
    # Off loopback the API refuses tokens signed with the public local secret: none to mint.
    async with app_client(
        auth={"SUPABASE_JWT_SECRET": LOCAL_JWT_SECRET}, server={"API_HOST": "192.0.2.10"}
    ) as client:
        assert (await client.get("/web/config")).json()["local_tokens"] is False


async def test_the_page_policy_is_strict(client: Client) -> None:
    response = await client.get("/")
    assert response.status_code == 200
    policy = response.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["default-src"] == "'self'"
    assert directives["connect-src"] == "'self'"
    assert directives["object-src"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["require-trusted-types-for"] == "'script'"
    assert directives["trusted-types"] == "dompurify supabase-js"
    assert "script-src" not in directives  # default-src: this origin's files, no inline, no eval
    for loose in ("'unsafe-inline'", "'unsafe-eval'", "*", "http:", "https:"):
        assert loose not in policy, loose
    assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    ("path", "package_file"),
    [
        ("/vendor/marked/marked.esm.js", "marked/lib/marked.esm.js"),
        ("/vendor/dompurify/purify.es.mjs", "dompurify/dist/purify.es.mjs"),
        ("/vendor/supabase-js/supabase.js", "@supabase/supabase-js/dist/umd/supabase.js"),
    ],
)
async def test_the_libraries_come_from_node_modules(client: Client, path: str, package_file: str) -> None:
    assert missing_vendored() == [], "run `make deps`: node_modules lacks the web client's libraries"
    response = await client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "require-trusted-types-for" in response.headers["content-security-policy"]
    assert response.content == (NODE_MODULES / package_file).read_bytes()


@pytest.mark.parametrize(
    "path",
    [
        "/vendor/marked/../package.json",
        "/vendor/marked/%2e%2e/package.json",
        "/vendor/marked/..%2F..%2Fpackage-lock.json",
        "/vendor/openai/package.json",
        "/vendor/supabase/package.json",
        "/vendor/supabase-js/../../auth-js/package.json",
        "/node_modules/marked/package.json",
    ],
)
async def test_nothing_else_of_node_modules_is_served(client: Client, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 404, (path, response.status_code)


def test_each_library_is_pinned() -> None:
    """Served packages are the locked versions of package.json's dependencies."""
    manifest = json.loads((NODE_MODULES.parent / "package.json").read_text())
    lock = json.loads((NODE_MODULES.parent / "package-lock.json").read_text())
    for directory in VENDORED.values():
        package = directory.split("/dist")[0].split("/lib")[0]
        pinned = manifest["dependencies"][package]
        assert pinned[0].isdigit(), f"{package} is pinned to an exact version, not {pinned!r}"
        assert lock["packages"][f"node_modules/{package}"]["version"] == pinned
