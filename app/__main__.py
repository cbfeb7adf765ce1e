"""`python -m app <command>`, and the `conversations` script: Litestar's CLI, run on this app.

The app is the factory `app.server:create_app` (LITESTAR_APP, unless already set); its
`ConversationsCLI` plugin adds the operator commands (`serve`, `stats`, `export`...) next to
Litestar's own (`run`, `routes`, `schema openapi`...).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command (`argv` defaults to the process's arguments) and return its exit code."""
    os.environ.setdefault("LITESTAR_APP", "app.server:create_app")
    # stdout carries the commands' JSON: no "Using Litestar app from env" banner on it.
    os.environ.setdefault("LITESTAR_QUIET_CONSOLE", "1")
    from litestar.cli.main import litestar_group

    from app.cli import err

    try:
        litestar_group.main(args=None if argv is None else list(argv))
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    except RuntimeError as exc:
        # create_app, which builds the CLI, refused the configuration
        # (API_AUTH=disabled on a public API_HOST): the same refusal as `serve --host`.
        err.print(f"[red]{exc}")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
