"""A card whose server was killed mid-lookup stops saying "Looking up…".

`screenpop serve` runs as a real child process with a file SQLite store and a
real Redis broker; one scripted connector answers at once, another takes a
few seconds.  The server is SIGKILLed while the slow one runs and started
again on the same port: the widget resumes, and the slow section, which no
server will ever answer now, must be shown as interrupted within the card
deadline plus the widget's margin, never as still looking up.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import BrowserContext

from tests.support.browser import (
    WAIT_MS,
    card,
    open_agent_page,
    ring,
    screenpop_on,
    section,
    service_config,
    settings_of,
)
from tests.support.ports import free_port
from tests.support.served import Served, served_from
from tests.support.service import ADA, SCRIPTED
from tests.support.tokens import token_for

pytestmark = [pytest.mark.browser, pytest.mark.redis]

DEADLINE_MS = 6000
SLOW_MS = 4000
MARGIN_MS = 2000  # web_widget/interrupted.js's MARGIN_MS


@pytest.fixture
def slow_config(tmp_path: Path, redis_url: str) -> dict[str, Any]:
    """A fast and a slow scripted connector, a card deadline longer than the slow one takes."""
    fast = {"name": "accounting", "kind": SCRIPTED, "rows": {ADA: {"name": "Ada Lovelace"}}}
    slow = {"name": "credit", "kind": SCRIPTED, "delay_ms": SLOW_MS, "timeout_ms": DEADLINE_MS}
    slow["rows"] = {ADA: {"limit": 500}}
    return service_config(
        f"sqlite+aiosqlite:///{tmp_path}/store.db",
        free_port(),
        broker={"url": redis_url, "replay_s": 300},
        card={"deadline_ms": DEADLINE_MS},
        connectors=[fast, slow],
    )


@pytest.fixture
def served(tmp_path: Path, slow_config: dict[str, Any]) -> Iterator[Served]:
    with served_from(tmp_path, slow_config) as server:
        yield server


async def test_a_card_cut_off_by_a_killed_server_stops_looking_up(
    chromium: BrowserContext, served: Served, slow_config: dict[str, Any]
) -> None:
    """After SIGKILL mid-lookup and a restart, the pending section reads "interrupted", not "Looking up…"."""
    settings = settings_of(slow_config)
    base = f"http://127.0.0.1:{served.port}"
    page = await chromium.new_page()
    await open_agent_page(page, base, token_for(settings, "agent-1"))
    await ring(base, "cut-off", ADA, agent="agent-1")
    await page.wait_for_selector(section("cut-off", "accounting", "ok"), timeout=WAIT_MS)
    slow = page.locator(section("cut-off", "credit"))
    assert await slow.get_attribute("data-status") == "pending"  # the slow lookup is still running

    served.kill()
    await asyncio.to_thread(served.start)
    await page.wait_for_selector(
        "[data-testid=status-banner][data-state=connected]", state="attached", timeout=15000
    )
    await page.wait_for_selector(
        section("cut-off", "credit", "interrupted"), timeout=DEADLINE_MS + MARGIN_MS + WAIT_MS
    )
    text = await page.locator(card("cut-off")).inner_text()
    assert "Looking up" not in text
    assert "lookup interrupted" in await slow.inner_text()
    assert await page.locator(section("cut-off", "accounting", "ok")).count() == 1
    assert await page.locator(card("cut-off")).get_attribute("data-complete") == "false"


async def test_a_newer_version_after_the_interruption_replaces_it(
    chromium: BrowserContext, served: Served, slow_config: dict[str, Any]
) -> None:
    """A card shown interrupted while its server was down is completed by the version replayed on resuming."""
    settings = settings_of(slow_config)
    base = f"http://127.0.0.1:{served.port}"
    page = await chromium.new_page()
    await open_agent_page(page, base, token_for(settings, "agent-1"))
    other = settings_of({**slow_config, "server": {**slow_config["server"], "port": free_port()}})
    async with screenpop_on(other) as elsewhere:
        # the call rings through another instance of the cluster, which finishes the card in Redis
        await ring(elsewhere, "late", ADA, agent="agent-1")
        await page.wait_for_selector(section("late", "accounting", "ok"), timeout=WAIT_MS)
        assert await page.locator(section("late", "credit")).get_attribute("data-status") == "pending"
        served.kill()  # the widget's own server: the complete version cannot reach it now
        await page.wait_for_selector(
            section("late", "credit", "interrupted"), timeout=DEADLINE_MS + MARGIN_MS + WAIT_MS
        )
        await asyncio.to_thread(served.start)
        await page.wait_for_selector(card("late") + "[data-complete=true]", timeout=15000)
    assert await page.locator(section("late", "credit", "ok")).count() == 1
    assert "interrupted" not in await page.locator(card("late")).inner_text()
