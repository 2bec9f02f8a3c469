"""What a purchase-model rebuild costs the other cards: two `screenpop serve` children, ABBA blocks.

Both services read the same generated history (a ``sql`` connector finds the
customer by number, a ``purchases`` connector needs its key).  **quiet** has
``refresh_s: 3600``, so after its first model it never rebuilds; **rebuilding**
has a small ``refresh_s``, so it is rebuilding its model (read + build) almost
all the time.  The measured calls alternate between them in blocks (ABBA); the
rebuilding service is stopped (SIGSTOP) while the quiet one is measured, so
its rebuild takes no CPU from the quiet baseline, and resumed (SIGCONT) for
its own blocks.  The figure is webhook -> first card frame p99, rebuilding /
quiet.  Run from ``insight.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import secrets
import signal
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import yaml
from common import (
    MEASURING_AGENT,
    BenchError,
    Call,
    Children,
    Plan,
    Target,
    collector_paused,
    free_port,
    service_argv,
    target,
    wait_healthy,
)
from insight_data import HISTORY_QUERY, phone

from screenpop.auth import mint_token
from screenpop.config import settings_from_mapping

REPO = Path(__file__).resolve().parent.parent
READY_TIMEOUT_S = 600.0
CALLERS = 200


class InsightFrames:
    """Reads card frames for the tracker, and keeps each complete card's section statuses per call."""

    def __init__(self) -> None:
        self.statuses: dict[str, dict[str, str]] = {}

    def __call__(self, text: str) -> tuple[str, bool] | None:
        frame = json.loads(text)
        if frame.get("type") != "card":
            return None
        call_id = str(frame["call_id"])
        if frame["complete"]:
            sections = frame["card"]["sections"]
            self.statuses[call_id] = {name: _status(s) for name, s in sections.items()}
        return call_id, bool(frame["complete"])


def _status(section: dict[str, Any]) -> str:
    """``ok``, or ``error (circuit open)``: an error's text says which failure it was."""
    error = section.get("error")
    return f"{section.get('status')} ({error})" if error else str(section.get("status"))


def config(db: Path, workdir: Path, name: str, refresh_s: float) -> dict[str, Any]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    url = f"sqlite+aiosqlite:///{db}"
    return {
        "server": {"host": "127.0.0.1", "port": port, "public_url": base, "allowed_origins": [base]},
        "store": {"url": f"sqlite+aiosqlite:///{workdir / (name + '-store.db')}"},
        "broker": {"url": "memory://"},
        "agents": {
            "token_secret": secrets.token_hex(24),
            "directory": [{"id": MEASURING_AGENT, "queues": ["support"]}],
        },
        "providers": [{"name": "pbx", "kind": "generic", "secret": secrets.token_hex(16)}],
        "connectors": [
            {
                "name": "sales",
                "kind": "sql",
                "url": url,
                "query": "SELECT customer_id, name FROM customers WHERE phone = :e164",
                "identity": {"id": "customer_id", "name": "name"},
                "timeout_ms": 800,
            },
            {
                "name": "insight",
                "kind": "purchases",
                "url": url,
                "needs": ["sales.customer_id"],
                "history_query": HISTORY_QUERY,
                "refresh_s": refresh_s,
                "timeout_ms": 800,
            },
        ],
    }


class Service:
    """One service child: its config, its URLs, the hello of the measuring agent."""

    def __init__(self, name: str, cfg: dict[str, Any], children: Children, workdir: Path) -> None:
        self.name = name
        self.secret = str(cfg["providers"][0]["secret"])
        self.base = f"127.0.0.1:{cfg['server']['port']}"
        path = workdir / f"{name}.yaml"
        path.write_text(yaml.safe_dump(cfg, sort_keys=False))
        settings = settings_from_mapping(cfg, source=str(path), environ={})
        self.hello = json.dumps({"type": "hello", "token": mint_token(settings, MEASURING_AGENT)})
        self.proc = children.start(name, service_argv(path, None, None), cwd=REPO)
        self.children = children

    async def healthy(self) -> None:
        await wait_healthy(self.children, self.name, f"http://{self.base}/healthz")


