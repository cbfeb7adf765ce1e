"""The model side of /chat: providers (OpenAI-compatible, offline), tools, and the turn loop.

The /chat controller needs: `create_provider`, `create_tools` (from app.config.LLMSettings),
`begin_turn` + `complete_turn` / `stream_events` (or `run_turn` / `stream_turn`) (chat), and
`ProviderError` (its `status_code` and `code` give the HTTP answer).
"""

from app.llm.chat import (
    ChatEvent,
    ChatResult,
    ToolCallRecord,
    ToolExecuted,
    TurnCompleted,
    TurnDelta,
    TurnStart,
    TurnStarted,
    begin_turn,
    complete_turn,
    run_turn,
    stream_events,
    stream_turn,
)
from app.llm.factory import create_provider, create_tools
from app.llm.offline import OFFLINE_MODEL, OfflineProvider
from app.llm.openai_compat import OpenAICompatProvider
from app.llm.provider import (
    ChatMessage,
    Completion,
    CompletionRequest,
    MalformedResponse,
    Provider,
    ProviderError,
    ProviderHTTPError,
    ProviderTimeout,
    ProviderUnavailable,
    StreamDone,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolSpec,
    Usage,
)
from app.llm.tools import Tool, ToolRegistry, ToolResult, builtin_tools

__all__ = [
    "OFFLINE_MODEL",
    "ChatEvent",
    "ChatMessage",
    "ChatResult",
    "Completion",
    "CompletionRequest",
    "MalformedResponse",
    "OfflineProvider",
    "OpenAICompatProvider",
    "Provider",
    "ProviderError",
    "ProviderHTTPError",
    "ProviderTimeout",
    "ProviderUnavailable",
    "StreamDone",
    "StreamEvent",
    "TextDelta",
    "Tool",
    "ToolCall",
    "ToolCallRecord",
    "ToolExecuted",
    "ToolRegistry",
    "ToolResult",
    "ToolSpec",
    "TurnCompleted",
    "TurnDelta",
    "TurnStart",
    "TurnStarted",
    "Usage",
    "begin_turn",
    "builtin_tools",
    "complete_turn",
    "create_provider",
    "create_tools",
    "run_turn",
    "stream_events",
    "stream_turn",
]
