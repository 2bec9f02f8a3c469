"""A section's ``date`` field shows the day the connector gave, for an agent east of UTC.

A SQL ``timestamp`` column holding a day reaches the card as its naive
midnight (``2026-11-22T00:00:00``); Chromium is set to Berlin's zone as an
agent's machine there would be.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import BrowserContext

from tests.support.browser import (
    WAIT_MS,
    open_agent_page,
    ring,
    screenpop_on,
    section,
    service_config,
    settings_of,
)
from tests.support.ports import free_port
from tests.support.service import ADA, SCRIPTED
from tests.support.tokens import token_for

pytestmark = pytest.mark.browser

BILLING = {
    "name": "billing",
    "kind": SCRIPTED,
    "delay_ms": 10,
    "rows": {ADA: {"due": "2026-11-22T00:00:00", "paid": "2026-11-20T00:00:00Z"}},
    "display": {
        "title": "Billing",
        "fields": {"due": {"label": "Due", "format": "date"}, "paid": {"label": "Paid", "format": "date"}},
    },
}


async def test_a_naive_midnight_date_is_that_day_in_berlin(chromium: BrowserContext, tmp_path: Path) -> None:
    """An agent in Berlin reads "Nov 22, 2026" for a due date of 2026-11-22, not the day before."""
    config = service_config(f"sqlite+aiosqlite:///{tmp_path}/store.db", free_port(), connectors=[BILLING])
    settings = settings_of(config)
    page = await chromium.new_page()
    cdp = await chromium.new_cdp_session(page)
    await cdp.send("Emulation.setTimezoneOverride", {"timezoneId": "Europe/Berlin"})
    async with screenpop_on(settings) as base:
        await open_agent_page(page, base, token_for(settings, "agent-1"))
        await ring(base, "due-1", ADA)
        billing = page.locator(section("due-1", "billing", "ok"))
        await billing.wait_for(timeout=WAIT_MS)
        due = billing.locator("[data-testid=field][data-field=due] [data-testid=field-value]")
        paid = billing.locator("[data-testid=field][data-field=paid] [data-testid=field-value]")
        assert await due.inner_text() == "Nov 22, 2026"
        assert await paid.inner_text() == "Nov 20, 2026"
