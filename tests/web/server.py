"""The API the browser tests talk to: the harness's ApiProcess (`python -m app serve`, as
`make run` serves it), which a test can stop and start again on the same port while a page
stays open."""

from __future__ import annotations

from tests.api.helpers import JWT_SECRET, SERVICE_KEY
from tests.harness.processes import ROOT, ApiProcess

__all__ = ["ROOT", "web_api"]

LOGS = ROOT / ".local" / "web-tests"


def web_api(name: str, *, auth: str = "disabled", **env: str) -> ApiProcess:
    """An API for pages (not started): the offline model with a pause per word so a stream is
    visible, the local feed, a short graceful stop, the tests' service key and JWT secret;
    its log in .local/web-tests/<name>.log."""
    settings = {
        "SUPABASE_SERVICE_ROLE_KEY": SERVICE_KEY,
        "SUPABASE_JWT_SECRET": JWT_SECRET,
        "DB_POOL_MIN_SIZE": "1",
        "DB_POOL_MAX_SIZE": "4",
        "API_AUTH": auth,
        "LLM_OFFLINE_DELAY_SECONDS": "0.08",
        "REALTIME_FEED": "postgres",
        "API_SHUTDOWN_TIMEOUT_SECONDS": "2",
        **env,
    }
    return ApiProcess(settings, log=LOGS / f"{name}.log")
