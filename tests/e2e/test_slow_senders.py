"""Senders that are slow on purpose (slowloris) or gone quiet hold no socket past ``server.read_timeout_s``.

Each test opens a raw loopback connection to the real app, sends part of a
request (or nothing) and then waits, within a bound several times the
configured limit, for the server to answer or hang up.  Before the limit
existed the server waited an hour for a head and for ever for a body.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.support.raw_http import request_head
from tests.support.service import event_body, make, running
from tests.support.signers import sign

LIMIT_S = 0.5
WAIT_S = 10.0  # far above the limit: the server hangs up long before, or never did


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path}/store.db"


@pytest.fixture
async def base(store_url: str) -> AsyncIterator[str]:
    settings = make(store_url, server={"allowed_origins": [], "read_timeout_s": LIMIT_S})
    async with running(settings) as url:
        yield url


async def sent_then_answer(base: str, data: bytes) -> bytes:
    """Send ``data`` and keep the connection open; return all the server sent before it hung up."""
    url = urlsplit(base)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    try:
        writer.write(data)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), WAIT_S)
    finally:
        writer.close()


async def test_a_body_that_stops_coming_is_400_and_the_connection_closes(base: str) -> None:
    """A webhook whose body stops half-way gets the JSON 400 naming the limit, then the connection ends."""
    body = event_body("c-slow-body", agent="agent-1")
    head = request_head(
        "POST",
        "/webhooks/pbx",
        {
            "Content-Type": "application/json",
            "Content-Length": str(len(body)),
            "Screenpop-Signature": sign(body),
        },
    ).replace("Connection: close\r\n", "")
    answer = await sent_then_answer(base, head.encode("latin-1") + body[:20])
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line.split()[1] == b"400"
    error = json.loads(rest.partition(b"\r\n\r\n")[2])["error"]
    assert error == {"code": "bad_request", "message": f"the body did not arrive within {LIMIT_S:g} s"}


async def test_a_head_that_stops_coming_is_hung_up_on(base: str) -> None:
    """A request head that never ends (a header line, then silence) is closed without an answer."""
    assert (
        await sent_then_answer(base, b"POST /webhooks/pbx HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: 1\r\n")
        == b""
    )


async def test_a_connection_that_sends_nothing_is_hung_up_on(base: str) -> None:
    """A connection opened and left silent is closed: it holds no socket for aiohttp's hour."""
    assert await sent_then_answer(base, b"") == b""


async def test_an_idle_keep_alive_connection_is_closed_after_its_answer(base: str) -> None:
    """After a whole request is answered, a keep-alive connection left idle is closed, the answer intact."""
    answer = await sent_then_answer(base, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 200")
