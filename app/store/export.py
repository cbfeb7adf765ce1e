"""A conversation's export as a stream of JSON chunks, read one keyset page at a time.

The document is the one export_conversation() builds and import_conversation() reads,
`{<conversation fields>, "messages": [...]}`, written as it is read: the conversation's fields,
then each page's messages, then the closing brackets. At most one page is held at a time
(export_conversation_page's limits: max_page_size messages, about 1 MB of content), whatever
the conversation's size. The pages are separate store calls: a message appended meanwhile may
appear at the end, none twice; if the conversation is deleted in between, the stream stops
with the store's error (the document is then incomplete, which a JSON reader notices).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from app.store.manager import ConversationManager
from app.store.models import ExportPage

__all__ = ["open_export"]


async def open_export(store: ConversationManager, conversation_id: str) -> AsyncIterator[bytes]:
    """Read the first page now, so that an unknown, expired or foreign conversation raises here
    (before an answer is started), and return the document's chunks."""
    first = await store.export_conversation_page(conversation_id)
    return _chunks(store, conversation_id, first)


async def _chunks(store: ConversationManager, conversation_id: str, page: ExportPage) -> AsyncIterator[bytes]:
    fields = bytes(page.conversation).rstrip()
    yield fields[:-1] + b', "messages": ['  # the fields object, left open
    separator = b""
    while True:
        messages = bytes(page.messages).strip()[1:-1].strip()  # the array's elements
        if messages:
            yield separator
            yield messages
            separator = b", "
        if page.next_after_seq is None:
            break
        page = await store.export_conversation_page(conversation_id, page.next_after_seq)
    yield b"]}"
