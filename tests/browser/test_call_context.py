"""Calls beyond the caller's number in a real Chromium against the real service (SPEC 3, 5, 7).

The line's name, the call's attributes (never a ``secret_`` one), who found
the customer, an outbound call, and a transfer: the card arriving with its
hand-off notes at the new agent while it leaves the sender's page with a clear
word, but not before the sender's unsaved notes are saved. Real ``sql``
connectors over SQLite files the tests write, signed generic webhooks, and
the widget's documented test hooks.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from pathlib import Path

import pytest
from playwright.async_api import BrowserContext, Page, WebSocketRoute

from screenpop.config import Settings
from tests.support.browser import (
    WAIT_MS,
    card,
    count_of,
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

GRACE_PHONE = "+12025550100"
SECRET_PIN = "pin-5530-qx"  # found nowhere else, so finding it in the page means a leak
LINES = [{"number": "+18005550100", "name": "Acme Support", "queue": "support"}]


def customers_db(tmp_path: Path) -> str:
    """Grace Hopper, account A-77, reachable at a number no test call comes from; its URL."""
    path = tmp_path / "customers.db"
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        db.execute("CREATE TABLE customers (account_id TEXT, name TEXT, phone TEXT, pin TEXT)")
        db.execute("INSERT INTO customers VALUES ('A-77', 'Grace Hopper', ?, ?)", (GRACE_PHONE, SECRET_PIN))
    return f"sqlite+aiosqlite:///{path}"


def context_settings(tmp_path: Path) -> Settings:
    """Lookups by number and by the IVR's account number (one also checks the secret PIN), and one line."""
    url = customers_db(tmp_path)
    identity = {"id": "account_id", "name": "name"}
    connectors = [
        {
            "name": "by_phone",
            "kind": "sql",
            "url": url,
            "query": "SELECT account_id, name FROM customers WHERE phone = :e164",
            "identity": identity,
        },
        {
            "name": "accounts",
            "kind": "sql",
            "url": url,
            "query": "SELECT account_id, name FROM customers WHERE account_id = :attr_account_id",
            "identity": identity,
        },
        {
            "name": "verified",
            "kind": "sql",
            "url": url,
            "query": "SELECT 'yes' AS pin_ok FROM customers "
            "WHERE account_id = :attr_account_id AND pin = :attr_secret_pin",
        },
    ]
    config = service_config(
        f"sqlite+aiosqlite:///{tmp_path}/store.db", free_port(), connectors=connectors, lines=LINES
    )
    return settings_of(config)


async def agent_page(chromium: BrowserContext, base: str, settings: Settings, agent: str) -> Page:
    page = await chromium.new_page()
    await open_agent_page(page, base, token_for(settings, agent))
    return page


async def shadow_html(page: Page) -> str:
    """Everything the widget put in its shadow root, as markup (attributes and tooltips included)."""
    return str(await page.evaluate("() => document.querySelector('screenpop-card').shadowRoot.innerHTML"))


async def test_line_attributes_and_found_by_are_shown_and_a_secret_never_reaches_the_page(
    chromium: BrowserContext, tmp_path: Path
) -> None:
    """A call to Acme Support with IVR input: line in the header, attributes, found by account id, no PIN."""
    settings = context_settings(tmp_path)
    attributes = {"account_id": "A-77", "secret_pin": SECRET_PIN, "verified_by_bot": True, "tries": 2}
    async with screenpop_on(settings) as base:
        page = await agent_page(chromium, base, settings, "agent-1")
        await ring(base, "c-ivr", ADA, to="+1 800 555 0100", attributes=attributes)
        done = card("c-ivr") + "[data-complete=true]"
        await page.wait_for_selector(done, timeout=WAIT_MS)
        assert await page.locator(done + " [data-testid=line]").inner_text() == "Acme Support"
        assert await page.locator(done + " [data-testid=line]").is_visible()
        assert await page.locator(done + " [data-testid=caller-name]").inner_text() == "Grace Hopper"
        found = page.locator(done + " [data-testid=found-by]")
        assert await found.inner_text() == "Found by account id A-77 (not by phone number)"
        items = await page.locator(done + " [data-testid=attribute]").all()
        value = "[data-testid=attribute-value]"
        shown = {await i.get_attribute("data-key"): await i.locator(value).inner_text() for i in items}
        assert shown == {"account_id": "A-77", "verified_by_bot": "Yes", "tries": "2"}
        labels = await page.locator(done + " [data-testid=attribute] dt").all_inner_texts()
        assert labels == ["Account id", "Verified by bot", "Tries"]
        # the PIN did its job (the lookup that needs it found Grace) and is nowhere in the page
        pin_ok = page.locator(done + " [data-testid=section][data-section=verified][data-status=ok]")
        assert await pin_ok.count() == 1
        html = await shadow_html(page)
        assert "A-77" in html and SECRET_PIN not in html and "secret_pin" not in html
        assert SECRET_PIN not in await page.content()
        assert await count_of(page, card("c-ivr") + " [data-testid=direction]:visible") == 0


