"""`python -m app <command>`, and the `conversations` script: Litestar's CLI, run on this app.

The app is the factory `app.server:create_app` (LITESTAR_APP, unless already set); its
`ConversationsCLI` plugin adds the operator commands (`serve`, `stats`, `export`...) next to
Litestar's own (`run`, `routes`, `schema openapi`...).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from litestar.cli.main import litestar_group

from app.auth import check_auth_mode
from app.cli import err
from app.config import get_settings

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command (`argv` defaults to the process's arguments) and return its exit code."""
    os.environ.setdefault("LITESTAR_APP", "app.server:create_app")
    # stdout carries the commands' JSON: no "Using Litestar app from env" banner on it.
    os.environ.setdefault("LITESTAR_QUIET_CONSOLE", "1")
    # Every command starts by building the app, which refuses API_AUTH=disabled on a public
    # API_HOST: refuse it here the way `serve --host` does, not with create_app's traceback.
    settings = get_settings()
    try:
        check_auth_mode(settings.server.auth, settings.server.host)
    except RuntimeError as exc:
        err.print(f"[red]{exc}")
        return 2
    try:
        litestar_group.main(args=None if argv is None else list(argv))
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
