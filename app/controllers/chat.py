"""POST /chat: the native face of the turn engine, as JSON or as server-sent events.

A parser (ChatIn to a TurnRequest) and an encoder: the engine's events are this face's wire
format as they are (see app.turns.events), each with `id: <seq>`, its position in the turn's
stream. A turn costs two store calls: begin_turn stores the user message (starting the
conversation when no id is given) and returns the history window, finish_turn stores the reply; a
tool the model calls adds one append per result. The first call happens before any answer is
started, so an unknown, expired or foreign conversation is a real 404, a bad input a real 422,
even for `"stream": true`.

The turn then runs in the process's TurnRunner, not in the request: a client that goes away ends
its own read only; the turn runs to its end and its reply is stored as if it had stayed. The
stream is resumable on any instance (GET /turns/{id}/events, app.controllers.turns) and can be
stopped (POST /turns/{id}/stop). A retry with the key of a turn that still runs follows its stream
instead of generating it twice.

Failures after the first call: the user message (and any tool results) stay stored, no assistant
message is, and the turn is marked failed; the JSON answer is 502 (504 on a timeout) and
`details` carries the `conversation_id` and the stored `user_message_id`, so a client that
started a conversation can retry in it with the same idempotency key (the user message is then
not stored again). In a stream the same body is sent as an `error` event.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import msgspec
from litestar import Controller, Request, Response, post
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIResponse, OpenAPIType, Operation, Schema
from litestar.params import JSONBody
from litestar.response import ServerSentEvent, ServerSentEventMessage
from litestar.status_codes import HTTP_200_OK

from app.controllers.params import IdempotencyKeyHeader, idempotency_key
from app.dependencies import TurnFace, turn_dependencies
from app.dto import StrictBody
from app.errors import ApiError, error_responses, handle_exception
from app.llm import ProviderError
from app.schemas import ChatIn, ErrorBody
from app.store import Principal
from app.store.models import NewMessage
from app.turns import (
    ChatResult,
    StreamEvent,
    Turn,
    TurnCompleted,
    TurnFailed,
    TurnRequest,
)

__all__ = ["ChatController", "chat_request", "error_body", "turn_event"]

log = logging.getLogger("app.chat")

_encoder = msgspec.json.Encoder()

_STREAM_DESCRIPTION = """\
With `"stream": true` the answer is `text/event-stream` (status 200 once the user message is
stored), with these events, each `data` one JSON object:

* `start`: `{conversation_id, user_message_id, created, replayed, turn_id}`
* `delta`: `{text}`, the answer piece by piece (joined, they are `response`)
* `tool`: `{tool, args, content, is_error, message_id, tool_call_id, round}`, a tool result
  the turn stored
* `done`: the same object as the JSON answer (the stored reply's `message_id`, `usage`,
  `model`, `duration_ms`, `tool_calls`), last
* `stopped`: the same object, last, when an explicit stop ended the turn (POST
  /turns/{turn_id}/stop): what was generated is stored, `finish_reason` is `stopped`
* `error`: `{error, message, details}`, the JSON error body, last: the provider failed
  (`provider_*` codes), storing failed, or the instance generating the turn died
  (`turn_abandoned`); no assistant message was stored.
* `shutdown`: `{error, message}`, last: this server is stopping; resume on another instance.

