"""The OpenAI-compatible face of the store: /v1/conversations and /v1/responses, for clients
written against the official openai SDKs (point `base_url` at `<api>/v1`; `api_key` is the
bearer token: the service key or a user's Supabase JWT, under the same RLS as everywhere).

One store underneath: a /v1 conversation is an ordinary row of ai_conversations (id `conv_...`),
its items are ordinary messages, so the native API, the SSE feed, export, stats and the
dashboard views see them, and every native message is an item here.

Items and messages (the one mapping, app.openai_api.items):

* message, role user / assistant / system -> a message of that role; content: the text parts
  joined by a newline; metadata.openai `{type: "message"}`, plus `parts` when there were several
  parts or a part type other than the role's default (input_text; output_text for assistant).
* message, role developer -> role system, with `role: "developer"` in metadata.openai.
* function_call -> role assistant; content: the arguments (a JSON string, `{}` when empty);
  metadata.openai `{type: "function_call", call_id, name}`.
* function_call_output -> role tool; content: the output (text parts joined; `(empty)` with
  `empty: true` for ""); metadata.openai `{type: "function_call_output", call_id}`, and
  `tool_call_id` as native tool results have.

Items written by /v1/responses also carry `response_id` and `source` (`input` or `output`) in
metadata.openai, and the response's envelope (model, usage, instructions, tools, metadata,
truncation...) sits in `response` on its last output item: a response is the messages that
carry its id (see public.get_response). The reply's native metadata (model, tokens,
duration_ms, finish_reason) is set on the output items as /chat sets it.

Item ids: an item the API stores is stored with its id as the message's idempotency key
(`msg_<hex>`, `fc_<hex>`, `fco_<hex>`, or the id the client gave: sending an item again is a
replay, not a duplicate); any other message's item id is that prefix and its uuid's hex digits.
A native message reads as: user/assistant/system -> a message item (input_text, or output_text
for the assistant); tool -> a function_call_output whose call_id is its `tool_call_id`.
"""

from __future__ import annotations

from litestar import Router
from litestar.types import ExceptionHandlersMap

from app.openai_api.conversations import ConversationsController
from app.openai_api.errors import create_openai_exception_handlers
from app.openai_api.responses import ResponsesController

__all__ = ["create_openai_router"]


def create_openai_router(native_handlers: ExceptionHandlersMap) -> Router:
    """The /v1 routes, answering errors in OpenAI's shape (statuses as the native handlers decide)."""
    return Router(
        "/v1",
        route_handlers=[ConversationsController, ResponsesController],
        exception_handlers=create_openai_exception_handlers(native_handlers),
    )
