"""``/ws`` beside the middleware: sound upgrades pass through it, everything else still gets SPEC errors.

An agent's socket lives for hours inside its handler, so nothing of the
middleware stays suspended around it (memory per idle socket); what it gave
that path (JSON errors, a logged traceback) must still hold.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import websockets

from screenpop.hub import Hub
from tests.support.service import agent_socket, make, running
from tests.support.tokens import token_for
from tests.support.waiting import wait_for

WITHIN_S = 5.0  # a bound on waiting, never an assertion about speed


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path}/store.db"


async def test_plain_get_of_ws_is_the_spec_json_400(store_url: str) -> None:
    """A request to /ws that is no websocket upgrade gets the SPEC's error shape, not aiohttp's text."""
    async with running(make(store_url)) as base, aiohttp.ClientSession() as session:
        async with session.get(f"{base}/ws") as reply:
            body = await reply.json(content_type=None)
            assert reply.status == 400
            assert reply.headers["Content-Type"].startswith("application/json")
            assert reply.headers["X-Content-Type-Options"] == "nosniff"
        assert body["error"]["code"] == "bad_request"
        async with session.post(f"{base}/ws") as reply:  # a wrong method: aiohttp's 405, mapped
            assert reply.status == 405
            assert reply.headers["Allow"] == "GET"
            assert (await reply.json(content_type=None))["error"]["code"] == "bad_request"


async def test_only_a_get_is_upgraded(store_url: str) -> None:
    """A HEAD with every upgrade header is refused 405 (aiohttp alone would answer 101 and open a socket)."""
    upgrade = {
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    }
    async with running(make(store_url)) as base, aiohttp.ClientSession() as session:
        async with session.head(f"{base}/ws", headers=upgrade) as reply:
            assert reply.status == 405
            assert reply.headers["Allow"] == "GET"
            assert reply.headers["Content-Type"].startswith("application/json")
        async with session.get(f"{base}/ws", headers=upgrade) as reply:  # the same headers on a GET: upgraded
            assert reply.status == 101


async def test_an_upgrade_header_elsewhere_does_not_skip_the_error_answers(store_url: str) -> None:
    """Only the socket's own route is passed through: ``Upgrade: websocket`` on /api changes nothing."""
    upgrade = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13"}
    async with running(make(store_url)) as base, aiohttp.ClientSession() as session:
        async with session.get(f"{base}/api/calls", headers=upgrade) as reply:
            assert reply.status == 401
            assert (await reply.json(content_type=None))["error"]["code"] == "unauthorized"
        async with session.post(f"{base}/webhooks/pbx", data=b"{}", headers=upgrade) as reply:
            assert reply.status == 401
            assert (await reply.json(content_type=None))["error"]["code"] == "bad_signature"


def _awaiting(coro: Any) -> Iterator[str]:
    """The qualified names down a task's chain of awaited coroutines."""
    while coro is not None:
        code = getattr(coro, "cr_code", None)
        if code is not None:
            yield code.co_qualname
        coro = getattr(coro, "cr_await", None)


async def test_no_middleware_is_suspended_around_an_open_socket(store_url: str) -> None:
    """A welcomed socket's handler task awaits the route handler and the hub, and nothing else of ours.

    The server's own request wrapper (the ``Expect`` check) once held a
    coroutine frame of its own around every socket: 0.2 KiB per idle agent.
    """
    settings = make(store_url)
    async with running(settings) as base, agent_socket(base, settings, "agent-1"):
        chains = [list(_awaiting(t.get_coro())) for t in asyncio.all_tasks()]
        socket_chains = [c for c in chains if "Hub.handle" in c]
        assert len(socket_chains) == 1, chains
        ours = [name for name in socket_chains[0][: socket_chains[0].index("Hub.handle")]]
        assert ours[-1] == "_ws", ours
        assert not [n for n in ours if "middleware" in n or n in {"answer_errors", "_with_cors"}], ours
        assert not [n for n in ours if "ScreenpopRunner" in n or n.rpartition(".")[2] == "handle"], ours


async def test_an_unexpected_error_after_the_upgrade_closes_1011_and_is_logged(
    store_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A fault inside the hub after the 101 (a bug) closes the socket with 1011, with its traceback logged."""

    async def broken_welcome(self: Hub, socket: Any, resume: object, live: bool) -> None:
        raise RuntimeError("a bug in the welcome")

    monkeypatch.setattr(Hub, "_welcome", broken_welcome)
    settings = make(store_url)
    caplog.set_level(logging.ERROR)
    async with running(settings) as base, websockets.connect(base.replace("http", "ws") + "/ws") as ws:
        await ws.send(json.dumps({"type": "hello", "token": token_for(settings, "agent-1")}))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), WITHIN_S)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1011
        await wait_for(lambda: "agent socket: unexpected error" in caplog.text, WITHIN_S, "the error logged")
    assert "a bug in the welcome" in caplog.text
    with contextlib.suppress(Exception):
        await ws.close()
