"""Regenerate in the web client, in Chromium: offered on the last reply only; it answers the
stored question again in place (/chat `regenerate`), the page then shows one reply, the new one,
and the store keeps the replaced reply on the new turn (`ai_turns.superseded`)."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from playwright.async_api import Page, expect

from tests.web.test_client import SEQS, send, stored

pytestmark = pytest.mark.browser

REGENERATE = "#messages article.message button.regenerate"


async def test_regenerate_replaces_the_last_reply_in_place(
    page: Page, admin: psycopg.AsyncConnection[Any]
) -> None:
    await send(page, "Name a colour")
    await expect(stored(page, "assistant")).to_have_count(1)
    await send(page, "Name a fruit")
    await expect(stored(page, "assistant")).to_have_count(2)
    conversation_id = (await page.evaluate("() => location.hash")).removeprefix("#/c/")

    # Only the last reply offers it (the earlier question has an answer the later one built on).
    await expect(page.locator(REGENERATE).locator("visible=true")).to_have_count(1)
    last = stored(page, "assistant").nth(1)
    replaced_id = await last.get_attribute("data-id")
    await last.get_by_role("button", name="Answer the question again").click()

    replies = stored(page, "assistant")
    await expect(replies).to_have_count(2)
    await expect(page.locator(f"#messages article[data-id='{replaced_id}']")).to_have_count(0)
    new_id = await replies.nth(1).get_attribute("data-id")
    assert new_id not in (None, "", replaced_id)
    await expect(replies.nth(1)).to_contain_text("fruit")
    # The question stays where it was; the new reply follows it.
    assert await page.evaluate(SEQS) == ["1", "2", "3", "5"]

    row = await (
        await admin.execute(
            "select t.superseded, t.state from public.ai_turns t"
            " where t.conversation_id = %s order by t.created_at desc limit 1",
            (conversation_id,),
        )
    ).fetchone()
    assert row is not None
    superseded, state = row
    assert state == "completed"
    assert [(m["id"], m["role"]) for m in superseded] == [(replaced_id, "assistant")]

    # What the page shows is what is stored: after a reload, the same messages.
    await page.reload()
    await expect(stored(page, "assistant")).to_have_count(2)
    assert await page.evaluate(SEQS) == ["1", "2", "3", "5"]
    await expect(page.locator(f"#messages article[data-id='{new_id}']")).to_have_count(1)
