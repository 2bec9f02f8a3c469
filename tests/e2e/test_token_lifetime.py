"""A socket lives no longer than its token, and only well-formed tokens get in (SPEC sections 5 and 6).

Every token here is minted with PyJWT the way a host application would mint
it, never with screenpop's own code.  The service runs on loopback with a
``ManualClock`` where a test has to cross a token's ``exp``: the test moves
the clock instead of waiting, and one test uses the real clock end to end.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import jwt
import pytest
import websockets
import yaml
from aiohttp import web

from screenpop.app import create_app
from screenpop.clock import Clock
from screenpop.config import Settings
from screenpop.testing import ManualClock
from tests.support.raw_http import raw_exchange, request_head
from tests.support.service import SECRET, Agent, api, base_config, event_body, make, post_event

LIFETIME_S = 600  # far from any real-time boundary: only the manual clock crosses it
WAIT_S = 10.0  # the longest an expected frame or close may take on a loaded machine


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path}/store.db"


def host_token(claims: dict[str, Any], secret: str | None = SECRET, algorithm: str = "HS256") -> str:
    """A token as a host application mints it with PyJWT."""
    return jwt.encode(claims, secret, algorithm=algorithm)


def token_for(agent: str, exp: float, **claims: Any) -> str:
    return host_token({"sub": agent, "exp": int(exp), **claims})


@contextlib.asynccontextmanager
async def running(settings: Settings, clock: Clock | None = None) -> AsyncIterator[str]:
    """The real application on a free loopback port, on ``clock``; yields its base URL."""
    runner = web.AppRunner(create_app(settings, clock), handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def socket_with(base: str, token: str) -> AsyncIterator[Agent]:
    """An agent websocket that said hello with ``token`` and got its welcome."""
    url = base.replace("http://", "ws://") + "/ws"
    async with websockets.connect(url, origin="http://agents.example") as ws:  # type: ignore[arg-type]
        agent = Agent(ws)
        await ws.send(json.dumps({"type": "hello", "token": token}))
        agent.welcome = await agent.next(WAIT_S)
        assert agent.welcome["type"] == "welcome", agent.welcome
        yield agent


async def frames_until_closed(agent: Agent) -> tuple[list[dict[str, Any]], int | None, str]:
    """Every frame the socket still receives, then its close code and reason."""
    frames = []
    try:
        while True:
            frames.append(await agent.next(WAIT_S))
    except websockets.ConnectionClosed as closed:
        code, reason = (closed.rcvd.code, closed.rcvd.reason) if closed.rcvd else (None, "")
        return frames, code, reason


async def refresh(agent: Agent, token: object) -> dict[str, Any]:
    """Send a refresh frame and return the next frame that is not a card or call."""
    await agent.ws.send(json.dumps({"type": "refresh", "token": token}))
    while True:
        frame = await agent.next(WAIT_S)
        if frame["type"] not in {"card", "call"}:
            return frame


async def test_socket_is_closed_4401_at_exp_and_gets_no_card_after(store_url: str) -> None:
    """Once its token's exp passes with no refresh, a socket is closed with 4401 and gets no card."""
    clock = ManualClock()
    token = token_for("agent-1", clock.now + LIFETIME_S)
    async with running(make(store_url), clock) as base, socket_with(base, token) as agent:
        clock.advance(LIFETIME_S + 1)
        status, _ = await post_event(base, event_body("c-late", agent="agent-1"))
        assert status == 202
        frames, code, reason = await frames_until_closed(agent)
    assert [f for f in frames if f["type"] == "card"] == []
    assert (code, reason) == (4401, "the token has expired")


async def test_socket_closes_4401_on_the_real_clock(store_url: str) -> None:
    """With the real clock, a token that expires in a few seconds serves a card, then closes its socket."""
    token = token_for("agent-1", time.time() + 5)
    async with running(make(store_url)) as base, socket_with(base, token) as agent:
        await post_event(base, event_body("c-1", agent="agent-1"))
        assert (await agent.card_until_complete("c-1"))[-1]["complete"] is True
        _, code, _ = await frames_until_closed(agent)
    assert code == 4401


async def test_refresh_keeps_the_socket_open_past_the_first_exp(store_url: str) -> None:
    """A refresh with a newer token is answered `refreshed` with its exp and the socket outlives the first."""
    clock = ManualClock()
    first_exp, second_exp = int(clock.now) + LIFETIME_S, int(clock.now) + 2 * LIFETIME_S
    token = token_for("agent-1", first_exp)
    async with running(make(store_url), clock) as base, socket_with(base, token) as agent:
        answer = await refresh(agent, token_for("agent-1", second_exp))
        assert answer == {"type": "refreshed", "exp": second_exp}
        clock.advance(LIFETIME_S + 1)
        await post_event(base, event_body("c-2", agent="agent-1"))
        assert (await agent.card_until_complete("c-2"))[-1]["complete"] is True
        clock.advance(LIFETIME_S)
        _, code, _ = await frames_until_closed(agent)
    assert code == 4401


