"""A `screenpop serve` told to stop (SIGTERM) and the agent sockets open at that moment (SPEC 5: 1012).

The widget reconnects at once, with a little jitter, on 1012 and backs off on
anything else, so every socket the stop finds gets 1012, including one that
has not said hello yet.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest
import websockets

from tests.support.processes import agent_on, service_config, services

WITHIN_S = 10.0  # a bound on waiting, never an assertion about speed


async def test_a_socket_still_to_say_hello_is_closed_1012_with_the_others(tmp_path: Path) -> None:
    """A socket upgraded before SIGTERM that has not said hello gets 1012 as the welcomed one does."""
    config = service_config(f"sqlite+aiosqlite:///{tmp_path}/store.db")
    async with services(tmp_path, a=config) as started:
        a = started["a"]
        async with (
            agent_on(a, "agent-1") as welcomed,
            websockets.connect(a.ws_url(), ping_interval=None, open_timeout=5) as late,
        ):
            a._signal_group(signal.SIGTERM)
            with pytest.raises(websockets.ConnectionClosed) as first:
                await welcomed.next(WITHIN_S)
            assert first.value.rcvd is not None and first.value.rcvd.code == 1012
            with pytest.raises(websockets.ConnectionClosed) as second:
                await asyncio.wait_for(late.recv(), WITHIN_S)  # a frame would fail the test: none comes
            assert second.value.rcvd is not None and second.value.rcvd.code == 1012, second.value
