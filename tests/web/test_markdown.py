"""Replies are markdown, formatted by marked and sanitised by DOMPurify (app/web/js/markdown.js):
formatting shows, injection payloads stay inert (no script runs, nothing they name is fetched,
no dialog), code blocks copy to the clipboard, and the page's Trusted Types policy refuses any
HTML string that did not go through DOMPurify."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from playwright.async_api import Dialog, Page, Request, expect

from tests.harness.processes import ApiProcess
from tests.web.conftest import NewPage
from tests.web.test_client import create_conversation, messages, send, stored

pytestmark = pytest.mark.browser

FORMATTED = """Use **slicing**: it is the *idiomatic* way.

```python
def reverse(text: str) -> str:
    return text[::-1]
```

| way | speed |
|---|---|
| `s[::-1]` | fastest |

1. Slicing copies once.
2. `reversed()` gives an iterator.

> Strings are immutable.

See [the docs](https://docs.python.org/3/library/stdtypes.html#str) or <https://example.com/auto>."""

# Each sets window.pwned (or calls alert) if it ever runs.
PAYLOADS = {
    "script": "<script>window.pwned = 'script'</script> after the script",
    "img onerror": '<img src="/pwned-img" onerror="window.pwned = \'img\'">',
    "javascript link": "[click me](javascript:window.pwned='link')",
    "javascript link, disguised": "[click me too](JaVaScRiPt&#58;window.pwned='link2')",
    "raw anchor": "<a href=\"javascript:window.pwned='anchor'\">raw anchor</a>",
    "iframe": "<iframe src=\"javascript:parent.pwned='iframe'\"></iframe>"
    "<iframe srcdoc=\"<script>parent.pwned='srcdoc'</script>\"></iframe>",
    "svg": "<svg onload=\"window.pwned='svg'\"><script>window.pwned='svg2'</script></svg>",
    "details ontoggle": "<details open ontoggle=\"window.pwned='details'\"><summary>x</summary></details>",
    "style": "<style>body { display: none }</style>",
    "markdown image breaking out": "![alt\" onerror=\"window.pwned='md-img'](/pwned-md-img)",
    "markdown image, javascript": "![pic](javascript:window.pwned='img-js')",
    "autolink": "<javascript:window.pwned='autolink'>",
    "data url": "[data](data:text/html;base64,PHNjcmlwdD5wYXJlbnQucHduZWQ9MTwvc2NyaXB0Pg==)",
    "mutation xss": "<math><mtext><table><mglyph><style>"
    "<img src=/pwned-mxss onerror=\"window.pwned='mxss'\">",
    "form": '<form action="https://example.com/steal"><input name="q"><button>go</button></form>',
    "html in link text": "[<img src=/pwned-link onerror=window.pwned='linktext'>](https://example.com/)",
    "alert": "<img src=/pwned-alert onerror=alert(1)><script>alert(2)</script>[x](javascript:alert(3))",
}

# What may exist in a reply: markdown's elements and the code blocks' Copy buttons.
FORBIDDEN = (
    "script, iframe, img, svg, math, style, form, object, embed, details, link, meta, base, button:not(.copy)"
)
INSPECT = """() => {
  const found = [];
  for (const element of document.querySelectorAll("#messages .markdown *")) {
    for (const { name, value } of element.attributes) {
      const loaded = ["style", "srcdoc", "src"].includes(name);
      if (name.startsWith("on") || loaded) found.push(`${element.tagName} ${name}`);
      const safe = /^(https?:|mailto:)/i.test(value);
      if (name === "href" && !safe) found.push(`${element.tagName} href=${value}`);
    }
  }
  return found;
}"""


class Watch:
    """What a page did that a sanitised reply never makes it do."""

    def __init__(self, page: Page) -> None:
        self.dialogs: list[str] = []
        self.fetched: list[str] = []
        page.on("dialog", self.on_dialog)
        page.on("request", self.on_request)

    def on_dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(dialog.message)

    def on_request(self, request: Request) -> None:
        if "pwned" in request.url or request.url.startswith("javascript:"):
            self.fetched.append(request.url)


async def assert_inert(page: Page, watch: Watch) -> None:
    assert await page.locator(f"#messages .markdown :is({FORBIDDEN})").count() == 0
    assert await page.evaluate(INSPECT) == []
    for link in await page.locator("#messages .markdown a[href]").all():
        await expect(link).to_have_attribute("rel", "noopener noreferrer")
        await expect(link).to_have_attribute("target", "_blank")
    # A link whose URL was removed stays text in an <a>: following it does nothing.
    for link in await page.locator("#messages .markdown a:not([href])").all():
        await link.click()
    assert await page.evaluate("() => window.pwned") is None
    assert watch.dialogs == []
    assert watch.fetched == []
    await expect(page.locator("body")).to_be_visible()  # the <style> payload hid nothing


async def test_a_reply_is_formatted(new_page: NewPage, api: ApiProcess, http: httpx.AsyncClient) -> None:
    conversation_id = await create_conversation(
        http, ("user", "**not bold** <b>typed</b>"), ("assistant", FORMATTED)
    )
    page = await new_page(f"{api.base_url}/#/c/{conversation_id}")
    reply = messages(page, "assistant").locator(".markdown")
    await expect(reply.locator("strong")).to_have_text("slicing")
    await expect(reply.locator("em")).to_have_text("idiomatic")
    await expect(reply.locator(".code-block .code-language")).to_have_text("python")
    await expect(reply.locator(".code-block pre code.language-python")).to_contain_text("return text[::-1]")
    await expect(reply.locator("table td").first).to_have_text("s[::-1]")
    await expect(reply.locator("ol li")).to_have_count(2)
    await expect(reply.locator("blockquote")).to_have_text("Strings are immutable.")
    docs = reply.get_by_role("link", name="the docs")
    await expect(docs).to_have_attribute("href", "https://docs.python.org/3/library/stdtypes.html#str")
    await expect(docs).to_have_attribute("rel", "noopener noreferrer")
    await expect(docs).to_have_attribute("target", "_blank")
    await expect(reply.get_by_role("link", name="https://example.com/auto")).to_have_count(1)
    # What a person typed is shown as typed, never formatted.
    mine = messages(page, "user").locator(".text")
    await expect(mine).to_have_text("**not bold** <b>typed</b>")
    assert await mine.locator("strong, b").count() == 0


async def test_injection_payloads_are_inert(
    new_page: NewPage, api: ApiProcess, http: httpx.AsyncClient
) -> None:
    conversation_id = await create_conversation(
        http, ("user", "show me"), *(("assistant", payload) for payload in PAYLOADS.values())
    )
    page = await new_page()
    watch = Watch(page)
    await page.goto(f"{api.base_url}/#/c/{conversation_id}")
    await expect(messages(page, "assistant")).to_have_count(len(PAYLOADS))
    await assert_inert(page, watch)
    # HTML written in a reply is shown as the text it is.
    shown = messages(page, "assistant").locator(".markdown")
    await expect(shown.nth(0)).to_have_text("<script>window.pwned = 'script'</script> after the script")
    await expect(shown.nth(1)).to_contain_text("onerror=")
    await expect(shown.nth(2).locator("a")).to_have_text("click me")


async def test_a_streamed_reply_is_sanitised_as_it_grows(new_page: NewPage, api: ApiProcess) -> None:
    """The offline model echoes the message, so the reply carries the payload while it streams."""
    page = await new_page()
    watch = Watch(page)
    await page.goto(f"{api.base_url}/")
    payload = '<img src="/pwned-stream" onerror="window.pwned=1"> <script>window.pwned=2</script>'
    await send(page, payload)
    reply = stored(page, "assistant")
    await expect(reply).to_have_count(1)
    await expect(reply.locator(".markdown")).to_contain_text(payload)
    await assert_inert(page, watch)


async def test_only_dompurify_may_write_html(page: Page) -> None:
    """The Content-Security-Policy requires Trusted Types: a string assigned to an HTML sink
    throws, so no code path can put unsanitised markup into the page."""
    await expect(page.locator("#app")).to_be_visible()
    error = await page.evaluate(
        """() => {
          try { document.getElementById("messages").innerHTML = "<img src=x onerror=window.pwned=1>"; }
          catch (error) { return `${error.name}: ${error.message}`; }
          return null;
        }"""
    )
    assert error is not None
    assert error.startswith("TypeError"), error
    assert "TrustedHTML" in error, error
    assert await page.evaluate("() => window.pwned") is None


async def test_copy_a_code_block(new_page: NewPage, api: ApiProcess, http: httpx.AsyncClient) -> None:
    conversation_id = await create_conversation(http, ("user", "code please"), ("assistant", FORMATTED))
    page = await new_page(
        f"{api.base_url}/#/c/{conversation_id}", permissions=["clipboard-read", "clipboard-write"]
    )
    block = messages(page, "assistant").locator(".code-block")
    copy = block.get_by_role("button", name="Copy the code")
    await copy.click()
    await expect(copy).to_have_text("Copied")
    copied = await page.evaluate("() => navigator.clipboard.readText()")
    assert copied == "def reverse(text: str) -> str:\n    return text[::-1]\n"
    await expect(copy).to_have_text("Copy")  # the label comes back


async def test_without_its_libraries_the_page_shows_plain_text(
    new_page: NewPage, api: ApiProcess, http: httpx.AsyncClient
) -> None:
    """A server whose node_modules lacks them (no `make deps`): replies are text, as safe."""
    conversation_id = await create_conversation(
        http, ("user", "hi"), ("assistant", "**bold** <img src=/pwned-plain onerror=window.pwned=1>")
    )
    page = await new_page()
    watch = Watch(page)

    async def missing(route: Any) -> None:
        await route.fulfill(status=404, body="not found")

    await page.route("**/vendor/**", missing)
    await page.goto(f"{api.base_url}/#/c/{conversation_id}")
    await expect(page.locator("#banner")).to_contain_text("Replies are shown as plain text")
    reply = messages(page, "assistant").locator(".markdown")
    await expect(reply).to_have_text("**bold** <img src=/pwned-plain onerror=window.pwned=1>")
    await assert_inert(page, watch)
