"""The IT console in real Chromium fed hostile text from every side it shows.

A connector's data and error sentence, a caller name, a call id, a queue
name, an unknown provider's name in the webhook URL and the config file's
own path all carry markup, a ``javascript:`` URL and a bidi override.  The
page hooks ``alert`` and counts what an injected handler would run, so
"nothing executes" is checked in the browser; the console's text is then
read as IT sees it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import yaml
from playwright.async_api import BrowserContext, Page

from screenpop.config import load_settings
from tests.support.browser import WAIT_MS, origin, screenpop_on
from tests.support.ports import free_port
from tests.support.service import ADA, SCRIPTED, SECRET, api, event_body, post_event
from tests.support.signers import WEBHOOK_SECRET
from tests.support.tokens import token_for

pytestmark = pytest.mark.browser

MARKUP = '<img src=x onerror="window.__ran++"></script><script>window.__ran++</script>'
BIDI = "\u202e"
HOOK = "window.__ran = 0; window.alert = window.confirm = window.prompt = () => { window.__ran++; };"


def hostile_config(port: int, store: Path) -> dict[str, Any]:
    """A supervisor (admin and lookup), a tier1 agent in a queue named with markup, hostile sources."""
    row = {"account_id": "javascript:window.__ran++", "name": BIDI + MARKUP, "note": {"html": MARKUP}}
    return {
        "server": {"port": port, "allowed_origins": [origin(port)]},
        "store": {"url": f"sqlite+aiosqlite:///{store}"},
        "agents": {
            "token_secret": SECRET,
            "directory": [
                {"id": "agent-1", "role": "tier1", "queues": [MARKUP]},
                {"id": "it-1", "role": "supervisor", "queues": []},
            ],
        },
        "roles": {"tier1": {}, "supervisor": {}},
        "providers": [{"name": "pbx", "kind": "generic", "secret": WEBHOOK_SECRET}],
        "connectors": [
            {"name": "accounting", "kind": SCRIPTED, "rows": {ADA: row}, "identity": {"name": "name"}},
            {"name": "broken", "kind": SCRIPTED, "fail": f"{BIDI}{MARKUP} looking up {ADA}"},
        ],
    }


async def console_text(page: Page) -> str:
    """Everything the console shows, the test lookup's card (in its shadow root) and traces opened."""
    return str(
        await page.evaluate("""() => {
          for (const d of document.querySelectorAll("details")) d.open = true;
          const card = document.querySelector("[data-testid=lookup-card]");
          return document.body.innerText + "\\n" + (card ? card.shadowRoot.textContent : "");
        }""")
    )


async def injected(page: Page) -> dict[str, int]:
    return dict(
        await page.evaluate("""() => ({
          ran: window.__ran,
          elements: document.querySelectorAll("img, iframe, [onerror]").length
            + [...document.querySelectorAll("[data-testid=lookup-card]")]
                .reduce((n, h) => n + h.shadowRoot.querySelectorAll("img, script, [onerror]").length, 0),
          scripts: document.querySelectorAll("script").length,
        })""")
    )


async def test_hostile_text_everywhere_in_the_console_is_shown_as_text(
    chromium: BrowserContext, tmp_path: Path
) -> None:
    """Markup, a javascript: URL and a bidi override in every source: nothing runs, nothing reorders text."""
    port = free_port()
    folder = tmp_path / f"{MARKUP.replace('/', '_')}{BIDI}"  # a config path is text the console shows too
    folder.mkdir()
    config_path = folder / "screenpop.yaml"
    config_path.write_text(yaml.safe_dump(hostile_config(port, tmp_path / "store.db")))
    settings = load_settings(config_path, environ={})
    async with screenpop_on(settings) as base:
        assert (await post_event(base, event_body(MARKUP, caller_name=BIDI + MARKUP, queue=MARKUP)))[0] == 202
        assert (await api(base, "POST", f"/webhooks/{quote(MARKUP, safe='')}", data=b"{}"))[0] == 404
        page = await chromium.new_page()
        await page.add_init_script(HOOK)
        await page.goto(f"{base}/admin#token={token_for(settings, 'it-1')}")
        await page.wait_for_selector("[data-testid=delivery-row] >> nth=1", timeout=WAIT_MS)
        await page.fill("[data-testid=lookup-number]", ADA)
        await page.click("[data-testid=lookup-submit]")
        await page.wait_for_selector("[data-testid=trace][data-connector=broken]", timeout=WAIT_MS)
        await page.locator("[data-testid=lookup-card]").wait_for(timeout=WAIT_MS)
        await page.wait_for_selector("[data-testid=connector-last-error]", timeout=WAIT_MS)
        text = await console_text(page)
        assert await injected(page) == {"ran": 0, "elements": 0, "scripts": 1}
        assert MARKUP in text  # shown, as the characters it is
        assert BIDI not in text, [line for line in text.splitlines() if BIDI in line]
        assert json.dumps(MARKUP)[1:-1] in text  # the raw row in the trace, as JSON


