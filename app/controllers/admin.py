"""Administration: statistics, cleanup and import, for the service only (403 for users)."""

from __future__ import annotations

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from app.auth import requires_service
from app.dto import StrictBody
from app.errors import error_responses
from app.schemas import CleanupOut, Conversation, ConversationExport, Stats
from app.store import ConversationManager

__all__ = ["AdminController", "ImportController"]


class AdminController(Controller):
    tags = ["admin"]
    guards = [requires_service]

    @get(
        "/stats",
        summary="Conversation statistics",
        operation_id="conversation_stats",
        description="Conversations and messages stored, expired conversations not yet cleaned up, "
        "live ones, and the default TTL; the totals come from counters the triggers keep.",
        responses=error_responses(403),
    )
    async def stats(self, store: NamedDependency[ConversationManager]) -> Stats:
        return await store.stats()

    @post(
        "/admin/cleanup",
        summary="Delete expired conversations now",
        operation_id="cleanup_expired_conversations",
        description="The same cleanup pg_cron runs hourly; answers how many conversations it removed.",
        status_code=HTTP_200_OK,
        responses=error_responses(403),
    )
    async def cleanup(self, store: NamedDependency[ConversationManager]) -> CleanupOut:
        return CleanupOut(removed=await store.cleanup_expired())


class ImportController(Controller):
    """Mounted on its own router: imports may be larger than other bodies (API_MAX_IMPORT_BYTES)."""

    tags = ["admin"]
    guards = [requires_service]

    @post(
        "/conversations/import",
        summary="Import an exported conversation",
        operation_id="import_conversation",
        description="Restores a GET /conversations/{id}/export document: the conversation's fields, "
        "its messages with their seq and id, their ratings; timestamps are checked (422 for one in "
        "the future, an expires_at past max_ttl_hours...); 409 if a live conversation has that id.",
        status_code=HTTP_201_CREATED,
        dto=StrictBody[ConversationExport],
        return_dto=None,
        responses=error_responses(400, 403, 409, 413),
    )
    async def import_conversation(
        self, store: NamedDependency[ConversationManager], data: JSONBody[ConversationExport]
    ) -> Conversation:
        return await store.import_conversation(data)
