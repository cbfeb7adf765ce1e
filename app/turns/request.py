"""TurnRequest: what a face asks of a turn, once its parser has read the request.

A face (native /chat, OpenAI's /v1/responses, the AI SDK's /api/chat) turns its wire format into
one of these and hands it to the engine; everything after that is the engine's. The fields say
what differs between faces, and nothing else: where the turn goes, its input, how the history
window is chosen, which tools the model is offered and who runs them, and how the face wants its
output messages keyed and tagged so it can render them again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from uuid import UUID

from app.llm.provider import ToolCall, ToolSpec
from app.store.models import NewMessage, TurnKind

__all__ = ["CallKey", "TurnRequest"]

CallKey = Callable[[ToolCall], str]
"""The idempotency key (the face's item id) of a client tool call's message."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TurnRequest:
    """A turn as a face asks for it.

    Where: `conversation_id` (created when missing with `create_if_missing`), or the
    conversation of `previous_response_id` (forked there when that response is not the
    latest), or a new conversation owned by `user_id` with `conversation_metadata`.

    What: `input`, the messages it stores first (the last is the turn's own message, which takes
    `idempotency_key` when it has none: a retry with the key is the same turn).

    The window: `history_limit` messages at most (default CHAT_HISTORY_LIMIT, capped at
    CHAT_HISTORY_MAX) and `token_budget` tokens (None: CHAT_TOKEN_BUDGET; 0: no budget, the
    last messages); `include_history` false sends the turn's own message only. `truncate`
    false refuses (nothing stored) a history that does not fit whole. `store` false stores
    nothing at all. A response always has a budget (see TurnEngine.window).

    The model: `instructions` replace the configured system prompt; `server_tools` offers the
    API's own tools (run here, results stored, the model called again); `client_tools` are
    offered too, and a call of one ends the turn as an output for the client to run;
    `tool_choice` "none" asks for text; `max_output_tokens` caps the answer.

    `turn_id` is the turn's id when the face chooses it (to name its output after it); the
    database's otherwise. `regenerate` answers the turn's own message (stored already) again:
    what came after it is replaced, and kept on the turn (`superseded_id`, when given, must be one
    of those messages).

    The output: `reply_key` keys the reply (so a stream can name it before it is stored),
    `call_key` each client tool call; `output_metadata` joins every output message's metadata
    (what the face needs to render it again); `envelope` is kept on the turn.
    """

    kind: TurnKind
    input: Sequence[NewMessage]
    turn_id: UUID | None = None
    conversation_id: str | None = None
    previous_response_id: str | None = None
    create_if_missing: bool = False
    user_id: UUID | None = None
    conversation_metadata: dict[str, Any] | None = None
    idempotency_key: str | None = None
    history_limit: int | None = None
    token_budget: int | None = None
    include_history: bool = True
    truncate: bool = True
    store: bool = True
    instructions: str | None = None
    server_tools: bool = True
    client_tools: Sequence[ToolSpec] = ()
    tool_choice: Literal["auto", "none"] | None = None
    max_output_tokens: int | None = None
    regenerate: bool = False
    superseded_id: str | None = None
    reply_key: str | None = None
    call_key: CallKey | None = None
    output_metadata: dict[str, Any] = field(default_factory=dict)
    envelope: dict[str, Any] = field(default_factory=dict)
