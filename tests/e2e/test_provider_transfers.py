"""Each phone system's own transfer moves the card: TaskRouter, Amazon Connect, Asterisk AMI.

Requests are signed as the providers sign them: Twilio's with twilio's own
``RequestValidator`` over the public URL, Amazon Connect's flow and contact
events as the forwarding Lambda signs them (the generic HMAC, SPEC 4);
Asterisk speaks through the local fake AMI server of ``tests/support/ami.py``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

from screenpop.config import Settings, settings_from_mapping
from screenpop.providers.amazon_connect import flow_event
from tests.support.agents import agents, call_status, has_had, read_until, seen
from tests.support.ami import CALLER, SECRET, USERNAME, FakeAmi, member, wait_link_state
from tests.support.service import Agent, base_config, running
from tests.support.signers import sign

PUBLIC = "https://screenpop.example.com"
TWILIO_TOKEN = "twilio-auth-token-for-transfers"
CONNECT_SECRET = "connect-lambda-secret"
ARN = "arn:aws:connect:us-east-1:111122223333:instance/i-1/agent/"
Hook = tuple[str, bytes, dict[str, str]]


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path}/store.db"


def settings_for(store_url: str, ami_port: int = 0) -> Settings:
    """Agents 1 and 2 in queue support, agent 3 in sales; a provider block per kind."""
    providers: list[dict[str, Any]] = [
        {
            "name": "twilio",
            "kind": "twilio",
            "auth_token": TWILIO_TOKEN,
            "agents": {"alice": "agent-1", "bob": "agent-2", "WK-carol": "agent-3", "WK-alice": "agent-1"},
        },
        {
            "name": "connect",
            "kind": "amazon_connect",
            "secret": CONNECT_SECRET,
            "agents": {ARN + "a1": "agent-1", ARN + "a2": "agent-2", ARN + "a3": "agent-3"},
        },
    ]
    if ami_port:
        providers.append(
            {
                "name": "asterisk",
                "kind": "asterisk_ami",
                "host": "127.0.0.1",
                "port": ami_port,
                "username": USERNAME,
                "secret": SECRET,
                "agents": {
                    "PJSIP/1001": "agent-1",
                    "PJSIP/1002": "agent-2",
                    "Bob": "agent-2",
                    "1003": "agent-3",
                },
            }
        )
    config = base_config(
        store_url, server={"public_url": PUBLIC, "allowed_origins": ["http://agents.example"]}
    )
    config["providers"] = providers
    return settings_from_mapping(config, source="<test>", environ={})


def twilio(params: dict[str, str]) -> Hook:
    path = "/webhooks/twilio"
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(PUBLIC + path, params)
    headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature}
    return path, urlencode(params).encode(), headers


def connect(body: dict[str, Any]) -> Hook:
    raw = json.dumps(body, separators=(",", ":")).encode()
    return (
        "/webhooks/connect",
        raw,
        {"Content-Type": "application/json", "Screenpop-Signature": sign(raw, CONNECT_SECRET)},
    )


async def post(base: str, *hooks: Hook) -> None:
    async with aiohttp.ClientSession() as session:
        for path, body, headers in hooks:
            async with session.post(base + path, data=body, headers=headers) as reply:
                assert reply.status in (200, 202, 204), await reply.text()


def task_event(event: str, **fields: str) -> dict[str, str]:
    """A TaskRouter Workspace event callback about the voice task of call CA-t."""
    attributes = {"from": "+14155550132", "to": "+18005551212", "call_sid": "CA-t"}
    return {
        "EventType": event,
        "AccountSid": "AC0",
        "WorkspaceSid": "WS0",
        "Timestamp": str(int(time.time())),
        "TaskSid": "WT0",
        "TaskAttributes": json.dumps(attributes),
        "TaskQueueName": "support",
        **fields,
    }


def card_of(call_id: str) -> Any:
    return lambda f: f["type"] == "card" and f["call_id"] == call_id


def last_card(agent: Agent, call_id: str) -> dict[str, Any]:
    return seen(agent, call_id)[0][-1]


async def test_taskrouter_cold_moves_at_once_warm_only_when_completed(store_url: str) -> None:
    """A cold transfer moves the task at once; a warm one is a consultation until task.transfer-completed."""
    settings = settings_for(store_url)
    async with running(settings) as base, agents(base, settings, "agent-1", "agent-2", "agent-3") as socks:
        one, two, three = socks["agent-1"], socks["agent-2"], socks["agent-3"]
        await post(base, twilio(task_event("reservation.created", WorkerName="alice", ReservationSid="WR-1")))
        await post(
            base, twilio(task_event("reservation.accepted", WorkerName="alice", ReservationSid="WR-1"))
        )
        await read_until(one, call_status("CA-t", "answered"))
        warm = {
            "TransferSid": "TT-1",
            "TransferMode": "WARM",
            "TransferType": "WORKER",
            "TransferTo": "WK-carol",
        }
        warm["TransferInitiatingWorkerSid"] = "WK-alice"
        await post(base, twilio(task_event("task.transfer-initiated", **warm)))
        assert await three.silent_for(0.3)  # a consultation: nothing moves
        await post(base, twilio(task_event("task.transfer-completed", **warm)))
        await read_until(three, card_of("CA-t"))
        assert last_card(three, "CA-t")["card"]["transfers"][0]["from_agent"] == "agent-1"
        await read_until(one, call_status("CA-t", "transferred"))
        assert seen(one, "CA-t")[1][-1] == ("CA-t", "transferred", "agent-3")

        cold = {"TransferSid": "TT-2", "TransferMode": "COLD", "TransferType": "QUEUE", "TransferTo": "WQ-1"}
        await post(base, twilio(task_event("task.transfer-initiated", **cold)))
        await read_until(two, card_of("CA-t"))  # agent-2 is in support, the task's queue now
        await read_until(three, call_status("CA-t", "transferred"))
        await post(base, twilio(task_event("task.transfer-completed", **cold)))  # the same transfer: nothing
        assert await two.silent_for(0.3)
        assert [c["version"] for c in seen(one, "CA-t")[0]].count(1) == 1


async def test_amazon_connect_transfer_contact_moves_the_first_contacts_card(store_url: str) -> None:
    """A TRANSFER contact's CONNECTED_TO_AGENT moves the card of its initial contact to that agent."""
    settings = settings_for(store_url)
    flow = {
        "Name": "ContactFlowEvent",
        "Details": {
            "Parameters": {},
            "ContactData": {
                "Channel": "VOICE",
                "ContactId": "ct-1",
                "InitialContactId": "ct-1",
                "InitiationMethod": "INBOUND",
                "Attributes": {},
                "CustomerEndpoint": {"Address": "+14155550132", "Type": "TELEPHONE_NUMBER"},
                "SystemEndpoint": {"Address": "+18005550100", "Type": "TELEPHONE_NUMBER"},
                "Queue": {"Name": "support"},
            },
        },
    }

    def event(contact: str, kind: str, method: str, agent: str | None = None) -> dict[str, Any]:
        detail: dict[str, Any] = {
            "eventType": kind,
            "contactId": contact,
            "initialContactId": "ct-1",
            "previousContactId": "ct-1",
            "channel": "VOICE",
            "initiationMethod": method,
            "instanceArn": "arn:aws:connect:us-east-1:111122223333:instance/i-1",
        }
        if agent:
            detail["agentInfo"] = {
                "agentArn": ARN + agent,
                "connectedToAgentTimestamp": "2026-11-22T10:00:05Z",
            }
        envelope = {"version": "0", "id": f"evt-{contact}-{kind}", "source": "aws.connect"}
        return {**envelope, "detail-type": "Amazon Connect Contact Event", "detail": detail}

    async with running(settings) as base, agents(base, settings, "agent-1", "agent-2", "agent-3") as socks:
        one, three = socks["agent-1"], socks["agent-3"]
        await post(base, connect(flow), connect(event("ct-1", "CONNECTED_TO_AGENT", "INBOUND", "a1")))
        await read_until(one, call_status("ct-1", "answered"))
        await post(base, connect(event("ct-2", "INITIATED", "TRANSFER")))
        assert await three.silent_for(0.2)  # initiated only: no one has the customer yet
        hook = connect(event("ct-2", "CONNECTED_TO_AGENT", "TRANSFER", "a3"))
        await post(base, hook, hook)  # EventBridge may deliver twice
        await read_until(three, card_of("ct-1"))
        await read_until(three, call_status("ct-1", "answered"))
        assert last_card(three, "ct-1")["card"]["caller"]["e164"] == "+14155550132"
        await read_until(one, call_status("ct-1", "transferred"))
        assert seen(one, "ct-1")[1][-1] == ("ct-1", "transferred", "agent-3")
        assert len(seen(three, "ct-1")[0]) == 1


