"""The model side of /chat: providers (OpenAI-compatible, offline), tools, and the turn loop.

The application builds `create_provider` and `create_tools` from app.config.LLMSettings; the
/chat handler receives a `ChatService` (the turn of app.llm.chat bound to its store, the
provider and the tools), whose events are also the stream's wire format, and maps
`ProviderError` (its `status_code` and `code`) to the HTTP answer.
"""

from app.llm.chat import (
    ChatEvent,
    ChatResult,
    SentContext,
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
from app.llm.compaction import Compactor
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
    ReplyRejected,
    StreamDone,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolSpec,
    Usage,
)
from app.llm.service import ChatService
from app.llm.tools import Tool, ToolRegistry, ToolResult, builtin_tools

__all__ = [
    "OFFLINE_MODEL",
    "ChatEvent",
    "ChatMessage",
    "ChatResult",
    "ChatService",
    "Compactor",
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
    "ReplyRejected",
    "SentContext",
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
