"""The widget keeps its socket alive past a token's exp, in a real Chromium against the real service.

Tokens are minted with PyJWT as a host application would.  A short first
token expires a few seconds after the page opens: passing it is the
behaviour under test, so these tests wait for the page's own clock to pass
that exp (an observable condition with a bounded timeout), never sleep.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from aiohttp import web
from playwright.async_api import BrowserContext, Page, WebSocket

from screenpop.config import Settings
from tests.support.browser import (
    WAIT_MS,
    card,
    connected,
    host_page,
    origin,
    ring,
    screenpop_on,
    serve_app,
    service_config,
    settings_of,
    sql_accounting,
    write_accounts,
)
from tests.support.ports import free_port
from tests.support.service import ADA, SECRET

pytestmark = pytest.mark.browser

LONG_S = 3600
PAST_EXP_MS = 20000  # the longest a first token's exp (a few seconds ahead) may take to pass


def host_token(agent: str, lifetime_s: int) -> tuple[str, int]:
    """A token as the host application mints it with PyJWT, and its exp."""
    exp = int(time.time()) + lifetime_s
    return jwt.encode({"sub": agent, "exp": exp}, SECRET, algorithm="HS256"), exp


def service(tmp_path: Path, *origins: str) -> Settings:
    """screenpop with the real sql connector on a free port, allowing its own origin and ``origins``."""
    url = write_accounts(tmp_path / "accounting.db", [(ADA, "A-1001", "Ada Lovelace", 12.5)])
    config = service_config(
        f"sqlite+aiosqlite:///{tmp_path}/store.db", free_port(), origins, connectors=[sql_accounting(url)]
    )
    return settings_of(config)


class Sockets:
    """Every websocket a page opens, the frames it received and whether it closed."""

    def __init__(self, page: Page) -> None:
        self.opened: list[WebSocket] = []
        self.frames: list[dict[str, Any]] = []
        self.closed = 0
        self.refreshed = asyncio.Event()
        page.on("websocket", self._opened)

    def _opened(self, ws: WebSocket) -> None:
        self.opened.append(ws)
        ws.on("framereceived", self._frame)
        ws.on("close", self._close)

    def _frame(self, payload: str | bytes) -> None:
        frame = json.loads(payload)
        self.frames.append(frame)
        if frame.get("type") == "refreshed":
            self.refreshed.set()

    def _close(self, _: WebSocket) -> None:
        self.closed += 1


async def past(page: Page, exp: int) -> None:
    """Wait until the page's clock is a second past ``exp`` (seconds since the epoch)."""
    await page.wait_for_function(f"() => Date.now() > {(exp + 1) * 1000}", timeout=PAST_EXP_MS)


async def card_still_arrives(page: Page, base: str, call_id: str) -> None:
    """A call rung now reaches the widget: its socket is alive."""
    await ring(base, call_id, ADA, agent="agent-1")
    await page.locator(card(call_id)).wait_for(timeout=WAIT_MS)


PROVIDER_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Acme desk</title>
<script type="module" src="{server}/widget/screenpop.js"></script>
</head><body><h1>Acme desk</h1>
<screenpop-card id="w" server="{server}" notifications="off" sound="off"></screenpop-card>
<script type="module">
  document.getElementById("w").tokenProvider = () => fetch("/token").then((r) => r.text());
</script>
</body></html>
"""


@contextlib.asynccontextmanager
async def provider_host(port: int, server: str, exps: list[int]) -> AsyncIterator[str]:
    """A host app whose /token hands out a 5-second token first, then hour-long ones."""

    async def page(_: web.Request) -> web.Response:
        return web.Response(text=PROVIDER_PAGE.format(server=server), content_type="text/html")

    async def token(_: web.Request) -> web.Response:
        minted, exp = host_token("agent-1", 5 if not exps else LONG_S)
        exps.append(exp)
        return web.Response(text=minted)

    app = web.Application()
    app.router.add_get("/", page)
    app.router.add_get("/token", token)
    async with serve_app(app, port, shutdown_timeout=0.2) as base:
        yield base


async def test_token_provider_keeps_the_socket_open_past_the_first_exp(
    chromium: BrowserContext, tmp_path: Path
) -> None:
    """The host's tokenProvider is asked again before exp and the one socket outlives the first token."""
    host_port = free_port()
    settings = service(tmp_path, origin(host_port))
    exps: list[int] = []
    async with screenpop_on(settings) as base, provider_host(host_port, base, exps) as host:
        page = await chromium.new_page()
        sockets = Sockets(page)
        await page.goto(host + "/")
        await connected(page)
        await asyncio.wait_for(sockets.refreshed.wait(), PAST_EXP_MS / 1000)
        await past(page, exps[0])
        await card_still_arrives(page, base, "c-provider")
        state = await page.locator("screenpop-card").get_attribute("state")
        counts = (len(sockets.opened), sockets.closed)  # before the service stops and closes it
    assert len(exps) >= 2 and exps[1] > exps[0]
    assert {"type": "refreshed", "exp": exps[1]} in sockets.frames
    assert (counts, state) == ((1, 0), "connected")


