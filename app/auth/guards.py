"""Route guards."""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

from app.store.transport import Principal

__all__ = ["requires_service"]


def requires_service(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Statistics, cleanup and import are the service's (the database grants them to
    service_role only); a user token gets 403 without a database round trip."""
    principal: Principal = connection.user
    if not principal.is_service:
        raise PermissionDeniedException("this operation needs the service role key")
