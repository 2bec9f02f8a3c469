"""A config reload that changes an agent's role while their tab is open: the tab follows the new role.

SPEC 4: a reload replaces roles at once and sockets stay open; SPEC 5: a role
decides what a socket receives.  Cards sent after the reload already followed
the new role, but the widget was never told: its header still named the old
role, and the cards it held kept showing a section the new role hides.
Against `screenpop serve` as a process, in headless Chromium.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from playwright.async_api import BrowserContext

from tests.support.browser import (
    WAIT_MS,
    card,
    connected,
    count_of,
    host_page,
    ring,
    section,
    service_config,
    settings_of,
)
from tests.support.ports import free_port
from tests.support.processes import services
from tests.support.service import ADA, api
from tests.support.tokens import token_for

pytestmark = pytest.mark.browser

ROLES = {"tier1": {"hide": ["credit"]}, "tier2": {"hide": ["accounting"]}, "supervisor": {}}


def with_role(config: dict[str, Any], agent_id: str, role: str) -> dict[str, Any]:
    """``config`` with ``agent_id`` moved to ``role`` in the directory."""
    directory = [{**a, "role": role} if a["id"] == agent_id else a for a in config["agents"]["directory"]]
    return {**config, "agents": {**config["agents"], "directory": directory}}


async def test_a_reload_that_changes_the_role_updates_the_open_tab(
    chromium: BrowserContext, tmp_path: Path
) -> None:
    """After the reload the header names the new role and the held card drops the section it now hides."""
    host_port = free_port()
    config = service_config(f"sqlite+aiosqlite:///{tmp_path}/store.db", host_port, roles=ROLES)
    async with services(tmp_path, one=config) as started:
        service = started["one"]
        settings = settings_of(config)
        async with host_page(host_port, service.base, token_for(settings, "agent-1")) as desk:
            page = await chromium.new_page()
            await page.goto(desk)
            await connected(page)
            await ring(service.base, "before", ADA, agent="agent-1")
            await page.wait_for_selector(section("before", "accounting", "ok"), timeout=WAIT_MS)
            assert await page.locator("[data-testid=agent]").inner_text() == "agent-1 · tier1"

            running = yaml.safe_load((tmp_path / "one.yaml").read_text())
            (tmp_path / "one.yaml").write_text(yaml.safe_dump(with_role(running, "agent-1", "tier2")))
            status, _ = await api(service.base, "POST", "/api/admin/reload", token_for(settings, "agent-3"))
            assert status == 200

            who = page.locator("[data-testid=agent]")
            await page.wait_for_function(
                "el => el.textContent === 'agent-1 · tier2'", arg=await who.element_handle(), timeout=WAIT_MS
            )
            assert await count_of(page, section("before", "accounting")) == 0
            await ring(service.base, "after", ADA, agent="agent-1")
            await page.wait_for_selector(section("after", "credit", "ok"), timeout=WAIT_MS)
            assert await count_of(page, section("after", "accounting")) == 0
            assert await count_of(page, card("before")) == 1