async def test_a_refresh_with_an_earlier_exp_closes_the_socket_at_that_exp(store_url: str) -> None:
    """A host application that shortens a session: the socket closes 4401 at the new, earlier exp."""
    clock = ManualClock()
    first_exp, sooner_exp = int(clock.now) + 2 * LIFETIME_S, int(clock.now) + LIFETIME_S
    async with (
        running(make(store_url), clock) as base,
        socket_with(base, token_for("agent-1", first_exp)) as agent,
    ):
        answer = await refresh(agent, token_for("agent-1", sooner_exp))
        assert answer == {"type": "refreshed", "exp": sooner_exp}
        clock.advance(LIFETIME_S + 1)
        frames, code, reason = await frames_until_closed(agent)
    assert [f for f in frames if f["type"] == "card"] == []
    assert (code, reason) == (4401, "the token has expired")


async def test_refresh_may_change_the_role_the_token_names(store_url: str) -> None:
    """A refreshed token naming another defined role for the same agent is accepted."""
    clock = ManualClock()
    settings = make(store_url)
    exp = int(clock.now) + LIFETIME_S
    async with running(settings, clock) as base, socket_with(base, token_for("agent-3", exp)) as agent:
        answer = await refresh(agent, token_for("agent-3", exp + 60, role="tier1"))
    assert answer == {"type": "refreshed", "exp": exp + 60}


async def test_a_refreshed_role_decides_what_the_socket_receives_next(store_url: str) -> None:
    """A supervisor's socket refreshed as tier1 gets cards without credit; refreshed back, with it."""
    clock = ManualClock()
    exp = int(clock.now) + LIFETIME_S
    async with running(make(store_url), clock) as base, socket_with(base, token_for("agent-3", exp)) as agent:
        await refresh(agent, token_for("agent-3", exp, role="tier1"))
        await post_event(base, event_body("c-as-tier1", agent="agent-3"))
        as_tier1 = (await agent.card_until_complete("c-as-tier1"))[-1]["card"]
        await refresh(agent, token_for("agent-3", exp))
        await post_event(base, event_body("c-as-supervisor", agent="agent-3"))
        as_supervisor = (await agent.card_until_complete("c-as-supervisor"))[-1]["card"]
    assert set(as_tier1["sections"]) == {"accounting"}
    assert [b["section"] for b in as_tier1["badges"]] == ["accounting"]
    assert set(as_supervisor["sections"]) == {"accounting", "credit"}
    assert "credit" in {b["section"] for b in as_supervisor["badges"]}


@pytest.mark.parametrize(
    ("name", "token"),
    [
        ("another agent", lambda exp: token_for("agent-2", exp)),
        ("another secret", lambda exp: host_token({"sub": "agent-1", "exp": exp}, "x" * 40)),
        ("garbage", lambda exp: "nonsense"),
        ("lone surrogate", lambda exp: "\ud800"),
        ("not ascii", lambda exp: "ab\xffcd"),
        ("no token", lambda exp: None),
        ("already expired", lambda exp: token_for("agent-1", exp - LIFETIME_S - 60)),
        ("alg none", lambda exp: host_token({"sub": "agent-1", "exp": exp}, None, "none")),
        ("undefined role", lambda exp: token_for("agent-1", exp, role="admin")),
    ],
)
async def test_bad_refresh_closes_4401(store_url: str, name: str, token: Any) -> None:
    """A refresh whose token is bad, expired or names another agent closes the socket with 4401."""
    clock = ManualClock()
    settings = make(store_url)
    exp = int(clock.now) + LIFETIME_S
    async with running(settings, clock) as base, socket_with(base, token_for("agent-1", exp)) as agent:
        await agent.ws.send(json.dumps({"type": "refresh", "token": token(exp + 60)}))
        frames, code, _ = await frames_until_closed(agent)
    assert [f for f in frames if f["type"] == "refreshed"] == [], name
    assert code == 4401, name


def refused_tokens() -> list[Any]:
    """Tokens a host application could mint by mistake that must never get in."""
    exp = int(time.time()) + 3600
    return [
        pytest.param(host_token({"sub": "agent-1", "exp": exp}, None, "none"), id="alg-none"),
        pytest.param(host_token({"sub": "agent-1"}), id="no-exp"),
        pytest.param(host_token({"exp": exp}), id="no-sub"),
        pytest.param(token_for("agent-1", exp, role="admin"), id="undefined-role"),
        pytest.param(token_for("agent-1", exp, role=["supervisor"]), id="role-not-a-string"),
        pytest.param(token_for("nobody", exp), id="unknown-agent"),
    ]


@pytest.mark.parametrize("token", refused_tokens())
async def test_refused_tokens_are_refused_by_hello_and_bearer(store_url: str, token: str) -> None:
    """alg none, no exp, no sub, an undefined role or agent: 4401 on the socket and 401 on the API."""
    async with running(make(store_url)) as base:
        async with websockets.connect(base.replace("http", "ws") + "/ws") as ws:
            await ws.send(json.dumps({"type": "hello", "token": token}))
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), WAIT_S)
        status, body = await api(base, "GET", "/api/calls", token)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
    assert (status, body["error"]["code"]) == (401, "unauthorized")