async def test_an_outbound_call_is_shown_as_such_and_does_not_ring(
    chromium: BrowserContext, tmp_path: Path
) -> None:
    """The dialling agent's card says Outbound, Dialling and Calling Grace; the page title does not flash."""
    settings = context_settings(tmp_path)
    async with screenpop_on(settings) as base:
        page = await agent_page(chromium, base, settings, "agent-1")
        title = await page.title()
        await ring(base, "c-out", "+18005550100", to=GRACE_PHONE, agent="agent-1", direction="outbound")
        done = card("c-out") + "[data-complete=true][data-direction=outbound]"
        await page.wait_for_selector(done, timeout=WAIT_MS)
        assert await page.locator(done + " [data-testid=direction]").inner_text() == "OUTBOUND CALL"
        assert await page.locator(done + " [data-testid=call-status]").inner_text() == "DIALLING"
        assert await page.locator(done + " [data-testid=caller-role]").inner_text() == "CALLING"
        assert await page.locator(done + " [data-testid=caller-name]").inner_text() == "Grace Hopper"
        assert await count_of(page, done + " [data-testid=found-by]") == 0  # found by the number dialled
        # a ringing inbound call flashes the title at once; the agent's own outbound call does not
        assert await page.title() == title
        await ring(base, "c-out", "+18005550100", event="answered", agent="agent-1", direction="outbound")
        on_call = page.locator(card("c-out") + "[data-status=answered] [data-testid=call-status]")
        await on_call.wait_for(timeout=WAIT_MS)
        assert await on_call.inner_text() == "ON CALL"


async def answer_and_note(
    page: Page, base: str, call_id: str, saved: str | None, unsaved: str | None
) -> None:
    """Agent-1 answers ``call_id``, saves a follow-up note ``saved``, then types ``unsaved`` unsaved."""
    await page.wait_for_selector(card(call_id), timeout=WAIT_MS)
    await ring(base, call_id, ADA, event="answered", agent="agent-1")
    form = page.locator(card(call_id) + " [data-testid=notes-form]")
    await form.wait_for(timeout=WAIT_MS)
    if saved is not None:
        await form.locator("[data-testid=disposition]").fill("follow_up")
        await form.locator("[data-testid=notes]").fill(saved)
        await form.locator("[data-testid=save-notes]").click()
        await form.locator("[data-testid=notes-status][data-state=saved]").wait_for(timeout=WAIT_MS)
    if unsaved is not None:
        await form.locator("[data-testid=notes]").fill(unsaved)
        await form.locator("[data-testid=notes-status][data-state=dirty]").wait_for(timeout=WAIT_MS)


