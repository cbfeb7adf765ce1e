"""Request ids, Prometheus metrics, logs and traces."""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from app.config import ObservabilitySettings
from app.core import services_of
from app.observability import RequestIdFilter
from app.server import create_app
from app.store import ConversationManager
from tests.api.helpers import SERVICE, Client, api_client, make_settings, new_id

GENERATED_ID = re.compile(r"[0-9a-f]{32}-[0-9a-f]+")  # app.unique


# -- request ids ---------------------------------------------------------------------------
async def test_every_response_carries_a_request_id(client: Client) -> None:
    ok = await client.get("/health")
    refused = await client.get("/stats")  # 401 from the authentication middleware
    unrouted = await client.get("/no-such-route")
    unsupported = await client.post(
        "/conversations", content=b"{}", headers={**SERVICE, "Content-Type": "text/plain"}
    )
    ids = [r.headers["x-request-id"] for r in (ok, refused, unrouted, unsupported)]
    assert [r.status_code for r in (ok, refused, unrouted, unsupported)] == [200, 401, 404, 415]
    assert all(GENERATED_ID.fullmatch(i) for i in ids), ids
    assert len(set(ids)) == 4


@pytest.mark.parametrize("sent", ["abc-123", "trace:1.2_3", "x" * 128])
async def test_a_well_formed_client_request_id_is_kept(client: Client, sent: str) -> None:
    response = await client.get("/health", headers={"X-Request-ID": sent})
    assert response.headers["x-request-id"] == sent


@pytest.mark.parametrize("sent", ["", "x" * 129, "has space", "new\\nline", "é", "a,b", "<script>"])
async def test_a_malformed_client_request_id_is_replaced(client: Client, sent: str) -> None:
    response = await client.get("/health", headers={"X-Request-ID": sent.encode()})
    assert GENERATED_ID.fullmatch(response.headers["x-request-id"])