async def test_agent_page_asks_for_a_new_token_before_exp(chromium: BrowserContext, tmp_path: Path) -> None:
    """Without a provider, /agent asks for a new token before exp and the socket lives on with it."""
    settings = service(tmp_path)
    short, first_exp = host_token("agent-1", 8)
    async with screenpop_on(settings) as base:
        page = await chromium.new_page()
        sockets = Sockets(page)
        await page.goto(f"{base}/agent#token={short}")
        await connected(page)
        note = page.locator("[data-testid=token-expiring]")
        await note.wait_for(state="visible", timeout=PAST_EXP_MS)
        assert "Sign in again" in await note.inner_text()
        error = page.locator("[data-testid=signin-error]")
        assert "ends soon" in await error.inner_text()
        fresh, second_exp = host_token("agent-1", LONG_S)
        await page.locator("[data-testid=token-input]").fill(fresh)
        await page.locator("[data-testid=signin-submit]").click()
        await asyncio.wait_for(sockets.refreshed.wait(), PAST_EXP_MS / 1000)
        await past(page, first_exp)
        await card_still_arrives(page, base, "c-agent-page")
        assert await note.is_hidden()
        assert await page.locator("[data-testid=signin-form]").is_hidden()
        counts = (len(sockets.opened), sockets.closed)  # before the service stops and closes it
    assert {"type": "refreshed", "exp": second_exp} in sockets.frames
    assert counts == (1, 0)


EVENTS = """
window.__events = [];
for (const name of ["screenpop:token-expiring", "screenpop:state"]) {
  document.addEventListener(name, (ev) =>
    window.__events.push([name, ev.detail.state || null, ev.detail.code ?? null]));
}
"""


async def test_embedded_widget_without_provider_tells_the_agent_to_sign_in_again(
    chromium: BrowserContext, tmp_path: Path
) -> None:
    """Without a provider, a host page's widget says "sign in again" before exp, then 4401 stops it."""
    host_port = free_port()
    settings = service(tmp_path, origin(host_port))
    short, _ = host_token("agent-1", 4)
    async with screenpop_on(settings) as base, host_page(host_port, base, short) as host:
        page = await chromium.new_page()
        await page.add_init_script(EVENTS)
        await page.goto(host + "/")
        banner = page.locator("[data-testid=status-banner][data-state=unauthorized]")
        await banner.wait_for(timeout=PAST_EXP_MS)
        text = await banner.locator("[data-testid=status-text]").inner_text()
        events = await page.evaluate("window.__events")
    seen = [tuple(event) for event in events]
    expiring = seen.index(("screenpop:token-expiring", None, None))
    assert ("screenpop:state", "connected", None) in seen[:expiring], seen
    assert ("screenpop:state", "unauthorized", 4401) in seen[expiring:], seen
    assert text.startswith("Sign-in needed")


async def test_refresh_timing_helpers(chromium: BrowserContext, tmp_path: Path) -> None:
    """The widget reads exp from a PyJWT token and refreshes 60 s ahead, or at 80% of a short rest."""
    settings = service(tmp_path)
    token, exp = host_token("agent-1", LONG_S)
    async with screenpop_on(settings) as base:
        page = await chromium.new_page()
        await page.goto(f"{base}/agent")
        found = await page.evaluate(
            """async (token) => {
              const c = await import("/widget/connection.js");
              return [c.tokenExpiry(token), c.tokenExpiry("nonsense"), c.tokenExpiry("a.b.c"),
                      c.refreshDelay(20000, 0), c.refreshDelay(12 * 3600000, 0), c.refreshDelay(1000, 5000)];
            }""",
            token,
        )
    assert found == [exp * 1000, None, None, 16000, 12 * 3600000 - 60000, 0]
