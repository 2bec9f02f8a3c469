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
import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest
import requests
from hypothesis import example, given
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

from screenpop.providers.ami_events import AmiTranslator, parse_ami_stream
from screenpop.providers.ami_protocol import AmiProtocolError, read_packet
from tests.support.fuzz import FUZZ_SETTINGS, assert_client_answer, service_in_thread
from tests.support.fuzz_webhooks import (
    AGENTS,
    NOW,
    PROVIDER_BLOCKS,
    TWILIO_TOKEN,
    Sent,
    ami_keys,
    ami_packets,
    ami_values,
    check_parse,
    connect_key_requests,
    connect_objects,
    generic_like,
    generic_objects,
    provider,
    telnyx_requests,
    twilio_requests,
    twilio_signed,
    wire_headers,
)
from tests.support.service import make

# A failing example with a hostile body is 40 kB: hypothesis warns when it prints one (an error here).
pytestmark = pytest.mark.filterwarnings(
    "ignore:Generating overly large repr:hypothesis.errors.HypothesisWarning"
)

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
        reply = session.post(base + sent.path_qs, data=sent.body, headers=wire_headers(headers), timeout=30)
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


def test_malformed_header_is_answered_in_the_error_shape(base: str) -> None:
    """A header with a control character is refused in the SPEC error shape, like every other error."""
    body = b"{}"
    headers = {"Content-Type": "application/json", "Screenpop-Signature": b"t=1,v1=\x1f"}
    reply = requests.post(f"{base}/webhooks/pbx", data=body, headers=headers, timeout=30)
    assert_client_answer(
        reply.status_code, reply.content, reply.headers.get("Content-Type", ""), "control char"
    )
