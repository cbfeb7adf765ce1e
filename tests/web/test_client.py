"""The web client at `/`, in Chromium: a turn streams in, other tabs see it live, the page
survives an API restart without gap or duplicate, users see only their own conversations,
the actions work and failures are said in words."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from playwright.async_api import Page, expect

from tests.api.helpers import SERVICE, mint, new_id, user_claims
from tests.harness.processes import ApiProcess
from tests.web.conftest import NewPage
from tests.web.server import web_api

pytestmark = pytest.mark.browser

expect.set_options(timeout=20_000)

# Records every text the reply being written shows, to see it grow.
WATCH_REPLY = """() => {
  window.replyTexts = [];
  new MutationObserver(() => {
    const reply = document.querySelector("#messages article.role-assistant.pending .text");
    if (reply && reply.textContent !== window.replyTexts.at(-1)) window.replyTexts.push(reply.textContent);
  }).observe(document.getElementById("messages"), { subtree: true, childList: true, characterData: true });
}"""
SEQS = "() => [...document.querySelectorAll('#messages article.message')].map((m) => m.dataset.seq)"


async def create_conversation(
    http: httpx.AsyncClient, *messages: tuple[str, str], headers: dict[str, str] | None = None, **body: Any
) -> str:
    conversation_id = new_id("web")
    created = await http.post(
        "/conversations", json={"conversation_id": conversation_id, "ttl_hours": 1, **body}, headers=headers
    )
    assert created.status_code == 201, created.text
    for role, content in messages:
        await append(http, conversation_id, role, content, headers=headers)
    return conversation_id


async def append(
    http: httpx.AsyncClient,
    conversation_id: str,
    role: str,
    content: str,
    headers: dict[str, str] | None = None,
) -> None:
    response = await http.post(
        f"/conversations/{conversation_id}/messages", json={"role": role, "content": content}, headers=headers
    )
    assert response.status_code == 201, response.text


def messages(page: Page, role: str | None = None, text: str | None = None) -> Any:
    selector = "#messages article.message" + (f".role-{role}" if role else "")
    return page.locator(selector, has_text=text) if text else page.locator(selector)


def stored(page: Page, role: str) -> Any:
    """Messages the page shows as stored rows (not the ones it is still writing)."""
    return page.locator(f"#messages article.message.role-{role}:not(.pending)")


async def send(page: Page, text: str) -> None:
    await page.locator("#composer-input").fill(text)
    await page.locator("#composer-input").press("Enter")


async def test_a_message_streams_its_reply_then_shows_the_stored_one(page: Page) -> None:
    await expect(page.locator("#identity")).to_contain_text("the service")
    await page.evaluate(WATCH_REPLY)
    await send(page, "Tell me how a reply streams into a web page")

    reply = stored(page, "assistant")
    await expect(reply).to_have_count(1)
    await expect(reply.locator(".meta")).to_contain_text("offline-echo")
    await expect(reply.locator(".meta")).to_contain_text("tokens")
    await expect(reply.locator(".meta")).to_contain_text(" ms")
    final = await reply.locator(".text").inner_text()
    seen = [text for text in await page.evaluate("() => window.replyTexts") if text != "…"]
    assert len(seen) >= 3, seen  # it grew word by word
    assert all(final.startswith(text.strip()) for text in seen), (seen, final)

    await expect(messages(page, "user")).to_have_count(1)
    assert await page.evaluate(SEQS) == ["1", "2"]
    conversation_id = (await page.evaluate("() => location.hash")).removeprefix("#/c/")
    current = page.locator("#conversation-list button[aria-current='true']")
    await expect(current).to_contain_text(conversation_id)
    await expect(page.locator("#conversation-info")).to_contain_text("2 messages")


async def test_tool_calls_and_metadata_are_shown_folded(page: Page) -> None:
    """Also takes docs/web-client.md's screenshot when WEB_SCREENSHOT names a file."""
    await send(page, "What is 12*(3+4)?")
    reply = stored(page, "assistant")
    await expect(reply).to_have_count(1)
    tool = messages(page, "tool")
    await expect(tool).to_have_count(1)
    await expect(tool.locator("details summary")).to_have_text("Tool result: calculator")
    await expect(tool.locator("pre")).not_to_be_visible()  # folded
    calls = reply.locator("details.tool-calls")
    await expect(calls.locator("summary")).to_have_text("1 tool call")
    await calls.locator("summary").click()
    await expect(calls.locator("code")).to_contain_text('calculator({"expression":"12*(3+4)"})')
    await expect(reply.locator(".text")).to_contain_text("84")
    # What the model was sent for it (the turn's context, kept when the stored row replaced it).
    await expect(reply.locator(".meta .context")).to_contain_text("saw 1 message")

    await send(page, "Thanks! And how many messages have you seen so far?")
    await expect(stored(page, "assistant")).to_have_count(2)
    assert await page.evaluate(SEQS) == ["1", "2", "3", "4", "5"]
    if target := os.environ.get("WEB_SCREENSHOT"):
        await page.set_viewport_size({"width": 1200, "height": 980})
        await page.locator("#composer-input").blur()
        await page.locator("#messages").evaluate("(list) => { list.scrollTop = 0; }")
        await page.screenshot(path=str(Path(target)))


