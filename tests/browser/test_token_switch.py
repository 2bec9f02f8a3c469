"""A host page that signs another agent in hands the widget that agent's token: a new session, not a refresh.

Tokens are minted with PyJWT as the host application would.  A ``refresh``
must name the socket's agent (SPEC 5), so the widget that sent one for the
new agent was closed 4401 and told the page the (good) token was refused,
while the first agent's cards stayed on the screen.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from playwright.async_api import BrowserContext, WebSocket

from tests.support.browser import (
    WAIT_MS,
    card,
    connected,
    open_agent_page,
    ring,
    screenpop_on,
    service_config,
    settings_of,
    sql_accounting,
    write_accounts,
)
from tests.support.ports import free_port
from tests.support.service import ADA, SECRET

pytestmark = pytest.mark.browser


def host_token(agent: str) -> str:
    return jwt.encode({"sub": agent, "exp": int(time.time()) + 3600}, SECRET, algorithm="HS256")


async def test_a_token_for_another_agent_starts_that_agents_session(
    chromium: BrowserContext, tmp_path: Path
) -> None:
    """Setting agent-2's token on agent-1's widget connects agent-2 afresh, with none of agent-1's calls."""
    url = write_accounts(tmp_path / "accounting.db", [(ADA, "A-1001", "Ada Lovelace", 12.5)])
    config = service_config(
        f"sqlite+aiosqlite:///{tmp_path}/store.db", free_port(), connectors=[sql_accounting(url)]
    )
    hellos: list[dict[str, Any]] = []
    async with screenpop_on(settings_of(config)) as base:
        page = await chromium.new_page()

        def opened(ws: WebSocket) -> None:
            ws.on("framesent", lambda payload: hellos.extend(_hello(payload)))

        page.on("websocket", opened)
        await open_agent_page(page, base, host_token("agent-1"))
        await ring(base, "c-first-agent", ADA, agent="agent-1")
        await page.locator(card("c-first-agent")).wait_for(timeout=WAIT_MS)
        await page.evaluate(
            "token => { document.getElementById('widget').token = token; }", host_token("agent-2")
        )
        await page.locator("[data-testid=agent]", has_text="agent-2").wait_for(timeout=WAIT_MS)
        await connected(page)
        left = await page.locator(card("c-first-agent")).count()
        await ring(base, "c-second-agent", ADA, agent="agent-2")
        await page.locator(card("c-second-agent")).wait_for(timeout=WAIT_MS)
    assert left == 0
    assert [(h.get("type"), "resume_from" in h) for h in hellos] == [("hello", False), ("hello", False)]


def _hello(payload: str | bytes) -> list[dict[str, Any]]:
    frame = json.loads(payload)
    return [frame] if frame.get("type") == "hello" else []
