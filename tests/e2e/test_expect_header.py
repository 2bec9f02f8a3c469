"""``Expect`` as HTTP/1.1 senders use it: JSON refusals, and no ``100 Continue`` for too large a body.

curl, .NET's HttpClient and many PBX scripts send ``Expect: 100-continue``
and wait for the go-ahead before a body.  Raw requests on a loopback socket
to the real app; the answer is read to the server's hang-up.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.support.service import event_body, make, running
from tests.support.signers import sign

WAIT_S = 10.0


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path}/store.db"


async def exchange(base: str, head: str, body: bytes = b"") -> bytes:
    """Send the head (and ``body`` after a 100 Continue); return all the server sent until it hung up."""
    url = urlsplit(base)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    try:
        writer.write(head.encode("latin-1"))
        await writer.drain()
        first = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), WAIT_S)
        if first.startswith(b"HTTP/1.1 100 "):
            writer.write(body)
            await writer.drain()
        return first + await asyncio.wait_for(reader.read(), WAIT_S)
    finally:
        writer.close()


def head(path: str, length: int, expect: str, **headers: str) -> str:
    lines = [
        f"POST {path} HTTP/1.1",
        "Host: 127.0.0.1",
        "Connection: close",
        "Content-Type: application/json",
    ]
    lines += [f"Content-Length: {length}", f"Expect: {expect}"]
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    return "\r\n".join(lines) + "\r\n\r\n"


def status_and_error(answer: bytes) -> tuple[bytes, dict[str, str]]:
    status_line, _, rest = answer.partition(b"\r\n")
    return status_line, json.loads(rest.partition(b"\r\n\r\n")[2])["error"]


async def test_a_body_over_the_limit_is_413_before_any_100_continue(store_url: str) -> None:
    """Content-Length over max_body_bytes with Expect: 100-continue is answered 413 at once, no go-ahead."""
    settings = make(store_url, server={"allowed_origins": [], "max_body_bytes": 1024})
    async with running(settings) as base:
        answer = await exchange(base, head("/webhooks/pbx", 5000, "100-continue"))
    status_line, error = status_and_error(answer)
    assert status_line == b"HTTP/1.1 413 Request Entity Too Large"
    assert error == {"code": "too_large", "message": "the body is over 1024 bytes"}


async def test_an_unknown_expectation_is_the_spec_json_400(store_url: str) -> None:
    """An Expect other than 100-continue gets the SPEC's JSON 400, not aiohttp's text echoing the header."""
    async with running(make(store_url)) as base:
        answer = await exchange(base, head("/webhooks/pbx", 2, "<b>x</b>"))
    status_line, error = status_and_error(answer)
    assert status_line == b"HTTP/1.1 400 Bad Request"
    assert error["code"] == "bad_request"
    assert b"<b>" not in answer


async def test_a_signed_webhook_after_100_continue_is_accepted(store_url: str) -> None:
    """A webhook within the limit gets 100 Continue, then its body is taken: 202 accepted."""
    body = event_body("c-expect")
    async with running(make(store_url)) as base:
        answer = await exchange(
            base, head("/webhooks/pbx", len(body), "100-continue", Screenpop_Signature=sign(body)), body
        )
    assert answer.startswith(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 202 Accepted")
    assert json.loads(answer.rpartition(b"\r\n\r\n")[2]) == {"call_id": "c-expect", "status": "accepted"}
