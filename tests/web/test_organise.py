"""The organise controls of the web client, which it shows because the API offers them (its
OpenAPI document has PATCH /conversations/{id}, /search, /fork and /feedback): search finds a
message, archive hides, rename and pin, fork (edit and regenerate), thumbs up/down."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import psycopg
import pytest
from playwright.async_api import Page, expect

from tests.harness.processes import ApiProcess
from tests.web.conftest import NewPage
from tests.web.test_client import SEQS, create_conversation, messages, stored

pytestmark = pytest.mark.browser


async def test_search_finds_a_message(new_page: NewPage, api: ApiProcess, http: httpx.AsyncClient) -> None:
    word = f"zebrafinch{uuid.uuid4().hex[:8]}"
    conversation_id = await create_conversation(
        http, ("user", "something else"), ("assistant", f"the {word} sings at dawn")
    )
    page = await new_page(f"{api.base_url}/")
    await page.locator("#search-input").fill(word)
    await page.locator("#search-input").press("Enter")
    hit = page.locator("#search-results button.conversation")
    await expect(hit).to_have_count(1)
    await expect(hit.locator("mark")).to_have_text(word)
    await expect(page.locator("#conversation-list")).to_be_hidden()
    await hit.click()
    await expect(page).to_have_url(f"{api.base_url}/#/c/{conversation_id}")
    await expect(messages(page, "assistant", word)).to_have_count(1)

    await page.locator("#search-input").fill("nothingmatchesthis" + uuid.uuid4().hex)
    await page.locator("#search-input").press("Enter")
    await expect(page.locator("#search-results")).to_contain_text("Nothing matches")
    await page.locator("#search-input").fill("")
    await page.locator("#search-input").press("Enter")
    await expect(page.locator("#conversation-list")).to_be_visible()


async def test_archive_hides_and_rename_and_pin(
    new_page: NewPage, api: ApiProcess, http: httpx.AsyncClient
) -> None:
    conversation_id = await create_conversation(http, ("user", "plan a trip"))
    page = await new_page(f"{api.base_url}/#/c/{conversation_id}")
    listed = page.locator("#conversation-list button.conversation", has_text=conversation_id)
    await expect(listed).to_have_count(1)
    await expect(listed.locator(".label")).to_have_text("plan a trip")  # the title the database gave it

    await page.locator("#action-rename").click()
    await page.locator("#rename-input").fill("Three days in Lisbon")
    await page.locator("#rename-input").press("Enter")
    await expect(page.locator("#conversation-title")).to_have_text("Three days in Lisbon")
    await expect(listed.locator(".label")).to_have_text("Three days in Lisbon")

    await page.locator("#action-pin").click()
    await expect(page.locator("#action-pin")).to_have_attribute("aria-pressed", "true")
    await expect(page.locator("#conversation-list li.pinned", has_text=conversation_id)).to_have_count(1)
    # Pinned ones come first (the shared database may hold other tests' pinned conversations).
    order = await page.evaluate(
        "() => [...document.querySelectorAll('#conversation-list li')].map((li) => li.className)"
    )
    assert order == sorted(order, key=lambda name: name != "pinned")
    await page.locator("#action-pin").click()
    await expect(page.locator("#action-pin")).to_have_attribute("aria-pressed", "false")

    await page.locator("#action-archive").click()
    await expect(page.locator("#notice")).to_contain_text("Archived")
    await expect(listed).to_have_count(0)
    await page.locator("#show-archived").check()
    await expect(listed).to_have_count(1)
    await page.locator("#action-archive").click()  # now "Unarchive"
    await expect(listed).to_have_count(0)  # it left the archived list
    await page.locator("#show-archived").uncheck()
    await expect(listed).to_have_count(1)


async def test_edit_and_regenerate_forks(new_page: NewPage, api: ApiProcess, http: httpx.AsyncClient) -> None:
    original = await create_conversation(
        http,
        ("user", "first question"),
        ("assistant", "first answer"),
        ("user", "second question"),
        ("assistant", "second answer"),
    )
    page = await new_page(f"{api.base_url}/#/c/{original}")
    await expect(messages(page)).to_have_count(4)
    await messages(page, "user", "second question").get_by_role("button", name="Edit this message").click()

    await expect(page).not_to_have_url(f"{api.base_url}/#/c/{original}")
    await expect(messages(page)).to_have_count(2)  # the fork: what came before the edited message
    composer = page.locator("#composer-input")
    await expect(composer).to_have_value("second question")
    await composer.fill("second question, edited")
    await composer.press("Enter")
    await expect(stored(page, "assistant")).to_have_count(2)
    await expect(stored(page, "assistant").last).to_contain_text("second question, edited")
    assert await page.evaluate(SEQS) == ["1", "2", "3", "4"]
    kept = (await http.get(f"/conversations/{original}")).json()["messages"]
    assert [m["content"] for m in kept][2:] == ["second question", "second answer"]  # untouched

    fork = await page.evaluate("() => location.hash")
    await messages(page, "assistant", "first answer").get_by_role("button", name="A new conversation").click()
    await expect(page).not_to_have_url(f"{api.base_url}/{fork}")
    await expect(messages(page)).to_have_count(2)
    await expect(messages(page, "assistant").locator(".text")).to_have_text("first answer")


async def test_thumbs_up_and_down(
    new_page: NewPage, api: ApiProcess, http: httpx.AsyncClient, admin: psycopg.AsyncConnection[Any]
) -> None:
    conversation_id = await create_conversation(http, ("user", "hi"), ("assistant", "hello"))
    page: Page = await new_page(f"{api.base_url}/#/c/{conversation_id}")
    reply = messages(page, "assistant")
    up, down = reply.get_by_role("button", name="Good answer"), reply.get_by_role("button", name="Bad answer")

    async def rating() -> Any:
        row = await (
            await admin.execute(
                "select rating from public.ai_message_feedback where conversation_id = %s and seq = 2",
                (conversation_id,),
            )
        ).fetchone()
        return row[0] if row else None

    await up.click()
    await expect(up).to_have_attribute("aria-pressed", "true")
    assert await rating() == 1
    await down.click()
    await expect(down).to_have_attribute("aria-pressed", "true")
    await expect(up).to_have_attribute("aria-pressed", "false")
    assert await rating() == -1
    await down.click()
    await expect(page.locator("#notice")).to_have_text("Rating withdrawn.")
    assert await rating() is None
