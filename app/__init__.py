"""AI conversation history kept in Supabase: the API, the store and its transports.

The data path is straight: a controller (app.controllers) calls the ConversationManager
(app.store), which calls one SQL function (supabase/migrations) through a transport. The
rules live in those functions; Python names the call and decodes the answer.

- app.config: the one Settings tree; app.core / app.server: the Litestar application;
  app.serving: uvicorn around it; app.cli: the operator commands;
  app.services / app.dependencies: what the lifespan opens and how handlers receive it;
- app.store: the store and its transports; app.auth: bearer tokens to principals;
- app.llm: model providers, tools, the chat turn; app.realtime: the live message feed.
"""

from importlib.metadata import version

__all__ = ["__version__"]

# The one version number: pyproject.toml's, as installed; the OpenAPI document and the
# CHANGELOG say the same (tests/docs/test_version.py).
__version__ = version("supabase-conversations")
