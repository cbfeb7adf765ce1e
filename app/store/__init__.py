"""The conversation store: typed methods over one SQL function call each, on two transports."""

from app.store.errors import (
    AuthenticationError,
    ConflictError,
    ForbiddenError,
    InvalidInputError,
    LimitReachedError,
    NotFoundError,
    StoreError,
    UnavailableError,
)
from app.store.manager import ConversationManager
from app.store.transport import SERVICE, Principal, Transport

__all__ = [
    "SERVICE",
    "AuthenticationError",
    "ConflictError",
    "ConversationManager",
    "ForbiddenError",
    "InvalidInputError",
    "LimitReachedError",
    "NotFoundError",
    "Principal",
    "StoreError",
    "Transport",
    "UnavailableError",
]
