"""Replies that outlive the page, in Chromium: a reload mid-reply picks the reply up where the
page was (GET /turns/{id}/events after its last position) and it ends equal to the stored one;
Stop mid-reply (POST /turns/{id}/stop) leaves the partial reply stored and shown as stopped.

The offline model writes a word every 0.25 s here (LLM_OFFLINE_DELAY_SECONDS), so a reply takes
about ten seconds: long enough to reload or stop it midway."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, Request, expect

from tests.harness.processes import ApiProcess
from tests.web.conftest import NewPage
from tests.web.server import web_api

pytestmark = pytest.mark.browser

expect.set_options(timeout=30_000)

LONG = " ".join(f"word{n}" for n in range(1, 31))  # the offline echo repeats 30 words of it
PENDING_REPLY = "#messages article.role-assistant.pending .text"


@pytest.fixture(scope="module")
async def slow_api() -> AsyncIterator[ApiProcess]:
    server = web_api("web-durable", LLM_OFFLINE_DELAY_SECONDS="0.25")
    await server.start()
    yield server
    await server.stop()


async def send(page: Page, text: str) -> None:
    await page.locator("#composer-input").fill(text)
    await page.locator("#composer-input").press("Enter")


async def words_written(page: Page, at_least: int) -> str:
    """Waits until the reply being written shows `at_least` words; its text then."""
    await page.wait_for_function(
        "([selector, n]) =>"
        " (document.querySelector(selector)?.textContent ?? '').trim().split(/\\s+/).length >= n",
        arg=[PENDING_REPLY, at_least],
    )
    return await page.locator(PENDING_REPLY).inner_text()


async def stored_reply(http: httpx.AsyncClient, conversation_id: str) -> dict[str, Any]:
    page = await http.get(f"/conversations/{conversation_id}")
    assert page.status_code == 200, page.text
    replies = [m for m in page.json()["messages"] if m["role"] == "assistant"]
    assert len(replies) == 1, replies
    reply: dict[str, Any] = replies[0]
    return reply


async def test_a_reload_mid_reply_picks_the_reply_up_where_it_was(
    new_page: NewPage, slow_api: ApiProcess
) -> None:
    page = await new_page(f"{slow_api.base_url}/")
    await send(page, LONG)
    before = await words_written(page, 6)
    conversation_id = (await page.evaluate("() => location.hash")).removeprefix("#/c/")

    resumed: list[Request] = []
    page.on("request", lambda request: resumed.append(request) if "/turns/" in request.url else None)
    await page.reload()

    # The reply in progress is back at once, as far as it was read, and goes on from there.
    pending = page.locator(PENDING_REPLY)
    await expect(pending).to_contain_text(before.strip())
    assert await page.locator("#stop").is_visible()
    reply = page.locator("#messages article.role-assistant:not(.pending)")
    await expect(reply).to_have_count(1)
    await expect(page.locator("#messages article.role-assistant")).to_have_count(1)

    async with httpx.AsyncClient(base_url=slow_api.base_url, timeout=10) as http:
        stored = await stored_reply(http, conversation_id)
    assert (await reply.locator(".text").inner_text()).strip() == stored["content"].strip()
    assert stored["metadata"]["finish_reason"] == "stop"
    # It was read from the position the page had reached, not from the start.
    [request] = [r for r in resumed if r.url.endswith("/events")]
    assert int(request.headers["last-event-id"]) > len(before.split()) - 1
    await expect(page.locator("#stop")).to_be_hidden()
    # Nothing left to resume: a second reload shows the stored reply only.
    await page.reload()
    await expect(page.locator("#messages article.role-assistant")).to_have_count(1)
    await expect(page.locator("#messages article.role-assistant.pending")).to_have_count(0)


async def test_stop_mid_reply_keeps_the_partial_reply_marked_stopped(
    new_page: NewPage, slow_api: ApiProcess
) -> None:
    page = await new_page(f"{slow_api.base_url}/")
    stops: list[Request] = []
    page.on("request", lambda request: stops.append(request) if request.url.endswith("/stop") else None)
    await send(page, LONG)
    await words_written(page, 4)
    await page.locator("#stop").click()

    reply = page.locator("#messages article.role-assistant:not(.pending)")
    await expect(reply).to_have_count(1)
    await expect(reply.locator(".meta")).to_contain_text("Stopped")
    await expect(page.locator("#stop")).to_be_hidden()
    conversation_id = (await page.evaluate("() => location.hash")).removeprefix("#/c/")
    [stop] = stops
    assert stop.method == "POST"
    turn_id = stop.url.removesuffix("/stop").rsplit("/", 1)[1]

    async with httpx.AsyncClient(base_url=slow_api.base_url, timeout=10) as http:
        stored = await stored_reply(http, conversation_id)
        turn = (await http.get(f"/turns/{turn_id}")).json()
    assert turn["turn"]["state"] == "stopped"
    assert stored["metadata"]["finish_reason"] == "stopped"
    shown = (await reply.locator(".text").inner_text()).strip()
    assert shown == stored["content"].strip()
    assert 4 <= len(shown.split()) < 40  # cut short: the whole echo is longer
    # The composer is free again, and a reload shows the stopped reply as stored.
    await expect(page.locator("#send")).to_be_enabled()
    await page.reload()
    await expect(page.locator("#messages article.role-assistant .meta")).to_contain_text("Stopped")


async def test_a_reply_left_for_another_conversation_is_picked_up_on_return(
    new_page: NewPage, slow_api: ApiProcess
) -> None:
    page = await new_page(f"{slow_api.base_url}/")
    await send(page, LONG)
    before = await words_written(page, 4)
    conversation_id = (await page.evaluate("() => location.hash")).removeprefix("#/c/")

    await page.locator("#new-conversation").click()
    await expect(page.locator("#messages article")).to_have_count(0)
    await page.evaluate("(id) => { location.hash = `#/c/${encodeURIComponent(id)}`; }", conversation_id)

    await expect(page.locator(PENDING_REPLY)).to_contain_text(before.strip())
    reply = page.locator("#messages article.role-assistant:not(.pending)")
    await expect(reply).to_have_count(1)
    await expect(page.locator("#messages article.role-assistant")).to_have_count(1)
    async with httpx.AsyncClient(base_url=slow_api.base_url, timeout=10) as http:
        stored = await stored_reply(http, conversation_id)
    assert (await reply.locator(".text").inner_text()).strip() == stored["content"].strip()
