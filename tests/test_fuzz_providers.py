"""hypothesis over every provider kind's verify-and-parse, and a sample through HTTP (finding 21).

Each webhook kind gets arbitrary bodies, content types and signature headers,
both signed the way that provider signs (Twilio's own ``RequestValidator``,
PyNaCl Ed25519 for Telnyx, ``hmac`` for the generic scheme and Amazon
Connect) and unsigned or garbled.  Whatever it is given, ``verify_and_parse``
returns call events or raises a ``ScreenpopError`` with a 4xx status, never
another exception; a correctly signed request is never refused as
``bad_signature``.  The Asterisk AMI reader takes arbitrary streams and
packets without raising.  Then a sample of the same requests goes to the
real service on loopback: no 5xx, every 4xx in the SPEC error shape.

Hostile JSON (nesting thousands deep, integers of more than 4,300 digits)
is in every JSON strategy; it is the ingress branch's fix (``untrusted``)
that turns it into a 400.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import requests
from hypothesis import example, given
from hypothesis import strategies as st
from nacl.signing import SigningKey
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

from screenpop.errors import BadSignature, ScreenpopError
from screenpop.model import CallEvent, EventKind
from screenpop.providers import make_provider
from screenpop.providers.ami_protocol import AmiProtocolError, read_packet
from screenpop.providers.asterisk_ami import AmiTranslator, parse_ami_stream
from screenpop.providers.base import WebhookProvider, WebhookRequest
from screenpop.settings import ProviderSettings, ServerSettings
from tests.fuzz_helpers import FUZZ_SETTINGS, assert_client_answer, service_in_thread
from tests.service_helpers import make

# A failing example with a hostile body is 40 kB: hypothesis warns when it prints one (an error here).
pytestmark = pytest.mark.filterwarnings(
    "ignore:Generating overly large repr:hypothesis.errors.HypothesisWarning"
)

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
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(any_text, inner, max_size=3),
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
        path = self.path_qs.split("?", 1)[0]
        return WebhookRequest(
            url=public + self.path_qs,
            path=path,
            query={},
            headers={k.lower(): v for k, v in self.headers.items()},
            body=self.body,
            content_type=self.content_type,
            now=NOW + 0.25,  # a float, like time.time() in the handler
        )


def hmac_signature(body: bytes, at: int = NOW, secret: str = HMAC_SECRET) -> str:
    mac = hmac.new(secret.encode(), f"{at}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={at},v1={mac}"


def telnyx_headers(body: bytes, at: int = NOW) -> dict[str, str]:
    signature = TELNYX_KEY.sign(str(at).encode() + b"|" + body).signature
    return {"telnyx-signature-ed25519": base64.b64encode(signature).decode(), "telnyx-timestamp": str(at)}


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


# -- each kind's parser ----------------------------------------------------------


@FUZZ_SETTINGS
@given(case=generic_like("pbx", generic_objects))
@example(
    case=(
        Sent(
            "/webhooks/pbx", {"Screenpop-Signature": "t=" + "9" * 400 + ",v1=00"}, b"{}", "application/json"
        ),
        False,
    )
)
@example(
    case=(
        Sent("/webhooks/pbx", {"Screenpop-Signature": f"t={NOW},v1=\udcff"}, b"{}", "application/json"),
        False,
    )
)
def test_generic_parser(case: tuple[Sent, bool]) -> None:
    """The generic kind answers any body and signature header with events or a 4xx error."""
    check_parse(provider("pbx"), *case)


def twilio_signed(params: dict[str, str]) -> tuple[Sent, bool]:
    """A form callback signed with Twilio's RequestValidator, for concrete examples."""
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(f"{PUBLIC}/webhooks/twilio", params)
    body = urlencode(params).encode()
    form = "application/x-www-form-urlencoded"
    return Sent("/webhooks/twilio", {"X-Twilio-Signature": signature}, body, form), True


@FUZZ_SETTINGS
@given(case=twilio_requests())
@example(case=twilio_signed({"CallSid": "CA1", "CallStatus": "ringing", "Timestamp": "\u00b2"}))
@example(case=twilio_signed({"CallSid": "CA1", "CallStatus": "ringing", "Timestamp": "9" * 20}))
def test_twilio_parser(case: tuple[Sent, bool]) -> None:
    """The twilio kind answers any callback, signed by Twilio's validator or not, with events or a 4xx."""
    check_parse(provider("twilio"), *case)


@FUZZ_SETTINGS
@given(case=telnyx_requests())
@example(
    case=(
        Sent(
            "/webhooks/telnyx",
            {"telnyx-signature-ed25519": "AA==", "telnyx-timestamp": "9" * 400},
            b"{}",
            "application/json",
        ),
        False,
    )
)
def test_telnyx_parser(case: tuple[Sent, bool]) -> None:
    """The telnyx kind answers any body and Ed25519 headers with events or a 4xx error."""
    check_parse(provider("telnyx"), *case)


@FUZZ_SETTINGS
@given(case=generic_like("connect", connect_objects) | connect_key_requests())
def test_amazon_connect_parser(case: tuple[Sent, bool]) -> None:
    """The amazon_connect kind (HMAC or static header key) answers any body with events or a 4xx."""
    name = "connect_key" if case[0].path_qs.endswith("connect_key") else "connect"
    check_parse(provider(name), *case)


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


@FUZZ_SETTINGS
@given(packets=st.lists(ami_packets, max_size=6))
def test_ami_translator(packets: list[dict[str, str]]) -> None:
    """The AMI translator turns any sequence of packets into call events without raising."""
    translator = AmiTranslator("asterisk", AGENTS)
    for packet in packets:
        assert all(e.call_id for e in translator.translate(packet))


