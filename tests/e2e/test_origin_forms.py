"""A page's widget is let in when its origin is listed in any form an admin pastes (SPEC 5, 4403)."""

from __future__ import annotations

import json
from pathlib import Path

import websockets

from tests.support.service import make, running
from tests.support.tokens import token_for


async def test_an_origin_listed_with_a_slash_and_capitals_is_let_in(tmp_path: Path) -> None:
    """``HTTP://Agents.Example:80/`` in the config admits a browser sending ``Origin: http://agents.example``."""
    settings = make(
        f"sqlite+aiosqlite:///{tmp_path}/store.db", server={"allowed_origins": ["HTTP://Agents.Example:80/"]}
    )
    async with (
        running(settings) as base,
        websockets.connect(base.replace("http", "ws") + "/ws", origin="http://agents.example") as ws,  # type: ignore[arg-type]
    ):
        await ws.send(json.dumps({"type": "hello", "token": token_for(settings, "agent-1")}))
        welcome = json.loads(await ws.recv())
    assert welcome["type"] == "welcome" and welcome["agent"] == "agent-1"
