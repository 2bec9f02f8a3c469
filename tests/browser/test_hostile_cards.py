"""The widget in real Chromium with a card built to break it: huge, hostile, right-to-left, nested.

Fifty real (scripted) connectors answer for one number with 5,000-character
values, markup, a bidi override, nested JSON, nulls and numbers sent as
strings.  The page hooks ``alert`` and counts what an injected handler would
run, so "nothing executes" is checked in the browser itself, and the layout
is measured in the page: no value may grow the card without bound, and the
card's buttons stay where a pointer and a keyboard can reach them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import BrowserContext, Page

from tests.support.browser import (
    WAIT_MS,
    card,
    open_agent_page,
    ring,
    screenpop_on,
    service_config,
    settings_of,
)
from tests.support.ports import free_port
from tests.support.service import ADA, SCRIPTED
from tests.support.tokens import token_for

pytestmark = pytest.mark.browser

HOSTILE = '<img src=x onerror="window.__ran++"></script><script>window.__ran++</script>'
BIDI = "\u202e"
RTL = BIDI + "عميل مهم שלום"
SECTIONS = 50
LONG = 5000
TALLEST_VALUE_PX = 200
"""About ten lines: a longer value scrolls inside its own box instead of pushing the card's buttons away."""
HOOK = "window.__ran = 0; window.alert = window.confirm = window.prompt = () => { window.__ran++; };"

# Every text node and element of the widget's shadow root, measured in the page.
MEASURE = """(callId) => {
  const root = document.querySelector("screenpop-card").shadowRoot;
  const card = root.querySelector(`[data-testid=card][data-call-id="${callId}"]`);
  const values = [...card.querySelectorAll(
    "[data-testid=field-value], td[data-field], [data-testid^=caller-], .history-notes, .handoff-text")];
  const words = [];
  const walker = document.createTreeWalker(card, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    if (n.textContent === "Unavailable") {
      const range = document.createRange();
      range.selectNodeContents(n);
      words.push(range.getClientRects().length);
    }
  }
  const dismiss = card.querySelector("[data-testid=dismiss]").getBoundingClientRect();
  const atDismiss = root.elementFromPoint(dismiss.x + dismiss.width / 2, dismiss.y + dismiss.height / 2);
  return {
    tallest: Math.max(...values.map((v) => v.getBoundingClientRect().height)),
    unavailableLines: words,
    dismissOnTop: atDismiss && atDismiss.getAttribute("data-testid") === "dismiss",
    markup: root.querySelectorAll("img, script, iframe").length + document.querySelectorAll("img").length,
    bidi: card.innerText.includes("\\u202e"),
    widest: Math.max(card.scrollWidth - card.clientWidth, document.documentElement.scrollWidth - innerWidth),
  };
}"""


