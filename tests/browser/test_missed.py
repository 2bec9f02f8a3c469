"""The widget after a gap the server could not replay: "Missed while away" and a failed fetch of it.

The socket between Chromium and the real service is routed through
Playwright so the welcome can say ``"recovered": false`` (as after a replay
stream was lost), and ``/api/calls`` is answered with an error until the test
lets it through: the agent must be told the list is missing, not shown nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from playwright.async_api import BrowserContext, Route, WebSocketRoute

from tests.support.browser import (
    WAIT_MS,
    count_of,
    open_agent_page,
    ring,
    screenpop_on,
    service_config,
    settings_of,
)
from tests.support.ports import free_port
from tests.support.service import ADA, api
from tests.support.tokens import token_for
from tests.support.waiting import wait_for

pytestmark = pytest.mark.browser


async def test_a_failed_fetch_of_missed_calls_is_shown_and_a_retry_lists_them(
    chromium: BrowserContext, tmp_path: Path
) -> None:
    """A refused /api/calls after a non-recovered resume shows its reason; "Try again" lists the call."""
    settings = settings_of(service_config(f"sqlite+aiosqlite:///{tmp_path}/store.db", free_port()))
    token = token_for(settings, "agent-1")
    refusing = True

    async def calls(route: Route) -> None:
        if not refusing:
            await route.continue_()
            return
        body = {"error": {"code": "unavailable", "message": "The call store is unavailable"}}
        await route.fulfill(status=503, content_type="application/json", body=json.dumps(body))

    def socket(ws: WebSocketRoute) -> None:
        server = ws.connect_to_server()

        def from_server(message: str | bytes) -> None:
            frame = json.loads(message)
            if frame.get("type") == "welcome":
                frame["recovered"] = False  # as when the replay stream for resume_from is gone
            ws.send(json.dumps(frame))

        server.on_message(from_server)

    async with screenpop_on(settings) as base:
        # rang and was missed before the page connected: only /api/calls knows it (a call still
        # ringing is sent to a fresh tab on its socket, docs/beyond-the-spec.md)
        await ring(base, "gap-1", ADA)
        await ring(base, "gap-1", ADA, event="missed")

        async def listed() -> bool:
            _, body = await api(base, "GET", "/api/calls?limit=20", token)
            return any(c["call_id"] == "gap-1" for c in body["calls"])

        await wait_for(listed, 5, "gap-1 in /api/calls")
        page = await chromium.new_page()
        await page.route("**/api/calls?limit=20", calls)
        await page.route_web_socket("**/ws", socket)
        await open_agent_page(page, base, token)
        away = page.locator("[data-testid=missed-while-away]")
        error = away.locator("[data-testid=missed-error]")
        await error.wait_for(timeout=WAIT_MS)
        assert "The call store is unavailable." in await error.inner_text()
        refusing = False
        await away.locator("[data-testid=retry-missed]").click()
        await away.locator("[data-testid=missed-item][data-call-id=gap-1]").wait_for(timeout=WAIT_MS)
        assert await count_of(page, "[data-testid=missed-error]") == 0
