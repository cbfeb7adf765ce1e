"""/v1/responses: OpenAI's Responses API as a face of the turn engine (parser and renderer:
app.openai_api.service; this module: the routes and the event stream's encoder).

With `stream: true` the answer is `text/event-stream` with OpenAI's event sequence, each event
`{type, sequence_number, ...}` named by its type: response.created, response.in_progress, per
text output response.output_item.added, response.content_part.added,
response.output_text.delta..., response.output_text.done, response.content_part.done,
response.output_item.done; per function call response.output_item.added,
response.function_call_arguments.delta, response.function_call_arguments.done,
response.output_item.done; then response.completed (the stored response) or, when the model or
the store failed, response.failed (the response with status failed and its error). The turn is
begun (its input stored) before the stream starts, so an unknown conversation is a real 404.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, Response, delete, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import JSONBody, PathParameter, QueryParameter
from litestar.response import ServerSentEvent, ServerSentEventMessage
from litestar.status_codes import HTTP_200_OK

from app.config import Settings
from app.dependencies import TurnFace, turn_dependencies
from app.errors import handle_exception
from app.openai_api.compacting import compact
from app.openai_api.conversations import item_list
from app.openai_api.errors import openai_errors, reshape_response
from app.openai_api.schemas import (
    CompactedResponseObject,
    CompactResponseIn,
    CreateResponseIn,
    ItemList,
    ResponseDeletedObject,
    ResponseObject,
)
from app.openai_api.service import begin_error, render, response_id, response_request
from app.store import ConversationManager, Principal, StoreError
from app.store.models import ResponseRecord
from app.turns import (
    StreamEvent,
    Turn,
    TurnCompleted,
    TurnDelta,
    TurnEngine,
    TurnFailed,
    TurnRunner,
    TurnStarted,
    TurnStopped,
    TurnStreams,
)

__all__ = ["ResponsesController"]

_encoder = msgspec.json.Encoder()

ResponseIdPath = Annotated[str, PathParameter(max_length=255, description="The response id.")]
ItemsLimit = Annotated[int, QueryParameter(ge=1, le=100, description="1 to 100 items per page.")]
Order = Annotated[Literal["asc", "desc"], QueryParameter(description="Item order; desc by default.")]
After = Annotated[str | None, QueryParameter(max_length=255, description="Items after this item id.")]
StreamQuery = Annotated[bool, QueryParameter(description="Answer the response's event stream instead.")]
StartingAfter = Annotated[
    int | None,
    QueryParameter(ge=0, description="With stream=true: the events after this sequence_number."),
]


def _id(turn: Turn) -> str:
    """The response's id: its turn's (chosen by the parser, so even one that stores nothing has it)."""
    assert turn.request.turn_id is not None
    return response_id(turn.request.turn_id)


def _completed(
    envelope: dict[str, Any], id: str, conversation_id: str | None, done: TurnCompleted
) -> ResponseObject:
    record = done.turn
    return render(
        envelope,
        id=id,
        state=record.state if record is not None else "completed",
        conversation_id=conversation_id,
        output=done.outputs,
        record=record,
        result=None
        if record is not None
        else {
            "model": done.result.model,
            "tokens": {
                "prompt": done.result.usage.prompt_tokens,
                "completion": done.result.usage.completion_tokens,
            },
        },
    )


def _failure(request: Request[Principal, Any, State], event: TurnFailed) -> dict[str, Any]:
    """A failure's error object as OpenAI words it: as the native handlers map its exception,
    where it was raised here; else what the stored turn says."""
    if isinstance(event.exception, Exception):
        answer = reshape_response(handle_exception(request.app.exception_handlers, request, event.exception))
        return dict(msgspec.to_builtins(answer.content.error))
    return {"code": event.error, "message": event.message}


class OpenAIStream:
    """Encodes a turn's stream as OpenAI's events, numbered from 0 (sequence_number).

    The encoding is a function of the turn's events alone (and its envelope), so every encoding of
    one turn's stream, on any instance, numbers its events alike: a resume with `starting_after=N`
    encodes the stream from its start and sends what comes after N."""

    def __init__(self, envelope: dict[str, Any], id: str, conversation_id: str | None) -> None:
        self.envelope = envelope
        self.id = id
        self.conversation_id = conversation_id
        self.sequence = 0
        self.started = False
        self.message_id = str(envelope.get("output_message_id") or f"msg_{id.removeprefix('resp_')}")
        self.base = msgspec.to_builtins(
            render(
                envelope, id=id, state="in_progress", conversation_id=conversation_id, output=[], result={}
            )
        )

    def _event(self, kind: str, **fields: Any) -> dict[str, Any]:
        payload = {"type": kind, "sequence_number": self.sequence, **fields}
        self.sequence += 1
        return payload

    def encode(self, event: StreamEvent, error: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """The OpenAI events of one event of the turn (`error`: a failure's error object)."""
        at = {"item_id": self.message_id, "output_index": 0, "content_index": 0}
        if isinstance(event, TurnStarted):
            return [
                self._event("response.created", response=self.base),
                self._event("response.in_progress", response=self.base),
            ]
        if isinstance(event, TurnDelta):
            out = []
            if not self.started:
                self.started = True
                message = {
                    "id": self.message_id,
                    "type": "message",
                    "status": "in_progress",
                    "role": "assistant",
                }
                out.append(
                    self._event("response.output_item.added", output_index=0, item={**message, "content": []})
                )
                out.append(
                    self._event(
                        "response.content_part.added",
                        **at,
                        part={"type": "output_text", "text": "", "annotations": []},
                    )
                )
            out.append(self._event("response.output_text.delta", **at, delta=event.text, logprobs=[]))
            return out
        if isinstance(event, TurnCompleted):
            return self._done(event, at)
        if isinstance(event, TurnFailed):
            failure = error or {"code": event.error, "message": event.message}
            return [
                self._event("response.failed", response={**self.base, "status": "failed", "error": failure})
            ]
        return []  # a tool the API ran: /v1 offers the client's tools only

    def _done(self, event: TurnCompleted, at: dict[str, Any]) -> list[dict[str, Any]]:
        response = _completed(self.envelope, self.id, self.conversation_id, event)
        out = []
        for index, item in enumerate(response.output):
            if item["type"] == "message" and self.started:
                text = item["content"][0]["text"]
                part = {"type": "output_text", "text": text, "annotations": []}
                out.append(self._event("response.output_text.done", **at, text=text, logprobs=[]))
                out.append(self._event("response.content_part.done", **at, part=part))
                out.append(self._event("response.output_item.done", output_index=index, item=item))
            elif item["type"] == "function_call":
                added = {**item, "status": "in_progress", "arguments": ""}
                out.append(self._event("response.output_item.added", output_index=index, item=added))
                out.append(
                    self._event(
                        "response.function_call_arguments.delta",
                        item_id=item["id"],
                        output_index=index,
                        delta=item["arguments"],
                    )
                )
                out.append(
                    self._event(
                        "response.function_call_arguments.done",
                        item_id=item["id"],
                        output_index=index,
                        name=item["name"],
                        arguments=item["arguments"],
                    )
                )
                out.append(self._event("response.output_item.done", output_index=index, item=item))
        # A cancelled response ends as incomplete with its status `cancelled`: OpenAI's streaming
        # events have no cancelled event of their own.
        kind = "response.incomplete" if isinstance(event, TurnStopped) else "response.completed"
        out.append(self._event(kind, response=msgspec.to_builtins(response)))
        return out


async def _sse(
    request: Request[Principal, Any, State],
    stream: OpenAIStream,
    entries: AsyncIterator[tuple[int, StreamEvent]],
    starting_after: int | None = None,
) -> AsyncIterator[ServerSentEventMessage]:
    """The turn's events as OpenAI's, after `starting_after` (a sequence_number)."""
    async for _, event in entries:
        error = _failure(request, event) if isinstance(event, TurnFailed) else None
        for payload in stream.encode(event, error):
            if starting_after is None or payload["sequence_number"] > starting_after:
                yield ServerSentEventMessage(event=payload["type"], data=_encoder.encode(payload).decode())


class ResponsesController(Controller):
    path = "/responses"
    tags = ["openai: responses"]
    dependencies = turn_dependencies()

    @post(
        "/",
        summary="Create a response (OpenAI)",
        description="Stores the input in the conversation (`conversation`, the one of "
        "`previous_response_id` (a fork of it when that response is not the latest), or a new one), "
        "runs the configured model on the history window (`truncation`: `disabled` by default, 400 "
        "`context_length_exceeded` when the history does not fit; `auto` the newest that fit) "
        "with the request's function tools, stores the output items and answers the response. "
        "`stream: true` answers OpenAI's event stream (see the module docstring).",
        operation_id="openai_create_response",
        responses=openai_errors(400, 404, 409, 413, 502, 504),
        status_code=HTTP_200_OK,
    )
    async def create_response(
        self,
        request: Request[Principal, Any, State],
        face: NamedDependency[TurnFace],
        data: JSONBody[CreateResponseIn],
    ) -> Response[ResponseObject]:
        engine, runner = face.engine, face.runner
        try:
            turn = await engine.begin(response_request(data, engine.provider.model))
        except StoreError as exc:
            raise begin_error(exc, data) from exc
        id, conversation_id = _id(turn), turn.conversation_id or None
        # Streamed or in the background, its events are written so any instance can serve them.
        running = runner.run(engine, turn, stream=data.stream or data.background)
        if data.stream:
            stream = OpenAIStream(turn.request.envelope, id, conversation_id)
            return ServerSentEvent(_sse(request, stream, running.log.read()))  # type: ignore[return-value]
        if data.background:
            pending = render(
                turn.request.envelope,
                id=id,
                state="in_progress",
                conversation_id=conversation_id,
                output=[],
                result={},
            )
            return Response(pending, status_code=HTTP_200_OK)
        last: StreamEvent | None = None
        async for _, event in running.log.read():  # the client leaving cancels this read only
            last = event
        if isinstance(last, TurnFailed):
            if isinstance(last.exception, Exception):
                raise last.exception
            raise StoreError(last.message)
        assert isinstance(last, TurnCompleted)
        return Response(_completed(turn.request.envelope, id, conversation_id, last), status_code=HTTP_200_OK)

    @get(
        "/{response_id:str}",
        summary="Retrieve a response (OpenAI)",
        description="A response: its turn's envelope and state (`in_progress` while it runs, then "
        "`completed`, `cancelled` or `failed`), and the output items it stored. With `stream=true`, its "
        "event stream instead, from the start or after `starting_after` (a sequence_number), live while "
        "it runs, on any instance: every response here can be streamed again, background or not.",
        operation_id="openai_get_response",
        responses=openai_errors(404),
    )
    async def get_response(
        self,
        request: Request[Principal, Any, State],
        store: NamedDependency[ConversationManager],
        streams: NamedDependency[TurnStreams],
        response_id: ResponseIdPath,
        stream: StreamQuery = False,
        starting_after: StartingAfter = None,
    ) -> Response[ResponseObject]:
        record = await store.get_response(response_id)
        if stream:
            view = await store.get_turn(record.turn.id, after_event=0)
            encoder = OpenAIStream(record.turn.request, response_id, record.conversation.conversation_id)
            entries = streams.read(view)
            return ServerSentEvent(_sse(request, encoder, entries, starting_after))  # type: ignore[return-value]
        return Response(_rendered(record, response_id))

    @post(
        "/{response_id:str}/cancel",
        summary="Cancel a response (OpenAI)",
        description="Stops the response wherever it runs: what was generated is stored, its status "
        "becomes `cancelled` and every stream of it ends. Waits up to TURN_STOP_WAIT_SECONDS for that, "
        "then answers the response. Idempotent: a finished response is answered as it is. Any running "
        "response can be cancelled here, not only background ones (every response runs to its end "
        "whatever its client does).",
        operation_id="openai_cancel_response",
        responses=openai_errors(404),
        status_code=HTTP_200_OK,
    )
    async def cancel_response(
        self,
        store: NamedDependency[ConversationManager],
        runner: NamedDependency[TurnRunner],
        settings: NamedDependency[Settings],
        response_id: ResponseIdPath,
    ) -> ResponseObject:
        await store.get_response(response_id)  # 404 in OpenAI's words for what is not a response
        await runner.stop(store, response_id, settings.turns.stop_wait_seconds)
        return _rendered(await store.get_response(response_id), response_id)

    @post(
        "/compact",
        summary="Compact a history (OpenAI)",
        description="The history of `previous_response_id` (its conversation up to that response) or the "
        "`input` items, summarised by the configured model as the store's compaction summarises: the "
        "user messages, then one `compaction` item carrying the summary. With `previous_response_id` "
        "the summary is stored as the conversation's summary (later turns send it in place of what it "
        "covers). Sent back as input, a compaction item is read as that summary.",
        operation_id="openai_compact_response",
        responses=openai_errors(400, 404, 502, 504),
        status_code=HTTP_200_OK,
    )
    async def compact_response(
        self,
        store: NamedDependency[ConversationManager],
        engine: NamedDependency[TurnEngine],
        data: JSONBody[CompactResponseIn],
    ) -> CompactedResponseObject:
        return await compact(store, engine.provider, data)

    @get(
        "/{response_id:str}/input_items",
        summary="List a response's input items (OpenAI)",
        operation_id="openai_list_input_items",
        responses=openai_errors(400, 404),
    )
    async def list_input_items(
        self,
        store: NamedDependency[ConversationManager],
        response_id: ResponseIdPath,
        limit: ItemsLimit = 20,
        order: Order = "desc",
        after: After = None,
    ) -> ItemList:
        page = await store.list_response_items(response_id, limit, order, after)
        return item_list(page.messages, page.has_more)

    @delete(
        "/{response_id:str}",
        summary="Delete a response (OpenAI)",
        description="Deletes the messages the response stored (its input and output items).",
        operation_id="openai_delete_response",
        responses=openai_errors(404),
        status_code=HTTP_200_OK,
    )
    async def delete_response(
        self, store: NamedDependency[ConversationManager], response_id: ResponseIdPath
    ) -> ResponseDeletedObject:
        await store.delete_response(response_id)
        return ResponseDeletedObject(id=response_id)


def _rendered(record: ResponseRecord, response_id: str) -> ResponseObject:
    return render(
        record.turn.request,
        id=response_id,
        state=record.turn.state,
        conversation_id=record.conversation.conversation_id,
        output=record.output,
        record=record.turn,
    )