async def test_amazon_connect_transfer_events_out_of_order_leave_the_call_with_the_agent(
    store_url: str,
) -> None:
    """EventBridge delivers agent-2 picking up (10:00:08) before the transfer contact's queueing (10:00:05):
    the late queueing moves nobody, so agent-1 does not get the card back."""
    settings = settings_for(store_url)
    flow = flow_event("+14155550132", "ct-5", "support")
    flow["Details"]["ContactData"]["SystemEndpoint"] = {"Address": "+18005550100"}

    def event(contact: str, kind: str, method: str, **detail: Any) -> dict[str, Any]:
        body = {"eventType": kind, "contactId": contact, "initialContactId": "ct-5", "channel": "VOICE"}
        envelope = {"version": "0", "id": f"evt-{contact}-{kind}", "source": "aws.connect"}
        detail = {**body, "initiationMethod": method, **detail}
        return {**envelope, "detail-type": "Amazon Connect Contact Event", "detail": detail}

    def agent(who: str, at: str) -> dict[str, str]:
        return {"agentArn": ARN + who, "connectedToAgentTimestamp": at}

    async with running(settings) as base, agents(base, settings, "agent-1", "agent-2") as socks:
        one, two = socks["agent-1"], socks["agent-2"]
        answered = event(
            "ct-5", "CONNECTED_TO_AGENT", "INBOUND", agentInfo=agent("a1", "2026-11-22T10:00:01Z")
        )
        await post(base, connect(flow), connect(answered))
        await read_until(one, call_status("ct-5", "answered"))
        picked = event(
            "ct-6", "CONNECTED_TO_AGENT", "TRANSFER", agentInfo=agent("a2", "2026-11-22T10:00:08Z")
        )
        queued = {"queueName": "support", "enqueueTimestamp": "2026-11-22T10:00:05Z"}
        late = event("ct-6", "QUEUED", "TRANSFER", queueInfo=queued)
        await post(base, connect(picked))
        await has_had(two, lambda f: f["type"] == "card" and f["complete"] and f["card"]["transfers"])
        await has_had(one, call_status("ct-5", "transferred"))
        await post(base, connect(late))
        assert all([await one.silent_for(0.3), await two.silent_for(0.01)])
        assert [t["to_queue"] for t in last_card(two, "ct-5")["card"]["transfers"]] == [None]