async def test_a_transferred_card_reaches_the_new_agent_with_its_notes_and_leaves_the_sender(
    chromium: BrowserContext, tmp_path: Path
) -> None:
    """Agent-2 gets "Transferred from agent-1" and the note; agent-1's card says where it went and goes.

    The card whose notes are still being typed stays until they are saved,
    while one without unsaved notes leaves on its own.
    """
    url = write_accounts(tmp_path / "accounting.db", [(ADA, "A-1001", "Ada Lovelace", 120.5)])
    config = service_config(
        f"sqlite+aiosqlite:///{tmp_path}/store.db", free_port(), connectors=[sql_accounting(url)]
    )
    settings = settings_of(config)
    note = "Wants a refund for May; promised a call back"
    async with screenpop_on(settings) as base:
        sender = await chromium.new_page()
        await sender.emulate_media(reduced_motion="reduce")  # removed without the fade-out
        await sender.clock.install()  # the 4 s before a card leaves run on a clock the test moves
        await open_agent_page(sender, base, token_for(settings, "agent-1"))
        receiver = await agent_page(chromium, base, settings, "agent-2")
        await ring(base, "t-1", ADA, agent="agent-1")
        await answer_and_note(sender, base, "t-1", saved=note, unsaved=note + ", and a discount")
        await ring(base, "t-2", ADA, agent="agent-1")
        await answer_and_note(sender, base, "t-2", saved=None, unsaved=None)

        await ring(base, "t-1", ADA, event="transferred", agent="agent-2", from_agent="agent-1")
        arrived = card("t-1") + " [data-testid=handoff]"
        await receiver.wait_for_selector(arrived, timeout=WAIT_MS)
        handoff = receiver.locator(arrived)
        headline = await handoff.locator("[data-testid=transferred-from]").inner_text()
        assert headline == "Transferred from agent-1"
        [item] = await handoff.locator("[data-testid=handoff-note][data-agent=agent-1]").all()
        assert await item.locator("[data-testid=handoff-text]").inner_text() == note
        meta = await item.locator("[data-testid=handoff-meta]").inner_text()
        assert meta.startswith("agent-1 · Follow up"), meta
        # the hand-off is the first thing on the card, above the caller
        first = await receiver.evaluate(
            "() => document.querySelector('screenpop-card').shadowRoot"
            ".querySelector('[data-call-id=\"t-1\"] [data-testid=caller]')"
            ".compareDocumentPosition(document.querySelector('screenpop-card').shadowRoot"
            ".querySelector('[data-call-id=\"t-1\"] [data-testid=handoff]'))"
        )
        assert first & 2  # Node.DOCUMENT_POSITION_PRECEDING: the hand-off comes before the caller

        gone = sender.locator(card("t-1") + "[data-status=transferred] [data-testid=transferred-to]")
        await gone.wait_for(timeout=WAIT_MS)
        assert (await gone.inner_text()).startswith("Transferred to agent-2")
        assert await sender.locator(card("t-1") + " [data-testid=transferred-hint]").is_visible()

        await ring(base, "t-2", ADA, event="transferred", queue="billing", from_agent="agent-1")
        clean = sender.locator(card("t-2") + "[data-status=transferred] [data-testid=transferred-to]")
        await clean.wait_for(timeout=WAIT_MS)
        assert await clean.inner_text() == "Transferred to queue billing"
        await sender.clock.fast_forward(10_000)  # well past the 4 s a transferred card stays readable
        await sender.locator(card("t-2")).wait_for(state="detached", timeout=WAIT_MS)
        # the card with unsaved notes is still there, the text with it
        kept = sender.locator(card("t-1") + " [data-testid=notes]")
        assert await kept.input_value() == note + ", and a discount"

        await sender.locator(card("t-1") + " [data-testid=save-notes]").click()
        await sender.locator(card("t-1") + " [data-testid=notes-status][data-state=saved]").wait_for(
            timeout=WAIT_MS
        )
        await sender.clock.fast_forward(10_000)
        await sender.locator(card("t-1")).wait_for(state="detached", timeout=WAIT_MS)
        assert await count_of(receiver, card("t-1") + "[data-status=ringing]") == 1


