"""A tab opened or reloaded while a call rings for its agent: the card is there, once, with its data.

A fresh hello has no ``resume_from``, so nothing was replayed and the widget
asked for nothing: an agent who reloaded the page in the middle of ringing
lost the card they were about to answer.  Against `screenpop serve` as a
process, on the memory broker and on a real Redis, with the widget embedded
in a host page in headless Chromium.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import BrowserContext, Page

from tests.support.browser import (
    WAIT_MS,
    card,
    connected,
    count_of,
    host_page,
    ring,
    section,
    service_config,
    settings_of,
    sql_accounting,
    write_accounts,
)
from tests.support.ports import free_port
from tests.support.processes import services
from tests.support.service import ADA
from tests.support.tokens import token_for

pytestmark = pytest.mark.browser

GRACE = "+12125550147"


@pytest.fixture(params=["memory", "redis"])
def broker_url(request: pytest.FixtureRequest) -> str:
    if request.param == "memory":
        return "memory://"
    return str(request.getfixturevalue("redis_url"))


def fresh_config(tmp_path: Path, host_port: int, broker_url: str) -> dict[str, Any]:
    """The real sql connector for accounting; the host page's origin is the one allowed."""
    url = write_accounts(
        tmp_path / "accounting.db",
        [(ADA, "A-1001", "Ada Lovelace", 120.5), (GRACE, "A-1002", "Grace Hopper", 0.0)],
    )
    return service_config(
        f"sqlite+aiosqlite:///{tmp_path}/store.db",
        host_port,
        broker={"url": broker_url},
        connectors=[sql_accounting(url)],
    )


async def complete_card(page: Page, call_id: str) -> None:
    """Wait until the card of ``call_id`` is complete, its accounting section filled in."""
    await page.wait_for_selector(card(call_id) + "[data-complete=true]", timeout=WAIT_MS)
    await page.wait_for_selector(section(call_id, "accounting", "ok"), timeout=WAIT_MS)


async def test_a_reloaded_tab_shows_the_calls_still_ringing_or_held_and_not_the_ended_ones(
    chromium: BrowserContext, tmp_path: Path, broker_url: str
) -> None:
    """After a reload the ringing and the held call are back, once; an ended or taken one is not."""
    host_port = free_port()
    config = fresh_config(tmp_path, host_port, broker_url)
    async with services(tmp_path, one=config) as started:
        base = started["one"].base
        token = token_for(settings_of(config), "agent-1")
        async with host_page(host_port, base, token) as desk:
            page = await chromium.new_page()
            await page.goto(desk)
            await connected(page)
            for call_id in ("ringing", "held", "ended", "taken"):
                await ring(base, call_id, ADA, queue="support")
                await complete_card(page, call_id)
            await ring(base, "held", ADA, event="answered", agent="agent-1")
            await ring(base, "ended", ADA, event="ended")
            await ring(base, "taken", ADA, event="answered", agent="agent-2")
            await page.wait_for_selector(card("held") + "[data-status=answered]", timeout=WAIT_MS)

            await page.reload()
            await connected(page)
            await complete_card(page, "ringing")
            await complete_card(page, "held")
            await page.wait_for_selector(card("held") + "[data-status=answered]", timeout=WAIT_MS)
            assert await page.locator(card("ringing")).get_attribute("data-status") == "ringing"
            await ring(base, "later", GRACE, queue="support")  # what the socket brings after them
            await complete_card(page, "later")
            assert [await count_of(page, card(c)) for c in ("ringing", "held", "ended", "taken")] == [
                1,
                1,
                0,
                0,
            ]


async def test_a_card_of_a_call_that_rang_before_the_tab_opened_is_taken_away_by_the_answer(
    chromium: BrowserContext, tmp_path: Path, broker_url: str
) -> None:
    """A new tab shows the call that rang before it opened; another agent's answer then withdraws it."""
    host_port = free_port()
    config = fresh_config(tmp_path, host_port, broker_url)
    async with services(tmp_path, one=config) as started:
        base = started["one"].base
        await ring(base, "early", ADA, queue="support")
        async with host_page(host_port, base, token_for(settings_of(config), "agent-1")) as desk:
            page = await chromium.new_page()
            await page.goto(desk)
            await connected(page)
            await complete_card(page, "early")
            await ring(base, "early", ADA, event="answered", agent="agent-2")
            await page.wait_for_selector(card("early") + "[data-status=withdrawn]", timeout=WAIT_MS)
            assert await count_of(page, card("early")) == 1
