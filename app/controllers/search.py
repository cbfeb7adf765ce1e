"""Full-text search over the caller's own history: one store call."""

from __future__ import annotations

from litestar import Controller, get
from litestar.di import NamedDependency

from app.controllers.params import Cursor, SearchLimit, SearchQuery, UserIdQuery
from app.errors import error_responses
from app.store import ConversationManager
from app.store.models import SearchResult

__all__ = ["SearchController"]


class SearchController(Controller):
    path = "/search"
    tags = ["search"]

    @get(
        "/",
        summary="Search messages",
        operation_id="search_messages",
        description="Messages of the caller's live conversations matching q, best match first, "
        "each with its conversation's id and title, its seq and a snippet with <mark> highlights. "
        "The service searches everyone's, or one user's with user_id (403 for a user naming "
        "another). The text-search configuration is the database's (settings.search_config).",
        responses=error_responses(403),
    )
    async def search(
        self,
        store: NamedDependency[ConversationManager],
        q: SearchQuery,
        user_id: UserIdQuery = None,
        limit: SearchLimit = 20,
        cursor: Cursor = None,
    ) -> SearchResult:
        return await store.search(q, user_id=user_id, limit=limit, cursor=cursor)
