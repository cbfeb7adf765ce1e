"""The Vercel AI SDK's face of the store: `/api/chat`, the protocol `useChat`'s
`DefaultChatTransport` speaks (a parser of its requests and an encoder of the turn engine's
events as the UI message stream), and the stored conversation as UIMessages.
"""

from app.aisdk.routes import AISDKController

__all__ = ["AISDKController"]