async def test_a_context_summary_is_shown_folded(
    new_page: NewPage, api: ApiProcess, http: httpx.AsyncClient, admin: psycopg.AsyncConnection[Any]
) -> None:
    conversation_id = await create_conversation(http, ("user", "one"), ("assistant", "two"))
    # As the service's compaction stores one (append_summary): a system message marked as a summary.
    await admin.execute(
        "insert into public.ai_conversation_messages (conversation_id, role, content, metadata)"
        " values (%s, 'system', 'The user said one; the assistant said two.',"
        ' \'{"kind": "summary", "covers": [1, 2], "model": "offline"}\')',
        (conversation_id,),
    )
    page = await new_page(f"{api.base_url}/#/c/{conversation_id}")
    summary = messages(page, "system")
    covers = "Context summary of messages 1\u20132"  # an en dash
    await expect(summary.locator("details.summary summary")).to_have_text(covers)
    await expect(summary.locator("details.summary .text")).not_to_be_visible()


async def test_a_second_browser_sees_messages_live(
    new_page: NewPage, api: ApiProcess, http: httpx.AsyncClient
) -> None:
    conversation_id = await create_conversation(http, ("user", "first"), ("assistant", "first answer"))
    one = await new_page(f"{api.base_url}/#/c/{conversation_id}")
    other = await new_page(f"{api.base_url}/#/c/{conversation_id}")
    for page in (one, other):
        await expect(messages(page)).to_have_count(2)
        await expect(page.locator("#live-status")).to_have_text("Live")

    await send(one, "hello from the first browser")
    await expect(messages(other, "user", "hello from the first browser")).to_have_count(1)
    await expect(messages(other, "assistant", 'you said "hello from the first browser"')).to_have_count(1)

    await append(http, conversation_id, "assistant", "appended by another client of the API")
    for page in (one, other):
        await expect(messages(page, text="appended by another client of the API")).to_have_count(1)
        assert await page.evaluate(SEQS) == ["1", "2", "3", "4", "5"]


async def test_after_an_api_restart_the_page_catches_up_once(
    new_page: NewPage, admin: psycopg.AsyncConnection[Any]
) -> None:
    server = web_api("web-restart")
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
            conversation_id = await create_conversation(http, ("user", "before the restart"))
        page = await new_page(f"{server.base_url}/#/c/{conversation_id}")
        live = page.locator("#live-status")
        await expect(messages(page)).to_have_count(1)
        await expect(live).to_have_text("Live")

        await server.stop()
        await expect(live).to_have_text("Reconnecting…")
        # Written while no API runs: straight into the database, as another service would.
        await admin.execute(
            "insert into public.ai_conversation_messages (conversation_id, role, content)"
            " values (%s, 'assistant', 'written while the API was down')",
            (conversation_id,),
        )
        await server.start()

        await expect(messages(page, text="written while the API was down")).to_have_count(1, timeout=40_000)
        await expect(live).to_have_text("Live")
        async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
            await append(http, conversation_id, "user", "after the restart")
        await expect(messages(page, text="after the restart")).to_have_count(1)
        assert await page.evaluate(SEQS) == ["1", "2", "3"]
    finally:
        await server.stop()


@pytest.fixture(scope="module")
async def api_with_auth() -> Any:
    server = web_api("web-auth", auth="required")
    await server.start()
    yield server
    await server.stop()


