"""How the client looks, checked by its layout and colours, not only by its pictures: desktop,
dark mode (the system's preference and the remembered toggle), and a phone, where the list is a
drawer and the actions a menu while the messages and the composer take the screen.

Each test also takes its screenshot: into `.local/screenshots/`, or into the directory
WEB_SCREENSHOTS names (`WEB_SCREENSHOTS=docs` refreshes docs/web-client-{desktop,dark,phone}.png).
"""

from __future__ import annotations

import asyncio
import os
import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.api.helpers import SERVICE, mint, user_claims
from tests.harness.processes import ApiProcess
from tests.web.conftest import NewPage
from tests.web.server import ROOT, web_api
from tests.web.test_client import append, messages

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(os.environ.get("WEB_SCREENSHOTS") or ROOT / ".local" / "screenshots")
QUESTION = "How do I reverse a string in Python? A table of the options, please."
ANSWER = """Use **slicing**: it is the idiomatic way, and the fastest.

```python
def reverse(text: str) -> str:
    return text[::-1]
```

| way | speed | notes |
|---|---|---|
| `text[::-1]` | fastest | one copy |
| `"".join(reversed(text))` | slower | any iterable |

> Strings are immutable: every way builds a new one. See [the docs](https://docs.python.org/3/library/stdtypes.html)."""


class Person:
    """A user of an auth-required API with a few conversations of its own (a clean sidebar)."""

    def __init__(self, api: ApiProcess) -> None:
        self.api = api
        self.id = uuid.uuid4()
        self.token = mint(user_claims(self.id, email="ada@example.com"))
        self.conversation_id = ""

    async def seed(self) -> None:
        async with httpx.AsyncClient(base_url=self.api.base_url, headers=SERVICE, timeout=10) as http:
            for title in ("Trip to Lisbon", "Weekly report draft"):
                created = await http.post(
                    "/conversations", json={"user_id": str(self.id), "ttl_hours": 1, "metadata": {}}
                )
                assert created.status_code == 201, created.text
                cid = created.json()["conversation_id"]
                await append(http, cid, "user", f"{title}: where do we start?")
                assert (await http.patch(f"/conversations/{cid}", json={"title": title})).status_code == 200
            created = await http.post("/conversations", json={"user_id": str(self.id), "ttl_hours": 1})
            self.conversation_id = created.json()["conversation_id"]
            await append(http, self.conversation_id, "user", QUESTION)
            await append(http, self.conversation_id, "assistant", ANSWER)

    async def open(self, new_page: NewPage, **options: Any) -> Page:
        page = await new_page(**options)
        await page.goto(f"{self.api.base_url}/#/c/{self.conversation_id}")
        await page.locator("#token").fill(self.token)
        await page.locator("#token").press("Enter")
        await expect(messages(page, "assistant").locator(".code-block")).to_be_visible()
        await expect(page.locator("#conversation-list button.conversation")).to_have_count(3)
        return page


@pytest.fixture(scope="module")
async def api_for_layout() -> AsyncIterator[ApiProcess]:
    server = web_api("web-layout", auth="required")
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def person(api_for_layout: ApiProcess) -> Person:
    person = Person(api_for_layout)
    await person.seed()
    return person


