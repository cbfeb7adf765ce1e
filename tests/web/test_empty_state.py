"""With nothing to show, the pane tells a new user what to do: how to start a conversation
(with examples that fill the message box), or that the open one has no messages yet."""

from __future__ import annotations

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.harness.processes import ApiProcess
from tests.web.conftest import NewPage
from tests.web.test_client import create_conversation, messages, stored

pytestmark = pytest.mark.browser


async def test_a_new_conversation_says_how_to_start(page: Page) -> None:
    empty = page.locator("#empty-state")
    await expect(empty).to_be_visible()
    await expect(empty.get_by_role("heading")).to_have_text("Start a conversation")
    await expect(empty).to_contain_text("Enter sends it")
    example = empty.get_by_role("button", name="What is 12*(3+4)?")
    await example.click()
    composer = page.locator("#composer-input")
    await expect(composer).to_have_value("What is 12*(3+4)?")  # filled, not sent
    await expect(composer).to_be_focused()
    assert await messages(page).count() == 0
    await composer.press("Enter")
    await expect(empty).to_be_hidden()  # at once, while the reply is written
    await expect(stored(page, "assistant")).to_contain_text("84")
    await expect(empty).to_be_hidden()


async def test_an_empty_conversation_says_so(
    new_page: NewPage, api: ApiProcess, http: httpx.AsyncClient
) -> None:
    conversation_id = await create_conversation(http)
    page = await new_page(f"{api.base_url}/#/c/{conversation_id}")
    empty = page.locator("#empty-state")
    await expect(empty.get_by_role("heading")).to_have_text("No messages yet")
    await expect(page.locator("#suggestions")).to_be_hidden()

    other = await create_conversation(http, ("user", "one"), ("assistant", "two"))
    await page.evaluate(f"() => {{ location.hash = '#/c/{other}'; }}")
    await expect(messages(page)).to_have_count(2)
    await expect(empty).to_be_hidden()
    await page.locator("#action-clear").click()  # the confirmation is accepted
    await expect(messages(page)).to_have_count(0)
    await expect(empty.get_by_role("heading")).to_have_text("No messages yet")
    await page.locator("#new-conversation").click()
    await expect(empty.get_by_role("heading")).to_have_text("Start a conversation")