async def test_a_user_never_sees_another_users_conversation(
    new_page: NewPage, api_with_auth: ApiProcess
) -> None:
    alice, bob = uuid.uuid4(), uuid.uuid4()
    async with httpx.AsyncClient(base_url=api_with_auth.base_url, timeout=10, headers=SERVICE) as http:
        alices = await create_conversation(http, ("user", "alice's secret"), user_id=str(alice))
        bobs = await create_conversation(http, ("user", "bob's secret"), user_id=str(bob))

    page = await new_page(f"{api_with_auth.base_url}/")
    await expect(page.locator("#sign-in")).to_be_visible()  # asks for a token, never a blank page
    await page.locator("#token").fill(mint(user_claims(alice, email="alice@example.com")))
    await page.locator("#token").press("Enter")
    await expect(page.locator("#identity")).to_contain_text("alice@example.com")
    await expect(page.locator("#conversation-list button.conversation")).to_have_count(1)
    await expect(page.locator("#conversation-list")).to_contain_text(alices)
    await page.locator("#conversation-list button.conversation").click()
    await expect(messages(page, text="alice's secret")).to_have_count(1)

    await page.evaluate(f"() => {{ location.hash = '#/c/{bobs}'; }}")
    await expect(page.locator("#messages .gone")).to_contain_text("not available")
    await expect(page.locator("#banner")).to_contain_text("not available")
    await expect(page.locator("body")).not_to_contain_text("bob's secret")
    await expect(page.locator("#conversation-list")).not_to_contain_text(bobs)

    # The token lives in this tab only; signing out forgets it.
    await page.locator("#sign-out").click()
    await expect(page.locator("#sign-in")).to_be_visible()
    assert await page.evaluate("() => sessionStorage.length") == 0

    # Bob, in another browser, sees his own only.
    other = await new_page(f"{api_with_auth.base_url}/")
    await other.locator("#token").fill(mint(user_claims(bob)))
    await other.locator("#sign-in-form button[type=submit]").click()
    await expect(other.locator("#conversation-list button.conversation")).to_have_count(1)
    await expect(other.locator("#conversation-list")).to_contain_text(bobs)


async def test_an_expired_token_is_said_in_words(new_page: NewPage, api_with_auth: ApiProcess) -> None:
    page = await new_page(f"{api_with_auth.base_url}/")
    await page.locator("#token").fill(mint(user_claims(uuid.uuid4(), exp=1)))
    await page.locator("#token").press("Enter")
    await expect(page.locator("#banner")).to_contain_text("You are signed out")
    await expect(page.locator("#sign-in")).to_be_visible()


async def test_export_downloads_the_conversation_as_json(
    new_page: NewPage, api: ApiProcess, http: httpx.AsyncClient
) -> None:
    conversation_id = await create_conversation(http, ("user", "export me"), ("assistant", "exported"))
    page = await new_page(f"{api.base_url}/#/c/{conversation_id}")
    await expect(messages(page)).to_have_count(2)
    async with page.expect_download() as download_info:
        await page.locator("#action-export").click()
    download = await download_info.value
    assert download.suggested_filename == f"{conversation_id}.json"
    document = json.loads(await asyncio.to_thread(Path(await download.path()).read_text))
    assert document["conversation_id"] == conversation_id
    assert [m["content"] for m in document["messages"]] == ["export me", "exported"]


async def test_extend_clear_and_delete(new_page: NewPage, api: ApiProcess, http: httpx.AsyncClient) -> None:
    conversation_id = await create_conversation(http, ("user", "one"), ("assistant", "two"))
    page = await new_page(f"{api.base_url}/#/c/{conversation_id}")
    await expect(messages(page)).to_have_count(2)

    await page.locator("#action-extend").click()
    await expect(page.locator("#notice")).to_contain_text("Extended: now expires")
    hours = (await http.get(f"/conversations/{conversation_id}?limit=0")).json()
    assert hours["expires_at"] > hours["created_at"]

    await page.locator("#action-clear").click()  # the confirmation is accepted
    await expect(page.locator("#notice")).to_have_text("Cleared 2 messages.")
    await expect(messages(page)).to_have_count(0)
    await append(http, conversation_id, "user", "after the clear")  # the feed goes on
    await expect(messages(page, text="after the clear")).to_have_count(1)

    await page.locator("#action-delete").click()
    await expect(page.locator("#conversation-title")).to_have_text("New conversation")
    await expect(page.locator("#conversation-list")).not_to_contain_text(conversation_id)
    assert (await http.get(f"/conversations/{conversation_id}")).status_code == 404


