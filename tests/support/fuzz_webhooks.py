"""Hypothesis strategies for webhooks of every provider kind, signed the way each provider signs.

Signatures are made with the providers' own means, independently of
screenpop's verifiers: Twilio's ``RequestValidator``, PyNaCl Ed25519 for
Telnyx, ``hmac`` for the generic scheme and Amazon Connect.  Each strategy
draws a ``Sent`` request and whether it is correctly signed.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from hypothesis import strategies as st
from nacl.signing import SigningKey
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

from screenpop.config import ProviderSettings, ServerSettings
from screenpop.errors import BadSignature, ScreenpopError
from screenpop.model import CallEvent, EventKind
from screenpop.providers import make_provider
from screenpop.providers.base import WebhookProvider, WebhookRequest
from tests.support import signers
from tests.support.signers import sign

NOW = 1_790_000_000  # the request clock handed to the parser, so a signature made at NOW is fresh
PUBLIC = "https://screenpop.example.com"
HMAC_SECRET = "fuzz-hmac-secret"
TWILIO_TOKEN = "fuzz-twilio-auth-token"
CONNECT_KEY = "fuzz-connect-api-key"
TELNYX_KEY = SigningKey(bytes(range(32)))
TELNYX_PUBLIC = base64.b64encode(bytes(TELNYX_KEY.verify_key)).decode()
AGENTS = {"alice": "agent-1", "PJSIP/201": "agent-2", "arn:aws:connect:agent/1": "agent-3"}

PROVIDER_BLOCKS: list[dict[str, Any]] = [
    {"name": "pbx", "kind": "generic", "secret": HMAC_SECRET, "agents": AGENTS},
    {"name": "twilio", "kind": "twilio", "auth_token": TWILIO_TOKEN, "agents": AGENTS},
    {"name": "telnyx", "kind": "telnyx", "public_key": TELNYX_PUBLIC},
    {"name": "connect", "kind": "amazon_connect", "secret": HMAC_SECRET, "agents": AGENTS},
    {
        "name": "connect_key",
        "kind": "amazon_connect",
        "secret": CONNECT_KEY,
        "header": {"name": "X-Api-Key"},
        "agents": AGENTS,
    },
]

# -- strategies ---------------------------------------------------------------

# Text a phone system could send, and text no one should (controls, surrogates, huge).
any_text = st.text(max_size=40) | st.sampled_from(
    ["", " ", "anonymous", "client:alice", "PJSIP/201-0000001a"]
)
clean_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)
scalars = st.none() | st.booleans() | st.integers() | st.floats() | any_text


def _containers(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Arrays and objects of ``inner`` (a named function: hypothesis reads a lambda's source)."""
    return st.lists(inner, max_size=3) | st.dictionaries(any_text, inner, max_size=3)


json_values = st.recursive(
    scalars,
    _containers,
    max_leaves=8,
)
times = st.sampled_from(["2026-11-22T10:00:00Z", "2026-11-22T10:00:00", "2016-12-31T23:59:60z", "yesterday"])
# The two inputs the ingress branch turns into 400s (its `untrusted.loads`): kept here on purpose.
HOSTILE_JSON = [b"[" * 20_000 + b"]" * 20_000, b'{"event": ' + b"9" * 5000 + b"}"]


