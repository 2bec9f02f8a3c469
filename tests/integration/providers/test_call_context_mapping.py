"""Each phone system's own attributes and outbound legs, in requests signed the way it signs them.

Twilio's requests are signed by twilio-python's ``RequestValidator``, Telnyx's
with PyNaCl over ``"{timestamp}|{body}"`` (as Telnyx's SDK tests do), Amazon
Connect's flow events with the generic HMAC header its Lambda sends; the
Asterisk events are an AMI stream as Asterisk writes it with ``channelvars``.
"""

from __future__ import annotations

import base64
import copy
import json
from typing import Any
from urllib.parse import urlencode

from nacl.signing import SigningKey
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

from screenpop.call_context import Direction, public_attributes
from screenpop.config import ProviderSettings, ServerSettings
from screenpop.model import CallEvent, EventKind
from screenpop.providers import parse_ami_stream
from screenpop.providers.amazon_connect import AmazonConnectProvider
from screenpop.providers.base import WebhookRequest
from screenpop.providers.telnyx import TelnyxProvider
from screenpop.providers.twilio import TwilioProvider
from tests.support.signers import sign, telnyx_headers

NOW = 1_763_800_000.0
PUBLIC = "https://screenpop.example.com"


def webhook(path: str, body: bytes, headers: dict[str, str], content_type: str) -> WebhookRequest:
    return WebhookRequest(
        url=PUBLIC + path,
        headers={k.lower(): v for k, v in headers.items()},
        body=body,
        content_type=content_type,
        now=NOW,
    )


# -- Twilio ------------------------------------------------------------------------------

TWILIO_TOKEN = "twilio-auth-token-for-tests"


def twilio(params: dict[str, str]) -> list[CallEvent]:
    settings = ProviderSettings(
        name="twilio", kind="twilio", auth_token=TWILIO_TOKEN, agents={"alice": "agent-1"}
    )
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(PUBLIC + "/webhooks/twilio", params)
    request = webhook(
        "/webhooks/twilio",
        urlencode(params).encode(),
        {"X-Twilio-Signature": signature},
        "application/x-www-form-urlencoded",
    )
    return list(TwilioProvider(settings, ServerSettings(public_url=PUBLIC)).verify_and_parse(request))


def test_twilio_task_attributes_become_the_calls_attributes() -> None:
    """A TaskRouter task's own attributes (IVR input) are the call's; keys lower-cased, objects dropped."""
    task = {
        "from": "+14155550132",
        "to": "+18005550100",
        "call_sid": "CA-task",
        "caller_name": "ADA L",
        "AccountId": "A-77",
        "verified": True,
        "secret_pin": "1234",
        "conversations": {"segment": "x"},
        "language-choice": "fr",
        "9lives": "dropped",
    }
    params = {
        "EventType": "reservation.created",
        "TaskAttributes": json.dumps(task),
        "TaskQueueName": "support",
        "WorkerName": "alice",
        "ReservationSid": "WR1",
        "Timestamp": "1795341600",
    }
    (event,) = twilio(params)
    assert (event.call_id, event.agent, event.direction) == ("CA-task", "agent-1", Direction.INBOUND)
    assert dict(event.attributes) == {
        "accountid": "A-77",
        "verified": True,
        "secret_pin": "1234",
        "language_choice": "fr",
    }