async def test_failures_are_said_in_words(new_page: NewPage, api: ApiProcess) -> None:
    page = await new_page(f"{api.base_url}/#/c/{new_id('web-missing')}")
    await expect(page.locator("#banner")).to_contain_text("This conversation is not available")
    await expect(page.locator("#composer-input")).to_be_disabled()

    def listing(url: str) -> bool:
        return "/conversations?" in url

    await page.route(listing, lambda route: route.abort("connectionrefused"))
    await page.goto(f"{api.base_url}/")
    await expect(page.locator("#banner")).to_contain_text("Cannot reach the API")
    await page.unroute(listing)
    await page.locator("#retry").click()
    await expect(page.locator("#banner")).to_be_hidden()
    await expect(page.locator("#app")).to_be_visible()


async def test_a_model_that_is_down_is_said_in_words(new_page: NewPage) -> None:
    server = web_api(
        "web-model-down",
        LLM_PROVIDER="openai",
        LLM_BASE_URL="http://127.0.0.1:9/v1",  # the discard port: nothing listens
        LLM_MAX_RETRIES="0",
    )
    await server.start()
    try:
        page = await new_page(f"{server.base_url}/")
        await send(page, "is anyone there?")
        await expect(page.locator("#banner")).to_contain_text("The model is unavailable right now")
        # The user's message was stored and stays; no reply was.
        await expect(messages(page, "user", "is anyone there?")).to_have_count(1)
        await expect(messages(page, "assistant")).to_have_count(0)
    finally:
        await server.stop()


async def test_usable_by_keyboard(page: Page) -> None:
    composer = page.locator("#composer-input")
    await expect(composer).to_be_focused()  # a new conversation starts in the message box
    await page.keyboard.type("line one")
    await page.keyboard.press("Shift+Enter")
    await page.keyboard.type("line two")
    assert await composer.input_value() == "line one\nline two"
    await page.keyboard.press("Enter")
    await expect(stored(page, "user")).to_have_count(1)
    assert await stored(page, "user").locator(".text").text_content() == "line one\nline two"
    await expect(stored(page, "assistant")).to_have_count(1)

    await page.keyboard.press("Tab")
    await expect(page.locator("#send")).to_be_focused()
    await page.locator("a.skip").focus()  # the first stop of the page: straight to the message box
    await expect(page.locator("a.skip")).to_be_in_viewport()
    await page.keyboard.press("Enter")
    await expect(composer).to_be_focused()
    await expect(stored(page, "user")).to_have_count(1)  # the conversation stays open
    # Every control is a real button or link, and new messages are announced.
    assert await page.locator("[onclick], div[role=button], span[role=button]").count() == 0
    await expect(page.locator("#messages")).to_have_attribute("aria-live", "polite")
    await expect(page.locator("#new-conversation")).to_have_js_property("tagName", "BUTTON")


async def test_readable_at_phone_width(new_page: NewPage, api: ApiProcess, http: httpx.AsyncClient) -> None:
    conversation_id = await create_conversation(http, ("user", "a long line " * 30), ("assistant", "ok"))
    page = await new_page(f"{api.base_url}/#/c/{conversation_id}", viewport={"width": 390, "height": 844})
    await expect(messages(page)).to_have_count(2)
    assert await page.evaluate("() => document.documentElement.scrollWidth") <= 390
    for control in ("#composer-input", "#send"):
        await expect(page.locator(control)).to_be_in_viewport()
    # The list is a drawer and the actions a menu (tests/web/test_layout.py): each control is
    # one tap away and then in view.
    await page.locator("#menu-toggle").click()
    await expect(page.locator("#new-conversation")).to_be_in_viewport()
    await page.keyboard.press("Escape")
    await page.locator("#actions-toggle").click()
    await expect(page.locator("#action-delete")).to_be_in_viewport()


async def test_the_docs_page_works_without_the_internet(new_page: NewPage, api: ApiProcess) -> None:
    outside: list[str] = []
    page = await new_page()
    page.on("requestfailed", lambda request: outside.append(request.url))
    await page.goto(f"{api.base_url}/schema/swagger")
    operations = page.locator(".opblock")
    await expect(operations.first).to_be_visible()
    assert await operations.count() >= 10
    events = page.locator(".opblock-summary-path", has_text="/conversations/{conversation_id}/events")
    await expect(events).to_be_visible()
    assert not [url for url in outside if "127.0.0.1" not in url], outside
