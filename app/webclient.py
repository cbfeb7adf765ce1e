"""The web client as the API serves it: its files at `/`, the browser libraries it uses at
`/vendor/`, the security headers of both, and what the page may know of the server's auth.

The page is plain HTML, CSS and ES modules (app/web/), with no build step. Its libraries come
from npm, pinned in package.json and package-lock.json and installed by `make deps` (`npm ci`):
they are served straight from node_modules, each package's browser build under a directory of
its own, so the page always runs the locked versions and nothing is copied that could go stale.

- `marked` (lib/marked.esm.js) and `dompurify` (dist/purify.es.mjs) are self-contained ES
  modules, imported by app/web/js/markdown.js.
- `@supabase/supabase-js` is served as its UMD browser bundle (dist/umd/supabase.js, one file):
  its ES build imports its sibling packages by bare name and extensionless paths, which only a
  bundler resolves. app/web/js/auth.js loads it on demand, only when a project is configured.

The Content-Security-Policy allows scripts of this origin only (no inline script, no eval, no
CDN) and requires Trusted Types, so no string can reach an HTML sink (`innerHTML` and the
like) except through DOMPurify's policy. The page may connect to this origin and, when the
server exposes a Supabase project for sign-in, to that project's origin.
"""

from __future__ import annotations

import logging
import mimetypes
from pathlib import Path
from urllib.parse import urlsplit

import jwt
import msgspec
from litestar import Router
from litestar.datastructures import CacheControlHeader
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.static_files import create_static_files_router
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from app.config import Settings

__all__ = [
    "NODE_MODULES",
    "VENDORED",
    "WEB_DIR",
    "SupabaseAuthConfig",
    "content_security_policy",
    "missing_vendored",
    "supabase_auth_config",
    "web_client_routers",
]

log = logging.getLogger("app.webclient")

WEB_DIR = Path(__file__).parent / "web"
NODE_MODULES = Path(__file__).resolve().parents[1] / "node_modules"
# URL directory under /vendor/ -> the package's browser build in node_modules.
VENDORED = {
    "marked": "marked/lib",
    "dompurify": "dompurify/dist",
    "supabase-js": "@supabase/supabase-js/dist/umd",
}
# Module scripts must be served as JavaScript; not every system's mime.types knows .mjs.
mimetypes.add_type("text/javascript", ".mjs")


class SupabaseAuthConfig(msgspec.Struct):
    """The Supabase project the page signs users in with (supabase-js Auth, email and
    password): its URL and its anon (publishable) key, which are public by design."""

    url: str
    anon_key: str


def _anon_key_role(key: str) -> str | None:
    """The role a key acts as: `anon` for a publishable key, its `role` claim for a legacy JWT
    key (read without verifying: only to refuse exposing the wrong one), else None."""
    if key.startswith("sb_publishable_"):
        return "anon"
    if key.startswith("sb_secret_"):
        return "service_role"
    try:
        role = jwt.decode(key, options={"verify_signature": False}).get("role")
    except jwt.PyJWTError:
        return None
    return role if isinstance(role, str) else None


def supabase_auth_config(settings: Settings) -> SupabaseAuthConfig | None:
    """The project the page may sign in with: SUPABASE_URL and SUPABASE_ANON_KEY, both set.

    The anon key is shown to every visitor, so anything else is never exposed: a key equal to
    the service role key, a secret key, or a JWT whose role is not `anon` is refused (logged),
    and the page then offers token sign-in only."""
    url, key = settings.supabase.url, settings.supabase.anon_key
    if not url or not key:
        return None
    if key == settings.supabase.service_role_key or _anon_key_role(key) != "anon":
        log.warning(
            "SUPABASE_ANON_KEY is not an anon (publishable) key: the web client will not offer "
            "Supabase sign-in, since the page would show the key to every visitor"
        )
        return None
    return SupabaseAuthConfig(url=url.rstrip("/"), anon_key=key)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def content_security_policy(settings: Settings) -> str:
    """The page's policy: its own origin for everything; the Supabase project's origin for
    `fetch` when sign-in through it is offered; Trusted Types for every HTML sink."""
    connect = ["'self'"]
    auth = supabase_auth_config(settings)
    if auth is not None:
        connect.append(_origin(auth.url))
    return "; ".join(
        [
            "default-src 'self'",
            f"connect-src {' '.join(connect)}",
            "img-src 'self' data: blob:",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
            "require-trusted-types-for 'script'",
            "trusted-types dompurify supabase-js",
        ]
    )


class _WebHeaders(ASGIMiddleware):
    """Adds the page's security headers to every answer of the web client's routers."""

    scopes = (ScopeType.HTTP,)

    def __init__(self, policy: str) -> None:
        self.headers = [
            (b"content-security-policy", policy.encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"no-referrer"),
        ]

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *self.headers]
            await send(message)

        await next_app(scope, receive, send_with_headers)


def missing_vendored() -> list[str]:
    """The packages of VENDORED that node_modules lacks (`make deps` installs them)."""
    return [name for name, path in VENDORED.items() if not (NODE_MODULES / path).is_dir()]


def web_client_routers(settings: Settings) -> list[Router]:
    """`/` and the client's files, then `/vendor/<package>/` for each library. Revalidated on
    every load (`no-cache`: a deploy or an `npm ci` shows at once); public, since the page
    itself asks for the token."""
    if missing := missing_vendored():
        log.warning(
            "the web client's libraries are missing from %s (%s): run `make deps`; until then the "
            "page shows replies as plain text and offers token sign-in only",
            NODE_MODULES,
            ", ".join(missing),
        )
    headers = _WebHeaders(content_security_policy(settings))

    def serve(path: str, directory: Path, name: str, *, html_mode: bool = False) -> Router:
        return create_static_files_router(
            path,
            directories=[directory],
            html_mode=html_mode,
            name=name,
            cache_control=CacheControlHeader(no_cache=True),
            opt={"exclude_from_auth": True},
            middleware=[headers],
            include_in_schema=False,
        )

    vendored = [
        serve(f"/vendor/{name}", NODE_MODULES / path, f"vendor-{name}") for name, path in VENDORED.items()
    ]
    return [*vendored, serve("/", WEB_DIR, "web", html_mode=True)]
