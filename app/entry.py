"""The one middleware every routed request passes before its handler.

In this order: the request's id (the `REQUEST_ID` of every log line it causes), its timer and
status for the metrics (which so see every status, the 401, 415 and 421 raised here included),
the cross-site rules, then its principal. Each is what it was as a middleware of its own, and
lives where it did: app.observability (request ids, `observe_request`), app.crosssite
(`CrossSiteRules`), app.auth (`BearerAuth`); what changed is that they share one layer.

Four layers of Litestar's middleware stack cost as much as the work they did: each one's
dispatch (scope checks, exclusion patterns, a connection object for authentication) and send
wrapper ran on every request (`python -m bench.layers`, app tier, measured them one by one).
One layer, one send wrapper: the per-request work is the rules' own.

The response's `X-Request-ID` header stays an app-level before_send hook
(app.observability.send_request_id): it must reach the answers this middleware never sees
(unrouted requests) and those Litestar's exception handling writes after it raised.
"""

from __future__ import annotations

from time import perf_counter

from litestar.enums import ScopeType
from litestar.exceptions import HTTPException
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from app.auth import BearerAuth
from app.crosssite import CrossSiteRules
from app.observability import REQUEST_ID, observe_request
from app.observability.request_id import request_id

__all__ = ["EntryMiddleware"]


class EntryMiddleware:
    """A Litestar middleware (a factory of each route's ASGI app): see the module docstring.
    A websocket route (the API has none) would get its principal and nothing else."""

    __slots__ = ("auth", "cross_site")

    def __init__(self, *, auth: BearerAuth, cross_site: CrossSiteRules) -> None:
        self.auth = auth
        self.cross_site = cross_site

    def __call__(self, app: ASGIApp) -> ASGIApp:
        auth, cross_site = self.auth, self.cross_site

        async def entry(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != ScopeType.HTTP:
                if scope["type"] == ScopeType.WEBSOCKET and auth.required(scope):
                    scope["user"], scope["auth"] = await auth.principal_for(scope)
                await app(scope, receive, send)
                return
            token = REQUEST_ID.set(request_id(scope))
            started = perf_counter()
            status = 500

            async def send_status(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                await send(message)

            try:
                cross_site.check(scope)
                if auth.required(scope):
                    scope["user"], scope["auth"] = await auth.principal_for(scope)
                await app(scope, receive, send_status)
            except HTTPException as exc:
                status = exc.status_code
                raise
            finally:
                observe_request(
                    scope["method"], scope.get("path_template", "unmatched"), status, perf_counter() - started
                )
                REQUEST_ID.reset(token)

        return entry
