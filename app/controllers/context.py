"""The context of a conversation: what its next chat turn would send the model."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get
from litestar.di import NamedDependency, Provide
from litestar.params import QueryParameter

from app.controllers.params import ConversationIdPath
from app.dependencies import provide_engine
from app.errors import error_responses
from app.schemas import INT32_MAX, Context
from app.turns import TurnEngine

__all__ = ["ContextController"]

TokenBudgetQuery = Annotated[
    int | None,
    QueryParameter(ge=1, le=INT32_MAX, description="Tokens of history (default CHAT_TOKEN_BUDGET)."),
]


class ContextController(Controller):
    path = "/conversations/{conversation_id:str}/context"
    tags = ["conversations"]
    dependencies = {"engine": Provide(provide_engine, sync_to_thread=False)}

    @get(
        "/",
        summary="The context the next chat turn would send",
        operation_id="get_context",
        description="The database's window for the token budget, as /chat sends it before the new "
        "message: the latest summary (a system message whose metadata covers [first_seq, last_seq]), "
        "the newest messages whose token counts fit after it (oldest first, never starting with a tool "
        "result), their token total (the summary's included), what was left out (summarized, and "
        "unsummarized with its tokens) and whether a summary is due (compaction). The full history "
        "stays in GET /conversations/{id}.",
        responses=error_responses(404),
    )
    async def get_context(
        self,
        engine: NamedDependency[TurnEngine],
        conversation_id: ConversationIdPath,
        token_budget: TokenBudgetQuery = None,
    ) -> Context:
        return await engine.context(conversation_id, token_budget)
