"""The README's screenshots, taken from the real demo: demo databases, config/demo.yaml, Chromium.

They are written to docs/screenshots/ only when SCREENPOP_WRITE_SCREENSHOTS=1
(so a test run does not dirty the checkout), otherwise to a temporary
directory; either way the cards they show are checked first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import pytest
import yaml
from playwright.async_api import BrowserContext, Page

from screenpop.demo import write_demo_databases
from tests.support.browser import (
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
from tests.support.service import WEBHOOK_SECRET
from tests.support.tokens import token_for

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
    """config/demo.yaml as shipped, served on ``port`` with its store in the test's directory."""
    raw = yaml.safe_load((ROOT / "config" / "demo.yaml").read_text())
    raw["server"] = {**raw["server"], "port": port, "allowed_origins": [origin(port)]}
    return dict(raw)


async def both_cards_complete(page: Page) -> None:
    for call_id in ("demo-babbage", "demo-ada"):
        await page.wait_for_selector(card(call_id) + "[data-complete=true]", timeout=WAIT_MS)
    ada, babbage = card("demo-ada"), card("demo-babbage")
    assert await page.locator(f"{ada} [data-testid=caller-name]").inner_text() == "Ada Lovelace"
    overdue = page.locator(f"{ada} [data-testid=badge][data-kind=server]", has_text="Overdue")
    assert await overdue.count() == 1
    duplicate = page.locator(f"{babbage} [data-testid=badge][data-kind=duplicate]")
    assert await duplicate.count() == 1
    for name in ("accounting", "sales", "purchases", "credit", "offer"):
        assert await page.locator(section("demo-ada", name, "ok")).count() == 1, name
    rows = page.locator(section("demo-ada", "purchases") + " [data-testid=section-table] [data-testid=row]")
    assert await rows.count() >= 1


async def test_screenshots_of_the_demo_cards(chromium: BrowserContext, tmp_path: Path) -> None:
    """The demo's overdue and duplicate callers render complete cards, light and dark, wide and 360 px."""
    demo_dir = tmp_path / "demo"
    write_demo_databases(demo_dir, customers=200)
    environ = {"SCREENPOP_DEMO_DIR": str(demo_dir), "PBX_WEBHOOK_SECRET": WEBHOOK_SECRET}
    settings = settings_of(demo_config(demo_dir, free_port()), environ=environ)
    async with screenpop_on(settings) as base:
        page = await chromium.new_page()
        await page.set_viewport_size({"width": 1280, "height": 800})
        await page.emulate_media(color_scheme="light", reduced_motion="reduce")
        await open_agent_page(page, base, token_for(settings, "supervisor-1"))
        await ring(base, "demo-babbage", BABBAGE, queue="sales")
        await ring(base, "demo-ada", ADA, queue="support", caller_name="ADA L")
        await both_cards_complete(page)
        for name, width, height, scheme in VIEWS:
            await page.set_viewport_size({"width": width, "height": height})
            await page.emulate_media(color_scheme=scheme)
            path = screenshot_path(name, tmp_path)
            await page.screenshot(path=str(path), animations="disabled", caret="hide")
            assert path.stat().st_size > 10_000
