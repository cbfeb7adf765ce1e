"""The application factory: `uvicorn --factory app.server:create_app` (with the options of
app.serving.uvicorn_options), `LITESTAR_APP` of `python -m app` (app.__main__).

It sits above everything it assembles: the core plugin (routes, dependencies, lifespan), the
operator commands (app.cli, a CLI plugin of the same app) and tracing."""

from __future__ import annotations

from litestar import Litestar

from app.cli import ConversationsCLI
from app.config import Settings, get_settings
from app.core import ApplicationCore
from app.examples import schema_examples
from app.llm import ToolRegistry
from app.observability import tracing_plugin

__all__ = ["create_app"]


def create_app(settings: Settings | None = None, *, tools: ToolRegistry | None = None) -> Litestar:
    """The API over the configured store: `settings` default to the environment's
    (app.config), `tools` to the built-ins CHAT_TOOLS names (see ApplicationCore). The
    operator commands (app.cli) ride on Litestar's CLI as a plugin of the same app."""
    settings = settings or get_settings()
    tracing = tracing_plugin(settings)
    return Litestar(
        # schema_examples() before Litestar's own schema plugins, which come after these.
        plugins=[
            ApplicationCore(settings, tools),
            schema_examples(),
            ConversationsCLI(),
            *([tracing[0]] if tracing else []),
        ],
        on_shutdown=[tracing[1]] if tracing else [],
        # Litestar 2.25 reads the app-wide body limit from this argument only, not from the
        # AppConfig a plugin returns.
        request_max_body_size=settings.server.max_body_bytes,
    )
