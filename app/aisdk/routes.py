"""/api/chat: the Vercel AI SDK's chat protocol, a face of the turn engine.

A page using `useChat({ transport: new DefaultChatTransport({ api: '<base>/api/chat', headers }) })`
talks to the store with no code of its own:

* POST /api/chat `{id, messages, trigger, messageId}`: `id` is the conversation (the service's
  unknown id creates it, as /chat does; a user's must exist: users create conversations first,
  with POST /conversations, as the SDK's persistence guide recommends). The messages after the
  last assistant message are the turn's input, each stored under its own id (a message's id is its
  idempotency key: sending the whole history again stores nothing twice; a retry of the same user
  message follows or answers that turn). `trigger: "regenerate-message"` answers the last user
  message again: the reply after it (`messageId`, or the last one) is replaced, and kept on the
  new turn (`request.superseded`). The answer is the UI message stream (app.aisdk.chunks); its
  `start` names the id the reply is stored under. Bad input is a 4xx with a JSON reason before any
  stream starts.
* GET /api/chat/{id}: the stored conversation as UIMessages (app.aisdk.messages), which the SDK's
  `validateUIMessages` accepts, the client's ids kept.
* GET /api/chat/{id}/stream: the reply in progress of the conversation, from its start, on any
  instance (the turn's stream, app.turns.streams); 204 when nothing is streaming. This is the
  SDK's `resume: true`.
* POST /api/chat/{id}/stop: stops the reply in progress (what was generated is stored; every
  reader's stream ends with `abort`); 204 when nothing was running.

A reply runs to its end whatever the client does (app.turns.runner): a closed tab, an aborted
fetch or a dropped connection ends the client's read only.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import JSONBody, PathParameter
from litestar.response import Stream
from litestar.status_codes import HTTP_200_OK, HTTP_204_NO_CONTENT

from app.aisdk.chunks import DONE, HEADERS, UIChunks, frame
from app.aisdk.messages import new_message, ui_messages
from app.aisdk.schemas import ChatRequestIn, UIMessage
from app.config import Settings
from app.dependencies import TurnFace, turn_dependencies
from app.errors import ApiError, error_responses
from app.store import ConversationManager, Principal
from app.store.models import Message, NewMessage
from app.turns import StreamEvent, TurnRequest, TurnRunner, TurnStreams

__all__ = ["AISDKController", "ui_request"]

ChatIdPath = Annotated[str, PathParameter(max_length=255, description="The chat's id: its conversation.")]


def ui_request(data: ChatRequestIn, *, service: bool) -> TurnRequest:
    """The parser: one useChat request as the turn it asks for (4xx before any store call)."""
    last_reply = max((n for n, m in enumerate(data.messages) if m.role == "assistant"), default=-1)
    tail = data.messages[last_reply + 1 :]
    if not tail:
        raise ApiError(
            "validation_error",
            "nothing to answer: the messages end with the assistant's",
            status_code=422,
            details=[{"key": "messages", "source": "body"}],
        )
    stored: list[NewMessage] = []
    for n, message in enumerate(tail, start=last_reply + 1):
        try:
            stored.append(new_message(message))
        except ValueError as exc:
            raise ApiError(
                "validation_error",
                str(exc),
                status_code=422,
                details=[{"key": f"messages[{n}].parts", "source": "body"}],
            ) from exc
    regenerate = data.trigger == "regenerate-message"
    reply_key = f"msg_{uuid.uuid4().hex}"
    return TurnRequest(
        kind="ui",
        input=stored,
        conversation_id=data.id,
        create_if_missing=service,
        # A retry of the same message is the same turn; a regeneration is a new one.
        idempotency_key=None if regenerate else stored[-1].idempotency_key,
        regenerate=regenerate,
        superseded_id=data.messageId if regenerate else None,
        reply_key=reply_key,
        # Where a resumed stream finds the id its `start` announced.
        envelope={"reply_key": reply_key},
    )


async def _chunks(message_id: str, entries: AsyncIterator[tuple[int, StreamEvent]]) -> AsyncIterator[bytes]:
    encode = UIChunks(message_id)
    async for _, event in entries:
        for chunk in encode(event):
            yield frame(chunk)
    yield DONE


def _stream(message_id: str, entries: AsyncIterator[tuple[int, StreamEvent]]) -> Stream:
    return Stream(_chunks(message_id, entries), media_type="text/event-stream", headers=HEADERS)


async def _messages(store: ConversationManager, conversation_id: str) -> list[Message]:
    """Every message of a conversation, oldest first, a page at a time."""
    pages: list[list[Message]] = []
    before: int | None = None
    while True:
        page = await store.get_conversation(conversation_id, limit=1000, before=before)
        pages.append(page.messages)
        if page.next_cursor is None:
            break
        before = page.next_cursor
    return [m for page in reversed(pages) for m in page]


class AISDKController(Controller):
    path = "/api/chat"
    tags = ["ai sdk"]
    dependencies = turn_dependencies()

    @post(
        "/",
        summary="A useChat request: store the new messages, answer as a UI message stream",
        description="The Vercel AI SDK's chat protocol (DefaultChatTransport): see the module docstring "
        "of app.aisdk.routes and docs/ai-sdk.md. The answer is `text/event-stream` with the header "
        "`x-vercel-ai-ui-message-stream: v1`.",
        operation_id="aisdk_chat",
        media_type="text/event-stream",
        status_code=HTTP_200_OK,
        responses=error_responses(400, 403, 404, 409, 413, 422),
    )
    async def chat(
        self,
        request: Request[Principal, Any, State],
        face: NamedDependency[TurnFace],
        data: JSONBody[ChatRequestIn],
    ) -> Stream:
        engine, runner, streams = face.engine, face.runner, face.streams
        turn_request = ui_request(data, service=request.user.is_service)
        turn = await engine.begin(turn_request)
        reply = turn.begun.reply
        message_id = (reply.idempotency_key if reply is not None else None) or turn_request.reply_key
        assert message_id is not None
        if turn.begun.running and turn.id is not None:
            # A retry of a reply still being generated (here or elsewhere): follow it.
            entries = streams.read(await engine.store.get_turn(turn.id, after_event=0))
        else:
            entries = runner.run(engine, turn, stream=True).log.read()
        return _stream(message_id, entries)

    @get(
        "/{chat_id:str}",
        summary="The stored conversation as UIMessages",
        description="For `useChat({ messages })` and `validateUIMessages`: the client's ids kept, "
        "a turn's tools and reply as one assistant message of steps.",
        operation_id="aisdk_get_chat",
        responses=error_responses(404),
    )
    async def get_chat(
        self, store: NamedDependency[ConversationManager], chat_id: ChatIdPath
    ) -> list[UIMessage]:
        return ui_messages(await _messages(store, chat_id))

    @get(
        "/{chat_id:str}/stream",
        summary="Resume the reply in progress (useChat resume)",
        description="The reply being generated in the conversation, from its start, as a UI message "
        "stream; 204 when nothing is being generated.",
        operation_id="aisdk_resume_chat",
        media_type="text/event-stream",
        responses=error_responses(404),
    )
    async def resume(
        self,
        store: NamedDependency[ConversationManager],
        streams: NamedDependency[TurnStreams],
        chat_id: ChatIdPath,
    ) -> Response[None] | Stream:
        running = await store.get_running_turn(chat_id)
        if running is None:
            return Response(None, status_code=HTTP_204_NO_CONTENT)
        reply_key = running.turn.request.get("reply_key")
        message_id = str(reply_key) if reply_key else f"msg_{running.turn.id.hex}"
        return _stream(message_id, streams.read(running))

    @post(
        "/{chat_id:str}/stop",
        summary="Stop the reply in progress",
        description="What was generated is stored; every reader's stream ends with `abort`. 204 "
        "when nothing was being generated.",
        operation_id="aisdk_stop_chat",
        status_code=HTTP_204_NO_CONTENT,
        responses=error_responses(404),
    )
    async def stop(
        self,
        store: NamedDependency[ConversationManager],
        runner: NamedDependency[TurnRunner],
        settings: NamedDependency[Settings],
        chat_id: ChatIdPath,
    ) -> None:
        running = await store.get_running_turn(chat_id)
        if running is not None:
            await runner.stop(store, running.turn.id, settings.turns.stop_wait_seconds)
