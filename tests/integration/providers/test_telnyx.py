"""Telnyx Call Control events, signed the way Telnyx and its SDKs sign them.

Telnyx publishes no fixed webhook vector with a known key pair: the SDKs' own
signature tests (team-telnyx/telnyx-python ``tests/test_webhook.py``, the
``signer`` fixture; team-telnyx/telnyx-node ``test/Webhook.spec.js``,
``generateSignature``) generate a fresh Ed25519 key pair and sign
``timestamp + b"|" + payload`` with PyNaCl / tweetnacl, base64-encoding the
detached signature.  These tests do exactly that, and one test also uses the
published key pair of RFC 8032 section 7.1 (TEST 1), so the verifier is tied
to a key whose public half is known from outside this project.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest
from nacl.signing import SigningKey

from screenpop.config import ProviderSettings, ServerSettings
from screenpop.errors import BadRequest, BadSignature, ConfigError, UnsupportedMediaType
from screenpop.model import CallEvent, EventKind
from screenpop.providers.base import WebhookRequest
from screenpop.providers.telnyx import TelnyxProvider
from tests.support.signers import telnyx_headers

NOW = 1_763_800_000.0
# The receiving-webhooks example of the Telnyx docs (ids shortened there, kept as given).
DOC_EXAMPLE = {
    "data": {
        "record_type": "event",
        "event_type": "call.initiated",
        "id": "0ccc7b54-4df3-4bca-a65a-3da1ecc777f0",
        "occurred_at": "2018-02-02T22:25:27.521992Z",
        "payload": {
            "call_control_id": "d14dbcee-0861-11eb-9fea-02420a0f0568",
            "connection_id": "7267xxxxxxxxxxxxxx",
            "call_leg_id": "d14dbcee-0861-11eb-9fea-02420a0f0568",
            "call_session_id": "428c31b6-7af4-4bcb-b68e-5013ef9657c1",
            "client_state": "aGF2ZSBhIG5pY2UgZGF5ID1d",
            "from": "+1-202-555-0133",
            "to": "+12025550131",
            "direction": "incoming",
            "state": "parked",
        },
    },
    "meta": {"attempt": 1, "delivered_to": "http://example.com/webhooks"},
}


# RFC 8032 section 7.1, TEST 1: the secret key (seed) and its public key, as published.
RFC8032_SECRET = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
RFC8032_PUBLIC = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
RFC8032_EMPTY_SIGNATURE = bytes.fromhex(
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
)


@pytest.fixture
def key() -> SigningKey:
    return SigningKey.generate()


def provider(key: SigningKey, **extra: object) -> TelnyxProvider:
    public = base64.b64encode(bytes(key.verify_key)).decode()
    settings = ProviderSettings.model_validate(
        {"name": "telnyx", "kind": "telnyx", "public_key": public, **extra}
    )
    return TelnyxProvider(settings, ServerSettings())


def signed(
    key: SigningKey, body: bytes, ts: float = NOW, content_type: str = "application/json"
) -> WebhookRequest:
    """Sign ``f"{ts}|{body}"`` with PyNaCl, as Telnyx does with its private key."""
    return WebhookRequest(
        url="http://localhost:8080/webhooks/telnyx",
        headers=telnyx_headers(key, body, int(ts)),
        body=body,
        content_type=content_type,
        now=NOW,
    )


def event(event_type: str, direction: str | None = "incoming", **payload: object) -> bytes:
    body = json.loads(json.dumps(DOC_EXAMPLE))
    body["data"]["event_type"] = event_type
    if direction is None:
        del body["data"]["payload"]["direction"]
    else:
        body["data"]["payload"]["direction"] = direction
    body["data"]["payload"].update(payload)
    return json.dumps(body).encode()


def test_doc_example_is_parsed(key: SigningKey) -> None:
    """The documented call.initiated (incoming) is a ringing event keyed by call_control_id."""
    events = provider(key).verify_and_parse(signed(key, json.dumps(DOC_EXAMPLE).encode()))
    assert events == [
        CallEvent(
            provider="telnyx",
            call_id="d14dbcee-0861-11eb-9fea-02420a0f0568",
            event=EventKind.RINGING,
            from_raw="+1-202-555-0133",
            to="+12025550131",
            at=datetime(2018, 2, 2, 22, 25, 27, 521992, tzinfo=UTC),
        )
    ]


def test_life_cycle_with_duplicates_and_disorder(key: SigningKey) -> None:
    """Answered before initiated, and a redelivered hangup, are passed on as they come."""
    p = provider(key)
    bodies = [
        event("call.answered", direction=None),
        event("call.initiated"),
        event("call.hangup", direction=None, hangup_cause="normal_clearing"),
        event("call.hangup", direction=None, hangup_cause="normal_clearing"),
    ]
    events = [e for body in bodies for e in p.verify_and_parse(signed(key, body))]
    assert [e.event for e in events] == [
        EventKind.ANSWERED,
        EventKind.RINGING,
        EventKind.ENDED,
        EventKind.ENDED,
    ]
    assert {e.call_id for e in events} == {"d14dbcee-0861-11eb-9fea-02420a0f0568"}


def test_outgoing_legs_and_other_events_are_ignored(key: SigningKey) -> None:
    """An outgoing leg (the app dialling an agent) and unrelated events yield no event."""
    p = provider(key)
    assert p.verify_and_parse(signed(key, event("call.initiated", direction="outgoing"))) == []
    assert p.verify_and_parse(signed(key, event("call.answered", direction="outgoing"))) == []
    assert p.verify_and_parse(signed(key, event("call.speak.ended"))) == []


def test_caller_name_and_diversion(key: SigningKey) -> None:
    """caller_id_name and the Diversion SIP header become caller name and forwarded-from."""
    body = event(
        "call.initiated",
        caller_id_name="ADA L",
        sip_headers=[
            {"name": "Diversion", "value": "<sip:+14155550000@sip.example.com>;reason=unconditional"}
        ],
    )
    parsed = provider(key).verify_and_parse(signed(key, body))[0]
    assert (parsed.caller_name, parsed.forwarded_from) == ("ADA L", "+14155550000")


def test_withheld_caller_stays_raw(key: SigningKey) -> None:
    """``anonymous`` stays raw text; the number parser upstream knows it is withheld."""
    parsed = provider(key).verify_and_parse(signed(key, event("call.initiated", **{"from": "anonymous"})))
    assert parsed[0].from_raw == "anonymous"


def test_reply_is_accepted_json(key: SigningKey) -> None:
    """Telnyx accepts any 2xx; screenpop answers 202 with the call id."""
    p = provider(key)
    reply = p.reply(p.verify_and_parse(signed(key, json.dumps(DOC_EXAMPLE).encode())))
    assert reply.status == 202
    assert json.loads(reply.body)["call_id"] == "d14dbcee-0861-11eb-9fea-02420a0f0568"


def test_wrong_key_is_refused(key: SigningKey) -> None:
    """A body signed by another private key does not verify."""
    with pytest.raises(BadSignature, match="does not match"):
        provider(key).verify_and_parse(signed(SigningKey.generate(), json.dumps(DOC_EXAMPLE).encode()))


def test_tampered_body_is_refused(key: SigningKey) -> None:
    """A changed body under the original signature does not verify."""
    good = signed(key, json.dumps(DOC_EXAMPLE).encode())
    tampered = WebhookRequest(
        url=good.url,
        headers=good.headers,
        body=good.body.replace(b"0133", b"0134"),
        content_type=good.content_type,
        now=NOW,
    )
    with pytest.raises(BadSignature):
        provider(key).verify_and_parse(tampered)


def test_timestamp_is_signed(key: SigningKey) -> None:
    """Changing the timestamp header (to refresh a captured request) breaks the signature."""
    good = signed(key, json.dumps(DOC_EXAMPLE).encode(), ts=NOW - 100)
    moved = WebhookRequest(
        url=good.url,
        headers={**good.headers, "telnyx-timestamp": str(int(NOW))},
        body=good.body,
        content_type=good.content_type,
        now=NOW,
    )
    with pytest.raises(BadSignature):
        provider(key).verify_and_parse(moved)


@pytest.mark.parametrize("skew", [-301, 301])
def test_stale_timestamp_is_refused(key: SigningKey, skew: int) -> None:
    """A correctly signed request more than 300 s from now, either way, is refused."""
    with pytest.raises(BadSignature, match="limit is 300 s"):
        provider(key).verify_and_parse(signed(key, json.dumps(DOC_EXAMPLE).encode(), ts=NOW + skew))


def test_missing_headers_are_refused(key: SigningKey) -> None:
    """No signature headers at all is a 401."""
    bare = WebhookRequest(
        url="http://x/webhooks/telnyx",
        headers={},
        body=b"{}",
        content_type="application/json",
        now=NOW,
    )
    with pytest.raises(BadSignature, match="missing"):
        provider(key).verify_and_parse(bare)


def test_bad_bodies(key: SigningKey) -> None:
    """Signed but unreadable bodies are 415 or 400 naming the defect."""
    p = provider(key)
    with pytest.raises(UnsupportedMediaType):
        p.verify_and_parse(signed(key, b"a=b", content_type="application/x-www-form-urlencoded"))
    with pytest.raises(BadRequest, match="valid JSON"):
        p.verify_and_parse(signed(key, b"{"))
    with pytest.raises(BadRequest, match="call_control_id"):
        p.verify_and_parse(signed(key, event("call.initiated", call_control_id=None)))


def test_bad_public_key_is_a_config_error() -> None:
    """A public key that is not 32 bytes of base64 is refused at start-up."""
    settings = ProviderSettings(name="telnyx", kind="telnyx", public_key="bm90IGEga2V5")
    with pytest.raises(ConfigError, match="32 bytes"):
        TelnyxProvider(settings, ServerSettings())


def test_example_request_explains_why_not(key: SigningKey) -> None:
    """``screenpop call`` cannot forge Telnyx's signature, and says so."""
    with pytest.raises(ConfigError, match="private key"):
        provider(key).example_request("+14155550132", "c-1", None, None, NOW)


def test_rfc8032_key_pair_signs_a_request_the_provider_accepts() -> None:
    """A request signed with RFC 8032's published TEST 1 key verifies against its published public key."""
    rfc_key = SigningKey(RFC8032_SECRET)
    assert rfc_key.sign(b"").signature == RFC8032_EMPTY_SIGNATURE  # the signer is the RFC's Ed25519
    public = base64.b64encode(RFC8032_PUBLIC).decode()
    settings = ProviderSettings.model_validate({"name": "telnyx", "kind": "telnyx", "public_key": public})
    events = TelnyxProvider(settings, ServerSettings()).verify_and_parse(
        signed(rfc_key, json.dumps(DOC_EXAMPLE).encode())
    )
    assert [(e.event, e.call_id) for e in events] == [
        (EventKind.RINGING, "d14dbcee-0861-11eb-9fea-02420a0f0568")
    ]
