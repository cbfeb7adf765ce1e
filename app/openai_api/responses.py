"""/v1/responses: OpenAI's Responses API as a chat turn over our store (app.openai_api.service).

With `stream: true` the answer is `text/event-stream` with OpenAI's event sequence, each event
`{type, sequence_number, ...}` named by its type: response.created, response.in_progress, per
text output response.output_item.added, response.content_part.added,
response.output_text.delta..., response.output_text.done, response.content_part.done,
response.output_item.done; per function call response.output_item.added,
response.function_call_arguments.delta, response.function_call_arguments.done,
response.output_item.done; then response.completed (the stored response) or, when the model or
the store failed, response.failed (the response with status failed and its error). The input
is stored before the stream starts, so an unknown conversation is a real 404.
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

from app.errors import handle_exception
from app.llm.provider import Completion, MalformedResponse, TextDelta
from app.openai_api.conversations import item_list
from app.openai_api.errors import openai_errors, reshape_response
from app.openai_api.items import ITEM_KEY
from app.openai_api.schemas import CreateResponseIn, ItemList, ResponseDeletedObject, ResponseObject
from app.openai_api.service import Begun, ResponsesService, call_item_id
from app.services import Services
from app.store import ConversationManager, Principal

__all__ = ["ResponsesController", "provide_responses"]

_encoder = msgspec.json.Encoder()

ResponseIdPath = Annotated[str, PathParameter(max_length=255, description="The response id.")]
ItemsLimit = Annotated[int, QueryParameter(ge=1, le=100, description="1 to 100 items per page.")]
Order = Annotated[Literal["asc", "desc"], QueryParameter(description="Item order; desc by default.")]
After = Annotated[str | None, QueryParameter(max_length=255, description="Items after this item id.")]


def provide_responses(
    services: NamedDependency[Services], store: NamedDependency[ConversationManager]
) -> ResponsesService:
    """Responses as the request's principal, with the configured model and the process's
    summaries in the background."""
    running = services.running
    return ResponsesService(store, running.provider, services.settings.llm, running.compactor)


class _Events:
    """Numbers the events of one stream (sequence_number from 0)."""

    def __init__(self) -> None:
        self.sequence = 0

    def __call__(self, kind: str, **fields: Any) -> ServerSentEventMessage:
        payload = {"type": kind, "sequence_number": self.sequence, **fields}
        self.sequence += 1
        return ServerSentEventMessage(event=kind, data=_encoder.encode(payload).decode())


class ResponsesController(Controller):
    path = "/responses"
    tags = ["openai: responses"]
    dependencies = {"responses": Provide(provide_responses, sync_to_thread=False)}

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
        responses: NamedDependency[ResponsesService],
        data: JSONBody[CreateResponseIn],
    ) -> Response[ResponseObject]:
        begun = await responses.begin(data)
        if data.stream:
            stream = self._stream(request, responses, begun, data)
            return ServerSentEvent(stream)  # type: ignore[return-value]
        return Response(await responses.complete(begun, data), status_code=HTTP_200_OK)

    @get(
        "/{response_id:str}",
        summary="Retrieve a response (OpenAI)",
        description="A stored response, rebuilt from the messages it wrote.",
        operation_id="openai_get_response",
        responses=openai_errors(404),
    )
    async def get_response(
        self, responses: NamedDependency[ResponsesService], response_id: ResponseIdPath
    ) -> ResponseObject:
        return await responses.retrieve(response_id)

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
        record = await store.get_response(response_id)
        inputs = [m for m in record.messages if m.metadata.get(ITEM_KEY, {}).get("source") == "input"]
        if order == "desc":
            inputs.reverse()
        listed = item_list(inputs, False).data
        if after is not None:
            position = next((n for n, item in enumerate(listed) if item["id"] == after), None)
            inputs = inputs[position + 1 :] if position is not None else []
        return item_list(inputs[:limit], len(inputs) > limit)

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
        request: Request[Principal, Any, State],
        responses: ResponsesService,
        begun: Begun,
        data: CreateResponseIn,
    ) -> AsyncIterator[ServerSentEventMessage]:
        event = _Events()
        base = msgspec.to_builtins(
            ResponseObject(
                id=begun.response_id,
                status="in_progress",
                output=[],
                usage=None,
                conversation=None,
                **{k: v for k, v in begun.envelope.items()},
            )
        )
        if begun.conversation_id is not None:
            base["conversation"] = {"id": begun.conversation_id}
        yield event("response.created", response=base)
        yield event("response.in_progress", response=base)
        message = {"id": begun.message_id, "type": "message", "status": "in_progress", "role": "assistant"}
        at = {"item_id": begun.message_id, "output_index": 0, "content_index": 0}
        started = False
        try:
            completion: Completion | None = None
            async with aclosing(responses.stream(begun, data)) as events:  # type: ignore[type-var]
                async for piece in events:
                    if isinstance(piece, TextDelta):
                        if not piece.text:
                            continue
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
                    else:
                        completion = piece.completion
            if completion is None:
                raise MalformedResponse("model provider's stream ended without a final event")
            index = 0
            if started:
                part = {"type": "output_text", "text": completion.content, "annotations": []}
                yield event("response.output_text.done", **at, text=completion.content, logprobs=[])
                yield event("response.content_part.done", **at, part=part)
                yield event(
                    "response.output_item.done",
                    output_index=0,
                    item={**message, "status": "completed", "content": [part]},
                )
                index = 1
            for call in completion.tool_calls:
                arguments = _encoder.encode(call.arguments).decode()
                item = {
                    "id": call_item_id(begun, call.id),
                    "type": "function_call",
                    "status": "in_progress",
                    "call_id": call.id,
                    "name": call.name,
                    "arguments": "",
                }
                yield event("response.output_item.added", output_index=index, item=item)
                yield event(
                    "response.function_call_arguments.delta",
                    item_id=item["id"],
                    output_index=index,
                    delta=arguments,
                )
                yield event(
                    "response.function_call_arguments.done",
                    item_id=item["id"],
                    output_index=index,
                    name=call.name,
                    arguments=arguments,
                )
                yield event(
                    "response.output_item.done",
                    output_index=index,
                    item={**item, "status": "completed", "arguments": arguments},
                )
                index += 1
            response = await responses.finish(begun, completion)
            yield event("response.completed", response=msgspec.to_builtins(response))
        except Exception as exc:  # the status is sent: the failure is the last event
            answer = reshape_response(
                handle_exception(request.app.exception_handlers, request, exc)  # the native mapping
            )
            error = msgspec.to_builtins(answer.content.error)
            yield event("response.failed", response={**base, "status": "failed", "error": error})
