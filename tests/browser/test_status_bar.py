"""The widget's chrome in a real Chromium: who is signed in, the sound button, what is announced.

The toolbar, the banner and the screen-reader announcements are
``status-bar.js``; the banner's states are covered where they arise
(test_cards, test_restart, test_token_refresh).  Here: the toolbar names the
agent and the connection, the sound button flips what it says and
``aria-pressed``, and a ringing call and its answer by another agent are
announced in the live region, in words.
"""

from __future__ import annotations

from pathlib import Path

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
    sql_accounting,
    write_accounts,
)
from tests.support.ports import free_port
from tests.support.service import ADA
from tests.support.tokens import token_for

pytestmark = pytest.mark.browser


async def announced(page: Page, text: str) -> None:
    """Wait until the live region says ``text`` (it is cleared, then filled, so a repeat is read too)."""
    await page.wait_for_function(
        """(text) => {
            const el = document.querySelector("screenpop-card");
            const live = el && el.shadowRoot.querySelector("[data-testid=live-region]");
            return live !== null && live.textContent === text;
        }""",
        arg=text,
        timeout=WAIT_MS,
    )


async def test_toolbar_sound_button_and_announcements(chromium: BrowserContext, tmp_path: Path) -> None:
    url = write_accounts(tmp_path / "accounting.db", [(ADA, "A-1001", "Ada Lovelace", 120.5)])
    config = service_config(
        f"sqlite+aiosqlite:///{tmp_path}/store.db", free_port(), connectors=[sql_accounting(url)]
    )
    settings = settings_of(config)
    async with screenpop_on(settings) as base:
        page = await chromium.new_page()
        await open_agent_page(page, base, token_for(settings, "agent-1"))
        dot = page.locator("[data-testid=status-banner][data-state=connected]")
        await dot.wait_for(state="attached", timeout=WAIT_MS)
        assert (await page.locator("[data-testid=agent]").inner_text()).startswith("agent-1")

        sound = page.locator("[data-testid=sound-toggle]")
        assert (await sound.inner_text(), await sound.get_attribute("aria-pressed")) == ("Sound on", "true")
        await sound.click()
        assert (await sound.inner_text(), await sound.get_attribute("aria-pressed")) == ("Sound off", "false")
        await sound.click()
        assert (await sound.inner_text(), await sound.get_attribute("aria-pressed")) == ("Sound on", "true")

        await ring(base, "c-said", ADA, queue="support")
        # announced at first sight: the caller's name comes with the accounting section, after it
        await announced(page, "Incoming call: Unknown caller, (415) 555-0132.")
        await page.wait_for_selector(f"{card('c-said')}[data-complete=true]", timeout=WAIT_MS)
        await ring(base, "c-said", ADA, event="answered", agent="agent-2")
        await announced(page, "Call from Ada Lovelace was taken by agent-2.")
