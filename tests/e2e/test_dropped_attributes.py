"""A phone system's attributes that a call cannot carry are dropped out loud: logged by key and counted.

A provider's call is never refused for its attributes (SPEC 3 binds
attributes; a refused call would be a card that never pops), so attributes
beyond 50, or whose key or value is not an attribute, are left out.  The
log says which keys once per call, never a value; `/metrics` counts them.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from screenpop.config import settings_from_mapping
from tests.support.agents import agents, complete_card, read_until
from tests.support.ami import CALLER, SECRET, USERNAME, FakeAmi, member, wait_link_state
from tests.support.processes import service_config, services
from tests.support.service import api, base_config, running
from tests.support.signers import sign
from tests.support.waiting import wait_for

CONNECT_SECRET = "connect-lambda-secret-for-tests"
VALUE = "VALUE-NEVER-LOGGED"


def flow_event(contact_id: str, attributes: dict[str, Any]) -> dict[str, Any]:
    """An Amazon Connect ContactFlowEvent (the AWS Lambda developer guide's shape) with these attributes."""
    return {
        "Name": "ContactFlowEvent",
        "Details": {
            "Parameters": {},
            "ContactData": {
                "Channel": "VOICE",
                "ContactId": contact_id,
                "InitialContactId": contact_id,
                "InitiationMethod": "INBOUND",
                "Attributes": attributes,
                "CustomerEndpoint": {"Address": "+14155550132", "Type": "TELEPHONE_NUMBER"},
                "SystemEndpoint": {"Address": "+18005550100", "Type": "TELEPHONE_NUMBER"},
                "Queue": {"Name": "support"},
            },
        },
    }


async def post(base: str, body: dict[str, Any]) -> int:
    """The event as the Lambda of docs/amazon-connect-lambda.md posts it: HMAC-signed."""
    raw = json.dumps(body).encode()
    headers = {"Content-Type": "application/json", "Screenpop-Signature": sign(raw, CONNECT_SECRET)}
    async with (
        aiohttp.ClientSession() as session,
        session.post(base + "/webhooks/connect", data=raw, headers=headers) as r,
    ):
        return r.status


def dropped_count(page: str) -> float:
    found = re.search(r'^screenpop_attributes_dropped_total\{provider="connect"\} (\S+)$', page, re.M)
    return float(found.group(1)) if found else 0.0


async def test_attributes_beyond_fifty_are_logged_by_key_and_counted(tmp_path: Path) -> None:
    """60 attributes and a nested one: 50 bound, 11 keys named in one WARNING per call, counted, no value."""
    attributes: dict[str, Any] = {f"k{n:02d}": f"{VALUE}-{n}" for n in range(60)}
    attributes["nested"] = {"secret": VALUE}
    config = service_config(f"sqlite+aiosqlite:///{tmp_path / 'store.db'}")
    config["providers"] = [{"name": "connect", "kind": "amazon_connect", "secret": CONNECT_SECRET}]
    async with services(tmp_path, a=config) as started:
        a = started["a"]
        assert await post(a.base, flow_event("ct-many", attributes)) == 202
        assert await post(a.base, flow_event("ct-many", attributes)) == 202  # the Lambda's retry
        log = await wait_for(
            lambda: "attributes dropped" in a.log_tail(400) and a.log_tail(400), 10, "the log line"
        )
        page = str((await api(a.base, "GET", "/metrics"))[1])
    lines = [line for line in log.splitlines() if "attributes dropped" in line]
    assert len(lines) == 1, lines
    assert "WARNING" in lines[0] and "ct-many" in lines[0]
    for n in range(50, 60):
        assert f"'k{n}'" in lines[0]
    assert "'nested'" in lines[0] and "'k49'" not in lines[0]
    assert VALUE not in log
    assert dropped_count(page) == 11


async def test_asterisk_channel_variables_beyond_fifty_are_counted(
    tmp_path: Path, ami: FakeAmi, caplog: pytest.LogCaptureFixture
) -> None:
    """An AMI queue call with 55 channel variables: the 5 beyond 50 are named in the log and counted."""
    provider = {
        "name": "asterisk",
        "kind": "asterisk_ami",
        "host": "127.0.0.1",
        "port": ami.port,
        "username": USERNAME,
        "secret": SECRET,
        "agents": {"PJSIP/1001": "agent-1"},
    }
    config = base_config(f"sqlite+aiosqlite:///{tmp_path / 'store.db'}", providers=[provider])
    settings = settings_from_mapping(config, source="<test>", environ={})
    variables = "\n".join(f"ChanVariable: V{n:02d}={VALUE}" for n in range(55))
    async with running(settings) as base, agents(base, settings, "agent-1") as socks:
        await wait_link_state(base, lambda link: link == "connected")
        await ami.send(f"Event: AgentCalled\n{CALLER}\n{variables}\n{member('1001', 'Alice')}\n\n")
        await read_until(socks["agent-1"], complete_card("1763800000.101"))
        page = str((await api(base, "GET", "/metrics"))[1])
    found = re.search(r'^screenpop_attributes_dropped_total\{provider="asterisk"\} (\S+)$', page, re.M)
    assert found is not None and float(found.group(1)) == 5
    lines = [r.getMessage() for r in caplog.records if "attributes dropped" in r.getMessage()]
    assert len(lines) == 1 and all(f"'V{n}'" in lines[0] for n in range(50, 55)), lines
    assert VALUE not in caplog.text
