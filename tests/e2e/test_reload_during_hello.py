"""A reload that lands while a hello is being answered: the welcome still comes first, in the new role.

The hub registers a socket before it reads the replay from the broker, so a
reload could reach it in between: it was told of its new role (a ``role``
message) before its ``welcome``, which SPEC 5 says comes first, and the
welcome then named the role read before the reload.  Redis is paused (a real
``CLIENT PAUSE``) to hold the hello's replay while `screenpop serve` reloads
on SIGHUP.
"""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

import pytest
import redis.asyncio as redis
import websockets
import yaml

from tests.support.processes import services
from tests.support.service import base_config
from tests.support.waiting import wait_for

pytestmark = pytest.mark.redis

PAUSE_MS = 3000
"""Long enough for a reload on a busy machine; every client of Redis waits it out, this test's too."""

ROLES = {"tier1": {"hide": ["credit"]}, "tier2": {"hide": ["accounting"]}, "supervisor": {}}


async def test_a_reload_during_the_hello_leaves_the_welcome_first_and_in_the_new_role(
    tmp_path: Path, redis_url: str
) -> None:
    """Reloaded (agent-1 moved to tier2) while the hello waited for Redis: first comes a tier2 welcome."""
    config = base_config(f"sqlite+aiosqlite:///{tmp_path}/store.db", roles=ROLES, broker={"url": redis_url})
    async with services(tmp_path, one=config) as started, redis.from_url(redis_url) as client:
        service = started["one"]
        path = tmp_path / "one.yaml"
        moved = yaml.safe_load(path.read_text())
        moved["agents"]["directory"][0]["role"] = "tier2"
        async with websockets.connect(service.ws_url()) as ws:
            await client.execute_command("CLIENT", "PAUSE", str(PAUSE_MS), "ALL")
            hello = {"type": "hello", "token": service.token("agent-1"), "role_notices": True}
            await ws.send(json.dumps(hello))
            path.write_text(yaml.safe_dump(moved))
            service.process.send_signal(signal.SIGHUP)
            await wait_for(lambda: "config reloaded" in service.log.read_text(), 10, "the reload logged")
            assert await client.ping()  # the pause is over: the hello's replay may go on
            first = json.loads(await asyncio.wait_for(ws.recv(), 10))
    assert (first["type"], first["role"]) == ("welcome", "tier2")
    assert [s["name"] for s in first["sections"]] == ["credit"]