Every event has an `id`, its position in the turn's stream (`start` is 0): a client that lost the
stream resumes it with GET /turns/{turn_id}/events and Last-Event-ID, on any instance. Leaving the
stream does not stop the turn.
"""


def _turn_details(exc: ProviderError, turn: Turn) -> None:
    """Name the conversation and the stored user message in the error's details: a client
    whose turn started a conversation learns its id, and can retry there."""
    details = dict(exc.details) if isinstance(exc.details, dict) else {}
    if exc.details is not None and not isinstance(exc.details, dict):
        log.warning("model provider failure details: %r", exc.details)
    details.update(
        conversation_id=turn.conversation_id,
        user_message_id=str(turn.user_message.id),
        created=turn.created,
    )
    exc.details = details


def chat_request(data: ChatIn, idempotency_key: str | None) -> TurnRequest:
    """The parser: a /chat body as the turn it asks for. A regeneration answers the stored user
    message its key names again (a new turn: its own key is the store's)."""
    if data.regenerate and (idempotency_key is None or data.conversation_id is None):
        raise ApiError(
            "validation_error",
            "regenerate needs conversation_id and the idempotency_key of the stored user message",
            status_code=422,
            details=[{"key": "idempotency_key", "source": "body"}],
        )
    key = idempotency_key
    return TurnRequest(
        kind="chat",
        input=[NewMessage("user", data.message, data.metadata or {}, key)],
        conversation_id=data.conversation_id,
        user_id=data.user_id,
        conversation_metadata=data.conversation_metadata,
        idempotency_key=None if data.regenerate else key,
        regenerate=data.regenerate,
        include_history=data.include_history,
        history_limit=data.history_limit,
        token_budget=data.token_budget,
    )


def error_body(request: Request[Any, Any, State], failed: TurnFailed, turn: Turn | None = None) -> ErrorBody:
    """A failed turn's error body: as the exception handlers answer its exception, where it was
    raised here; else from what the stored turn says."""
    exc = failed.exception
    if isinstance(exc, Exception):
        if isinstance(exc, ProviderError) and turn is not None:
            _turn_details(exc, turn)
        content = handle_exception(request.route_handler.resolve_exception_handlers(), request, exc).content
        if isinstance(content, ErrorBody):
            return content
    return ErrorBody(error=failed.error, message=failed.message, details=failed.details)


def turn_event(
    request: Request[Any, Any, State], seq: int, event: StreamEvent, turn: Turn | None = None
) -> ServerSentEventMessage:
    """One event of a turn's stream as this face's server-sent event, `id` its seq."""
    if isinstance(event, TurnFailed):
        name = "shutdown" if event.error == "shutdown" else "error"
        body = _encoder.encode(error_body(request, event, turn)).decode()
        return ServerSentEventMessage(event=name, data=body, id=seq)
    data = event.result if isinstance(event, TurnCompleted) else event
    return ServerSentEventMessage(event=event.name, data=_encoder.encode(data).decode(), id=seq)


@dataclass
class _ChatOperation(Operation):
    """The OpenAPI operation of /chat: its 200 answer is JSON, or an event stream."""

    def __post_init__(self) -> None:
        ok = (self.responses or {}).get("200")
        if isinstance(ok, OpenAPIResponse) and ok.content is not None:
            ok.description = "The stored reply (JSON), or with stream: true the turn's events"
            ok.content["text/event-stream"] = OpenAPIMediaType(
                schema=Schema(
                    type=OpenAPIType.STRING,
                    description="Server-sent events start, tool, delta, then done or error "
                    "(see the operation's description).",
                )
            )


class ChatController(Controller):
    path = "/chat"
    tags = ["chat"]
    dependencies = turn_dependencies()

    @post(
        "/",
        summary="Chat: store the user's message, ask the model, store and return its answer",
        operation_id="chat",
        description="Without conversation_id the turn starts a conversation (owned by user_id, "
        "which only the service may set to someone else: 403; a user's conversations are its "
        "own). The model sees the system prompt, then the history the database chooses for the "
        "token budget (token_budget, default CHAT_TOKEN_BUDGET): the latest summary of what is left "
        "out and the newest messages that fit, at most history_limit (only this one with "
        "include_history false); the answer's context lists the seqs sent and the summary used. A "
        "summary the database reports due is made after the reply, in the background. The reply "
        "is stored with "
        "its model, tokens, duration_ms, tool_calls and finish_reason in metadata. The provider "
        "failing answers 502 (504 on a timeout): the user message stays stored, and a retry with "
        "the same idempotency key (body or Idempotency-Key header) does not store it twice; after a "
        "completed turn the retry answers with the stored reply (replayed: true).\n\n" + _STREAM_DESCRIPTION,
        status_code=HTTP_200_OK,
        operation_class=_ChatOperation,
        dto=StrictBody[ChatIn],
        return_dto=None,
        responses={
            **error_responses(400, 403, 404, 413),
            502: ResponseSpec(
                data_container=ErrorBody,
                description="The model provider failed (unreachable, HTTP error, malformed answer)",
                generate_examples=False,
            ),
            504: ResponseSpec(
                data_container=ErrorBody,
                description="The model provider did not answer in time",
                generate_examples=False,
            ),
        },
    )
    async def chat(
        self,
        request: Request[Principal, Any, State],
        face: NamedDependency[TurnFace],
        data: JSONBody[ChatIn],
        idempotency_key_header: IdempotencyKeyHeader = None,
    ) -> Response[ChatResult]:
        engine, runner, streams = face.engine, face.runner, face.streams
        turn = await engine.begin(
            chat_request(data, idempotency_key(data.idempotency_key, idempotency_key_header))
        )
        if turn.begun.running and turn.id is not None:
            # A retry of a turn that still runs (here or elsewhere): follow it.
            view = await engine.store.get_turn(turn.id, after_event=0)
            entries = streams.read(view)
        else:
            entries = runner.run(engine, turn, stream=data.stream).log.read()
        if data.stream:
            # A Stream is a Response; the annotation documents the JSON answer.
            return ServerSentEvent(self._sse(request, turn, entries))  # type: ignore[return-value]
        last: StreamEvent | None = None
        async for _, event in entries:  # the client leaving cancels this read only
            last = event
        if isinstance(last, TurnFailed):
            if isinstance(last.exception, ProviderError):
                _turn_details(last.exception, turn)
            if isinstance(last.exception, Exception):
                raise last.exception
            raise ApiError(last.error, last.message, status_code=last.status, details=last.details)
        assert isinstance(last, TurnCompleted)
        return Response(last.result, status_code=HTTP_200_OK)

    @staticmethod
    async def _sse(
        request: Request[Principal, Any, State], turn: Turn, entries: AsyncIterator[tuple[int, StreamEvent]]
    ) -> AsyncIterator[ServerSentEventMessage]:
        """The turn's events as SSE messages, each with its seq as `id`. A client that
        disconnects ends this read only: the turn runs on in the runner."""
        async for seq, event in entries:
            yield turn_event(request, seq, event, turn)
