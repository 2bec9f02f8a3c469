"""The README's screenshots, taken from the real demo: demo databases, config/demo.yaml, Chromium.

They are written to docs/screenshots/ only when SCREENPOP_WRITE_SCREENSHOTS=1
(so a test run does not dirty the checkout), otherwise to a temporary
directory; either way the cards they show are checked first.  To regenerate
them, one command:

    SCREENPOP_WRITE_SCREENSHOTS=1 .venv/bin/pytest tests/browser/test_screenshots.py

The card must show the insight sections of config/demo.yaml as shipped (a
``purchases`` section's suggestions, a ``rules`` section's advice).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

import pytest
import yaml
from playwright.async_api import BrowserContext, FloatRect, Page

from screenpop.demo import write_demo_databases
from tests.support.browser import (
    MODELS_WITHIN_S,
    ROOT,
    WAIT_MS,
    card,
    open_agent_page,
    origin,
    ring,
    screenpop_on,
    screenshot_path,
    section,
    settings_of,
)
from tests.support.ports import free_port
from tests.support.service import WEBHOOK_SECRET, api, event_body, post_event
from tests.support.tokens import token_for
from tests.support.waiting import wait_for

pytestmark = pytest.mark.browser

ADA = "+14155550132"  # overdue balance: the server's "Overdue" badge
BABBAGE = "+13125550178"  # entered twice in sales: the widget's "Possible duplicate" badge
VIEWS: list[tuple[str, int, int, Literal["light", "dark"]]] = [
    ("card-light-wide.png", 1280, 800, "light"),
    ("card-dark-wide.png", 1280, 800, "dark"),
    ("card-light-narrow.png", 360, 800, "light"),
    ("card-dark-narrow.png", 360, 800, "dark"),
]


def demo_config(demo_dir: Path, port: int) -> dict[str, Any]:
    """config/demo.yaml, served on ``port`` with its store in the test's directory."""
    raw = yaml.safe_load((ROOT / "config" / "demo.yaml").read_text())
    raw["server"] = {**raw["server"], "port": port, "allowed_origins": [origin(port)]}
    assert names_of_kind(raw, "purchases") and names_of_kind(raw, "rules"), "the demo computes insight"
    return dict(raw)


def names_of_kind(config: dict[str, Any], kind: str) -> list[str]:
    return [c["name"] for c in config["connectors"] if c.get("kind") == kind]


async def models_ready(base: str, token: str, config: dict[str, Any]) -> None:
    """Purchase models are built in the background after start-up: wait until Ada's lookup has them."""

    async def ready() -> bool:
        status, found = await api(base, "GET", f"/api/lookup?number={quote(ADA)}", token)
        sections = found.get("sections", {}) if status == 200 else {}
        return all(sections.get(n, {}).get("status") == "ok" for n in names_of_kind(config, "purchases"))

    await wait_for(ready, within=MODELS_WITHIN_S, what="the demo's purchase models")


async def both_cards_complete(page: Page, config: dict[str, Any]) -> None:
    for call_id in ("demo-babbage", "demo-ada"):
        await page.wait_for_selector(card(call_id) + "[data-complete=true]", timeout=WAIT_MS)
    ada, babbage = card("demo-ada"), card("demo-babbage")
    assert await page.locator(f"{ada} [data-testid=caller-name]").inner_text() == "Ada Lovelace"
    overdue = page.locator(f"{ada} [data-testid=badge][data-kind=server]", has_text="Overdue")
    assert await overdue.count() == 1
    duplicate = page.locator(f"{babbage} [data-testid=badge][data-kind=duplicate]")
    assert await duplicate.count() == 1
    for name in (c["name"] for c in config["connectors"]):  # Ada's card is the demo's full one
        assert await page.locator(section("demo-ada", name, "ok")).count() == 1, name
    for name in names_of_kind(config, "purchases"):
        found = page.locator(
            section("demo-ada", name) + "[data-kind=purchases] [data-testid=suggestion-reason]"
        )
        assert await found.count() >= 1, name
    for name in names_of_kind(config, "rules"):
        advice = page.locator(section("demo-ada", name) + "[data-kind=rules] [data-testid=advice]")
        assert await advice.count() == 1, name


async def answer_first_suggestion(page: Page, config: dict[str, Any]) -> None:
    """Ada's first suggestion marked "offered and accepted", so the pictures show an answer too."""
    first = page.locator(
        section("demo-ada", names_of_kind(config, "purchases")[0]) + " [data-testid=suggestion]"
    ).first
    await first.locator("[data-testid=accept]").click()
    await first.locator("[data-testid=feedback-status][data-state=saved]").wait_for(timeout=WAIT_MS)


