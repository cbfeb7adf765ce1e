"""The turn engine: the one chat turn behind every face.

A face (the native /chat, OpenAI's /v1/responses, the AI SDK's /api/chat) parses its request
into a `TurnRequest`, begins the turn with `TurnEngine.begin` (one store call: where it goes, its
input stored, the history window) and encodes the engine's one event stream (`TurnEvent`:
TurnStarted, TurnDelta, ToolExecuted, TurnCompleted) in its own protocol. The engine owns the
rest: the prompt, the tools, the measured model call, the reply's metadata and checks, tool
rounds, storing the output (one more store call), compaction and titles.
"""

from app.turns.engine import TITLE_PROMPT, Turn, TurnEngine
from app.turns.events import (
    ChatResult,
    SentContext,
    ToolCallRecord,
    ToolExecuted,
    TurnCompleted,
    TurnDelta,
    TurnEvent,
    TurnStarted,
)
from app.turns.request import CallKey, TurnRequest

__all__ = [
    "TITLE_PROMPT",
    "CallKey",
    "ChatResult",
    "SentContext",
    "ToolCallRecord",
    "ToolExecuted",
    "Turn",
    "TurnCompleted",
    "TurnDelta",
    "TurnEngine",
    "TurnEvent",
    "TurnRequest",
    "TurnStarted",
]
