"""Cross-site safety: what a web page the developer happens to visit cannot make the API do.

Two rules, checked once per request before authentication (`CrossSiteRules.check`, called by
the API's one middleware, app.entry):

- A request with a body must say it is JSON: `application/json` or `application/*+json`
  (a `charset` parameter, if any, must be UTF-8); anything else is 415. A browser sends
  text/plain, form and multipart bodies cross-site without a CORS preflight; a JSON content
  type always needs one, which a page of another origin does not pass. A request without a
  body needs no content type.
- With API_AUTH=disabled (anonymous requests act as the service), the Host must be a loopback
  name (`localhost`, `127.0.0.1`, `[::1]`, any port), else 421 Misdirected Request: a DNS
  rebinding page reaches 127.0.0.1 under its own name, and this server is not that name.
  An `Origin` that is not loopback (nor one of API_CORS_ORIGINS) is 403: a drive-by request
  from a web page.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from urllib.parse import urlsplit

from litestar.types import Scope

from app.auth.loopback import is_loopback
from app.errors import ApiError

__all__ = ["CrossSiteRules", "host_name", "is_json_media_type"]


@lru_cache(maxsize=256)
def _json_content_type(value: bytes) -> bool:
    return is_json_media_type(value.decode("latin-1"))


@lru_cache(maxsize=256)
def _loopback_host(value: bytes) -> bool:
    return is_loopback(host_name(value.decode("latin-1")))


def is_json_media_type(content_type: str) -> bool:
    """`application/json` or `application/<anything>+json`, parameters allowed (a charset only
    if it is UTF-8, the one encoding RFC 8259 allows between systems)."""
    media_type, _, parameters = content_type.partition(";")
    media_type = media_type.strip().lower()
    if not (
        media_type == "application/json"
        or (media_type.startswith("application/") and media_type.endswith("+json"))
    ):
        return False
    for parameter in parameters.split(";"):
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() not in ("utf-8", "utf8"):
            return False
    return True


def host_name(host: str) -> str:
    """The name part of a Host header or URL authority: without the port, IPv6 brackets kept
    off (`[::1]:8001` -> `::1`)."""
    host = host.strip()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rpartition(":")[0] if host.count(":") == 1 else host


class CrossSiteRules:
    """The rules of the module docstring. `loopback_only` is API_AUTH=disabled; `origins` are
    the CORS origins that may call the API from a browser anyway."""

    __slots__ = ("loopback_only", "origins")

    def __init__(self, *, loopback_only: bool, origins: Iterable[str] = ()) -> None:
        self.loopback_only = loopback_only
        self.origins = frozenset(origin.lower() for origin in origins)

    def check(self, scope: Scope) -> None:
        """Raises ApiError (415, 421, 403) when an HTTP request breaks a rule."""
        host = origin = content_type = None
        has_body = False
        for name, value in scope["headers"]:
            if name == b"host":
                host = value
            elif name == b"origin":
                origin = value
            elif name == b"content-type":
                content_type = value
            elif name == b"content-length":
                has_body = has_body or value.strip() != b"0"
            elif name == b"transfer-encoding":
                has_body = True
        if self.loopback_only:
            self._check_site(host, origin)
        if has_body and (content_type is None or not _json_content_type(content_type)):
            raise ApiError(
                "unsupported_media_type",
                "the request body must be JSON: send Content-Type: application/json",
                status_code=415,
            )

    def _check_site(self, host: bytes | None, origin: bytes | None) -> None:
        if host is None or not _loopback_host(host):
            raise ApiError(
                "misdirected_request",
                "with API_AUTH=disabled the API answers only to a loopback Host "
                "(localhost, 127.0.0.1, [::1])",
                status_code=421,
            )
        if origin is not None:
            text = origin.decode("latin-1").strip()
            if text.lower() not in self.origins and not is_loopback(urlsplit(text).hostname or ""):
                raise ApiError(
                    "cross_site_request",
                    "with API_AUTH=disabled requests from another site's page are refused "
                    "(its Origin is not loopback nor in API_CORS_ORIGINS)",
                    status_code=403,
                )