def hostile_row(i: int) -> dict[str, Any]:
    """One connector's answer: long (spaced and unbroken), markup, RTL, nested, null, numbers as text."""
    return {
        "long": ("W" * LONG) if i % 2 else ("word " * (LONG // 5)),
        "name": RTL + HOSTILE,
        "nested": {"a": {"b": [1, 2, {"c": None}]}, "x": HOSTILE},
        "nothing": None,
        "amount": "1234.50",
        "items": [{"k": "v" * LONG, "n": None, "html": HOSTILE}] * 3 if i == 1 else None,
    }


def hostile_settings(tmp_path: Path, port: int) -> Any:
    connectors: list[dict[str, Any]] = [
        {"name": f"s{i:02d}", "kind": SCRIPTED, "rows": {ADA: hostile_row(i)}} for i in range(SECTIONS)
    ]
    connectors[0]["identity"] = {"name": "name"}
    connectors.append({"name": "broken", "kind": SCRIPTED, "fail": HOSTILE + " " + "x" * 300})
    config = service_config(f"sqlite+aiosqlite:///{tmp_path / 'store.db'}", port, connectors=connectors)
    config["card"] = {"deadline_ms": 5000}
    return settings_of(config)


async def complete_card(page: Page, call_id: str) -> None:
    await page.wait_for_selector(f"{card(call_id)}[data-complete=true]", timeout=WAIT_MS * 2)


async def test_a_huge_hostile_card_runs_nothing_and_keeps_its_buttons_in_reach(
    chromium: BrowserContext, tmp_path: Path
) -> None:
    """50 sections of 5,000-character, marked-up, RTL, nested values: nothing runs, no value grows on."""
    port = free_port()
    settings = hostile_settings(tmp_path, port)
    async with screenpop_on(settings) as base:
        page = await chromium.new_page()
        await page.set_viewport_size({"width": 1280, "height": 800})
        await page.add_init_script(HOOK)
        await open_agent_page(page, base, token_for(settings, "agent-1"))
        await ring(base, "huge", ADA, agent="agent-1", caller_name=RTL + HOSTILE + "N" * LONG * 4)
        await complete_card(page, "huge")
        measured = await page.evaluate(MEASURE, "huge")
        assert await page.evaluate("window.__ran") == 0
        assert measured["markup"] == 0 and not measured["bidi"]
        assert measured["tallest"] <= TALLEST_VALUE_PX, measured
        assert measured["unavailableLines"] == [1], measured  # the status word is never squeezed apart
        assert measured["dismissOnTop"] and measured["widest"] <= 0, measured
        nested = page.locator(
            f"{card('huge')} [data-section=s02] [data-field=nested] [data-testid=field-value]"
        )
        assert '{"a":{"b":[1,2,{"c":null}]},"x":"<img src=x onerror=' in await nested.inner_text()
        amount = page.locator(
            f"{card('huge')} [data-section=s02] [data-field=amount] [data-testid=field-value]"
        )
        assert await amount.inner_text() == "1234.50"


async def test_hostile_notes_show_as_text_in_the_next_history_and_a_hand_off(
    chromium: BrowserContext, tmp_path: Path
) -> None:
    """A note and a disposition of markup and a bidi override: shown as text later, nothing runs."""
    port = free_port()
    settings = hostile_settings(tmp_path, port)
    note = f"{RTL} {HOSTILE} javascript:window.__ran++ {'n' * 3800}"
    async with screenpop_on(settings) as base:
        page = await chromium.new_page()
        await page.add_init_script(HOOK)
        await open_agent_page(page, base, token_for(settings, "agent-1"))
        await ring(base, "n-1", ADA, agent="agent-1")
        await ring(base, "n-1", ADA, event="answered", agent="agent-1")
        form = page.locator(card("n-1") + " [data-testid=notes-form]")
        await form.wait_for(timeout=WAIT_MS)
        await form.locator("[data-testid=disposition]").fill("<b>x</b>" + BIDI)
        await form.locator("[data-testid=notes]").fill(note)
        await form.locator("[data-testid=save-notes]").click()
        await form.locator("[data-testid=notes-status][data-state=saved]").wait_for(timeout=WAIT_MS)
        other = await chromium.new_page()
        await other.add_init_script(HOOK)
        await open_agent_page(other, base, token_for(settings, "agent-2"))
        await ring(base, "n-1", ADA, event="transferred", agent="agent-2")
        handed = other.locator(card("n-1") + " [data-testid=handoff-note]")
        await handed.wait_for(timeout=WAIT_MS)
        handed_text = await handed.inner_text()
        assert HOSTILE in handed_text and BIDI not in handed_text, handed_text
        assert await other.evaluate("window.__ran") == 0
        measured = await other.evaluate(MEASURE, "n-1")
        assert measured["markup"] == 0 and measured["tallest"] <= TALLEST_VALUE_PX, measured
        await ring(base, "n-2", ADA, agent="agent-1")
        item = page.locator(card("n-2") + " [data-testid=history] [data-testid=history-item]")
        await item.first.wait_for(timeout=WAIT_MS)
        shown = await item.first.inner_text()
        assert HOSTILE in shown and BIDI not in shown, shown
        assert await page.evaluate("window.__ran") == 0
        measured = await page.evaluate(MEASURE, "n-2")
        assert measured["markup"] == 0 and measured["tallest"] <= TALLEST_VALUE_PX, measured


async def test_rows_that_are_not_objects_show_as_one_value_each(
    chromium: BrowserContext, tmp_path: Path
) -> None:
    """`items` of strings, nulls, numbers and lists: one value per row, never a column per character."""
    port = free_port()
    items = {"strs": ["alpha", "beta"], "mixed": [None, 5, [1, 2], {"sku": "P-1"}]}
    connectors = [{"name": n, "kind": SCRIPTED, "rows": {ADA: {"items": v}}} for n, v in items.items()]
    config = service_config(f"sqlite+aiosqlite:///{tmp_path / 'store.db'}", port, connectors=connectors)
    settings = settings_of(config)
    async with screenpop_on(settings) as base:
        page = await chromium.new_page()
        await open_agent_page(page, base, token_for(settings, "agent-1"))
        await ring(base, "rows", ADA, agent="agent-1")
        await complete_card(page, "rows")

        async def table(name: str) -> list[list[str]]:
            rows = page.locator(f"{card('rows')} [data-section={name}] tr")
            return [
                [c.strip() for c in await rows.nth(i).locator("th, td").all_inner_texts()]
                for i in range(await rows.count())
            ]

        assert await table("strs") == [["Value"], ["alpha"], ["beta"]]
        assert await table("mixed") == [
            ["Value", "Sku"],
            ["—", "—"],
            ["5", "—"],
            ["[1,2]", "—"],
            ["—", "P-1"],
        ]
