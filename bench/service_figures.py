"""The component figures that need a real `screenpop serve` process: a frozen agent, a 429 flood.

``tests/test_faults.py`` checks the behaviour (every card still reaches the
other member of a frozen agent's queue; refusals are answered while no card
can finish); what they cost is measured here, each against a floor from the
same service in the same run.  Run from ``components.py``.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import websockets
import yaml
from common import BenchError, Children, free_port, sign, wait_healthy

from screenpop.auth import mint_token
from screenpop.config import settings_from_mapping

REPO = Path(__file__).resolve().parent.parent
SCRIPTED = "screenpop.testing:ScriptedConnector"
ADA = "+14155550132"
CALL_TIMEOUT_S = 10.0


class Service:
    """One `screenpop serve` child: its URLs, its secrets, and signed webhooks to it."""

    def __init__(self, name: str, config: dict[str, Any], children: Children, workdir: Path) -> None:
        self.name = name
        self.config = config
        self.base = f"http://127.0.0.1:{config['server']['port']}"
        path = workdir / f"{name}.yaml"
        path.write_text(yaml.safe_dump(config))
        argv = [sys.executable, "-m", "screenpop", "serve", "--config", str(path)]
        children.start(name, argv, cwd=REPO)
        self.children = children
        self.settings = settings_from_mapping(config, source=str(path), environ={})

    async def ready(self) -> None:
        await wait_healthy(self.children, self.name, self.base + "/healthz")

    async def ring(self, session: aiohttp.ClientSession, call_id: str, queue: str) -> int:
        body = json.dumps({"event": "ringing", "call_id": call_id, "from": ADA, "queue": queue}).encode()
        secret = self.config["providers"][0]["secret"]
        headers = {"Content-Type": "application/json", "Screenpop-Signature": sign(body, secret)}
        async with session.post(self.base + "/webhooks/pbx", data=body, headers=headers) as reply:
            await reply.read()
            return reply.status

    @asynccontextmanager
    async def agent(self, agent_id: str, max_queue: int | None = None) -> AsyncIterator[Any]:
        """A welcomed socket; ``max_queue=1`` makes one that stops reading after one frame (frozen)."""
        url = self.base.replace("http://", "ws://") + "/ws"
        async with websockets.connect(url, origin=self.base, max_queue=max_queue) as ws:  # type: ignore[arg-type]
            await ws.send(json.dumps({"type": "hello", "token": mint_token(self.settings, agent_id)}))
            welcome = json.loads(await asyncio.wait_for(ws.recv(), 10))
            if welcome.get("type") != "welcome":
                raise BenchError(f"{agent_id} was not welcomed: {welcome}")
            yield ws


def config(workdir: Path, name: str, **extra: Any) -> dict[str, Any]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    return {
        "server": {"host": "127.0.0.1", "port": port, "public_url": base, "allowed_origins": [base]},
        "store": {"url": f"sqlite+aiosqlite:///{workdir / (name + '.db')}"},
        "broker": {"url": "memory://"},
        "agents": {
            "token_secret": secrets.token_hex(24),
            "directory": [
                {"id": "agent-1", "queues": ["shared", "solo"]},
                {"id": "agent-2", "queues": ["shared"]},
            ],
        },
        "providers": [{"name": "pbx", "kind": "generic", "secret": secrets.token_hex(16)}],
        "card": {"deadline_ms": 1000, "history": 0},
        **extra,
    }


def big_cards(count: int = 4, kilobytes: int = 32) -> list[dict[str, Any]]:
    """Fast connectors answering ``kilobytes`` each: cards of several big versions (as test_faults)."""
    return [
        {
            "name": f"system{n}",
            "kind": SCRIPTED,
            "delay_ms": 2 * n,
            "rows": {ADA: {"id": f"S-{n}", "notes": "x" * (kilobytes * 1024)}},
        }
        for n in range(count)
    ]


async def complete_card(
    service: Service, session: aiohttp.ClientSession, ws: Any, call_id: str, queue: str
) -> float:
    """Webhook -> the call's complete card on ``ws``, in seconds."""
    started = time.perf_counter()
    status = await service.ring(session, call_id, queue)
    if status != 202:
        raise BenchError(f"{call_id} was answered {status}")
    async with asyncio.timeout(CALL_TIMEOUT_S):
        while True:
            frame = json.loads(await ws.recv())
            if frame.get("call_id") == call_id and frame.get("type") == "card" and frame.get("complete"):
                return time.perf_counter() - started


async def frozen_agent(children: Children, workdir: Path, pairs: int) -> tuple[list[float], list[float]]:
    """Webhook -> complete card for agent-1: beside a frozen agent-2 (`shared`) and alone (`solo`), ABBA."""
    service = Service("frozen", config(workdir, "frozen", connectors=big_cards()), children, workdir)
    await service.ready()
    beside: list[float] = []
    solo: list[float] = []
    async with (
        aiohttp.ClientSession() as session,
        service.agent("agent-1") as ws,
        service.agent("agent-2", max_queue=1),  # reads one frame, then nothing more: frozen
    ):
        for n in range(15):  # ~5 MB: the frozen socket's buffers are full from here on
            await complete_card(service, session, ws, f"fill-{n}", "shared")
        for n in range(pairs):
            for queue in ("shared", "solo") if n % 2 == 0 else ("solo", "shared"):
                took = await complete_card(service, session, ws, f"{queue}-{n}", queue)
                (beside if queue == "shared" else solo).append(took)
    return beside, solo


async def flood(children: Children, workdir: Path, reps: int) -> tuple[list[float], list[float]]:
    """A refused webhook's answer time while max_inflight_calls are busy, and /healthz's as the floor."""
    slow = {"name": "slow", "kind": SCRIPTED, "delay_ms": 5_000, "timeout_ms": 10_000}
    extra = {"connectors": [slow], "card": {"deadline_ms": 10_000, "history": 0}}
    cfg = config(workdir, "flood", **extra)
    cfg["server"]["max_inflight_calls"] = 5
    service = Service("flood", cfg, children, workdir)
    await service.ready()
    refused: list[float] = []
    floor: list[float] = []
    async with aiohttp.ClientSession() as session:
        statuses = await asyncio.gather(*(service.ring(session, f"busy-{n}", "solo") for n in range(5)))
        if set(statuses) != {202}:
            raise BenchError(f"the first five calls were answered {statuses}")
        for n in range(reps):
            started = time.perf_counter()
            status = await service.ring(session, f"refused-{n}", "solo")
            refused.append(time.perf_counter() - started)
            if status != 429:
                raise BenchError(f"a call past max_inflight_calls was answered {status}")
            started = time.perf_counter()
            async with session.get(service.base + "/healthz") as reply:
                await reply.read()
            floor.append(time.perf_counter() - started)
    return refused, floor
