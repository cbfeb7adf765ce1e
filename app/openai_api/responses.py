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
from contextlib import aclosing
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, Response, delete, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import JSONBody, PathParameter, QueryParameter
from litestar.response import ServerSentEvent, ServerSentEventMessage
from litestar.status_codes import HTTP_200_OK

from app.dependencies import provide_engine
from app.errors import handle_exception
from app.openai_api.conversations import item_list
from app.openai_api.errors import openai_errors, reshape_response
from app.openai_api.schemas import CreateResponseIn, ItemList, ResponseDeletedObject, ResponseObject
from app.openai_api.service import begin_error, render, response_id, response_request
from app.store import ConversationManager, Principal, StoreError
from app.turns import Turn, TurnCompleted, TurnDelta, TurnEngine

__all__ = ["ResponsesController"]

_encoder = msgspec.json.Encoder()

ResponseIdPath = Annotated[str, PathParameter(max_length=255, description="The response id.")]
ItemsLimit = Annotated[int, QueryParameter(ge=1, le=100, description="1 to 100 items per page.")]
Order = Annotated[Literal["asc", "desc"], QueryParameter(description="Item order; desc by default.")]
After = Annotated[str | None, QueryParameter(max_length=255, description="Items after this item id.")]


class _Events:
    """Numbers the events of one stream (sequence_number from 0)."""

    def __init__(self) -> None:
        self.sequence = 0

    def __call__(self, kind: str, **fields: Any) -> ServerSentEventMessage:
        payload = {"type": kind, "sequence_number": self.sequence, **fields}
        self.sequence += 1
        return ServerSentEventMessage(event=kind, data=_encoder.encode(payload).decode())


def _id(turn: Turn) -> str:
    """The response's id: its turn's (chosen by the parser, so even one that stores nothing has it)."""
    assert turn.request.turn_id is not None
    return response_id(turn.request.turn_id)


def _completed(turn: Turn, done: TurnCompleted, id: str) -> ResponseObject:
    record = done.turn
    return render(
        turn.request.envelope,
        id=id,
        state=record.state if record is not None else "completed",
        conversation_id=turn.conversation_id or None,
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


class ResponsesController(Controller):
    path = "/responses"
    tags = ["openai: responses"]
    dependencies = {"engine": Provide(provide_engine, sync_to_thread=False)}

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
        engine: NamedDependency[TurnEngine],
        data: JSONBody[CreateResponseIn],
    ) -> Response[ResponseObject]:
        try:
            turn = await engine.begin(response_request(data, engine.provider.model))
        except StoreError as exc:
            raise begin_error(exc, data) from exc
        if data.stream:
            return ServerSentEvent(self._stream(request, engine, turn))  # type: ignore[return-value]
        done = await engine.complete(turn)
        return Response(_completed(turn, done, _id(turn)), status_code=HTTP_200_OK)

    @get(
        "/{response_id:str}",
        summary="Retrieve a response (OpenAI)",
        description="A stored response: its turn's envelope and state, and the output items it stored.",
        operation_id="openai_get_response",
        responses=openai_errors(404),
    )
    async def get_response(
        self, store: NamedDependency[ConversationManager], response_id: ResponseIdPath
    ) -> ResponseObject:
        record = await store.get_response(response_id)
        return render(
            record.turn.request,
            id=response_id,
            state=record.turn.state,
            conversation_id=record.conversation.conversation_id,
            output=record.output,
            record=record.turn,
        )

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

    @staticmethod
    async def _stream(
        request: Request[Principal, Any, State], engine: TurnEngine, turn: Turn
    ) -> AsyncIterator[ServerSentEventMessage]:
        """The engine's events as OpenAI's; a failure becomes the last, response.failed."""
        event = _Events()
        id = _id(turn)
        base = msgspec.to_builtins(
            render(
                turn.request.envelope,
                id=id,
                state="in_progress",
                conversation_id=turn.conversation_id or None,
                output=[],
                result={},
            )
        )
        yield event("response.created", response=base)
        yield event("response.in_progress", response=base)
        message_id = turn.request.reply_key
        message = {"id": message_id, "type": "message", "status": "in_progress", "role": "assistant"}
        at = {"item_id": message_id, "output_index": 0, "content_index": 0}
        started = False
        try:
            async with aclosing(engine.events(turn)) as events:  # type: ignore[type-var]
                async for piece in events:
                    if isinstance(piece, TurnDelta):
                        if not started:
                            started = True
                            yield event(
                                "response.output_item.added", output_index=0, item={**message, "content": []}
                            )
                            yield event(
                                "response.content_part.added",
                                **at,
                                part={"type": "output_text", "text": "", "annotations": []},
                            )
                        yield event("response.output_text.delta", **at, delta=piece.text, logprobs=[])
                    elif isinstance(piece, TurnCompleted):
                        response = _completed(turn, piece, id)
                        for index, item in enumerate(response.output):
                            if item["type"] == "message" and started:
                                text = item["content"][0]["text"]
                                part = {"type": "output_text", "text": text, "annotations": []}
                                yield event("response.output_text.done", **at, text=text, logprobs=[])
                                yield event("response.content_part.done", **at, part=part)
                                yield event("response.output_item.done", output_index=index, item=item)
                            elif item["type"] == "function_call":
                                added = {**item, "status": "in_progress", "arguments": ""}
                                yield event("response.output_item.added", output_index=index, item=added)
                                yield event(
                                    "response.function_call_arguments.delta",
                                    item_id=item["id"],
                                    output_index=index,
                                    delta=item["arguments"],
                                )
                                yield event(
                                    "response.function_call_arguments.done",
                                    item_id=item["id"],
                                    output_index=index,
                                    name=item["name"],
                                    arguments=item["arguments"],
                                )
                                yield event("response.output_item.done", output_index=index, item=item)
                        yield event("response.completed", response=msgspec.to_builtins(response))
        except Exception as exc:  # the status is sent: the failure is the last event
            answer = reshape_response(
                handle_exception(request.app.exception_handlers, request, exc)  # the native mapping
            )
            error = msgspec.to_builtins(answer.content.error)
            yield event("response.failed", response={**base, "status": "failed", "error": error})
