"""Feedback on a message: rate (replaceable) or withdraw. One store call each."""

from __future__ import annotations

from litestar import Controller, delete, put
from litestar.di import NamedDependency
from litestar.params import JSONBody
from litestar.status_codes import HTTP_204_NO_CONTENT

from app.controllers.params import ConversationIdPath, SeqPath
from app.dto import StrictBody
from app.errors import error_responses
from app.schemas import FeedbackIn
from app.store import ConversationManager
from app.store.models import FeedbackResult

__all__ = ["FeedbackController"]


class FeedbackController(Controller):
    path = "/conversations/{conversation_id:str}/messages/{seq:int}/feedback"
    tags = ["feedback"]

    @put(
        "/",
        summary="Rate a message",
        operation_id="set_message_feedback",
        description="rating 1 (thumbs up) or -1 (thumbs down), with an optional comment; one per "
        "user per message, a second PUT replaces it. Answers the message with the feedback.",
        dto=StrictBody[FeedbackIn],
        return_dto=None,
        responses=error_responses(400, 404, 413),
    )
    async def set_feedback(
        self,
        store: NamedDependency[ConversationManager],
        conversation_id: ConversationIdPath,
        seq: SeqPath,
        data: JSONBody[FeedbackIn],
    ) -> FeedbackResult:
        return await store.set_feedback(conversation_id, seq, data.rating, data.comment)

    @delete(
        "/",
        summary="Withdraw a rating",
        operation_id="delete_message_feedback",
        description="Removes the caller's rating of the message (204 also when there was none).",
        status_code=HTTP_204_NO_CONTENT,
        responses=error_responses(404),
    )
    async def delete_feedback(
        self, store: NamedDependency[ConversationManager], conversation_id: ConversationIdPath, seq: SeqPath
    ) -> None:
        await store.delete_feedback(conversation_id, seq)
