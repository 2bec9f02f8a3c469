"""The agent's card used with the keyboard alone, in real Chromium: Tab to each control, answer with keys.

The card has a real ``purchases`` section over an order history written
here (Ada re-buys copy paper every 30 days, so paper is her likely next
item) beside the real ``sql`` accounting section; the agent reaches a
suggestion's ✓ with Tab, answers it with Enter, changes their mind with
Space, and after the call is answered saves a disposition and notes without
touching the mouse.  Every stop on the way must be visible and show where
the focus is.
"""

from __future__ import annotations

import contextlib
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from playwright.async_api import BrowserContext, Page

from screenpop.config import Settings
from tests.support.browser import (
    MODELS_WITHIN_S,
    WAIT_MS,
    card,
    open_agent_page,
    ring,
    screenpop_on,
    section,
    service_config,
    settings_of,
    sql_accounting,
    write_accounts,
)
from tests.support.ports import free_port
from tests.support.service import ADA, api
from tests.support.tokens import token_for
from tests.support.waiting import wait_for

pytestmark = pytest.mark.browser

PAPER = "P-PAPER"


def keyboard_settings(tmp_path: Path) -> Settings:
    """accounting (sql) and insight (purchases over Ada's paper, bought every 30 days, last 20 days ago)."""
    accounts = write_accounts(tmp_path / "accounting.db", [(ADA, "A-1001", "Ada Lovelace", 120.5)])
    now = datetime.now(UTC)
    rows = [
        ("A-1001", PAPER, "Copy paper", (now - timedelta(days=20 + 30 * k, hours=2)).isoformat())
        for k in range(6)
    ]
    with contextlib.closing(sqlite3.connect(tmp_path / "orders.db")) as db, db:
        db.execute("CREATE TABLE lines (customer TEXT, product TEXT, product_name TEXT, at TEXT)")
        db.executemany("INSERT INTO lines VALUES (?, ?, ?, ?)", rows)
    insight = {
        "name": "insight",
        "kind": "purchases",
        "url": f"sqlite+aiosqlite:///{tmp_path / 'orders.db'}",
        "needs": ["accounting.account_id"],
        "history_query": "SELECT customer, product, product_name, at FROM lines",
    }
    store = f"sqlite+aiosqlite:///{tmp_path}/store.db"
    return settings_of(service_config(store, free_port(), connectors=[sql_accounting(accounts), insight]))


async def model_ready(base: str, settings: Settings) -> None:
    """The purchases model is built in the background after start-up: wait until a lookup has it."""
    token = token_for(settings, "agent-3")

    async def ready() -> bool:
        status, found = await api(base, "GET", f"/api/lookup?number={quote(ADA)}", token)
        return status == 200 and found["sections"]["insight"]["status"] == "ok"

    await wait_for(ready, within=MODELS_WITHIN_S, what="the purchases model")


def item(call_id: str, product: str) -> str:
    return section(call_id, "insight", "ok") + f" [data-testid=suggestion][data-product={product}]"


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
    settings = keyboard_settings(tmp_path)
    async with screenpop_on(settings) as base:
        await model_ready(base, settings)
        page = await chromium.new_page()
        await open_agent_page(page, base, token_for(settings, "agent-1"))
        await ring(base, "k-1", ADA, agent="agent-1")
        await page.wait_for_selector(card("k-1") + "[data-complete=true]", timeout=WAIT_MS)
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
