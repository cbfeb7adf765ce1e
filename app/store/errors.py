"""Domain errors of the store, the same whichever transport raised them.

Both transports translate their failures into these: SQLSTATEs on a direct connection,
PostgREST's error bodies (which carry the same SQLSTATE in `code`) over HTTP. The API maps
each class to one HTTP status.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AuthenticationError",
    "BusyError",
    "ConflictError",
    "ForbiddenError",
    "InvalidInputError",
    "LimitReachedError",
    "NotFoundError",
    "PoolExhaustedError",
    "StatementTimeoutError",
    "StoreError",
    "UnavailableError",
    "error_for_sqlstate",
]


class StoreError(Exception):
    """A store operation failed; `code` names the class of failure for clients."""

    code = "store_error"

    def __init__(self, message: str, *, details: Any = None, sqlstate: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        self.sqlstate = sqlstate


class NotFoundError(StoreError):
    """The conversation does not exist, has expired, or belongs to someone else."""

    code = "not_found"


class ConflictError(StoreError):
    """The operation clashes with existing data (a conversation id already in use)."""

    code = "conflict"


class InvalidInputError(StoreError):
    """The database rejected a value: a limit, a size, a format, a constraint."""

    code = "invalid_input"


class LimitReachedError(InvalidInputError):
    """A database cap was reached (a conversation holds max_messages_per_conversation
    messages): the request is well formed, but this conversation takes no more."""

    code = "limit_reached"


class ForbiddenError(StoreError):
    """The caller's role may not do this."""

    code = "forbidden"


class AuthenticationError(ForbiddenError):
    """The peer refused the caller's credentials (PostgREST: invalid or expired JWT).

    A ForbiddenError too, so code that knows only the five classes still answers 4xx; the
    API can answer 401 for this one."""

    code = "unauthenticated"


class UnavailableError(StoreError):
    """The database cannot be reached or did not answer in time; retrying later may work."""

    code = "unavailable"


class PoolExhaustedError(UnavailableError):
    """Every connection of the API's pool stayed busy for the pool's whole wait: the
    database is up, this instance is overloaded (or its calls wait on locks)."""

    code = "pool_exhausted"


class StatementTimeoutError(UnavailableError):
    """The call ran longer than its role's statement_timeout and was cancelled."""

    code = "statement_timeout"


class BusyError(StoreError):
    """Another transaction holds the conversation's row lock for longer than the role's
    lock_timeout (SQLSTATE 55P03): this conversation is busy, others are not; retry soon."""

    code = "conversation_busy"


_BY_SQLSTATE: dict[str, type[StoreError]] = {
    "P0002": NotFoundError,  # no_data_found: unknown, expired or foreign conversation
    "23505": ConflictError,  # unique_violation
    "42501": ForbiddenError,  # insufficient_privilege (also RLS violations)
    "57014": StatementTimeoutError,  # query_canceled: statement_timeout
    "53300": UnavailableError,  # too_many_connections
    "40001": UnavailableError,  # serialization_failure: transient, a retry may succeed
    "40P01": UnavailableError,  # deadlock_detected: likewise
    "55P03": BusyError,  # lock_not_available: the role's lock_timeout
    "54000": LimitReachedError,  # program_limit_exceeded: the message cap
}
# Whole classes: 22 data exceptions (bad values, NUL bytes, too long) and 23 integrity
# violations (checks, not-null) are the caller's input; 08 connection and 57P shutdowns are ours.
_BY_CLASS: dict[str, type[StoreError]] = {
    "22": InvalidInputError,
    "23": InvalidInputError,
    "08": UnavailableError,
    "57": UnavailableError,
    "53": UnavailableError,
}


def error_for_sqlstate(sqlstate: str | None, message: str, details: Any = None) -> StoreError:
    """The domain error for a SQLSTATE; unknown codes stay a plain StoreError (a 500: a bug)."""
    cls = _BY_SQLSTATE.get(sqlstate or "") or _BY_CLASS.get((sqlstate or "")[:2], StoreError)
    return cls(message, details=details, sqlstate=sqlstate)