def calls(label: str, count: int, secret: str, numbers: Sequence[str]) -> list[Call]:
    """Ringing webhooks for the measuring agent, callers cycling over customers found by ``sales``."""
    nonce = secrets.token_hex(3)
    made = []
    for i in range(count):
        body = {
            "event": "ringing",
            "call_id": f"{label}-{nonce}-{i:05d}",
            "from": numbers[i % len(numbers)],
            "to": "+18005550100",
            "agent": MEASURING_AGENT,
            "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        made.append(Call(body["call_id"], json.dumps(body).encode(), secret))
    return made


async def until_model(service: Service, measured: Target, frames: InsightFrames, number: str) -> float:
    """Ring one call at a time until the ``insight`` section is ``ok`` (the first model is in)."""
    started = time.monotonic()
    deadline = started + READY_TIMEOUT_S
    for attempt in range(int(READY_TIMEOUT_S * 2)):
        if service.proc.poll() is not None or time.monotonic() > deadline:
            break
        call = calls(f"probe{attempt}", 1, service.secret, [number])[0]
        await measured.warm([call], Plan(rate=10, timeout_s=10))
        if frames.statuses.get(call.call_id, {}).get("insight") == "ok":
            return time.monotonic() - started
        await asyncio.sleep(0.5)
    raise BenchError(f"{service.name}: the purchases model was not ready within {READY_TIMEOUT_S:.0f} s")


@contextlib.contextmanager
def paused(proc: Any) -> Iterator[None]:
    """The rebuilding service stopped (SIGSTOP) for the duration, resumed (SIGCONT) whatever happens."""
    os.kill(proc.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(proc.pid, signal.SIGCONT)


async def rebuild_impact(
    args: argparse.Namespace, children: Children, workdir: Path, db: Path, customers: int
) -> dict[str, Any]:
    """Start both services, wait for their first models, run the ABBA blocks; the figures."""
    quiet = Service("quiet", config(db, workdir, "quiet", 3600), children, workdir)
    busy = Service("rebuilding", config(db, workdir, "rebuilding", args.refresh_s), children, workdir)
    await asyncio.gather(quiet.healthy(), busy.healthy())
    numbers = [phone(i) for i in random.Random(args.seed).sample(range(customers), min(CALLERS, customers))]
    frames = {"quiet": InsightFrames(), "rebuilding": InsightFrames()}
    async with (
        target([f"http://{quiet.base}/webhooks/pbx"], f"ws://{quiet.base}/ws", quiet.hello,
               frames["quiet"], [quiet.proc.pid]) as a,
        target([f"http://{busy.base}/webhooks/pbx"], f"ws://{busy.base}/ws", busy.hello,
               frames["rebuilding"], [busy.proc.pid]) as b,
    ):  # fmt: skip
        ready = await asyncio.gather(
            until_model(quiet, a, frames["quiet"], numbers[0]),
            until_model(busy, b, frames["rebuilding"], numbers[0]),
        )
        plan = Plan(rate=args.rate)
        for t, s in ((a, quiet), (b, busy)):
            await t.warm(calls(f"warm-{s.name}", 30, s.secret, numbers), plan)
        with collector_paused(True):  # the client's own pauses would fall on either service's p99
            await _blocks(args, (a, quiet), (b, busy), numbers, plan)
    return _figures(args, a, b, frames, ready)


async def _blocks(
    args: argparse.Namespace,
    quiet: tuple[Target, Service],
    busy: tuple[Target, Service],
    numbers: Sequence[str],
    plan: Plan,
) -> None:
    blocks = max(1, args.blocks)
    for block in range(blocks):
        size = args.calls // blocks + (1 if block < args.calls % blocks else 0)
        for t, s in (quiet, busy) if block % 2 == 0 else (busy, quiet):
            batch = calls(f"b{block}-{s.name}", size, s.secret, numbers)
            if s is quiet[1]:
                with paused(busy[1].proc):
                    await t.run(batch, plan)
            else:
                await t.run(batch, plan)


def _figures(
    args: argparse.Namespace, a: Target, b: Target, frames: dict[str, InsightFrames], ready: Sequence[float]
) -> dict[str, Any]:
    quiet, busy = a.figures(), b.figures()
    return {
        "calls_per_service": args.calls,
        "rate": args.rate,
        "blocks": args.blocks,
        "refresh_s": args.refresh_s,
        "first_model_s": {"quiet": ready[0], "rebuilding": ready[1]},
        "quiet": quiet.as_json(),
        "rebuilding": busy.as_json(),
        "rebuilding_cpu_share": b.cpu_s / b.busy_s if b.busy_s > 0 else None,
        "section_statuses": {
            "quiet": _count(a, frames["quiet"]),
            "rebuilding": _count(b, frames["rebuilding"]),
        },
        "first_frame_p99_ratio": busy.first["p99"] / quiet.first["p99"],
    }


def _count(measured: Target, frames: InsightFrames) -> dict[str, dict[str, int]]:
    """Section -> status -> how many of the measured calls' complete cards had it."""
    counts: dict[str, dict[str, int]] = {}
    for call in measured.measured:
        for section, status in frames.statuses.get(call.call_id, {}).items():
            counts.setdefault(section, {}).setdefault(status, 0)
            counts[section][status] += 1
    return counts
