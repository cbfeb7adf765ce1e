"""The conversation store: typed methods over one SQL function call each, on two transports."""

from app.store.errors import (
    AuthenticationError,
    BusyError,
    ConflictError,
    ForbiddenError,
    InvalidInputError,
    LimitReachedError,
    NotFoundError,
    PoolExhaustedError,
    StatementTimeoutError,
    StoreError,
    UnavailableError,
)
from app.store.manager import ConversationManager
from app.store.transport import SERVICE, Principal, Transport

__all__ = [
    "SERVICE",
    "AuthenticationError",
    "BusyError",
    "ConflictError",
    "ConversationManager",
    "ForbiddenError",
    "InvalidInputError",
    "LimitReachedError",
    "NotFoundError",
    "PoolExhaustedError",
    "Principal",
    "StatementTimeoutError",
    "StoreError",
    "Transport",
    "UnavailableError",
]
