"""The turn engine: the one chat turn behind every face.

A face (the native /chat, OpenAI's /v1/responses, the AI SDK's /api/chat) parses its request
into a `TurnRequest`, begins the turn with `TurnEngine.begin` (one store call: where it goes, its
input stored, the history window) and encodes the engine's one event stream (`TurnEvent`:
TurnStarted, TurnDelta, ToolExecuted, TurnCompleted) in its own protocol. The engine owns the
rest: the prompt, the tools, the measured model call, the reply's metadata and checks, tool
rounds, storing the output (one more store call), compaction and titles.

Every turn runs to its end in the process's TurnRunner, whatever its client does, and its events
form a stream with a sequence number each, which any instance serves from any position
(TurnStreams, shared through Postgres): a face reads the stream rather than the engine.
"""

from app.turns.engine import TITLE_PROMPT, Turn, TurnControl, TurnEngine
from app.turns.events import (
    TERMINAL,
    ChatResult,
    SentContext,
    StreamEvent,
    ToolCallRecord,
    ToolExecuted,
    TurnCompleted,
    TurnDelta,
    TurnEvent,
    TurnFailed,
    TurnStarted,
    TurnStopped,
)
from app.turns.log import TurnLog
from app.turns.request import CallKey, TurnRequest
from app.turns.runner import RunningTurn, TurnRunner, failure_of
from app.turns.stored import result_of, turn_uuid
from app.turns.streams import TurnStreams

__all__ = [
    "TERMINAL",
    "TITLE_PROMPT",
    "CallKey",
    "ChatResult",
    "RunningTurn",
    "SentContext",
    "StreamEvent",
    "ToolCallRecord",
    "ToolExecuted",
    "Turn",
    "TurnCompleted",
    "TurnControl",
    "TurnDelta",
    "TurnEngine",
    "TurnEvent",
    "TurnFailed",
    "TurnLog",
    "TurnRequest",
    "TurnRunner",
    "TurnStarted",
    "TurnStopped",
    "TurnStreams",
    "failure_of",
    "result_of",
    "turn_uuid",
]
