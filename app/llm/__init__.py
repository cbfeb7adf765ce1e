"""The model side of a turn: providers (OpenAI-compatible, offline), tools, prompts, summaries.

The application builds `create_provider` and `create_tools` from app.config.LLMSettings; the
turn engine (app.turns) calls them, and every face maps `ProviderError` (its `status_code` and
`code`) to its own answer.
"""

from app.llm.compaction import Compactor
from app.llm.factory import create_provider, create_tools
from app.llm.offline import OFFLINE_MODEL, OfflineProvider
from app.llm.openai_compat import OpenAICompatProvider
from app.llm.prompt import client_call, history_messages
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
from app.llm.tools import Tool, ToolRegistry, ToolResult, builtin_tools

__all__ = [
    "OFFLINE_MODEL",
    "ChatMessage",
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
    "StreamDone",
    "StreamEvent",
    "TextDelta",
    "Tool",
    "ToolCall",
    "ToolRegistry",
    "ToolResult",
    "ToolSpec",
    "Usage",
    "builtin_tools",
    "client_call",
    "create_provider",
    "create_tools",
    "history_messages",
]
