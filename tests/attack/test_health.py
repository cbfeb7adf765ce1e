"""The first /health after an idle database restart (issue 22, item 7), on the real server.

A load balancer asks /health every few seconds; after a database failover the first answer
must already be the truth (200: the database is back), or every instance is pulled from
rotation at every failover. The probe keeps a connection of its own, outside the pool (so a
busy pool never makes a healthy instance look down); that connection is checked before use the
way the pool's are (the server closed it while it sat idle: a new one is opened at once).
Before: the first /health after each idle restart answered 503 "database down".
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import check_local_stack
from tests.harness.processes import ApiProcess, api_process
from tests.server.test_failover import restart_postgres

pytestmark = [pytest.mark.slow, pytest.mark.disruptive]


@pytest.fixture
async def server(database_url: str) -> Any:
    check_local_stack(database_url)
    async with api_process({"REALTIME_FEED": "off"}) as process:
        yield process


async def test_the_first_health_check_after_an_idle_restart_is_200(
    server: ApiProcess, database_url: str
) -> None:
    firsts: list[int] = []
    async with server.client() as http:
        before = await http.get("/health")
        assert before.status_code == 200, before.text  # the probe holds its connection now
        for _ in range(2):
            await restart_postgres(database_url)
            first = await http.get("/health")
            firsts.append(first.status_code)
            assert first.json()["database"] == "up", first.text
    print(f"\nfirst /health after each of 2 idle restarts: {firsts}")
    assert firsts == [200, 200], "".join(server.output)