async def down_to_ada(page: Page, width: int) -> FloatRect:
    """The page from its top to the end of Ada's card (newest, so first): the whole card, one column."""
    box = await page.locator(card("demo-ada")).bounding_box()
    assert box is not None
    return {"x": 0, "y": 0, "width": width, "height": box["y"] + box["height"] + 12}


async def test_screenshots_of_the_demo_cards(chromium: BrowserContext, tmp_path: Path) -> None:
    """The demo's overdue and duplicate callers render complete cards, light and dark, wide and 360 px.

    Wide: the whole page.  Narrow (one column): the page down to the end of Ada's card.
    """
    demo_dir = tmp_path / "demo"
    write_demo_databases(demo_dir, customers=200)
    environ = {"SCREENPOP_DEMO_DIR": str(demo_dir), "PBX_WEBHOOK_SECRET": WEBHOOK_SECRET}
    config = demo_config(demo_dir, free_port())
    settings = settings_of(config, environ=environ)
    async with screenpop_on(settings) as base:
        page = await chromium.new_page()
        await page.set_viewport_size({"width": 1280, "height": 800})
        await page.emulate_media(color_scheme="light", reduced_motion="reduce")
        token = token_for(settings, "supervisor-1")
        await models_ready(base, token, config)
        await open_agent_page(page, base, token)
        await ring(base, "demo-babbage", BABBAGE, queue="sales")
        await ring(base, "demo-ada", ADA, queue="support", caller_name="ADA L")
        await both_cards_complete(page, config)
        await answer_first_suggestion(page, config)
        for name, width, height, scheme in VIEWS:
            await page.set_viewport_size({"width": width, "height": height})
            await page.emulate_media(color_scheme=scheme)
            path = screenshot_path(name, tmp_path)
            shot = {"path": str(path), "animations": "disabled", "caret": "hide", "full_page": True}
            await page.screenshot(**shot, clip=await down_to_ada(page, width) if width < 760 else None)
            assert path.stat().st_size > 10_000


CONSOLE_VIEWS: list[tuple[str, int, int, Literal["light", "dark"]]] = [
    ("console-light-wide.png", 1280, 900, "light"),
    ("console-dark-wide.png", 1280, 900, "dark"),
    ("console-light-phone.png", 390, 844, "light"),
]


async def test_screenshots_of_the_it_console(chromium: BrowserContext, tmp_path: Path) -> None:
    """The demo's IT console after some calls, a refused webhook and a test lookup with its trace.

    Checked before the pictures: every demo connector is listed closed with
    calls counted, the refusal is listed with its reason, and the test
    lookup drew Ada's card and a trace per connector.
    """
    demo_dir = tmp_path / "demo"
    write_demo_databases(demo_dir, customers=200)
    environ = {"SCREENPOP_DEMO_DIR": str(demo_dir), "PBX_WEBHOOK_SECRET": WEBHOOK_SECRET}
    config = demo_config(demo_dir, free_port())
    settings = settings_of(config, environ=environ)
    names = [c["name"] for c in config["connectors"]]
    async with screenpop_on(settings) as base:
        token = token_for(settings, "supervisor-1")
        await models_ready(base, token, config)
        agents = await chromium.new_page()
        await open_agent_page(agents, base, token_for(settings, "agent-1"))
        await ring(base, "demo-babbage", BABBAGE, queue="sales")
        await ring(base, "demo-ada", ADA, queue="support", caller_name="ADA L")
        await post_event(base, event_body("forged-1", number=ADA), signature="t=1,v1=" + "0" * 64)
        page = await chromium.new_page()
        await page.set_viewport_size({"width": 1280, "height": 900})
        await page.emulate_media(color_scheme="light", reduced_motion="reduce")
        await page.goto(f"{base}/admin#token={token}")
        for name in names:
            row = f"[data-testid=connector-row][data-connector={name}]"
            await page.wait_for_selector(
                f"{row} [data-testid=connector-state][data-state=closed]", timeout=WAIT_MS
            )
        await page.wait_for_selector("[data-testid=delivery-row][data-refused=true]", timeout=WAIT_MS)
        await page.fill("[data-testid=lookup-number]", "(415) 555-0132")
        await page.select_option("[data-testid=lookup-role]", "tier1")
        await page.click("[data-testid=lookup-submit]")
        await page.locator("[data-testid=lookup-card] [data-testid=caller-name]").wait_for(timeout=WAIT_MS)
        assert await page.locator("[data-testid=trace]").count() == len(names)
        await page.locator("[data-testid=trace][data-connector=accounting] summary").click()
        for name, width, height, scheme in CONSOLE_VIEWS:
            await page.set_viewport_size({"width": width, "height": height})
            await page.emulate_media(color_scheme=scheme)
            path = screenshot_path(name, tmp_path)
            await page.screenshot(path=str(path), animations="disabled", caret="hide", full_page=True)
            assert path.stat().st_size > 10_000
