"""RESPX routes for the `openai` SDK's own HTTP client: `respx.mock(using="httpx2")`.

The SDK (3.x) sends its requests with httpx2, the maintained fork of httpx, and RESPX 0.23
patches httpx only. This mocker does for httpx2 clients what RESPX's own "httpx" mocker does
for httpx clients: it swaps the transport chosen for each request for a mock transport that
asks the routers. The SDK builds and sends its real request (URL, headers, JSON body,
retries, timeouts, SSE parsing all run); only the bytes on the wire are replaced. Requests
and responses cross as copies (httpx2 -> httpx for the routes, httpx -> httpx2 back), and the
httpx exceptions a route raises (`side_effect=httpx.ConnectError(...)`, or a response stream
that breaks) become the httpx2 exceptions of the same name, as a real transport raises them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import httpx2
from respx.mocks import Mocker

__all__ = ["HTTPX2Mocker"]


def _as_httpx2(exc: httpx.HTTPError, request: httpx2.Request) -> Exception:
    kind = getattr(httpx2, type(exc).__name__, None)
    if isinstance(kind, type) and issubclass(kind, httpx2.RequestError):
        return kind(str(exc), request=request)
    return exc


class _Body(httpx2.AsyncByteStream):
    def __init__(self, response: httpx.Response, request: httpx2.Request) -> None:
        self.response = response
        self.request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self.response.stream:  # type: ignore[union-attr]
                yield chunk
        except httpx.HTTPError as exc:
            raise _as_httpx2(exc, self.request) from exc

    async def aclose(self) -> None:
        await self.response.aclose()


class HTTPX2Mocker(Mocker):
    name = "httpx2"
    targets = ["httpx2._client.AsyncClient"]
    target_methods = ["_transport_for_url"]

    @classmethod
    def mock(cls, spec: Callable[..., Any]) -> Callable[..., Any]:
        async def handle(request: httpx2.Request) -> httpx2.Response:
            copy = httpx.Request(
                request.method, str(request.url), headers=request.headers.raw, content=await request.aread()
            )
            try:
                response = await cls.async_handler(copy)
            except httpx.HTTPError as exc:
                raise _as_httpx2(exc, request) from exc
            return httpx2.Response(
                response.status_code, headers=response.headers.raw, stream=_Body(response, request)
            )

        def _transport_for_url(self: httpx2.AsyncClient, *args: Any, **kwargs: Any) -> httpx2.MockTransport:
            return httpx2.MockTransport(handle)

        return _transport_for_url
