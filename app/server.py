"""The application factory: `uvicorn --factory app.server:create_app` (what `make run` serves)."""

from __future__ import annotations

from litestar import Litestar

from app.cli import ConversationsCLI
from app.config import Settings, get_settings
from app.core import ApplicationCore
from app.llm import ToolRegistry

__all__ = ["create_app"]


def create_app(settings: Settings | None = None, *, tools: ToolRegistry | None = None) -> Litestar:
    """The API over the configured store: `settings` default to the environment's
    (app.config), `tools` to the built-ins CHAT_TOOLS names (see ApplicationCore). The
    operator commands (app.cli) ride on Litestar's CLI as a plugin of the same app."""
    settings = settings or get_settings()
    return Litestar(
        plugins=[ApplicationCore(settings, tools), ConversationsCLI()],
        # Litestar 2.25 reads the app-wide body limit from this argument only, not from the
        # AppConfig a plugin returns.
        request_max_body_size=settings.server.max_body_bytes,
    )