def maybe(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return values | json_values


def objects(fields: Mapping[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[dict[str, Any]]:
    """JSON objects with some of the fields a parser reads (any JSON value in them) and junk keys."""
    return st.fixed_dictionaries({}, optional={k: maybe(v) for k, v in fields.items()})


generic_objects = objects(
    {
        "event": st.sampled_from([*EventKind, "rung"]),
        "call_id": any_text,
        "from": any_text,
        "to": any_text,
        "caller_name": any_text,
        "agent": st.sampled_from(["alice", "agent-1", ""]),
        "queue": any_text,
        "at": times,
        "forwarded_from": any_text,
    }
)
telnyx_payloads = objects(
    {
        "call_control_id": any_text,
        "from": any_text,
        "to": any_text,
        "direction": st.sampled_from(["incoming", "outgoing"]),
        "caller_id_name": any_text,
        "sip_headers": st.lists(objects({"name": st.just("Diversion"), "value": any_text}), max_size=2),
    }
)
telnyx_objects = st.fixed_dictionaries(
    {},
    optional={
        "data": maybe(
            objects(
                {
                    "event_type": st.sampled_from(["call.initiated", "call.answered", "call.hangup", "x"]),
                    "occurred_at": times,
                    "payload": telnyx_payloads,
                }
            )
        )
    },
)
endpoint = objects({"Address": any_text, "address": any_text, "Type": any_text})
connect_objects = st.one_of(
    objects(
        {
            "Details": objects(
                {
                    "ContactData": objects(
                        {"ContactId": any_text, "CustomerEndpoint": endpoint, "SystemEndpoint": endpoint}
                        | {"Queue": objects({"Name": any_text})}
                    )
                }
            )
        }
    ),
    st.fixed_dictionaries(
        {"detail-type": st.just("Amazon Connect Contact Event")},
        optional={
            "detail": maybe(
                objects(
                    {
                        "eventType": st.sampled_from(["QUEUED", "CONNECTED_TO_AGENT", "DISCONNECTED", "X"]),
                        "contactId": any_text,
                        "agentInfo": objects(
                            {
                                "agentArn": st.sampled_from(["arn:aws:connect:agent/1", "arn:x"]),
                                "connectedToAgentTimestamp": times,
                            }
                        ),
                        "customerEndpoint": endpoint,
                        "queueInfo": objects({"queueName": any_text, "name": any_text}),
                        "disconnectTimestamp": times,
                    }
                )
            )
        },
    ),
)


def json_bodies(structured: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[bytes]:
    """Bodies a JSON parser sees: shaped objects, any JSON, bytes, and the hostile cases."""
    encoded = st.one_of(structured, json_values).map(lambda v: json.dumps(v).encode())
    return encoded | st.binary(max_size=80) | st.sampled_from(HOSTILE_JSON)


content_types = st.sampled_from(
    ["application/json", "application/json; charset=utf-8", "application/cloudevents+json", "text/plain", ""]
) | st.text(max_size=30)
header_values = st.text(max_size=60) | st.sampled_from(["\udcff", "t=\u0661\u0662,v1=ab", "t=" + "9" * 400])
twilio_params = st.dictionaries(
    st.sampled_from(
        [
            "CallSid",
            "ParentCallSid",
            "CallStatus",
            "From",
            "To",
            "Called",
            "Caller",
            "CallerName",
            "Timestamp",
            "ForwardedFrom",
            "EventType",
            "TaskAttributes",
            "WorkerName",
            "TaskQueueName",
        ]
    ),
    clean_text
    | st.sampled_from(
        ["ringing", "in-progress", "completed", "no-answer", "client:alice", "reservation.created"]
    )
    | st.sampled_from(["task.canceled", "\u00b2", "99999999999999999999", "Tue, 10 Nov 2026 10:00:00 +0000"])
    | json_values.map(json.dumps),
    max_size=8,
)

# -- signing the way each provider signs ---------------------------------------


@dataclass(frozen=True, repr=False)
class Sent:
    """One webhook as it arrives: path and query, headers, body, content type."""

    path_qs: str
    headers: dict[str, str]
    body: bytes
    content_type: str

    def __repr__(self) -> str:
        """Short enough to print for a 200 kB hostile body (hypothesis shows failing examples)."""
        body = self.body if len(self.body) <= 300 else self.body[:300] + b"...(%d bytes)" % len(self.body)
        return f"Sent({self.path_qs!r}, {self.headers!r}, {body!r}, {self.content_type!r})"

    def request(self, public: str = PUBLIC) -> WebhookRequest:
        return WebhookRequest(
            url=public + self.path_qs,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=self.body,
            content_type=self.content_type,
            now=NOW + 0.25,  # a float, like time.time() in the handler
        )


def hmac_signature(body: bytes, at: int = NOW, secret: str = HMAC_SECRET) -> str:
    return sign(body, secret, at)


def telnyx_headers(body: bytes, at: int = NOW) -> dict[str, str]:
    return signers.telnyx_headers(TELNYX_KEY, body, at)


@st.composite
def generic_like(
    draw: st.DrawFn, name: str, objects_: st.SearchStrategy[dict[str, Any]], at: int = NOW
) -> tuple[Sent, bool]:
    """A JSON webhook for an HMAC-signed kind signed at ``at``, and whether it is correctly signed."""
    body = draw(json_bodies(objects_))
    signed = draw(st.booleans())
    header = hmac_signature(body, at) if signed else draw(header_values)
    content_type = draw(content_types)
    return Sent(f"/webhooks/{name}", {"Screenpop-Signature": header}, body, content_type), signed


@st.composite
def connect_key_requests(draw: st.DrawFn) -> tuple[Sent, bool]:
    body = draw(json_bodies(connect_objects))
    signed = draw(st.booleans())
    key = CONNECT_KEY if signed else draw(header_values)
    return Sent("/webhooks/connect_key", {"X-Api-Key": key}, body, draw(content_types)), signed


@st.composite
def telnyx_requests(draw: st.DrawFn, at: int = NOW) -> tuple[Sent, bool]:
    body = draw(json_bodies(telnyx_objects))
    signed = draw(st.booleans())
    if signed:
        headers = telnyx_headers(body, at)
    else:
        headers = {"telnyx-signature-ed25519": draw(header_values), "telnyx-timestamp": draw(header_values)}
    return Sent("/webhooks/telnyx", headers, body, draw(content_types)), signed


@st.composite
def twilio_requests(draw: st.DrawFn, public: str = PUBLIC) -> tuple[Sent, bool]:
    """A form callback signed by Twilio's RequestValidator, or a JSON one bound by bodySHA256."""
    validator = RequestValidator(TWILIO_TOKEN)
    signed = draw(st.booleans())
    if draw(st.booleans()):
        params = draw(twilio_params)
        body = urlencode(params).encode()
        query = draw(twilio_params)  # a status callback URL may carry parameters of its own
        path_qs = "/webhooks/twilio" + (f"?{urlencode(query)}" if query else "")
        content_type = "application/x-www-form-urlencoded" if signed else draw(content_types)
        signature = validator.compute_signature(public + path_qs, params)
    else:
        body = draw(json_bodies(twilio_params))
        path_qs = f"/webhooks/twilio?bodySHA256={hashlib.sha256(body).hexdigest()}"
        content_type = "application/json" if signed else draw(content_types)
        signature = validator.compute_signature(public + path_qs, {})
    if not signed:
        signature = draw(header_values)
    return Sent(path_qs, {"X-Twilio-Signature": signature}, body, content_type), signed


def provider(name: str) -> WebhookProvider:
    block = next(b for b in PROVIDER_BLOCKS if b["name"] == name)
    return make_provider(ProviderSettings.model_validate(block), ServerSettings(public_url=PUBLIC))


def check_parse(kind: WebhookProvider, sent: Sent, signed: bool) -> None:
    """Events or a 4xx ScreenpopError; a correctly signed request is never a bad signature."""
    refusal: ScreenpopError | None = None
    try:
        events = kind.verify_and_parse(sent.request())
    except ScreenpopError as exc:
        refusal, events = exc, []
    if refusal is not None:
        assert 400 <= refusal.status < 500, f"{type(refusal).__name__} ({refusal.status}): {refusal}"
        assert not (signed and isinstance(refusal, BadSignature)), f"a signed request was refused: {refusal}"
    assert all(isinstance(e, CallEvent) and e.call_id for e in events), events


def twilio_signed(params: dict[str, str]) -> tuple[Sent, bool]:
    """A form callback signed with Twilio's RequestValidator, for concrete examples."""
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(f"{PUBLIC}/webhooks/twilio", params)
    body = urlencode(params).encode()
    form = "application/x-www-form-urlencoded"
    return Sent("/webhooks/twilio", {"X-Twilio-Signature": signature}, body, form), True


ami_keys = st.sampled_from(
    [
        "Event",
        "Linkedid",
        "Uniqueid",
        "CallerIDNum",
        "CallerIDName",
        "Interface",
        "MemberName",
        "Queue",
        "DestChannel",
        "DestCallerIDNum",
        "DestExten",
        "DialString",
        "DialStatus",
        "Timestamp",
    ]
)
ami_values = (
    any_text
    | st.sampled_from(
        [
            "AgentCalled",
            "DialBegin",
            "AgentConnect",
            "AgentRingNoAnswer",
            "DialEnd",
            "Hangup",
            "ANSWER",
            "NOANSWER",
        ]
    )
    | st.sampled_from(["PJSIP/201-0000001a", "1e400", "nan", "-1e18", "1757529152.851", "<unknown>"])
)
ami_packets = st.dictionaries(ami_keys | st.text(max_size=10), ami_values, max_size=10)


def wire_headers(headers: Mapping[str, str]) -> dict[str, bytes]:
    """Header values as raw bytes on the wire: any byte but CR and LF (which would end the header).

    Bytes that are not UTF-8 reach screenpop as lone surrogates (aiohttp
    decodes with ``surrogateescape``); control characters are malformed HTTP,
    refused before the application (the ingress branch's ``ScreenpopRunner``
    answers those in the SPEC error shape; aiohttp alone answers text/plain).
    """
    # (requests refuses a value that starts with whitespace; a server strips it anyway)
    return {
        k: bytes(b for b in v.encode("utf-8", "surrogatepass") if b not in b"\r\n").lstrip()
        for k, v in headers.items()
    }
