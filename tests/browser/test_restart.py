"""The widget across a server crash: `screenpop serve` killed and started again on the same port.

The broker is a real Redis, so the per-agent replay stream outlives the
process.  While the agent's server is down, the call rings through a second
instance of the same cluster (same Redis, same store); when the restarted
server is back, the widget's `resume_from` brings that call to the screen.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import websockets
from playwright.async_api import BrowserContext

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
from tests.support.served import Served, served_from
from tests.support.service import ADA
from tests.support.tokens import token_for

pytestmark = [pytest.mark.browser, pytest.mark.redis]

GRACE = "+12125550147"


@pytest.fixture
def cluster_config(tmp_path: Path, redis_url: str) -> dict[str, Any]:
    """One cluster's config: file SQLite store, Redis broker, the real sql connector."""
    url = write_accounts(
        tmp_path / "accounting.db",
        [(ADA, "A-1001", "Ada Lovelace", 120.5), (GRACE, "A-1002", "Grace Hopper", 0.0)],
    )
    return service_config(
        f"sqlite+aiosqlite:///{tmp_path}/store.db",
        free_port(),
        broker={"url": redis_url, "replay_s": 300},
        connectors=[sql_accounting(url)],
    )


@pytest.fixture
def served(tmp_path: Path, cluster_config: dict[str, Any]) -> Iterator[Served]:
    with served_from(tmp_path, cluster_config) as server:
        yield server


async def ring_elsewhere(config: dict[str, Any], call_id: str, number: str) -> None:
    """Ring through another instance of the cluster and wait until agent-1's complete card is published."""
    other_port = free_port()
    other = settings_of({**config, "server": {**config["server"], "port": other_port}})
    url = f"ws://127.0.0.1:{other_port}/ws"
    async with screenpop_on(other) as base, websockets.connect(url) as ws:
        await ws.send(json.dumps({"type": "hello", "token": token_for(other, "agent-1")}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "welcome"
        await ring(base, call_id, number, agent="agent-1")
        async with asyncio.timeout(5):
            while True:
                frame = json.loads(await ws.recv())
                if frame.get("call_id") == call_id and frame.get("complete"):
                    break


async def test_widget_reconnects_after_a_crash_and_shows_the_call_it_missed(
    chromium: BrowserContext, served: Served, cluster_config: dict[str, Any]
) -> None:
    """After SIGKILL the widget says it is reconnecting, then shows the call that rang meanwhile, once."""
    settings = settings_of(cluster_config)
    base = f"http://127.0.0.1:{served.port}"
    page = await chromium.new_page()
    await open_agent_page(page, base, token_for(settings, "agent-1"))
    await ring(base, "before", ADA, agent="agent-1")
    await page.wait_for_selector(card("before") + "[data-complete=true]", timeout=WAIT_MS)

    served.kill()
    banner = page.locator("[data-testid=status-banner][data-state=reconnecting]")
    await banner.wait_for(state="visible", timeout=WAIT_MS)
    assert "reconnecting" in (await banner.locator("[data-testid=status-text]").inner_text())

    await ring_elsewhere(cluster_config, "while-away", GRACE)
    assert await count_of(page, card("while-away")) == 0  # the widget has no server yet
    await asyncio.to_thread(served.start)

    await page.wait_for_selector(card("while-away") + "[data-complete=true]", timeout=15000)
    await page.wait_for_selector(
        "[data-testid=status-banner][data-state=connected]", state="attached", timeout=WAIT_MS
    )
    name = page.locator(card("while-away") + " [data-testid=caller-name]")
    assert await name.inner_text() == "Grace Hopper"
    # a marker call after it: frames on one socket keep their order, so a duplicate would come first
    await ring(base, "marker", ADA, agent="agent-1")
    await page.wait_for_selector(card("marker") + "[data-complete=true]", timeout=WAIT_MS)
    assert await count_of(page, card("while-away")) == 1
    assert await count_of(page, card("before")) == 1
    assert await count_of(page, "[data-testid=missed-while-away]:visible") == 0
