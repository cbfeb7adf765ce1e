"""POST /v1/responses/compact: a history as "its user messages, then one compaction item"
(app.openai_api.compaction says what the item carries and why).

The summary is made as the store's compaction makes one (app.llm.compaction: the same instruction
to the configured model). For `previous_response_id` it is also stored as the conversation's
summary of what came up to that response (get_summary_input, then append_summary): the store's
own windows then send it in place of what it covers.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any

from app.llm import ChatMessage, CompletionRequest, Provider, history_messages
from app.llm.compaction import summarize
from app.llm.provider import SUMMARY_INSTRUCTION
from app.openai_api.compaction import write_summary
from app.openai_api.errors import InvalidRequest
from app.openai_api.items import message_to_item, parse_items
from app.openai_api.schemas import CompactedResponseObject, CompactResponseIn
from app.openai_api.service import usage_object
from app.store import ConversationManager
from app.store.models import Compaction, Message, NewMessage

__all__ = ["compact"]


def _compaction_item(summary_id: str, text: str) -> dict[str, Any]:
    return {"id": summary_id, "type": "compaction", "encrypted_content": write_summary(text)}


def _in_memory(new: NewMessage) -> Message:
    return Message(
        id=uuid.uuid4(),
        conversation_id="",
        seq=0,
        role=new.role,
        content=new.content,
        metadata=new.metadata,
        created_at=datetime.now(UTC),
    )


async def compact(
    store: ConversationManager, provider: Provider, data: CompactResponseIn
) -> CompactedResponseObject:
    """The compacted window of `data` (see the module docstring). Raises InvalidRequest (400)
    without a history, NotFoundError for a previous response that is not the caller's, and the
    provider's errors."""
    if data.previous_response_id is not None and data.input is not None:
        raise InvalidRequest(
            "Mutually exclusive parameters: 'input' and 'previous_response_id'.", "previous_response_id"
        )
    if data.previous_response_id is not None:
        return await _stored(store, provider, data.previous_response_id)
    if data.input is None or data.input == []:
        raise InvalidRequest("Missing required parameter: 'input' (or 'previous_response_id').", "input")
    return await _given(provider, data.input)


async def _stored(store: ConversationManager, provider: Provider, previous: str) -> CompactedResponseObject:
    record = await store.get_response(previous)
    conversation_id, last = record.conversation.conversation_id, record.turn.last_seq
    source = await store.get_summary_input(conversation_id, 1, last)
    appended = await summarize(
        store, provider, conversation_id, Compaction(due=True, first_seq=1, last_seq=last)
    )
    summary = appended.message if appended is not None else source.summary
    if summary is None:
        raise InvalidRequest(f"Response '{previous}' has no history to compact.", "previous_response_id")
    users = [message_to_item(m) for m in source.messages if m.role == "user"]
    item = _compaction_item(f"cmp_{summary.id.hex}", summary.content)
    return CompactedResponseObject(
        id=f"resp_{uuid.uuid4().hex}",
        created_at=int(time.time()),
        output=[*users, item],
        usage=usage_object(0, summary.tokens),
    )


async def _given(provider: Provider, raw: Any) -> CompactedResponseObject:
    items = parse_items(raw, "input")
    messages = [ChatMessage(role="system", content=SUMMARY_INSTRUCTION)]
    messages.extend(history_messages([_in_memory(m) for m in items]))
    completion = await provider.complete(CompletionRequest(messages=messages))
    text = completion.content.strip()
    if not text:
        raise InvalidRequest("The model returned an empty summary.", "input")
    given = raw if isinstance(raw, list) else [{"type": "message", "role": "user", "content": raw}]
    users = [
        {"type": "message", "role": "user", "content": item["content"]}
        for item in given
        if isinstance(item, dict) and (item.get("role") == "user")
    ]
    item = _compaction_item(f"cmp_{uuid.uuid4().hex}", text)
    usage = usage_object(completion.usage.prompt_tokens, completion.usage.completion_tokens)
    return CompactedResponseObject(
        id=f"resp_{uuid.uuid4().hex}", created_at=int(time.time()), output=[*users, item], usage=usage
    )
