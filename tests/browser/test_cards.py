"""The agent widget in a real Chromium against the real service, SQLite and a slow HTTP API.

Every test starts screenpop on loopback with the real ``sql`` connector over a
SQLite file it writes, rings calls with correctly signed generic webhooks and
reads what the agent sees through the widget's documented test hooks (its
shadow root is open, so Playwright's CSS selectors reach inside it).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from playwright.async_api import BrowserContext, Dialog, Page, WebSocket

from screenpop.config import Settings
from tests.support.browser import (
    WAIT_MS,
    card,
    connected,
    count_of,
    host_page,
    http_section,
    open_agent_page,
    origin,
    ring,
    screenpop_on,
    section,
    service_config,
    settings_of,
    slow_api,
    sql_accounting,
    write_accounts,
)
from tests.support.ports import free_port
from tests.support.service import ADA
from tests.support.tokens import token_for

pytestmark = pytest.mark.browser

OTHER = "+12125550147"


def accounting_only(tmp_path: Path, rows: list[tuple[str, str, str, float]]) -> Settings:
    """A service whose one connector is the real sql kind over a fresh SQLite table of ``rows``."""
    url = write_accounts(tmp_path / "accounting.db", rows)
    config = service_config(
        f"sqlite+aiosqlite:///{tmp_path}/store.db", free_port(), connectors=[sql_accounting(url)]
    )
    return settings_of(config)


async def agent_page(chromium: BrowserContext, base: str, settings: Settings, agent: str = "agent-1") -> Page:
    page = await chromium.new_page()
    await open_agent_page(page, base, token_for(settings, agent))
    return page


async def see_progressive_card(page: Page, call_id: str) -> None:
    """One page's view of the call: Ada's card, `orders` pending then ok, `crm` timed out."""
    await page.wait_for_selector(card(call_id), timeout=WAIT_MS)
    await page.wait_for_selector(section(call_id, "orders", "pending"), timeout=WAIT_MS)
    crm = page.locator(section(call_id, "crm", "timeout"))
    await crm.wait_for(timeout=WAIT_MS)
    # The timed-out section did not hold the others back: orders is still on its way.
    assert await count_of(page, section(call_id, "orders", "pending")) == 1
    await page.wait_for_selector(section(call_id, "orders", "ok"), timeout=WAIT_MS)
    await page.wait_for_selector(f"{card(call_id)}[data-complete=true]", timeout=WAIT_MS)
    assert await crm.locator("[data-testid=section-status]").inner_text() == "Timed out"
    assert await crm.locator("[data-testid=section-status]").is_visible()
    owner = section(call_id, "orders") + " [data-testid=field][data-field=owner] [data-testid=field-value]"
    assert await page.locator(owner).inner_text() == "Dana Scully"
    name = page.locator(f"{card(call_id)} [data-testid=caller-name]")
    assert await name.inner_text() == "Ada Lovelace"
    balance = section(call_id, "accounting", "ok") + " [data-field=balance] [data-testid=field-value]"
    assert await page.locator(balance).inner_text() == "$120.50"
    assert await count_of(page, card(call_id)) == 1


async def test_card_pops_on_agent_page_and_host_page_progressively(
    chromium: BrowserContext, tmp_path: Path
) -> None:
    """A signed webhook pops the card on /agent and in a host page; sections fill in, a slow one times out."""
    port, host_port, api_port = free_port(), free_port(), free_port()
    url = write_accounts(tmp_path / "accounting.db", [(ADA, "A-1001", "Ada Lovelace", 120.5)])
    async with slow_api(api_port) as api_base:
        config = service_config(
            f"sqlite+aiosqlite:///{tmp_path}/store.db",
            port,
            [origin(host_port)],
            card={"deadline_ms": 4000},
            connectors=[
                sql_accounting(url),
                http_section("orders", api_base, delay_ms=1500, timeout_ms=3000),
                http_section("crm", api_base, delay_ms=5000, timeout_ms=300),
            ],
        )
        settings = settings_of(config)
        async with (
            screenpop_on(settings) as base,
            host_page(host_port, base, token_for(settings, "agent-1")),
        ):
            standalone = await agent_page(chromium, base, settings)
            embedded = await chromium.new_page()
            await embedded.goto(origin(host_port) + "/")
            await connected(embedded)
            await ring(base, "c-pop", ADA, agent="agent-1")
            await asyncio.gather(
                see_progressive_card(standalone, "c-pop"), see_progressive_card(embedded, "c-pop")
            )


async def test_queue_call_taken_by_another_agent_leaves_the_stack(
    chromium: BrowserContext, tmp_path: Path
) -> None:
    """A queue call answered by agent-2 shows "Taken by agent-2" to agent-1, then its card is removed."""
    settings = accounting_only(tmp_path, [(ADA, "A-1001", "Ada Lovelace", 120.5)])
    async with screenpop_on(settings) as base:
        page = await chromium.new_page()
        await page.emulate_media(reduced_motion="reduce")  # removed without the fade-out
        await open_agent_page(page, base, token_for(settings, "agent-1"))
        await ring(base, "q-keep", OTHER, queue="support")
        await ring(base, "q-taken", ADA, queue="support")
        await page.wait_for_selector(
            card("q-taken") + "[data-status=ringing][data-complete=true]", timeout=WAIT_MS
        )
        await ring(base, "q-taken", ADA, event="answered", agent="agent-2")
        taken = page.locator(card("q-taken") + "[data-status=withdrawn] [data-testid=taken-by]")
        await taken.wait_for(timeout=WAIT_MS)
        assert await taken.inner_text() == "Taken by agent-2"
        await page.locator(card("q-taken")).wait_for(state="detached", timeout=8000)
        # Only the call that was taken left; the other ringing call is still there.
        assert await count_of(page, card("q-keep") + "[data-status=ringing]") == 1


async def test_a_call_that_stops_ringing_for_the_agent_leaves_and_a_re_ring_brings_it_back(
    chromium: BrowserContext, tmp_path: Path
) -> None:
    """A `withdrawn` for agent-1 says "No longer ringing for you", the card goes; a new ring pops it again.

    The first card has grown to its last version before the withdrawal, so the
    re-ring is a fresh pop whose versions start again at 1: the widget must
    show it although it held a higher version of the call.
    """
    settings = accounting_only(tmp_path, [(ADA, "A-1001", "Ada Lovelace", 120.5)])
    async with screenpop_on(settings) as base:
        page = await chromium.new_page()
        await page.emulate_media(reduced_motion="reduce")  # removed without the fade-out
        await open_agent_page(page, base, token_for(settings, "agent-1"))
        await ring(base, "w-keep", OTHER, agent="agent-1", at="2026-12-03T10:00:00Z")
        await ring(base, "w-gone", ADA, agent="agent-1", at="2026-12-03T10:00:01Z")
        complete = card("w-gone") + "[data-status=ringing][data-complete=true]"
        await page.wait_for_selector(complete, timeout=WAIT_MS)
        held = int(await page.locator(card("w-gone")).get_attribute("data-version") or "0")
        assert held > 1, held  # the card grew: the re-ring's version 1 is older than what is held

        await ring(base, "w-gone", ADA, event="withdrawn", agent="agent-1", at="2026-12-03T10:00:15Z")
        word = page.locator(card("w-gone") + "[data-status=withdrawn] [data-testid=no-longer-ringing]")
        await word.wait_for(timeout=WAIT_MS)
        assert await word.inner_text() == "No longer ringing for you"
        await page.locator(card("w-gone")).wait_for(state="detached", timeout=8000)
        # Only the call that stopped ringing here left; the other ringing call is still there.
        assert await count_of(page, card("w-keep") + "[data-status=ringing]") == 1

        await ring(base, "w-gone", ADA, agent="agent-1", at="2026-12-03T10:00:30Z")
        back = page.locator(card("w-gone") + "[data-status=ringing][data-complete=true]")
        await back.wait_for(timeout=WAIT_MS)
        assert (
            await page.locator(card("w-gone") + " [data-testid=caller-name]").inner_text() == "Ada Lovelace"
        )
        assert await page.locator(card("w-gone") + " [data-testid=no-longer-ringing]").is_hidden()
        assert await count_of(page, card("w-gone")) == 1


async def test_saved_notes_show_in_the_next_calls_history(chromium: BrowserContext, tmp_path: Path) -> None:
    """Disposition and notes saved from the widget appear in the history of the caller's next call."""
    settings = accounting_only(tmp_path, [(ADA, "A-1001", "Ada Lovelace", 120.5)])
    notes = "Promised to pay the overdue invoice on Friday"
    async with screenpop_on(settings) as base:
        page = await agent_page(chromium, base, settings)
        await ring(base, "n-1", ADA, agent="agent-1")
        await page.wait_for_selector(card("n-1"), timeout=WAIT_MS)
        await ring(base, "n-1", ADA, event="answered", agent="agent-1")
        form = page.locator(card("n-1") + " [data-testid=notes-form]")
        await form.wait_for(timeout=WAIT_MS)
        # no card.dispositions configured: the disposition is free text (SPEC release 2)
        await form.locator("[data-testid=disposition]").fill("payment-promised")
        await form.locator("[data-testid=notes]").fill(notes)
        await form.locator("[data-testid=save-notes]").click()
        await form.locator("[data-testid=notes-status][data-state=saved]").wait_for(timeout=WAIT_MS)
        await ring(base, "n-1", ADA, event="ended")
        await ring(base, "n-2", ADA, agent="agent-1")
        item = page.locator(card("n-2") + " [data-testid=history] [data-testid=history-item]")
        await item.first.wait_for(timeout=WAIT_MS)
        assert await item.count() == 1
        text = await item.inner_text()
        assert notes in text and "payment" in text.lower(), text