def test_twilio_outbound_task_and_outbound_calls_are_outbound() -> None:
    """A Flex task with `direction: outbound`, an `outbound-api` call, a Voice SDK client's call: outbound."""
    task = {"from": "+18005550100", "to": "+14155550132", "call_sid": "CA-out", "direction": "outbound"}
    params = {
        "EventType": "reservation.created",
        "TaskAttributes": json.dumps(task),
        "WorkerName": "alice",
        "ReservationSid": "WR2",
    }
    (flex,) = twilio(params)
    assert (flex.direction, flex.to, flex.agent) == (Direction.OUTBOUND, "+14155550132", "agent-1")
    assert "direction" not in flex.attributes

    api_call = {"CallSid": "CA-api", "From": "+18005550100", "To": "+14155550132", "CallStatus": "ringing"}
    (dialled,) = twilio({**api_call, "Direction": "outbound-api"})
    assert (dialled.direction, dialled.to) == (Direction.OUTBOUND, "+14155550132")

    client = {"CallSid": "CA-sdk", "From": "client:alice", "To": "+14155550132", "CallStatus": "ringing"}
    (sdk,) = twilio({**client, "Direction": "inbound"})
    assert (sdk.direction, sdk.agent, sdk.to, sdk.from_raw) == (
        Direction.OUTBOUND,
        "agent-1",
        "+14155550132",
        "",
    )

    to_agent = {"CallSid": "CA-ctd", "From": "+18005550100", "To": "client:alice", "CallStatus": "ringing"}
    (first_leg,) = twilio({**to_agent, "Direction": "outbound-api"})  # click-to-dial rings the agent first
    assert (first_leg.direction, first_leg.agent) == (Direction.INBOUND, "agent-1")

    leg = {"CallSid": "CA-leg", "ParentCallSid": "CA-in", "From": "+14155550132", "To": "client:alice"}
    (child,) = twilio({**leg, "CallStatus": "ringing", "Direction": "outbound-dial"})
    assert (child.direction, child.call_id) == (Direction.INBOUND, "CA-in")  # a leg of an inbound call


# -- Telnyx ------------------------------------------------------------------------------


def telnyx(key: SigningKey, payload: dict[str, Any]) -> list[CallEvent]:
    public = base64.b64encode(bytes(key.verify_key)).decode()
    settings = ProviderSettings(name="telnyx", kind="telnyx", public_key=public)
    envelope = {
        "data": {
            "record_type": "event",
            "event_type": "call.initiated",
            "id": "0ccc7b54-4df3-4bca-a65a-3da1ecc777f0",
            "occurred_at": "2026-11-22T10:00:00Z",
            "payload": {
                "call_control_id": "v3:ctl-1",
                "from": "+14155550132",
                "to": "+18005550100",
                **payload,
            },
        }
    }
    body = json.dumps(envelope).encode()
    request = webhook("/webhooks/telnyx", body, telnyx_headers(key, body, int(NOW)), "application/json")
    return list(TelnyxProvider(settings, ServerSettings()).verify_and_parse(request))


def state(value: object) -> str:
    return base64.b64encode(json.dumps(value).encode()).decode()


def test_telnyx_client_state_json_becomes_the_calls_attributes() -> None:
    """`client_state` base64 JSON is the call's attributes; text that is not a JSON object carries none."""
    key = SigningKey.generate()
    (event,) = telnyx(
        key, {"direction": "incoming", "client_state": state({"Account_Id": "A-77", "tries": 2})}
    )
    assert dict(event.attributes) == {"account_id": "A-77", "tries": 2}
    (plain,) = telnyx(key, {"direction": "incoming", "client_state": "aGF2ZSBhIG5pY2UgZGF5ID1d"})
    assert dict(plain.attributes) == {}
    (broken,) = telnyx(key, {"direction": "incoming", "client_state": "%%%not base64"})
    assert dict(broken.attributes) == {}


def test_telnyx_outgoing_leg_pops_only_when_it_names_the_dialling_agent() -> None:
    """An outgoing leg whose `client_state` names an agent is its outbound call; others say nothing."""
    key = SigningKey.generate()
    payload = {"direction": "outgoing", "from": "+18005550100", "to": "+14155550132"}
    (event,) = telnyx(key, {**payload, "client_state": state({"agent": "agent-2", "campaign": "renewals"})})
    assert (event.event, event.direction, event.agent) == (EventKind.RINGING, Direction.OUTBOUND, "agent-2")
    assert (event.to, dict(event.attributes)) == ("+14155550132", {"campaign": "renewals"})
    assert telnyx(key, payload) == []  # a leg the app made to ring an agent


# -- Amazon Connect ----------------------------------------------------------------------

