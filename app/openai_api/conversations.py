"""/v1/conversations and their items: OpenAI's Conversations API over our store (each handler
one or two store calls; the rules are the database's)."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from litestar import Controller, delete, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, PathParameter, QueryParameter
from litestar.status_codes import HTTP_200_OK

from app.openai_api.errors import openai_errors
from app.openai_api.items import message_to_item, parse_items
from app.openai_api.schemas import (
    ConversationDeleted,
    ConversationObject,
    CreateConversationIn,
    CreateItemsIn,
    ItemList,
    UpdateConversationIn,
)
from app.store import ConversationManager
from app.store.models import Conversation, Message

__all__ = ["ConversationsController", "conversation_object", "item_list"]

ConversationIdPath = Annotated[str, PathParameter(max_length=255, description="The conversation id.")]
ItemIdPath = Annotated[str, PathParameter(max_length=255, description="The item id.")]
ItemsLimit = Annotated[int, QueryParameter(ge=1, le=100, description="1 to 100 items per page.")]
Order = Annotated[Literal["asc", "desc"], QueryParameter(description="Item order (seq); desc by default.")]
After = Annotated[
    str | None, QueryParameter(max_length=255, description="List items after this item id (a cursor).")
]
Include = Annotated[
    list[str] | None, QueryParameter(description="Accepted and ignored (nothing to include).")
]


def conversation_object(conversation: Conversation) -> ConversationObject:
    return ConversationObject(
        id=conversation.conversation_id,
        created_at=int(conversation.created_at.timestamp()),
        metadata=conversation.metadata,
    )


def item_list(messages: list[Message], has_more: bool) -> ItemList:
    data = [message_to_item(m) for m in messages]
    return ItemList(
        data=data,
        first_id=data[0]["id"] if data else None,
        last_id=data[-1]["id"] if data else None,
        has_more=has_more,
    )


class ConversationsController(Controller):
    path = "/conversations"
    tags = ["openai: conversations"]

    @post(
        "/",
        summary="Create a conversation (OpenAI)",
        description="A conversation of our store (id conv_..., owned by the caller; the usual "
        "TTL), with up to 20 initial items and up to 16 metadata pairs.",
        operation_id="openai_create_conversation",
        responses=openai_errors(400, 413),
        status_code=HTTP_200_OK,
    )
    async def create_conversation(
        self, store: NamedDependency[ConversationManager], data: JSONBody[CreateConversationIn]
    ) -> ConversationObject:
        items = parse_items(data.items or [], "items")
        conversation = await store.create_conversation(
            conversation_id=f"conv_{uuid.uuid4().hex}", metadata=dict(data.metadata or {})
        )
        if items:
            await store.append_messages(conversation.conversation_id, items)
        return conversation_object(conversation)

    @get(
        "/{conversation_id:str}",
        summary="Retrieve a conversation (OpenAI)",
        description="Any live conversation the caller may read, however it was created.",
        operation_id="openai_get_conversation",
        responses=openai_errors(404),
    )
    async def get_conversation(
        self, store: NamedDependency[ConversationManager], conversation_id: ConversationIdPath
    ) -> ConversationObject:
        return conversation_object(await store.get_conversation(conversation_id, limit=0))

    @post(
        "/{conversation_id:str}",
        summary="Update a conversation's metadata (OpenAI)",
        description="Replaces the metadata.",
        operation_id="openai_update_conversation",
        responses=openai_errors(400, 404),
        status_code=HTTP_200_OK,
    )
    async def update_conversation(
        self,
        store: NamedDependency[ConversationManager],
        conversation_id: ConversationIdPath,
        data: JSONBody[UpdateConversationIn],
    ) -> ConversationObject:
        return conversation_object(await store.update_conversation(conversation_id, dict(data.metadata)))

    @delete(
        "/{conversation_id:str}",
        summary="Delete a conversation (OpenAI)",
        description="Deletes the conversation and its messages (OpenAI keeps the items; we do not).",
        operation_id="openai_delete_conversation",
        responses=openai_errors(404),
        status_code=HTTP_200_OK,
    )
    async def delete_conversation(
        self, store: NamedDependency[ConversationManager], conversation_id: ConversationIdPath
    ) -> ConversationDeleted:
        result = await store.delete_conversation(conversation_id)
        return ConversationDeleted(id=result.conversation_id)

    @post(
        "/{conversation_id:str}/items",
        summary="Create items (OpenAI)",
        description="Appends up to 20 items (messages with input_text/output_text parts, "
        "function_call, function_call_output) in one store call, all or none.",
        operation_id="openai_create_items",
        responses=openai_errors(400, 404, 413),
        status_code=HTTP_200_OK,
    )
    async def create_items(
        self,
        store: NamedDependency[ConversationManager],
        conversation_id: ConversationIdPath,
        data: JSONBody[CreateItemsIn],
        include: Include = None,
    ) -> ItemList:
        messages = await store.append_messages(conversation_id, parse_items(data.items, "items"))
        return item_list(messages, False)

    @get(
        "/{conversation_id:str}/items",
        summary="List items (OpenAI)",
        description="Every message of the conversation as an item (native ones included), in seq "
        "order; `after` is the last item id of the previous page.",
        operation_id="openai_list_items",
        responses=openai_errors(400, 404),
    )
    async def list_items(
        self,
        store: NamedDependency[ConversationManager],
        conversation_id: ConversationIdPath,
        limit: ItemsLimit = 20,
        order: Order = "desc",
        after: After = None,
        include: Include = None,
    ) -> ItemList:
        page = await store.list_messages(conversation_id, limit=limit, order=order, after=after)
        return item_list(page.messages, page.has_more)

    @get(
        "/{conversation_id:str}/items/{item_id:str}",
        summary="Retrieve an item (OpenAI)",
        operation_id="openai_get_item",
        responses=openai_errors(404),
    )
    async def get_item(
        self,
        store: NamedDependency[ConversationManager],
        conversation_id: ConversationIdPath,
        item_id: ItemIdPath,
        include: Include = None,
    ) -> dict[str, object]:
        return message_to_item(await store.get_message(conversation_id, item_id))

    @delete(
        "/{conversation_id:str}/items/{item_id:str}",
        summary="Delete an item (OpenAI)",
        description="Deletes the message (its seq is never reused); answers the conversation.",
        operation_id="openai_delete_item",
        responses=openai_errors(404),
        status_code=HTTP_200_OK,
    )
    async def delete_item(
        self,
        store: NamedDependency[ConversationManager],
        conversation_id: ConversationIdPath,
        item_id: ItemIdPath,
    ) -> ConversationObject:
        return conversation_object(await store.delete_message(conversation_id, item_id))
