"""Messages: the ordered, idempotent append (the hot path: one store call, nothing else)."""

from __future__ import annotations

from litestar import Controller, Response, post
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from litestar.params import JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from app.controllers.params import ConversationIdPath, IdempotencyKeyHeader, idempotency_key
from app.dto import StrictBody
from app.errors import error_responses
from app.schemas import AppendMessageIn, Message
from app.store import ConversationManager

__all__ = ["MessageController"]


class MessageController(Controller):
    path = "/conversations/{conversation_id:str}/messages"
    tags = ["messages"]

    @post(
        "/",
        summary="Append a message",
        operation_id="append_message",
        description="Gets the next seq and renews the conversation's sliding expiry. With an "
        "idempotency key (body or Idempotency-Key header) already used in this conversation for "
        "the same role and content, answers 200 with the original message instead of appending "
        "again; 409 when the key was used for another role or content.",
        status_code=HTTP_201_CREATED,
        dto=StrictBody[AppendMessageIn],
        return_dto=None,
        responses={
            HTTP_200_OK: ResponseSpec(
                Message, description="A replay: the message first stored with this key"
            ),
            **error_responses(400, 404, 409, 413),
        },
    )
    async def append_message(
        self,
        store: NamedDependency[ConversationManager],
        conversation_id: ConversationIdPath,
        data: JSONBody[AppendMessageIn],
        idempotency_key_header: IdempotencyKeyHeader = None,
    ) -> Response[Message]:
        key = idempotency_key(data.idempotency_key, idempotency_key_header)
        result = await store.add_message(
            conversation_id, data.role, data.content, data.metadata, idempotency_key=key
        )
        return Response(result.message, status_code=HTTP_200_OK if result.replayed else HTTP_201_CREATED)
