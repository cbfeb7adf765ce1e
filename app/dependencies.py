"""Dependencies injected into the handlers."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.datastructures import State

from app.store import ConversationManager, Principal

__all__ = ["provide_principal", "provide_store"]


def provide_principal(request: Request[Principal, Any, State]) -> Principal:
    """Who the request acts as: set once per request by the authentication middleware."""
    return request.user


def provide_store(request: Request[Principal, Any, State]) -> ConversationManager:
    """The app's store acting as the request's principal (shares the transport: no I/O)."""
    store: ConversationManager = request.app.state.store
    return store.as_principal(request.user)