async def test_asterisk_blind_and_attended_transfers(store_url: str, ami: FakeAmi) -> None:
    """BlindTransfer to an agent's extension and a successful AttendedTransfer move it; a failed one not."""
    settings = settings_for(store_url, ami.port)
    call = "1763800000.101"
    bob = member("1002", "Bob")
    ring = f"Event: AgentCalled\n{CALLER}\n{bob}\n\nEvent: AgentConnect\n{CALLER}\n{bob}\nHoldTime: 4\n\n"
    transferee = (
        "TransfereeChannel: PJSIP/trunk-00000001\nTransfereeCallerIDNum: +14155550132\n"
        f"TransfereeUniqueid: {call}\nTransfereeLinkedid: {call}"
    )
    blind = f"""Event: BlindTransfer
Result: Success
TransfererChannel: PJSIP/1002-00000002
TransfererUniqueid: 1763800000.1002
TransfererLinkedid: {call}
{transferee}
IsExternal: No
Context: from-internal
Extension: 1003

"""

    def attended(result: str, second: str) -> str:
        return f"""Event: AttendedTransfer
Result: {result}
OrigTransfererChannel: PJSIP/1003-00000003
OrigTransfererUniqueid: 1763800000.1003
SecondTransfererChannel: PJSIP/1003-00000004
SecondTransfererUniqueid: {second}
DestType: Bridge
{transferee}
TransferTargetChannel: PJSIP/1001-00000005
TransferTargetUniqueid: 1763800000.2001
TransferTargetCallerIDNum: 1001
IsExternal: No

"""

    async with running(settings) as base, agents(base, settings, "agent-1", "agent-2", "agent-3") as socks:
        one, two, three = socks["agent-1"], socks["agent-2"], socks["agent-3"]
        await wait_link_state(base, lambda link: link == "connected")
        await ami.send(ring)
        await read_until(two, call_status(call, "answered"))
        await ami.send(blind)
        await read_until(three, card_of(call))
        await read_until(two, call_status(call, "transferred"))
        assert last_card(three, call)["card"]["transfers"][0]["from_agent"] == "agent-2"
        await ami.send(attended("Fail", "1763800000.3003"))
        assert await one.silent_for(0.3)
        await ami.send(attended("Success", "1763800000.3004") + blind)  # and the old blind transfer replayed
        await read_until(one, card_of(call))
        await read_until(three, call_status(call, "transferred"))
        assert [t["to_agent"] for t in last_card(one, call)["card"]["transfers"]] == ["agent-3", "agent-1"]
        assert await two.silent_for(0.3)
