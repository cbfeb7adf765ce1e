"""Erasure of a user's data (GDPR) and its records, for the service only (403 for users)."""

from __future__ import annotations

from litestar import Controller, delete, get
from litestar.di import NamedDependency
from litestar.status_codes import HTTP_200_OK

from app.auth import requires_service
from app.controllers.params import ConversationsLimit, UserIdPath, UserIdQuery
from app.errors import error_responses
from app.store import ConversationManager
from app.store.models import Erasure

__all__ = ["ErasureController"]


class ErasureController(Controller):
    tags = ["admin"]
    guards = [requires_service]

    @delete(
        "/users/{user_id:uuid}/data",
        summary="Erase a user's conversations and messages",
        operation_id="erase_user_data",
        description="Deletes every conversation and message of the user in bounded batches, except "
        "conversations under legal hold (counted in conversations_kept, kept_reason 'legal hold'), "
        "and answers the erasure record (who asked, when, how many rows; no content).",
        status_code=HTTP_200_OK,
        responses=error_responses(403),
    )
    async def erase_user_data(
        self, store: NamedDependency[ConversationManager], user_id: UserIdPath
    ) -> Erasure:
        return await store.erase_user_data(user_id)

    @get(
        "/erasures",
        summary="Erasure records, newest first",
        operation_id="list_erasures",
        description="Every erasure (DELETE /users/{user_id}/data, or a user deleted from "
        "auth.users), or one user's with user_id.",
        responses=error_responses(403),
    )
    async def list_erasures(
        self,
        store: NamedDependency[ConversationManager],
        user_id: UserIdQuery = None,
        limit: ConversationsLimit = 50,
    ) -> list[Erasure]:
        return await store.list_erasures(user_id, limit)
