"""Running the real app on loopback, posting signed webhooks (``signers.sign``), and agent sockets."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp
import websockets
from aiohttp import web

from screenpop.app import create_app
from screenpop.config import Settings, settings_from_mapping
from screenpop.web import server
from tests.support.redis_hold import with_slack
from tests.support.signers import WEBHOOK_SECRET, sign
from tests.support.tokens import token_for

SECRET = "test-secret-0123456789abcdef-0123456789"
SCRIPTED = "screenpop.testing:ScriptedConnector"
ADA = "+14155550132"


def big_card_connectors(count: int, kilobytes: int) -> list[dict[str, Any]]:
    """``count`` fast scripted connectors answering ``kilobytes`` each for Ada: several big card versions."""
    return [
        {
            "name": f"system{n}",
            "kind": SCRIPTED,
            "delay_ms": 2 * n,
            "rows": {ADA: {"id": f"S-{n}", "notes": "x" * (kilobytes * 1024)}},
        }
        for n in range(count)
    ]


def base_config(store_url: str, **overrides: Any) -> dict[str, Any]:
    """A service config with three agents, a tier1 role that hides `credit`, and a generic provider."""
    config: dict[str, Any] = {
        "server": {"allowed_origins": ["http://agents.example"]},
        "store": {"url": store_url},
        "agents": {
            "token_secret": SECRET,
            "directory": [
                {"id": "agent-1", "role": "tier1", "queues": ["support"]},
                {"id": "agent-2", "role": "tier1", "queues": ["support"]},
                {"id": "agent-3", "role": "supervisor", "queues": ["sales"]},
            ],
        },
        "roles": {"tier1": {"hide": ["credit"]}, "supervisor": {}},
        "providers": [{"name": "pbx", "kind": "generic", "secret": WEBHOOK_SECRET}],
        "card": {"deadline_ms": 1000},
        "connectors": [
            {
                "name": "accounting",
                "kind": SCRIPTED,
                "delay_ms": 20,
                "identity": {"id": "account_id", "name": "name"},
                "rows": {ADA: {"account_id": "A-1001", "name": "Ada Lovelace", "balance": 120.5}},
                "display": {"badges": [{"field": "balance", "above": 100, "text": "Owes", "level": "warn"}]},
            },
            {
                "name": "credit",
                "kind": SCRIPTED,
                "delay_ms": 40,
                "rows": {ADA: {"credit_limit": 5000, "rating": "D"}},
                "identity": {"name": "holder"},
                "display": {"badges": [{"field": "rating", "equals": "D", "text": "Credit hold"}]},
            },
        ],
    }
    config.update(overrides)
    return config


def make(store_url: str, **overrides: Any) -> Settings:
    return settings_from_mapping(base_config(store_url, **overrides), source="<test>", environ={})


@contextlib.asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[str]:
    """The real application on a free loopback port; yields its base URL."""
    async with running_app(create_app(settings)) as (base, _):
        yield base


def sharing_the_tests_loop(settings: Settings) -> Settings:
    """``settings`` for instances served together on the test's own event loop (``running``), through Redis.

    A pause of that loop longer than the broker's 0.5 s (the collector of a
    test process that has run a thousand tests, a CPU shared by two suites)
    let a reply that had arrived go unread until the broker's timeout fired:
    it took Redis for hung, went down, and a transfer or a card that a test
    waited for never crossed to the other instance.  Such an instance waits
    ``redis_hold.SLACK_S`` for Redis; a stopped Redis is still seen at once
    (the connection is refused), and a process of its own (``Service``)
    keeps the broker's 0.5 s.  Not for a config a test reloads from its
    file: a reload refuses a broker URL other than the running one.
    """
    url = settings.broker.url
    if not url.startswith(("redis://", "rediss://")) or "socket_timeout=" in url:
        return settings
    broker = settings.broker.model_copy(update={"url": with_slack(url)})
    return settings.model_copy(update={"broker": broker})


@contextlib.asynccontextmanager
async def running_app(app: web.Application) -> AsyncIterator[tuple[str, web.Application]]:
    """``app`` served on a free loopback port; yields its base URL and the app (to look inside)."""
    runner = server.ScreenpopRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}", app
    finally:
        await runner.cleanup()


def event_body(call_id: str, event: str = "ringing", number: str = ADA, **extra: Any) -> bytes:
    return json.dumps({"event": event, "call_id": call_id, "from": number, **extra}).encode()


async def post_event(base: str, body: bytes, signature: str | None = None, **headers: str) -> tuple[int, Any]:
    sent = {"Content-Type": "application/json", "Screenpop-Signature": signature or sign(body), **headers}
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{base}/webhooks/pbx", data=body, headers=sent) as reply,
    ):
        text = await reply.text()
        return reply.status, json.loads(text) if text else None


class Agent:
    """A websocket client that says hello and keeps every frame it receives, raw and parsed."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.raw: list[str] = []
        self.welcome: dict[str, Any] = {}

    async def next(self, within: float = 3.0) -> dict[str, Any]:
        text = await asyncio.wait_for(self.ws.recv(), within)
        self.raw.append(text)
        return dict(json.loads(text))

    async def card_until_complete(self, call_id: str, within: float = 5.0) -> list[dict[str, Any]]:
        frames = []
        deadline = time.monotonic() + within
        while True:
            frame = await self.next(max(0.01, deadline - time.monotonic()))
            if frame.get("type") == "card" and frame["call_id"] == call_id:
                frames.append(frame)
                if frame["complete"]:
                    return frames

    async def silent_for(self, seconds: float) -> bool:
        try:
            frame = await self.next(seconds)
        except TimeoutError:
            return True
        raise AssertionError(f"unexpected frame {frame}")


@contextlib.asynccontextmanager
async def agent_socket(
    base: str,
    settings: Settings,
    agent_id: str,
    resume_from: str | None = None,
    role: str | None = None,
    asks: Mapping[str, Any] | None = None,
) -> AsyncIterator[Agent]:
    """A socket said hello; ``asks`` are the hello's keys beyond SPEC 5 (``live_calls``, ``role_notices``)."""
    url = base.replace("http://", "ws://") + "/ws"
    async with websockets.connect(url, origin="http://agents.example") as ws:  # type: ignore[arg-type]
        agent = Agent(ws)
        hello: dict[str, Any] = {"type": "hello", "token": token_for(settings, agent_id, role=role)}
        hello.update(asks or {})
        if resume_from:
            hello["resume_from"] = resume_from
        await ws.send(json.dumps(hello))
        agent.welcome = await agent.next()
        assert agent.welcome["type"] == "welcome"
        yield agent


async def api(base: str, method: str, path: str, token: str | None = None, **kwargs: Any) -> tuple[int, Any]:
    headers = {**kwargs.pop("headers", {}), **({"Authorization": f"Bearer {token}"} if token else {})}
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, base + path, headers=headers, **kwargs) as reply,
    ):
        text = await reply.text()
        try:
            return reply.status, json.loads(text)
        except ValueError:
            return reply.status, text
