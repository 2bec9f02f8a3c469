"""A webhook's Content-Type as the sender really sent it: the 415 names it, or says there was none.

aiohttp reads a request without the header as ``application/octet-stream``
(RFC 9110's guess for a recipient that must pick a type), and the 415 told a
sender that had sent no Content-Type at all that it had sent that one.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlencode

import pytest
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

from tests.support.raw_http import raw_exchange, request_head
from tests.support.service import event_body, make, running
from tests.support.signers import sign

PUBLIC = "https://screenpop.example.com"
TWILIO_TOKEN = "twilio-token-for-content-types"


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path}/store.db"


async def refusal(base: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    head = request_head("POST", path, {"Content-Length": str(len(body)), **headers})
    status, _, reply = await raw_exchange(base, head, [body])
    error = json.loads(reply)["error"]
    assert error["code"] == "unsupported_media_type"
    return status, str(error["message"])


@pytest.mark.parametrize(
    ("sent", "named"), [({}, "not none"), ({"Content-Type": "text/plain; charset=utf-8"}, "not text/plain")]
)
async def test_generic_415_names_the_content_type_sent(
    store_url: str, sent: dict[str, str], named: str
) -> None:
    """A signed generic webhook without JSON's Content-Type is 415 naming what came (or none), not a guess."""
    body = event_body("c-type")
    async with running(make(store_url)) as base:
        status, message = await refusal(
            base, "/webhooks/pbx", body, {"Screenpop-Signature": sign(body), **sent}
        )
    assert status == 415
    assert message.endswith(named)


async def test_twilio_415_without_a_content_type_says_none(store_url: str) -> None:
    """A Twilio-signed callback whose Content-Type was lost on the way is 415 saying none came."""
    params = {"CallSid": "CA-type", "From": "+14155550132", "CallStatus": "ringing"}
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(PUBLIC + "/webhooks/twilio", params)
    settings = make(
        store_url,
        server={"public_url": PUBLIC, "allowed_origins": []},
        providers=[{"name": "twilio", "kind": "twilio", "auth_token": TWILIO_TOKEN}],
    )
    body = urlencode(params).encode()
    async with running(settings) as base:
        status, message = await refusal(base, "/webhooks/twilio", body, {"X-Twilio-Signature": signature})
    assert status == 415
    assert message.endswith("not none")
