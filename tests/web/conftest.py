"""Browser tests: Debian's Chromium, driven by Playwright, against the real API in its own
process (tests/web/server.py) on the real database.

The browser is launched by its path: no browser is ever downloaded (never `playwright
install`); `make deps` installs the `chromium` package. Every page's requests to anything but
this machine are aborted, so the tests also prove the client needs no outside resource. A
failing test leaves a screenshot of each of its pages in `.local/screenshots/`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Dialog, Page, Playwright, Route, async_playwright

from app.auth.loopback import is_loopback
from tests.harness.processes import ApiProcess
from tests.web.server import ROOT, web_api

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = ROOT / ".local" / "screenshots"
# The tests' own requests need no log lines (nor a handler another suite's app set up).
logging.getLogger("httpx").setLevel(logging.WARNING)
REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()

NewPage = Callable[..., Awaitable[Page]]


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[pytest.TestReport]:
    """Keeps each phase's report on the test, so fixtures know in teardown whether it failed."""
    report: pytest.TestReport = yield
    item.stash.setdefault(REPORTS, {})[report.when] = report
    return report


@pytest.fixture(scope="session")
async def playwright() -> AsyncIterator[Playwright]:
    async with async_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def chromium() -> Path:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `make deps` installs Debian's chromium package (as root)")
    return CHROMIUM


@pytest.fixture(scope="session")
async def browser(playwright: Playwright, chromium: Path) -> AsyncIterator[Browser]:
    browser = await playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
    yield browser
    await browser.close()


@pytest.fixture(scope="session")
async def api() -> AsyncIterator[ApiProcess]:
    """The API as `make run` serves it (API_AUTH=disabled), shared by the session."""
    server = web_api("web-shared")
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def http(api: ApiProcess) -> AsyncIterator[httpx.AsyncClient]:
    """Requests to the shared API from outside the browser (another client of the same store)."""
    async with httpx.AsyncClient(base_url=api.base_url, timeout=10) as client:
        yield client


async def _outside_only_loopback(route: Route) -> None:
    host = urlsplit(route.request.url).hostname or ""
    if route.request.url.startswith(("data:", "blob:")) or is_loopback(host):
        await route.continue_()
    else:
        await route.abort("internetdisconnected")


async def _accept(dialog: Dialog) -> None:
    await dialog.accept()


@pytest.fixture
async def new_page(browser: Browser, request: pytest.FixtureRequest) -> AsyncIterator[NewPage]:
    """`await new_page(url)`: a page in a browser context of its own (its own sessionStorage,
    like another browser), with dialogs accepted, outside requests aborted, and page errors
    collected: a test fails if its page threw. Screenshots every page when the test failed."""
    contexts: list[BrowserContext] = []
    pages: list[Page] = []
    errors: list[str] = []

    async def open_page(url: str | None = None, **options: Any) -> Page:
        options.setdefault("viewport", {"width": 1200, "height": 800})
        context = await browser.new_context(accept_downloads=True, **options)
        contexts.append(context)
        await context.route("**/*", _outside_only_loopback)
        page = await context.new_page()
        pages.append(page)
        page.on("dialog", _accept)
        page.on("pageerror", lambda error: errors.append(str(error)))
        if url is not None:
            await page.goto(url)
        return page

    yield open_page
    reports = request.node.stash.get(REPORTS, {})
    if any(report.failed for report in reports.values()):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^\w.-]+", "_", request.node.name)
        for n, page in enumerate(pages):
            if not page.is_closed():
                await page.screenshot(path=str(SCREENSHOTS / f"{name}-{n}.png"), full_page=True)
    for context in contexts:
        await context.close()
    assert not errors, f"the page threw: {errors}"


@pytest.fixture
async def page(new_page: NewPage, api: ApiProcess) -> Page:
    """The client at `/` of the shared API."""
    return await new_page(f"{api.base_url}/")
