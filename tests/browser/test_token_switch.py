"""A host page hands the widget a token for another agent or role: the widget says who it now is.

Tokens are minted with PyJWT as the host application would.  A ``refresh``
must name the socket's agent (SPEC 5), so the widget that sent one for the
new agent was closed 4401 and told the page the (good) token was refused,
while the first agent's cards stayed on the screen.  A refresh may change
the role, but ``refreshed`` says only ``exp``: the widget kept the old
role's name and section hints, and the cards it held kept sections the new
role must not see.
"""

from __future__ import annotations

import json
import sqlite3
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


def host_token(agent: str, **claims: str) -> str:
    return jwt.encode({"sub": agent, "exp": int(time.time()) + 3600, **claims}, SECRET, algorithm="HS256")


def credit_section(path: Path) -> dict[str, Any]:
    """A real ``sql`` connector whose field has a display label, over a one-row SQLite file."""
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE credit (phone TEXT, rating TEXT)")
        db.execute("INSERT INTO credit VALUES (?, 'D')", (ADA,))
    db.close()
    return {
        "name": "credit",
        "kind": "sql",
        "url": f"sqlite+aiosqlite:///{path}",
        "query": "SELECT rating FROM credit WHERE phone = :e164",
        "display": {"title": "Credit", "fields": {"rating": {"label": "Credit rating"}}},
    }


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


async def test_a_token_naming_another_role_is_shown_with_that_roles_sections(
    chromium: BrowserContext, tmp_path: Path
) -> None:
    """tier1 to supervisor: header and credit's label follow; back to tier1: credit leaves the held card."""
    url = write_accounts(tmp_path / "accounting.db", [(ADA, "A-1001", "Ada Lovelace", 12.5)])
    config = service_config(
        f"sqlite+aiosqlite:///{tmp_path}/store.db",
        free_port(),
        connectors=[sql_accounting(url), credit_section(tmp_path / "credit.db")],
        roles={"tier1": {"hide": ["credit"]}, "supervisor": {}},
    )
    async with screenpop_on(settings_of(config)) as base:
        page = await chromium.new_page()
        await open_agent_page(page, base, host_token("agent-1"))
        switch = "token => { document.getElementById('widget').token = token; }"
        await page.evaluate(switch, host_token("agent-1", role="supervisor"))
        await page.locator("[data-testid=agent]", has_text="supervisor").wait_for(timeout=WAIT_MS)
        await ring(base, "c-role", ADA, agent="agent-1")
        credit = page.locator(f"{card('c-role')} [data-section=credit]")
        await credit.get_by_text("Credit rating").wait_for(timeout=WAIT_MS)
        await page.evaluate(switch, host_token("agent-1", role="tier1"))
        await page.locator("[data-testid=agent]", has_text="tier1").wait_for(timeout=WAIT_MS)
        await credit.wait_for(state="detached", timeout=WAIT_MS)
        html = await page.locator(card("c-role")).inner_html()
    assert "Credit" not in html and "Ada Lovelace" in html
