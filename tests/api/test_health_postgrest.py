"""/health in Supabase mode: the store talks to PostgREST (mocked with respx, an HTTP peer we
cannot run here), so that is what /health asks, and no direct database connection is opened."""

from __future__ import annotations

import httpx
import pytest
import respx
from litestar.testing import AsyncTestClient

from app.server import create_app
from tests.api.helpers import SERVICE_KEY, make_settings

URL = "http://supabase.test"
STATS = {
    "total_conversations": 3,
    "total_messages": 7,
    "expired_conversations": 0,
    "active_conversations": 3,
    "ttl_hours": 24,
}


def _app() -> AsyncTestClient:  # type: ignore[type-arg]
    settings = make_settings(
        supabase={"SUPABASE_URL": URL, "SUPABASE_SERVICE_ROLE_KEY": SERVICE_KEY},
        # Nothing listens here: opening a direct connection would make /health fail.
        db={"DATABASE_URL": "postgresql://nobody:nothing@127.0.0.1:1/none"},
    )
    return AsyncTestClient(app=create_app(settings))


@pytest.mark.parametrize(
    ("answer", "status", "database"),
    [
        (httpx.Response(200, json=STATS), 200, "up"),
        (
            httpx.Response(
                503, json={"code": "PGRST001", "message": "db down", "details": None, "hint": None}
            ),
            503,
            "down",
        ),
        (httpx.ConnectError("refused"), 503, "down"),
        (
            httpx.Response(
                404, json={"code": "PGRST202", "message": "no function", "details": None, "hint": None}
            ),
            503,
            "up",
        ),
    ],
)
async def test_health_asks_postgrest(answer: httpx.Response | Exception, status: int, database: str) -> None:
    with respx.mock(assert_all_called=True) as router:
        route = router.post(f"{URL}/rest/v1/rpc/conversation_stats").mock(
            side_effect=answer if isinstance(answer, Exception) else None,
            return_value=None if isinstance(answer, Exception) else answer,
        )
        async with _app() as client:
            response = await client.get("/health")
        assert route.called
        sent = route.calls.last.request
        assert sent.headers["apikey"] == SERVICE_KEY
        assert sent.headers["authorization"] == f"Bearer {SERVICE_KEY}"
    assert response.status_code == status, response.text
    assert response.json()["database"] == database
    if status == 503 and database == "down":
        assert response.headers["retry-after"] == "1"
