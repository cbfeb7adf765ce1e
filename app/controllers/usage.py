"""Token and cost accounting: one store call."""

from __future__ import annotations

from litestar import Controller, get
from litestar.di import NamedDependency

from app.controllers.params import FromQuery, GroupByQuery, ToQuery, UserIdQuery
from app.errors import error_responses
from app.store import ConversationManager
from app.store.models import Usage

__all__ = ["UsageController"]


class UsageController(Controller):
    path = "/usage"
    tags = ["usage"]

    @get(
        "/",
        summary="Messages, tokens and cost",
        operation_id="get_usage",
        description="Messages, prompt and completion tokens (metadata.tokens of each message) and "
        "cost (where ai_model_prices has the model) over the UTC days [from, to), as one row or "
        "per day and/or model. Usage is a ledger: messages removed later stay counted, fork "
        "copies never count. A user reads its own (403 for another user_id); the service one "
        "user's or, without user_id, everyone's.",
        responses=error_responses(403),
    )
    async def usage(
        self,
        store: NamedDependency[ConversationManager],
        user_id: UserIdQuery = None,
        start: FromQuery = None,
        to: ToQuery = None,
        group_by: GroupByQuery = None,
    ) -> Usage:
        return await store.get_usage(user_id, start=start, end=to, group_by=group_by or ())
