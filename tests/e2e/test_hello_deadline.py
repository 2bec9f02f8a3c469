"""The hello window is one deadline from the upgrade: websocket pings do not extend it (SPEC 5, 4408).

aiohttp answers a client's ping frames inside ``receive`` and starts its
``timeout`` again after each, so a client that pinged more often than the
window held an unauthenticated socket open for as long as it liked.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest
import websockets

from screenpop import hub
from tests.support.service import make, running

WINDOW_S = 0.5
PINGS = 40
"""Pings sent at most WINDOW_S / 5 apart: 8 s of them, sixteen windows."""


async def test_pinging_without_a_hello_is_closed_4408(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A client that sends only ping control frames is still closed with 4408 once the window has passed."""
    monkeypatch.setattr(hub.hub, "HELLO_TIMEOUT_S", WINDOW_S)  # where the Hub reads it
    async with (
        running(make(f"sqlite+aiosqlite:///{tmp_path}/store.db")) as base,
        websockets.connect(base.replace("http", "ws") + "/ws") as ws,
    ):
        for _ in range(PINGS):
            with contextlib.suppress(websockets.ConnectionClosed):
                await ws.ping()
            with contextlib.suppress(TimeoutError, websockets.ConnectionClosed):
                await asyncio.wait_for(
                    ws.recv(), WINDOW_S / 5
                )  # the wait between pings: a frame or the close
            if ws.close_code is not None:
                break
    assert ws.close_code == 4408