@pytest.mark.parametrize(
    "number",
    [
        "<script>alert(1)</script>",
        "javascript:alert(1)",
        "%00",
        "9" * 400,
        BIDI + "4155550132",
        "abc",
        "<" * 3000,
    ],
)
async def test_a_test_lookup_of_a_hostile_number_says_why_in_a_sentence(
    chromium: BrowserContext, tmp_path: Path, number: str
) -> None:
    """Not a number, or a hostile one: a sentence or a card, never a stack, and nothing runs."""
    port = free_port()
    config_path = tmp_path / "screenpop.yaml"
    config_path.write_text(yaml.safe_dump(hostile_config(port, tmp_path / "store.db")))
    settings = load_settings(config_path, environ={})
    async with screenpop_on(settings) as base:
        page = await chromium.new_page()
        await page.add_init_script(HOOK)
        await page.goto(f"{base}/admin#token={token_for(settings, 'it-1')}")
        await page.wait_for_selector("[data-testid=connector-row]", timeout=WAIT_MS)
        await page.fill("[data-testid=lookup-number]", number)
        await page.click("[data-testid=lookup-submit]")
        answer = page.locator("[data-testid=lookup-error], [data-testid=lookup-card]")
        await answer.first.wait_for(timeout=WAIT_MS)
        text = await console_text(page)
        assert await injected(page) == {"ran": 0, "elements": 0, "scripts": 1}
        assert "Traceback" not in text and "Error:" not in text and BIDI not in text
        if await page.locator("[data-testid=lookup-error]").count():
            error = await page.locator("[data-testid=lookup-error]").inner_text()
            assert error.endswith("is not a phone number") or "too long for one lookup" in error, error


async def test_one_long_word_from_outside_keeps_every_box_within_the_page(
    chromium: BrowserContext, tmp_path: Path
) -> None:
    """A 300-character error, refusal reason and call id: at 1280 px no box scrolls sideways."""
    port = free_port()
    config = hostile_config(port, tmp_path / "store.db")
    config["connectors"][1]["fail"] = "E" * 300
    config_path = tmp_path / "screenpop.yaml"
    config_path.write_text(yaml.safe_dump(config))
    settings = load_settings(config_path, environ={})
    admin = token_for(settings, "it-1")
    async with screenpop_on(settings) as base:
        assert (await api(base, "GET", f"/api/lookup?number={quote(ADA)}", admin))[0] == 200
        assert (await post_event(base, event_body("C" * 160)))[0] == 202
        assert (
            await post_event(base, json.dumps({"event": "Z" * 300, "call_id": "c", "from": ADA}).encode())
        )[0] == 400
        page = await chromium.new_page()
        await page.set_viewport_size({"width": 1280, "height": 900})
        await page.goto(f"{base}/admin#token={admin}")
        await page.wait_for_selector("[data-testid=delivery-row] >> nth=1", timeout=WAIT_MS)
        await page.wait_for_selector("[data-testid=connector-last-error]", timeout=WAIT_MS)
        boxes = await page.evaluate(
            """() => [...document.querySelectorAll("section.box")]
                 .map((b) => b.scrollWidth - b.clientWidth)"""
        )
        assert max(boxes) <= 0, boxes
        counts = page.locator(
            "[data-testid=connector-row][data-connector=broken] [data-testid=connector-counts]"
        )
        assert await counts.is_visible()
        box = await counts.bounding_box()
        assert box is not None and box["x"] + box["width"] <= 1280
