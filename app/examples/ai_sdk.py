"""Examples of the AI SDK's chat protocol (`/api/chat`): what `DefaultChatTransport` sends."""

from __future__ import annotations

from typing import Any

from app.aisdk.schemas import ChatRequestIn, UIMessage

__all__ = ["AI_SDK_EXAMPLES"]

USER_MESSAGE = {
    "id": "msg_q1",
    "role": "user",
    "parts": [{"type": "text", "text": "How is line 999?"}],
}
ASSISTANT_MESSAGE = {
    "id": "msg_a1",
    "role": "assistant",
    "parts": [
        {"type": "step-start"},
        {"type": "text", "text": "Line 999 runs every ten minutes.", "state": "done"},
    ],
}

AI_SDK_EXAMPLES: dict[type, Any] = {
    UIMessage: USER_MESSAGE,
    ChatRequestIn: {
        "id": "support-42",
        "messages": [
            USER_MESSAGE,
            ASSISTANT_MESSAGE,
            {**USER_MESSAGE, "id": "msg_q2", "parts": [{"type": "text", "text": "And on Sundays?"}]},
        ],
        "trigger": "submit-message",
    },
}
