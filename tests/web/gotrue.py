"""A stand-in for Supabase Auth (GoTrue), which cannot run here: it answers the requests
supabase-js sends for an email and password sign-in, a token refresh and a sign-out, as a
project's Auth does (CORS included, since the page's origin is the API's), and records every
request so a test can check exactly what supabase-js sent.

Sessions are real: the access tokens are HS256 JWTs signed with the secret the API verifies,
with the claims Supabase Auth writes (app.auth.local_tokens).
"""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from app.auth.local_tokens import mint_user_token, user_token_claims

__all__ = ["GoTrue", "Recorded"]


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str  # with its query
    headers: dict[str, str]  # names in lower case
    body: Any  # the JSON body, or None


class GoTrue:
    """One user (`email`, `password`) of a project whose anon key is `anon_key`.

    A sign-in's session expires in `first_ttl` seconds: under supabase-js's refresh margin
    (90 s), so it refreshes before its first use; a refreshed session lasts an hour. Refresh
    tokens are `refresh-1`, `refresh-2`...; access tokens are kept in `issued`, in order."""

    def __init__(self, *, anon_key: str, secret: str, email: str, password: str, first_ttl: int = 60) -> None:
        self.anon_key = anon_key
        self.secret = secret
        self.email = email
        self.password = password
        self.first_ttl = first_ttl
        self.user_id = uuid.uuid4()
        self.requests: list[Recorded] = []
        self.issued: list[str] = []
        self.refresh_tokens: set[str] = set()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="gotrue", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def calls(self) -> list[Recorded]:
        """What was sent, CORS preflights left out."""
        with self._lock:
            return [r for r in self.requests if r.method != "OPTIONS"]

    def _session(self, ttl: int) -> dict[str, Any]:
        claims = user_token_claims(
            self.user_id, ttl_seconds=ttl, issuer=f"{self.url}/auth/v1", email=self.email
        )
        access = mint_user_token(self.secret, claims)
        refresh = f"refresh-{len(self.issued) + 1}"
        self.issued.append(access)
        self.refresh_tokens.add(refresh)
        return {
            "access_token": access,
            "token_type": "bearer",
            "expires_in": ttl,
            "expires_at": claims["exp"],
            "refresh_token": refresh,
            "user": {
                "id": str(self.user_id),
                "aud": "authenticated",
                "role": "authenticated",
                "email": self.email,
                "app_metadata": claims["app_metadata"],
                "user_metadata": {},
                "created_at": "2026-01-01T00:00:00Z",
            },
        }

    def answer(self, request: Recorded) -> tuple[int, Any]:
        """The status and JSON body Supabase Auth gives `request`."""
        if request.headers.get("apikey") != self.anon_key:
            return 401, {"message": "Invalid API key"}
        path = urlsplit(request.path)
        if (request.method, path.path, path.query) == ("POST", "/auth/v1/token", "grant_type=password"):
            body = request.body or {}
            if body.get("email") != self.email or body.get("password") != self.password:
                return 400, {
                    "code": 400,
                    "error_code": "invalid_credentials",
                    "msg": "Invalid login credentials",
                }
            return 200, self._session(self.first_ttl)
        if (request.method, path.path, path.query) == ("POST", "/auth/v1/token", "grant_type=refresh_token"):
            token = (request.body or {}).get("refresh_token")
            if token not in self.refresh_tokens:
                return 400, {
                    "code": 400,
                    "error_code": "refresh_token_not_found",
                    "msg": "Invalid Refresh Token",
                }
            self.refresh_tokens.discard(token)  # rotated: each refresh token works once
            return 200, self._session(3600)
        if (request.method, path.path) == ("POST", "/auth/v1/logout"):
            return 204, None
        return 404, {"code": 404, "msg": "not found"}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _record(self) -> Recorded:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                request = Recorded(
                    self.command,
                    self.path,
                    {name.lower(): value for name, value in self.headers.items()},
                    json.loads(raw) if raw else None,
                )
                with stand_in._lock:
                    stand_in.requests.append(request)
                return request

            def _cors(self) -> None:
                self.send_header("Access-Control-Allow-Origin", self.headers.get("Origin") or "*")
                self.send_header("Vary", "Origin")

            def do_OPTIONS(self) -> None:  # the CORS preflight of every request supabase-js sends
                self._record()
                self.send_response(204)
                self._cors()
                self.send_header("Access-Control-Allow-Methods", "GET, POST, PUT, DELETE, OPTIONS")
                self.send_header(
                    "Access-Control-Allow-Headers", self.headers.get("Access-Control-Request-Headers", "")
                )
                self.send_header("Access-Control-Max-Age", "0")
                self.end_headers()

            def do_POST(self) -> None:
                request = self._record()
                with stand_in._lock:
                    status, body = stand_in.answer(request)
                payload = b"" if body is None else json.dumps(body).encode()
                self.send_response(status)
                self._cors()
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST

        return Handler