async def test_log_records_carry_the_request_id(
    app_client: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    class Broken(ConversationManager):
        def as_principal(self, principal: Any) -> Broken:
            return self

        async def stats(self) -> Any:
            raise RuntimeError("boom")

    caplog.handler.addFilter(RequestIdFilter())
    client: AsyncTestClient[Any]
    async with app_client() as client:
        running = services_of(client.app).running
        running.store = Broken(running.store.transport)
        with caplog.at_level(logging.ERROR, logger="app"):
            response = await client.get("/stats", headers={**SERVICE, "X-Request-ID": "req-42"})
    assert response.status_code == 500
    assert response.headers["x-request-id"] == "req-42"
    logged = [r for r in caplog.records if r.name.startswith("app") and r.levelno >= logging.ERROR]
    assert logged, [(r.name, r.levelno) for r in caplog.records]
    assert {getattr(r, "request_id", None) for r in logged} == {"req-42"}


@pytest.mark.parametrize("log_format", ["plain", "json"])
def test_served_logs_are_plain_or_json_with_the_request_id(log_format: str) -> None:
    script = (
        "import logging, logging.config\n"
        "from app.config import Settings\n"
        "from app.observability import REQUEST_ID, logging_config\n"
        "logging.config.dictConfig(logging_config(Settings()))\n"
        "REQUEST_ID.set('rid-7')\n"
        "logging.getLogger('app').warning('hello %s', 'world')\n"
        "logging.getLogger('uvicorn.access').info('GET / 200')\n"
    )
    env = {"LOG_FORMAT": log_format, "LOG_LEVEL": "INFO", "PATH": "/usr/bin:/bin"}
    done = subprocess.run(  # noqa: S603 (our own script)
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 2, done.stderr
    if log_format == "json":
        records = [json.loads(line) for line in lines]
        assert records[0]["message"] == "hello world"
        assert records[0]["request_id"] == "rid-7"
        assert records[0]["level"] == "WARNING"
        assert records[1]["logger"] == "uvicorn.access"
    else:
        assert "[rid-7] hello world" in lines[0]
        assert "uvicorn.access [rid-7] GET / 200" in lines[1]


# -- metrics -------------------------------------------------------------------------------
def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample of the exposition (0 when absent)."""
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        metric, _, value = line.rpartition(" ")
        base, _, label_text = metric.partition("{")
        if base != name:
            continue
        found = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', label_text))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(value)
    return 0.0


async def test_metrics_count_requests_store_calls_pool_and_hub(client: Client) -> None:
    before = (await client.get("/metrics")).text
    cid = new_id("metrics")
    assert (
        await client.post("/conversations", json={"conversation_id": cid, "ttl_hours": 1}, headers=SERVICE)
    ).status_code == 201
    for _ in range(3):
        appended = await client.post(
            f"/conversations/{cid}/messages", json={"role": "user", "content": "hi"}, headers=SERVICE
        )
        assert appended.status_code == 201
    assert (await client.get("/stats")).status_code == 401
    assert (await client.get(f"/conversations/{cid}/nope")).status_code == 404
    response = await client.get("/metrics")  # no token needed, like /health
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    after = response.text
    route = "/conversations/{conversation_id}/messages"

    def grew(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert grew("api_requests_total", method="POST", route=route, status="201") == 3
    assert grew("api_requests_total", method="POST", route="/conversations", status="201") == 1
    assert grew("api_requests_total", method="GET", route="/stats", status="401") == 1
    assert grew("api_request_duration_seconds_count", method="POST", route=route) == 3
    assert grew("store_call_duration_seconds_count", function="append_message") == 3
    assert grew("store_call_duration_seconds_count", function="create_conversation") == 1
    assert cid not in after  # ids are never labels
    assert sample(after, "db_pool_max") == 4
    assert sample(after, "db_pool_size") >= 1
    assert "db_pool_requests_waiting" in after
    assert "realtime_subscribers " in after
    assert "realtime_published_total" in after
    assert "realtime_feed_connected{" in after
    assert "realtime_feed_sessions_total" in after


async def test_metrics_count_store_errors_and_model_calls(client: Client) -> None:
    before = (await client.get("/metrics")).text
    missing = await client.get(f"/conversations/{new_id('absent')}", headers=SERVICE)
    assert missing.status_code == 404
    chat = await client.post("/chat", json={"message": "hello"}, headers=SERVICE)
    assert chat.status_code in (200, 201), chat.text
    after = (await client.get("/metrics")).text

    def grew(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert grew("store_call_errors_total", function="get_conversation", error="not_found") == 1
    assert grew("chat_model_duration_seconds_count", mode="complete") == 1
    assert grew("store_call_duration_seconds_count", function="begin_turn") == 1


# -- traces --------------------------------------------------------------------------------
@pytest.fixture
def collector() -> Iterator[tuple[str, list[tuple[str, str, bytes]]]]:
    """A stand-in OTLP/HTTP collector: records every POST."""
    received: list[tuple[str, str, bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            received.append((self.path, self.headers.get("Content-Type", ""), body))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()


async def test_traces_are_exported_when_an_otlp_endpoint_is_set(
    collector: tuple[str, list[tuple[str, str, bytes]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")  # the exporter (requests) honours proxy variables
    url, received = collector
    settings = make_settings()
    settings.observability = ObservabilitySettings.model_validate({"OTEL_EXPORTER_OTLP_ENDPOINT": url})
    async with api_client(create_app(settings)) as client:
        assert (await client.get("/stats", headers=SERVICE)).status_code == 200
    # Shutting the app down flushes the spans.
    assert received, "no spans were exported"
    path, content_type, body = received[0]
    assert path == "/v1/traces"
    assert content_type == "application/x-protobuf"
    assert b"/stats" in body


async def test_no_traces_by_default(client: Client) -> None:
    assert services_of(client.app).settings.observability.otlp_endpoint is None
    assert not any(type(p).__name__ == "OpenTelemetryPlugin" for p in client.app.plugins)