CONNECT_SECRET = "connect-shared-secret"
FLOW_EVENT: dict[str, Any] = {
    "Name": "ContactFlowEvent",
    "Details": {
        "Parameters": {},
        "ContactData": {
            "Channel": "VOICE",
            "ContactId": "4a573372-1f28-4e26-b97b-000000000001",
            "InitiationMethod": "INBOUND",
            "Attributes": {"AccountNumber": "A-77", "secret_pin": "4321", "Language": "en-US"},
            "CustomerEndpoint": {"Address": "+14155550132", "Type": "TELEPHONE_NUMBER"},
            "SystemEndpoint": {"Address": "+18005550100", "Type": "TELEPHONE_NUMBER"},
            "Queue": {"Name": "support"},
        },
    },
}


def connect(event: dict[str, Any]) -> list[CallEvent]:
    settings = ProviderSettings(name="connect", kind="amazon_connect", secret=CONNECT_SECRET)
    body = json.dumps(event).encode()
    headers = {"Screenpop-Signature": sign(body, CONNECT_SECRET, int(NOW))}
    request = webhook("/webhooks/connect", body, headers, "application/json")
    return list(AmazonConnectProvider(settings, ServerSettings()).verify_and_parse(request))


def test_amazon_connect_contact_attributes_become_the_calls_attributes() -> None:
    """`Details.ContactData.Attributes` (contact attributes set in the flow) are the call's attributes."""
    (event,) = connect(FLOW_EVENT)
    assert dict(event.attributes) == {"accountnumber": "A-77", "secret_pin": "4321", "language": "en-US"}
    assert (event.direction, event.from_raw, event.to) == (Direction.INBOUND, "+14155550132", "+18005550100")


def test_a_camel_case_secret_contact_attribute_stays_secret() -> None:
    """A flow's ``SecretPin`` is bound as ``secret_pin``; lower-cased whole it was a public key."""
    event = copy.deepcopy(FLOW_EVENT)
    event["Details"]["ContactData"]["Attributes"] = {"SecretPin": "4321", "Secretary": "Ann", "SECRETCode": 7}
    (taken,) = connect(event)
    assert dict(taken.attributes) == {"secret_pin": "4321", "secretary": "Ann", "secret_code": 7}
    assert public_attributes(taken.attributes) == {"secretary": "Ann"}


def test_amazon_connect_outbound_and_callback_contacts_are_outbound() -> None:
    """`InitiationMethod` OUTBOUND or CALLBACK: the card is about the customer, dialled from our number."""
    for method in ("OUTBOUND", "CALLBACK"):
        event = copy.deepcopy(FLOW_EVENT)
        event["Details"]["ContactData"]["InitiationMethod"] = method
        (outbound,) = connect(event)
        assert (outbound.direction, outbound.to, outbound.from_raw) == (
            Direction.OUTBOUND,
            "+14155550132",
            "+18005550100",
        ), method


# -- Asterisk ----------------------------------------------------------------------------

AGENT_CALLED = """Event: AgentCalled
Privilege: agent,all
Channel: PJSIP/trunk-00000001
CallerIDNum: +14155550132
CallerIDName: ADA L
Uniqueid: 1700000000.1
Linkedid: 1700000000.1
ChanVariable: ACCOUNT_ID=A-77
ChanVariable: SECRET_PIN=9876
ChanVariable: IVR_CHOICE=billing=yes
ChanVariable: BAD NAME!=x
DestChannel: PJSIP/1001-00000002
DestUniqueid: 1700000000.2
DestChanVariable: ACCOUNT_ID=not-the-callers
Queue: support
Interface: PJSIP/1001
MemberName: Grace

"""


def test_asterisk_channel_variables_on_agent_called_become_the_calls_attributes() -> None:
    """`ChanVariable: NAME=value` of the caller's channel (manager.conf `channelvars`) are its attributes."""
    settings = ProviderSettings(
        name="asterisk",
        kind="asterisk_ami",
        host="127.0.0.1",
        username="u",
        secret="s",
        agents={"PJSIP/1001": "agent-1"},
    )
    (event,) = parse_ami_stream(AGENT_CALLED, settings)
    assert (event.event, event.agent, event.call_id) == (EventKind.RINGING, "agent-1", "1700000000.1")
    assert dict(event.attributes) == {"account_id": "A-77", "secret_pin": "9876", "ivr_choice": "billing=yes"}
