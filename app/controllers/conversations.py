"""Conversations: create, list, read, change, fork, extend, clear, delete, export. One store call each."""

from __future__ import annotations

from litestar import Controller, MediaType, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from litestar.params import JSONBody
from litestar.response import Stream
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT

from app.controllers.params import (
    ArchivedQuery,
    BeforeSeq,
    ConversationIdPath,
    ConversationsLimit,
    Cursor,
    MessagesLimit,
    MetadataQuery,
    PinnedQuery,
    TagQuery,
    UserIdQuery,
    json_object_query,
)
from app.dto import StrictBody
from app.errors import error_responses
from app.schemas import (
    ClearResult,
    Conversation,
    ConversationExport,
    ConversationList,
    ConversationPage,
    CreateConversationIn,
    ExtendIn,
    ExtendResult,
    ForkIn,
    UpdateConversationIn,
)
from app.store import ConversationManager
from app.store.export import open_export

__all__ = ["ConversationController"]


class ConversationController(Controller):
    path = "/conversations"
    tags = ["conversations"]

    @post(
        "/",
        summary="Create a conversation",
        operation_id="create_conversation",
        description="Every field is optional. A user token creates conversations it owns; naming "
        "another user_id is 403. Only the service chooses conversation_id (409 if a live "
        "conversation has it); a user's is generated, and a user naming one gets 409 for its own "
        "live conversation, 403 for any other id, taken or free.",
        status_code=HTTP_201_CREATED,
        dto=StrictBody[CreateConversationIn],
        return_dto=None,
        responses=error_responses(400, 403, 409, 413),
    )
    async def create_conversation(
        self, store: NamedDependency[ConversationManager], data: JSONBody[CreateConversationIn | None] = None
    ) -> Conversation:
        if data is None:
            return await store.create_conversation()
        return await store.create_conversation(
            data.user_id,
            conversation_id=data.conversation_id,
            metadata=data.metadata,
            ttl_hours=data.ttl_hours,
        )

    @get(
        "/",
        summary="List conversations, pinned first, then most recently updated",
        operation_id="list_conversations",
        description="A user sees its own; only the service may name a user_id other than its own "
        "(403). Archived conversations are hidden unless archived=true; pinned, tag (repeatable, "
        "all must match) and metadata (JSON containment) filter further. Each carries its title "
        "and last_message (role, first 200 characters, created_at). Pass next_cursor as cursor "
        "for the next page.",
        responses=error_responses(403),
    )
    async def list_conversations(
        self,
        store: NamedDependency[ConversationManager],
        user_id: UserIdQuery = None,
        limit: ConversationsLimit = 10,
        cursor: Cursor = None,
        archived: ArchivedQuery = False,
        pinned: PinnedQuery = None,
        tag: TagQuery = None,
        metadata: MetadataQuery = None,
    ) -> ConversationList:
        return await store.get_user_conversations(
            user_id,
            limit,
            cursor,
            archived=archived,
            pinned=pinned,
            tags=tag,
            metadata=json_object_query("metadata", metadata),
        )

    @patch(
        "/{conversation_id:str}",
        summary="Change a conversation's title, metadata, archived, pinned, tags or legal hold",
        operation_id="update_conversation",
        description="Only the fields sent change. metadata replaces the object; metadata_patch "
        "merges into it (its top-level keys replace the stored ones, a null value removes the "
        "key). title null clears it (the next user message sets it again). legal_hold is the "
        "service's only (403 for users); a held conversation never expires and cannot be deleted.",
        dto=StrictBody[UpdateConversationIn],
        return_dto=None,
        responses=error_responses(400, 403, 404, 413),
    )
    async def update_conversation(
        self,
        store: NamedDependency[ConversationManager],
        conversation_id: ConversationIdPath,
        data: JSONBody[UpdateConversationIn],
    ) -> Conversation:
        return await store.update_conversation(conversation_id, data.changes())

    @post(
        "/{conversation_id:str}/fork",
        summary="Fork a conversation at a message (edit and regenerate)",
        operation_id="fork_conversation",
        description="Creates a conversation of the same owner holding copies of messages "
        "1..at_seq, each keeping its seq; its metadata records forked_from {conversation_id, seq} "
        "and its next message is at_seq + 1. To edit message k, fork at k - 1 and POST /chat the "
        "new text to the fork.",
        status_code=HTTP_201_CREATED,
        dto=StrictBody[ForkIn],
        return_dto=None,
        responses=error_responses(400, 404, 409, 413),
    )
    async def fork_conversation(
        self,
        store: NamedDependency[ConversationManager],
        conversation_id: ConversationIdPath,
        data: JSONBody[ForkIn],
    ) -> Conversation:
        return await store.fork_conversation(
            conversation_id, data.at_seq, new_conversation_id=data.conversation_id, title=data.title
        )

    @get(
        "/{conversation_id:str}",
        summary="A conversation with its newest messages",
        operation_id="get_conversation",
        description="Messages oldest to newest, each with the caller's own feedback (null when it "
        "has not rated it); next_cursor (a seq) passed as before gives the page before.",
        responses=error_responses(404),
    )
    async def get_conversation(
        self,
        store: NamedDependency[ConversationManager],
        conversation_id: ConversationIdPath,
        limit: MessagesLimit = 50,
        before: BeforeSeq = None,
    ) -> ConversationPage:
        return await store.get_conversation(conversation_id, limit, before)

    @post(
        "/{conversation_id:str}/extend",
        summary="Extend a conversation's lifetime",
        operation_id="extend_conversation",
        description="Moves expires_at `hours` later (default 24; 1 to max_ttl_hours), never past "
        "max_ttl_hours from now; answers the new expiry.",
        status_code=HTTP_200_OK,
        dto=StrictBody[ExtendIn],
        return_dto=None,
        responses=error_responses(400, 404, 413),
    )
    async def extend_conversation(
        self,
        store: NamedDependency[ConversationManager],
        conversation_id: ConversationIdPath,
        data: JSONBody[ExtendIn | None] = None,
    ) -> ExtendResult:
        return await store.extend_ttl(conversation_id, data.hours if data is not None else 24)

    @post(
        "/{conversation_id:str}/clear",
        summary="Delete every message, keep the conversation",
        operation_id="clear_conversation",
        description="Deletes every message and keeps the conversation (its id, owner, metadata and "
        "expiry); a deleted seq is never handed out again. Answers how many messages went. 403 "
        "while the conversation is under legal hold.",
        status_code=HTTP_200_OK,
        responses=error_responses(403, 404),
    )
    async def clear_conversation(
        self, store: NamedDependency[ConversationManager], conversation_id: ConversationIdPath
    ) -> ClearResult:
        return await store.clear_conversation(conversation_id)

    @delete(
        "/{conversation_id:str}",
        summary="Delete a conversation and its messages",
        operation_id="delete_conversation",
        description="Deletes the conversation and its messages. 403 while it is under legal hold.",
        status_code=HTTP_204_NO_CONTENT,
        responses=error_responses(403, 404),
    )
    async def delete_conversation(
        self, store: NamedDependency[ConversationManager], conversation_id: ConversationIdPath
    ) -> None:
        await store.delete_conversation(conversation_id)

    @get(
        "/{conversation_id:str}/export",
        summary="Export a conversation with all its messages",
        operation_id="export_conversation",
        description="The document POST /conversations/import restores, streamed as it is read from "
        "the database one page of messages at a time (the API holds at most a page, whatever the "
        "conversation's size).",
        media_type=MediaType.JSON,
        responses={
            200: ResponseSpec(ConversationExport, description="The export document", generate_examples=False),
            **error_responses(404),
        },
    )
    async def export_conversation(
        self, store: NamedDependency[ConversationManager], conversation_id: ConversationIdPath
    ) -> Stream:
        return Stream(await open_export(store, conversation_id), media_type=MediaType.JSON)
