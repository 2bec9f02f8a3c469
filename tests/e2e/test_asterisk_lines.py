"""An Asterisk call's line: the number the caller dialled, read from what AMI events carry.

AMI has no "dialled number" field, so every Asterisk call had no `to`, and a
configured `lines:` entry never named an Asterisk call's line (SPEC 3).  A
local AMI server (``support/ami.py``) plays queue calls to the real app.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from screenpop.config import Settings, settings_from_mapping
from tests.support.agents import agents, complete_card, read_until
from tests.support.ami import CALLER, SECRET, USERNAME, FakeAmi, member, wait_link_state
from tests.support.service import base_config, running

CALL = "1763800000.101"


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path}/store.db"


def settings_for(store_url: str, ami_port: int) -> Settings:
    provider = {
        "name": "asterisk",
        "kind": "asterisk_ami",
        "host": "127.0.0.1",
        "port": ami_port,
        "username": USERNAME,
        "secret": SECRET,
        "agents": {"PJSIP/1001": "agent-1"},
    }
    config = base_config(store_url, providers=[provider])
    config["lines"] = [{"number": "+18005550100", "name": "Acme Support"}]
    return settings_from_mapping(config, source="<test>", environ={})


def queue_call(call_id: str, caller: str) -> str:
    return f"Event: AgentCalled\n{caller.replace(CALL, call_id)}\n{member('1001', 'Alice')}\n\n"


async def card_of(ami: FakeAmi, agent: Any, call_id: str, caller: str) -> dict[str, Any]:
    await ami.send(queue_call(call_id, caller))
    await read_until(agent, complete_card(call_id))
    frames = [f for raw in agent.raw if (f := json.loads(raw)).get("call_id") == call_id]
    return dict(frames[-1]["card"])


@pytest.mark.parametrize(
    ("call_id", "caller", "line"),
    [
        # FreePBX sets FROM_DID on every inbound route (channelvars = FROM_DID in manager.conf)
        ("1763800001.1", CALLER + "\nChanVariable: FROM_DID=8005550100", "Acme Support"),
        # a dialplan whose DID extension runs Queue() itself: the caller channel's Exten is the DID
        ("1763800002.1", CALLER.replace("Exten: 600", "Exten: +18005550100"), "Acme Support"),
        # behind a route, Exten is the queue's own short number: no DID, no line
        ("1763800003.1", CALLER, None),
    ],
)
async def test_an_asterisk_call_names_the_line_dialled(
    store_url: str, ami: FakeAmi, call_id: str, caller: str, line: str | None
) -> None:
    """The line is the `lines:` entry of FROM_DID, else of a DID-long Exten; FROM_DID is no attribute."""
    settings = settings_for(store_url, ami.port)
    async with running(settings) as base, agents(base, settings, "agent-1") as socks:
        await wait_link_state(base, lambda link: link == "connected")
        card = await card_of(ami, socks["agent-1"], call_id, caller)
    assert card["line"] == line
    assert card["attributes"] == {}