def luminance(css: str) -> float:
    """WCAG relative luminance of a computed `rgb(r, g, b)` colour."""
    channels = [int(c) / 255 for c in re.findall(r"\d+", css)[:3]]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(one: str, other: str) -> float:
    light, dark = sorted((luminance(one), luminance(other)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


async def colour(page: Page, selector: str, prop: str) -> str:
    value: str = await page.locator(selector).first.evaluate(f"(e) => getComputedStyle(e).{prop}")
    return value


async def box(page: Page, selector: str) -> dict[str, float]:
    found = await page.locator(selector).first.bounding_box()
    assert found is not None, f"{selector} has no box"
    return found


async def screenshot(page: Page, name: str) -> None:
    await asyncio.to_thread(SCREENSHOTS.mkdir, parents=True, exist_ok=True)
    await page.locator("#composer-input").blur()
    await page.screenshot(path=str(SCREENSHOTS / f"web-client-{name}.png"))


async def test_desktop(new_page: NewPage, person: Person) -> None:
    page = await person.open(new_page, viewport={"width": 1280, "height": 800}, color_scheme="light")
    sidebar = await box(page, "#sidebar")
    assert sidebar["x"] == 0
    assert 250 <= sidebar["width"] <= 320, sidebar
    for hidden in ("#menu-toggle", "#actions-toggle", "#drawer-backdrop"):
        await expect(page.locator(hidden)).to_be_hidden()
    await expect(page.locator("#action-delete")).to_be_in_viewport()  # the actions sit in the header
    assert (await box(page, "#composer-input"))["width"] >= 700
    assert await page.locator(":root").get_attribute("data-theme") == "light"
    assert luminance(await colour(page, "body", "backgroundColor")) > 0.85
    await screenshot(page, "desktop")


async def test_dark_mode_follows_the_system(new_page: NewPage, person: Person) -> None:
    page = await person.open(new_page, viewport={"width": 1280, "height": 800}, color_scheme="dark")
    await expect(page.locator(":root")).to_have_attribute("data-theme", "dark")
    await expect(page.locator("#theme-toggle")).to_have_attribute("aria-pressed", "true")
    background = await colour(page, "body", "backgroundColor")
    assert luminance(background) < 0.02, background
    assert contrast(await colour(page, "body", "color"), background) >= 12
    panel = await colour(page, ".message.role-assistant", "backgroundColor")
    assert luminance(panel) < 0.03, panel
    assert contrast(await colour(page, ".message.role-assistant .markdown p", "color"), panel) >= 12
    assert contrast(await colour(page, ".markdown a", "color"), panel) >= 4.5  # WCAG AA for links
    assert luminance(await colour(page, ".code-block pre", "backgroundColor")) < 0.02
    for text, background in (("#sidebar .identity", "#sidebar"), ("#send", "#send")):
        pair = await colour(page, text, "color"), await colour(page, background, "backgroundColor")
        assert contrast(*pair) >= 4.5, (text, pair)
    await screenshot(page, "dark")


async def test_the_theme_toggle_is_remembered(new_page: NewPage, api: ApiProcess) -> None:
    page = await new_page(f"{api.base_url}/", color_scheme="light")
    toggle = page.locator("#theme-toggle")
    root = page.locator(":root")
    await expect(root).to_have_attribute("data-theme", "light")
    await toggle.click()
    await expect(root).to_have_attribute("data-theme", "dark")
    await expect(toggle).to_have_attribute("aria-pressed", "true")
    assert luminance(await colour(page, "body", "backgroundColor")) < 0.02
    assert await page.evaluate("() => localStorage.getItem('conversations.theme')") == "dark"

    await page.reload()
    await expect(root).to_have_attribute("data-theme", "dark")  # remembered
    # Picking what the system prefers forgets the pick: the page follows the system again.
    await toggle.click()
    await expect(root).to_have_attribute("data-theme", "light")
    assert await page.evaluate("() => localStorage.getItem('conversations.theme')") is None
    await page.emulate_media(color_scheme="dark")
    await expect(root).to_have_attribute("data-theme", "dark")


async def test_phone(new_page: NewPage, person: Person) -> None:
    page = await person.open(new_page, viewport={"width": 390, "height": 844}, color_scheme="light")
    width = 390
    assert await page.evaluate("() => document.documentElement.scrollWidth") <= width
    sidebar = page.locator("#sidebar")
    menu = page.locator("#menu-toggle")
    # The list waits off-screen; the conversation has the screen.
    await expect(sidebar).to_be_hidden()
    closed = await box(page, "#sidebar")
    assert closed["x"] + closed["width"] <= 0, closed
    await expect(menu).to_be_visible()
    await expect(menu).to_have_attribute("aria-expanded", "false")
    composer = await box(page, "#composer")
    assert composer["width"] >= width - 1, composer
    assert composer["y"] + composer["height"] <= 844, composer
    assert (await box(page, "#composer-input"))["width"] >= 260
    message_list = await box(page, "#messages")
    assert message_list["width"] >= width - 1, message_list
    assert message_list["height"] >= 560, message_list
    assert (await box(page, ".conversation-header"))["height"] <= 64  # one row: title and ⋯
    await expect(page.locator("#actions")).to_be_hidden()
    code = await box(page, ".code-block")
    assert code["x"] >= 0, code
    assert code["x"] + code["width"] <= width, code  # wide code scrolls inside its block
    await screenshot(page, "phone")

    # ☰ opens the drawer over the conversation; the backdrop or Escape closes it.
    await menu.click()
    await expect(menu).to_have_attribute("aria-expanded", "true")
    await expect(sidebar).to_be_in_viewport(ratio=1)
    await expect(page.locator("#drawer-backdrop")).to_be_visible()
    await expect(page.locator("#new-conversation")).to_be_focused()
    await page.locator("#drawer-backdrop").click(position={"x": 370, "y": 400})
    await expect(sidebar).to_be_hidden()
    await menu.click()
    await expect(sidebar).to_be_in_viewport(ratio=1)
    await page.keyboard.press("Escape")
    await expect(sidebar).to_be_hidden()
    await expect(menu).to_be_focused()

    # Choosing a conversation opens it and closes the drawer.
    await menu.click()
    await page.locator("#conversation-list button.conversation", has_text="Trip to Lisbon").click()
    await expect(sidebar).to_be_hidden()
    await expect(page.locator("#conversation-title")).to_have_text("Trip to Lisbon")

    # The actions are a menu behind ⋯, closed again once one is chosen.
    actions = page.locator("#actions")
    await page.locator("#actions-toggle").click()
    await expect(actions).to_be_visible()
    for action in ("#action-rename", "#action-extend", "#action-export", "#action-clear", "#action-delete"):
        await expect(page.locator(action)).to_be_in_viewport(ratio=1)
    await page.locator("#action-extend").click()
    await expect(actions).to_be_hidden()
    await expect(page.locator("#notice")).to_contain_text("Extended")
    await page.locator("#actions-toggle").click()
    await page.locator("#messages").click()  # a tap outside closes it
    await expect(actions).to_be_hidden()