async def test_a_card_number_typed_in_notes_shows_masked_once_saved(
    chromium: BrowserContext, tmp_path: Path
) -> None:
    """After saving, the agent's notes box and the next call's history show only the card's last four."""
    settings = accounting_only(tmp_path, [(ADA, "A-1001", "Ada Lovelace", 120.5)])
    async with screenpop_on(settings) as base:
        page = await agent_page(chromium, base, settings)
        await ring(base, "p-1", ADA, agent="agent-1")
        await page.wait_for_selector(card("p-1"), timeout=WAIT_MS)
        await ring(base, "p-1", ADA, event="answered", agent="agent-1")
        form = page.locator(card("p-1") + " [data-testid=notes-form]")
        await form.wait_for(timeout=WAIT_MS)
        await form.locator("[data-testid=disposition]").fill("paid")
        await form.locator("[data-testid=notes]").fill("Paid by card 4111 1111 1111 1111, order 12345")
        await form.locator("[data-testid=save-notes]").click()
        status = form.locator("[data-testid=notes-status][data-state=saved]")
        await status.wait_for(timeout=WAIT_MS)
        assert "card number was masked" in await status.inner_text()
        shown = await form.locator("[data-testid=notes]").input_value()
        assert shown == "Paid by card **** **** **** 1111, order 12345"
        await ring(base, "p-1", ADA, event="ended")
        await ring(base, "p-2", ADA, agent="agent-1")
        item = page.locator(card("p-2") + " [data-testid=history] [data-testid=history-item]")
        await item.first.wait_for(timeout=WAIT_MS)
        text = await item.inner_text()
        assert "**** **** **** 1111" in text and "4111 1111" not in text, text