@FUZZ_SETTINGS
@given(
    lines=st.lists(st.tuples(ami_keys | st.text(max_size=10), ami_values) | st.just(("", "")), max_size=30)
)
def test_ami_stream_replay(lines: list[tuple[str, str]]) -> None:
    """A captured AMI stream of any lines replays into call events without raising."""
    text = "Asterisk Call Manager/5.0\r\n" + "".join(f"{k}: {v}\r\n" if k else "\r\n" for k, v in lines)
    assert all(e.call_id for e in parse_ami_stream(text))


@FUZZ_SETTINGS
@given(
    raw=st.binary(max_size=300)
    | st.lists(st.sampled_from([b"Event: Hangup\r\n", b"\r\n", b"x" * 70_000]), max_size=8).map(b"".join)
)
def test_ami_wire_reader(raw: bytes) -> None:
    """The AMI wire reader returns packets or None for any bytes, or says AmiProtocolError."""

    async def read_all() -> None:
        reader = asyncio.StreamReader()
        reader.feed_data(raw)
        reader.feed_eof()
        for _ in range(len(raw) + 1):
            if await read_packet(reader) is None:
                return

    with contextlib.suppress(AmiProtocolError):  # the documented refusal of a peer that is not AMI
        asyncio.run(read_all())


# -- a sample through the real service ------------------------------------------


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real service with one provider block of every webhook kind."""
    store = Path(tmp_path_factory.mktemp("fuzz-providers")) / "store.db"
    settings = make(f"sqlite+aiosqlite:///{store}", providers=PROVIDER_BLOCKS)
    with service_in_thread(settings) as url:
        yield url


# The service checks signatures against its wall clock: these are signed at the test's start,
# minutes inside the 300 s window for the few seconds the sample takes.
HTTP_SAMPLES: dict[str, Callable[[int], st.SearchStrategy[tuple[Sent, bool]]]] = {
    "generic": lambda at: generic_like("pbx", generic_objects, at),
    "twilio": lambda _: twilio_requests("http://localhost:8080"),
    "telnyx": telnyx_requests,
    "amazon_connect": lambda at: generic_like("connect", connect_objects, at) | connect_key_requests(),
}


@pytest.mark.parametrize("kind", list(HTTP_SAMPLES))
def test_webhooks_over_http(base: str, kind: str) -> None:
    """The same requests through the real service are never a 5xx, and every 4xx is SPEC-shaped."""
    session = requests.Session()

    @FUZZ_SETTINGS
    @given(case=HTTP_SAMPLES[kind](int(time.time())))
    def send(case: tuple[Sent, bool]) -> None:
        sent, _ = case
        headers = {**sent.headers, "Content-Type": sent.content_type}
        reply = session.post(base + sent.path_qs, data=sent.body, headers=_wire(headers), timeout=30)
        what = f"{kind} {sent.path_qs} {sent.headers} {sent.body[:100]!r}"
        assert_client_answer(reply.status_code, reply.content, reply.headers.get("Content-Type", ""), what)

    try:
        send()
    finally:
        session.close()


def _http_regressions(at: int) -> list[tuple[str, dict[str, bytes], bytes, str]]:
    """Concrete requests the fuzzers found 500s with: (path, headers, body, content type)."""
    fresh = str(at).encode()
    twilio = {"CallSid": "CA1", "CallStatus": "ringing", "Timestamp": "\u00b2"}
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(
        "http://localhost:8080/webhooks/twilio", twilio
    )
    return [
        ("/webhooks/connect_key", {"X-Api-Key": b"\xff"}, b"{}", "application/json"),
        ("/webhooks/pbx", {"Screenpop-Signature": b"t=" + fresh + b",v1=\xff"}, b"{}", "application/json"),
        ("/webhooks/pbx", {"Screenpop-Signature": b"t=" + b"9" * 400 + b",v1=00"}, b"{}", "application/json"),
        (
            "/webhooks/telnyx",
            {"telnyx-signature-ed25519": b"AA==", "telnyx-timestamp": b"9" * 400},
            b"{}",
            "application/json",
        ),
        (
            "/webhooks/twilio",
            {"X-Twilio-Signature": signature.encode()},
            urlencode(twilio).encode(),
            "application/x-www-form-urlencoded",
        ),
    ]


@pytest.mark.parametrize("index", range(5))
def test_fuzz_findings_over_http(base: str, index: int) -> None:
    """Each request the fuzzers once turned into a 500 is now a 2xx or a SPEC-shaped 4xx."""
    path, headers, body, content_type = _http_regressions(int(time.time()))[index]
    reply = requests.post(
        base + path, data=body, headers={**headers, "Content-Type": content_type}, timeout=30
    )
    assert_client_answer(reply.status_code, reply.content, reply.headers.get("Content-Type", ""), path)


def _wire(headers: Mapping[str, str]) -> dict[str, bytes]:
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


def test_malformed_header_is_answered_in_the_error_shape(base: str) -> None:
    """A header with a control character is refused in the SPEC error shape, like every other error."""
    body = b"{}"
    headers = {"Content-Type": "application/json", "Screenpop-Signature": b"t=1,v1=\x1f"}
    reply = requests.post(f"{base}/webhooks/pbx", data=body, headers=headers, timeout=30)
    assert_client_answer(
        reply.status_code, reply.content, reply.headers.get("Content-Type", ""), "control char"
    )