async def test_a_transfer_lost_in_a_gap_is_learnt_from_the_calls_list_on_reconnect(
    chromium: BrowserContext, tmp_path: Path
) -> None:
    """The `transferred` message dies with the socket; after a non-recovered resume the card still leaves.

    The socket is routed through Playwright: the message is dropped and the
    socket closed (1012, as on a server restart), and the next welcome says
    ``recovered: false``, so only ``/api/calls`` (``transferred_away``) tells.
    """
    settings = settings_of(service_config(f"sqlite+aiosqlite:///{tmp_path}/store.db", free_port()))
    dropped: list[dict[str, object]] = []

    def socket(ws: WebSocketRoute) -> None:
        server = ws.connect_to_server()

        async def from_server(message: str | bytes) -> None:
            frame = json.loads(message)
            if frame.get("type") == "call" and frame.get("status") == "transferred":
                dropped.append(frame)  # lost, and so is its replay after the resume
                if len(dropped) == 1:
                    await ws.close(code=1012, reason="restart")
                return
            if frame.get("type") == "welcome" and dropped:
                frame["recovered"] = False  # as when the replay stream for resume_from is gone
            ws.send(json.dumps(frame))

        server.on_message(from_server)

    async with screenpop_on(settings) as base:
        page = await chromium.new_page()
        await page.emulate_media(reduced_motion="reduce")  # removed without the fade-out
        await page.route_web_socket("**/ws", socket)
        await open_agent_page(page, base, token_for(settings, "agent-1"))
        await ring(base, "t-gap", ADA, agent="agent-1")
        await answer_and_note(page, base, "t-gap", saved=None, unsaved=None)
        await ring(base, "t-gap", ADA, event="transferred", agent="agent-2", from_agent="agent-1")
        said = page.locator(card("t-gap") + "[data-status=transferred] [data-testid=transferred-to]")
        await said.wait_for(timeout=WAIT_MS)
        assert dropped and await said.inner_text() == "Transferred away"
        await page.locator(card("t-gap")).wait_for(state="detached", timeout=8000)
        assert await count_of(page, "[data-testid=missed-item][data-call-id=t-gap]") == 0


async def test_a_card_no_longer_ringing_here_waits_for_its_unsaved_notes(
    chromium: BrowserContext, tmp_path: Path
) -> None:
    """A `withdrawn` for agent-1 on a card with unsaved notes says so and stays until they are saved."""
    url = write_accounts(tmp_path / "accounting.db", [(ADA, "A-1001", "Ada Lovelace", 120.5)])
    config = service_config(
        f"sqlite+aiosqlite:///{tmp_path}/store.db", free_port(), connectors=[sql_accounting(url)]
    )
    settings = settings_of(config)
    note = "Asked about the May invoice"
    async with screenpop_on(settings) as base:
        page = await chromium.new_page()
        await page.emulate_media(reduced_motion="reduce")  # removed without the fade-out
        await page.clock.install()  # the 4 s before a card leaves run on a clock the test moves
        await open_agent_page(page, base, token_for(settings, "agent-1"))
        await ring(base, "w-1", ADA, agent="agent-1", at="2026-12-03T10:00:00Z")
        await answer_and_note(page, base, "w-1", saved=None, unsaved=note)

        await ring(base, "w-1", ADA, event="withdrawn", agent="agent-1", at="2026-12-03T10:00:15Z")
        word = page.locator(card("w-1") + "[data-status=withdrawn] [data-testid=no-longer-ringing]")
        await word.wait_for(timeout=WAIT_MS)
        assert (await word.inner_text()).startswith("No longer ringing for you")
        assert await page.locator(card("w-1") + " [data-testid=no-longer-ringing-hint]").is_visible()
        await page.clock.fast_forward(10_000)  # well past the 4 s a card without unsaved notes stays
        kept = page.locator(card("w-1") + " [data-testid=notes]")
        assert await kept.input_value() == note

        await page.locator(card("w-1") + " [data-testid=disposition]").fill("follow_up")
        await page.locator(card("w-1") + " [data-testid=save-notes]").click()
        await page.locator(card("w-1") + " [data-testid=notes-status][data-state=saved]").wait_for(
            timeout=WAIT_MS
        )
        await page.clock.fast_forward(10_000)
        await page.locator(card("w-1")).wait_for(state="detached", timeout=WAIT_MS)
