"""The agent's card used with the keyboard alone, in real Chromium: Tab to each control, answer with keys.

The card is the insight test's (a real ``purchases`` model over an order
history with known answers, a real ``rules`` section); the agent reaches a
suggestion's ✓ with Tab, answers it with Enter, changes their mind with
Space, and after the call is answered saves a disposition and notes without
touching the mouse.  Every stop on the way must be visible and show where
the focus is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import BrowserContext, Page

from tests.browser.test_insight import KEEP_CARDS, PAPER, insight_settings, item, model_ready, pop
from tests.support.browser import WAIT_MS, card, open_agent_page, ring, screenpop_on
from tests.support.service import ADA
from tests.support.tokens import token_for

pytestmark = pytest.mark.browser

MAX_TABS = 80
"""More stops than the card has controls: a control not reached within them is not reachable."""

# The focused element through shadow roots, with what a sighted keyboard user needs of it.
FOCUSED = """() => {
  let el = document.activeElement;
  while (el && el.shadowRoot && el.shadowRoot.activeElement) el = el.shadowRoot.activeElement;
  if (!el || el === document.body) return null;
  const box = el.getBoundingClientRect();
  const style = getComputedStyle(el);
  const item = el.closest("[data-product]");
  return {
    testid: el.getAttribute("data-testid"),
    product: item ? item.getAttribute("data-product") : null,
    visible: box.width > 0 && box.height > 0 && style.visibility !== "hidden",
    ring: style.outlineStyle !== "none" && parseFloat(style.outlineWidth) > 0,
  };
}"""


async def tab_to(page: Page, testid: str, product: str | None = None) -> list[dict[str, Any]]:
    """Press Tab until ``testid`` (of ``product``) has the focus; every stop passed on the way."""
    stops: list[dict[str, Any]] = []
    for _ in range(MAX_TABS):
        await page.keyboard.press("Tab")
        focused = await page.evaluate(FOCUSED)
        if focused is None:
            continue
        stops.append(focused)
        if focused["testid"] == testid and (product is None or focused["product"] == product):
            return stops
    raise AssertionError(f"{testid} {product or ''} not reached in {MAX_TABS} Tabs: {stops}")


async def test_a_suggestion_is_answered_and_notes_saved_with_the_keyboard_alone(
    chromium: BrowserContext, tmp_path: Path
) -> None:
    """Tab reaches a suggestion's ✓ and ✕ and the notes form; Enter and Space answer; each stop shows it."""
    settings = insight_settings(tmp_path)
    async with screenpop_on(settings) as base:
        await model_ready(base, settings)
        page = await chromium.new_page()
        await open_agent_page(page, base, token_for(settings, "agent-1"))
        await page.evaluate(KEEP_CARDS)
        await pop(page, base, "k-1")
        paper = page.locator(item("k-1", PAPER))

        stops = await tab_to(page, "accept", PAPER)
        await page.keyboard.press("Enter")
        await paper.locator("[data-testid=feedback-status][data-state=saved]").wait_for(timeout=WAIT_MS)
        assert await paper.get_attribute("data-outcome") == "accepted"
        stops += await tab_to(page, "decline", PAPER)
        await page.keyboard.press("Space")
        await page.locator(item("k-1", PAPER) + "[data-outcome=declined] [data-state=saved]").wait_for(
            timeout=WAIT_MS
        )

        await ring(base, "k-1", ADA, event="answered", agent="agent-1")
        await page.locator(card("k-1") + " [data-testid=notes-form]").wait_for(timeout=WAIT_MS)
        stops += await tab_to(page, "disposition")
        await page.keyboard.type("resolved")  # no list configured: any text of 1 to 64 characters
        stops += await tab_to(page, "notes")
        await page.keyboard.type("asked about paper")
        stops += await tab_to(page, "save-notes")
        await page.keyboard.press("Enter")
        status = page.locator(card("k-1") + " [data-testid=notes-status]")
        await page.locator(card("k-1") + " [data-testid=notes-status][data-state=saved]").wait_for(
            timeout=WAIT_MS
        )
        assert "Saved" in await status.inner_text()
        unseen = [s for s in stops if not s["visible"] or not s["ring"]]
        assert not unseen, unseen