@pytest.mark.parametrize(
    "token", ["\ud800", "ab\xffcd", "é.é.é"], ids=["lone-surrogate", "byte-ff", "accented"]
)
async def test_a_token_that_is_not_ascii_is_4401_on_hello(
    store_url: str, token: str, caplog: pytest.LogCaptureFixture
) -> None:
    """PyJWT encodes a token as UTF-8 before it looks: ``\\ud800`` in a hello was a 1011 and a traceback."""
    async with running(make(store_url)) as base, websockets.connect(base.replace("http", "ws") + "/ws") as ws:
        await ws.send(json.dumps({"type": "hello", "token": token}))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), WAIT_S)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


@pytest.mark.parametrize("path", ["/api/calls", "/api/admin/status"])
async def test_a_bearer_header_with_a_non_utf8_byte_is_401(
    store_url: str, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    """``Authorization: Bearer ab\\xffcd`` (a raw byte aiohttp reads as a surrogate) is a 401, not a 500."""
    async with running(make(store_url)) as base:
        status, _, body = await raw_exchange(
            base, request_head("GET", path, {"Authorization": "Bearer ab\xffcd"}), []
        )
    assert (status, json.loads(body)["error"]["code"]) == (401, "unauthorized"), body
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_a_role_claim_is_refused_when_no_roles_are_defined(store_url: str) -> None:
    """With no `roles:` at all, a token naming a role (even `supervisor`) is refused, not obeyed."""
    settings = make(store_url, roles={})
    token = token_for("agent-1", time.time() + 3600, role="supervisor")
    async with running(settings) as base:
        async with websockets.connect(base.replace("http", "ws") + "/ws") as ws:
            await ws.send(json.dumps({"type": "hello", "token": token}))
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), WAIT_S)
        status, body = await api(base, "GET", "/api/lookup?number=%2B14155550132", token)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
    assert (status, body["error"]["code"]) == (401, "unauthorized")


async def test_a_good_host_token_is_accepted_by_hello_and_bearer(store_url: str) -> None:
    """The control for the refusals above: a well-formed PyJWT token opens the socket and the API."""
    token = token_for("agent-1", time.time() + 3600, role="supervisor")
    async with running(make(store_url)) as base:
        async with socket_with(base, token) as agent:
            assert (agent.welcome["agent"], agent.welcome["role"]) == ("agent-1", "supervisor")
        status, _ = await api(base, "GET", "/api/calls", token)
    assert status == 200


def test_screenpop_token_refuses_an_undefined_role(tmp_path: Path) -> None:
    """`screenpop token --role` naming no role under `roles:` exits 2 with one sentence, printing no token."""
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(base_config(f"sqlite+aiosqlite:///{tmp_path}/s.db")))
    result = subprocess.run(
        [sys.executable, "-m", "screenpop", "token", "agent-1", "--role", "admin", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (result.returncode, result.stdout) == (2, "")
    assert len(result.stderr.strip().splitlines()) == 1 and "'admin'" in result.stderr


async def test_a_token_good_past_any_clock_opens_the_socket_and_refreshes(
    store_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A host's exp of 10**400 (valid JWT, taken by PyJWT) was a 1011 and a traceback: now it is year 9999."""
    forever = 10**400
    async with running(make(store_url)) as base:
        async with socket_with(base, token_for("agent-1", forever)) as agent:
            answer = await refresh(agent, token_for("agent-1", forever))
            await post_event(base, event_body("c-forever", agent="agent-1"))
            assert (await agent.card_until_complete("c-forever"))[-1]["complete"] is True
        status, _ = await api(base, "GET", "/api/calls", token_for("agent-1", forever))
    assert answer == {"type": "refreshed", "exp": 253402300799}
    assert status == 200
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


@pytest.mark.parametrize("claim", ["iat", "nbf"])
async def test_a_host_clock_a_few_seconds_ahead_is_tolerated(store_url: str, claim: str) -> None:
    """`iat`/`nbf` 5 s ahead (a host's clock runs ahead; Node's jsonwebtoken adds iat) were 401 and 4401."""
    now = int(time.time())
    token = token_for("agent-1", now + 3600, **{claim: now + 5})
    async with running(make(store_url)) as base:
        async with socket_with(base, token) as agent:
            assert agent.welcome["agent"] == "agent-1"
        status, body = await api(base, "GET", "/api/calls", token)
    assert status == 200, body


async def test_skew_tolerance_neither_admits_a_far_future_nbf_nor_extends_exp(store_url: str) -> None:
    """`nbf` ten minutes ahead is refused, saying why; a token 5 s past its exp stays expired."""
    now = int(time.time())
    early = token_for("agent-1", now + 3600, nbf=now + 600)
    late = token_for("agent-1", now - 5)
    async with running(make(store_url)) as base:
        early_answer = await api(base, "GET", "/api/calls", early)
        late_answer = await api(base, "GET", "/api/calls", late)
    assert (early_answer[0], early_answer[1]["error"]["message"]) == (401, "the token is not valid yet")
    assert (late_answer[0], late_answer[1]["error"]["message"]) == (401, "the token has expired")
