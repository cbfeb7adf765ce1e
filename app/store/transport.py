"""What a transport is: something that calls one SQL function as a principal."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol
from uuid import UUID

import msgspec

__all__ = ["SERVICE", "Principal", "Transport"]


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a call runs as: PostgREST's role plus the verified JWT claims (always with `role`).

    `token` is the bearer token to forward where the peer verifies it itself (PostgREST).
    """

    role: Literal["service_role", "authenticated"]
    claims: Mapping[str, Any]
    token: str | None = None
    claims_json: str = field(init=False, repr=False)

    def __post_init__(self) -> None:
        claims = {**self.claims, "role": self.role}
        object.__setattr__(self, "claims", claims)
        object.__setattr__(self, "claims_json", msgspec.json.encode(claims).decode())

    @property
    def user_id(self) -> UUID | None:
        sub = self.claims.get("sub")
        return UUID(sub) if self.role == "authenticated" and sub else None

    @property
    def is_service(self) -> bool:
        return self.role == "service_role"

    @classmethod
    def user(
        cls, user_id: UUID | str, claims: Mapping[str, Any] | None = None, token: str | None = None
    ) -> Principal:
        return cls("authenticated", {**(claims or {}), "sub": str(user_id)}, token)


SERVICE = Principal("service_role", {})


class Transport(Protocol):
    """Calls `public.<function>(<args>)` with the security context of `principal` and returns
    the function's JSON result as text. Raises app.store.errors.StoreError subclasses.

    `retry` says the call may run twice to the same effect (a read, an append under an
    idempotency key): a transport may then send it again when its connection broke under it."""

    async def call(
        self, function: str, args: Mapping[str, Any], principal: Principal, *, retry: bool = False
    ) -> bytes | str: ...

    async def close(self) -> None:
        """Releases what the transport opened itself (PostgREST: its HTTP client); a pool
        handed in stays open for its owner to close."""
        ...
