"""Search snippets in the web client (issue 22, item 11): the API escapes the content around the
<mark> highlights; the page shows the message's own characters, highlights as <mark>, and never
parses the snippet as HTML (a message's markup stays text)."""

from __future__ import annotations

import uuid

import httpx
import pytest
from playwright.async_api import expect

from tests.harness.processes import ApiProcess
from tests.web.conftest import NewPage
from tests.web.test_client import create_conversation

pytestmark = pytest.mark.browser


async def test_a_snippet_shows_the_message_text_not_its_markup(
    new_page: NewPage, api: ApiProcess, http: httpx.AsyncClient
) -> None:
    word = f"axolotl{uuid.uuid4().hex[:8]}"
    text = f"<img src=x onerror=window.pwned=1> the {word} & \"quoted\" and 'single' ok"
    await create_conversation(http, ("user", text))
    page = await new_page(f"{api.base_url}/")
    await page.locator("#search-input").fill(word)
    await page.locator("#search-input").press("Enter")
    snippet = page.locator("#search-results button.conversation .snippet")
    await expect(snippet).to_have_count(1)
    await expect(snippet.locator("mark")).to_have_text(word)
    await expect(snippet).to_contain_text(f'{word} & "quoted" and \'single')  # entities shown as characters
    assert await snippet.locator("img").count() == 0
    assert await page.evaluate("() => window.pwned === undefined")