async def test_hostile_customer_name_is_shown_as_text(chromium: BrowserContext, tmp_path: Path) -> None:
    """A customer name holding HTML from the database is displayed literally: no element, no script."""
    hostile = "<img src=x onerror=alert(1)>"
    settings = accounting_only(tmp_path, [(ADA, "A-666", hostile, 0.0)])
    dialogs: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        asyncio.ensure_future(dialog.dismiss())  # noqa: RUF006 - Playwright keeps the task

    async with screenpop_on(settings) as base:
        page = await chromium.new_page()
        page.on("dialog", on_dialog)
        await open_agent_page(page, base, token_for(settings, "agent-1"))
        await ring(base, "x-1", ADA, agent="agent-1", caller_name="<script>alert(2)</script>")
        await page.wait_for_selector(card("x-1") + "[data-complete=true]", timeout=WAIT_MS)
        name = page.locator(card("x-1") + " [data-testid=caller-name]")
        assert await name.inner_text() == hostile
        assert await name.is_visible()
        field = section("x-1", "accounting", "ok") + " [data-field=name] [data-testid=field-value]"
        assert await page.locator(field).inner_text() == hostile
        # no <img> or <script> element exists anywhere, so nothing injected can load or run
        images = await page.evaluate(
            "() => document.querySelector('screenpop-card').shadowRoot.querySelectorAll('img, script').length"
        )
        assert images == 0
        assert await page.evaluate("() => document.querySelectorAll('img').length") == 0
        assert dialogs == []


def count_sockets(page: Page, name: str, seen: dict[str, list[str]]) -> None:
    seen[name] = []

    def opened(ws: WebSocket) -> None:
        seen[name].append(ws.url)

    page.on("websocket", opened)


async def test_bad_token_asks_to_sign_in_and_stops_retrying(chromium: BrowserContext, tmp_path: Path) -> None:
    """A refused token (4401) asks to sign in on /agent and in a host page, after one attempt only."""
    host_port = free_port()
    url = write_accounts(tmp_path / "accounting.db", [])
    port = free_port()
    config = service_config(
        f"sqlite+aiosqlite:///{tmp_path}/store.db",
        port,
        [origin(host_port)],
        connectors=[sql_accounting(url)],
    )
    settings = settings_of(config)
    bad = token_for(settings, "agent-1")[:-4] + "AAAA"
    attempts: dict[str, list[str]] = {}
    async with screenpop_on(settings) as base, host_page(host_port, base, bad):
        standalone, embedded = await chromium.new_page(), await chromium.new_page()
        count_sockets(standalone, "agent", attempts)
        count_sockets(embedded, "host", attempts)
        for page in (standalone, embedded):  # the pages' timers run on a clock the test can move
            await page.clock.install()
        await standalone.goto(f"{base}/agent#token={bad}")
        await embedded.goto(origin(host_port) + "/")
        error = standalone.locator("[data-testid=signin-error]")
        await error.wait_for(state="visible", timeout=WAIT_MS)
        assert "did not accept" in await error.inner_text()
        await standalone.locator("[data-testid=token-input]").wait_for(state="visible", timeout=WAIT_MS)
        banner = embedded.locator("[data-testid=status-banner][data-state=unauthorized]")
        await banner.wait_for(timeout=WAIT_MS)
        assert (await banner.get_attribute("role")) == "alert"
        text = await banner.locator("[data-testid=status-text]").inner_text()
        assert text.startswith("Sign-in needed"), text
        for page in (standalone, embedded):  # past any back-off (at most 15 s): a retry timer would fire
            await page.clock.fast_forward(60_000)
        assert {name: len(urls) for name, urls in attempts.items()} == {"agent": 1, "host": 1}
        assert attempts["host"] == [base.replace("http://", "ws://") + "/ws"]
        status = await embedded.locator("screenpop-card").get_attribute("state")
        assert status == "unauthorized"
