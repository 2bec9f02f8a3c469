"""Transfer event -> card on the new agent: p50/p99 of screenpop, next to the floor measured in the same run.

Run by ``make bench`` (``make bench-transfer``).  The service is the one
``latency.py`` runs (three 20 ms connectors, 100 idle agents, SQLite,
``memory://``), with a second watched agent, ``bench-target``.  Each call
first rings ``bench-agent`` and is read to its complete card (not measured),
then the ``transferred`` webhook to ``bench-target`` is posted and timed:

- **transfer -> 202**: the response read;
- **transfer -> card on the new agent**: the card frame of that call on
  ``bench-target``'s socket (the card as it stands: sections, ``transfers``,
  ``handoff``);
- **transfer -> `transferred` on the sender**: the call message on
  ``bench-agent``'s socket.

The floor (``floor.py floor``, a bare aiohttp app forwarding the body to one
websocket) gets the same transfer bodies; its POST -> frame is the delivery
the ratio is taken against.  Calls are closed-loop, one at a time: a transfer
happens once per call, so this measures the path, not throughput.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import secrets
import sys
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import websockets
import yaml
from common import (
    CALLERS,
    MEASURING_AGENT,
    Children,
    Ports,
    add_cpus_option,
    free_port,
    idle_agents,
    percentiles,
    run_script,
    service_config,
    sign,
    start_children,
    wait_healthy,
)

from screenpop.auth import mint_token
from screenpop.config import settings_from_mapping

TARGET_AGENT = "bench-target"
WAIT_S = 5.0
Key = tuple[str, str]  # (what, call id)

#: Transfer event -> card on the new agent, p50, as a ratio to the floor's delivery (issue 12).
CARD_TARGET = 2.0


class Arrivals:
    """When each awaited frame arrived (perf_counter), and an event per frame to wait on."""

    def __init__(self, parse: Callable[[str], Key | None]) -> None:
        self.parse = parse
        self.at: dict[Key, float] = {}
        self.events: defaultdict[Key, asyncio.Event] = defaultdict(asyncio.Event)

    async def read(self, ws: Any) -> None:
        async for text in ws:
            at = time.perf_counter()
            key = self.parse(text)
            if key is not None and key not in self.at:
                self.at[key] = at
                self.events[key].set()

    async def wait(self, key: Key) -> float:
        await asyncio.wait_for(self.events[key].wait(), WAIT_S)
        return self.at[key]


def service_frame(text: str) -> Key | None:
    frame = json.loads(text)
    if frame.get("type") == "card":
        return ("complete" if frame["complete"] else "card", frame["call_id"])
    if frame.get("type") == "call" and frame.get("status") == "transferred":
        return ("transferred", frame["call_id"])
    return None


def target_frame(text: str) -> Key | None:
    """On the new agent any card of the call counts: the transferred card is usually complete already."""
    frame = json.loads(text)
    return ("card", frame["call_id"]) if frame.get("type") == "card" else None


def floor_frame(text: str) -> Key | None:
    return ("card", json.loads(text)["call_id"])


@asynccontextmanager
async def socket(url: str, hello: str | None, arrivals: Arrivals) -> AsyncIterator[None]:
    async with websockets.connect(url, compression=None) as ws:
        if hello is not None:
            await ws.send(hello)
            await ws.recv()  # welcome
        reader = asyncio.create_task(arrivals.read(ws))
        try:
            yield
        finally:
            reader.cancel()


async def post(session: aiohttp.ClientSession, url: str, body: dict[str, Any], secret: str) -> float:
    raw = json.dumps(body).encode()
    headers = {"Content-Type": "application/json", "Screenpop-Signature": sign(raw, secret)}
    async with session.post(url, data=raw, headers=headers) as reply:
        await reply.read()
        if reply.status != 202:
            raise RuntimeError(f"{url} answered {reply.status}")
    return time.perf_counter()


async def one_call(
    session: aiohttp.ClientSession,
    base: str,
    secret: str,
    call_id: str,
    number: str,
    seen: tuple[Arrivals, Arrivals],
) -> tuple[float, float, float]:
    """Ring, let the card complete, transfer: (202, card on the new agent, `transferred` on the sender)."""
    ring = {"event": "ringing", "call_id": call_id, "from": number, "agent": MEASURING_AGENT}
    await post(session, f"{base}/webhooks/pbx", ring, secret)
    sender, target = seen
    await sender.wait(("complete", call_id))
    moved = {"event": "transferred", "call_id": call_id, "agent": TARGET_AGENT, "from_agent": MEASURING_AGENT}
    t0 = time.perf_counter()
    acked = await post(session, f"{base}/webhooks/pbx", moved, secret)
    card, left = await asyncio.gather(target.wait(("card", call_id)), sender.wait(("transferred", call_id)))
    return acked - t0, card - t0, left - t0


async def floor_call(
    session: aiohttp.ClientSession, base: str, call_id: str, seen: Arrivals
) -> tuple[float, float]:
    body = {"event": "transferred", "call_id": call_id, "agent": TARGET_AGENT, "from_agent": MEASURING_AGENT}
    t0 = time.perf_counter()
    acked = await post(session, f"{base}/webhooks/pbx", body, "floor-ignores-it")
    return acked - t0, await seen.wait(("card", call_id)) - t0


async def run(args: argparse.Namespace, children: Children, workdir: Path) -> dict[str, Any]:
    ports = Ports(free_port(), free_port(), free_port())
    config = service_config(args, ports, workdir)
    config["agents"]["directory"].append({"id": TARGET_AGENT, "queues": ["support"]})
    settings = settings_from_mapping(config, source="<bench>", environ={})
    config_path = workdir / "bench.yaml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    started = start_children(args, children, ports, config_path)
    await asyncio.gather(
        *(wait_healthy(children, n, f"http://127.0.0.1:{p}/healthz") for n, p in started.items())
    )
    secret = config["providers"][0]["secret"]
    service, floor = f"http://127.0.0.1:{ports.service}", f"http://127.0.0.1:{ports.floor}"
    seen, floor_seen = (Arrivals(service_frame), Arrivals(target_frame)), Arrivals(floor_frame)
    hello = {
        a: json.dumps({"type": "hello", "token": mint_token(settings, a)})
        for a in (MEASURING_AGENT, TARGET_AGENT)
    }
    ws_url = service.replace("http://", "ws://") + "/ws"
    nonce = secrets.token_hex(3)
    service_times: list[tuple[float, float, float]] = []
    floor_times: list[tuple[float, float]] = []
    async with (
        idle_agents(ws_url, settings, args.idle_agents),
        socket(ws_url, hello[MEASURING_AGENT], seen[0]),
        socket(ws_url, hello[TARGET_AGENT], seen[1]),
        socket(floor.replace("http://", "ws://") + "/ws", None, floor_seen),
        aiohttp.ClientSession() as session,
    ):
        for i in range(args.warmup + args.calls):
            floor_t = await floor_call(session, floor, f"f-{nonce}-{i}", floor_seen)
            call_t = await one_call(session, service, secret, f"t-{nonce}-{i}", CALLERS[i % 4], seen)
            if i >= args.warmup:
                floor_times.append(floor_t)
                service_times.append(call_t)
    return report(args, floor_times, service_times)


def report(
    args: argparse.Namespace,
    floor: Sequence[tuple[float, float]],
    service: Sequence[tuple[float, float, float]],
) -> dict[str, Any]:
    figures = {
        "floor_ack_ms": percentiles([f[0] for f in floor]),
        "floor_delivery_ms": percentiles([f[1] for f in floor]),
        "transfer_ack_ms": percentiles([s[0] for s in service]),
        "transfer_card_ms": percentiles([s[1] for s in service]),
        "transferred_message_ms": percentiles([s[2] for s in service]),
    }
    ratio = figures["transfer_card_ms"]["p50"] / figures["floor_delivery_ms"]["p50"]
    return {
        "setup": {"calls": args.calls, "warmup": args.warmup, "idle_agents": args.idle_agents},
        **figures,
        "target": {"card_p50_ratio": ratio, "limit": CARD_TARGET, "pass": ratio <= CARD_TARGET},
    }


def print_table(result: dict[str, Any]) -> None:
    setup = result["setup"]
    print(
        f"screenpop transfer bench: {setup['calls']} transfers after {setup['warmup']} warm-up, "
        f"one at a time; each call rung and complete first; {setup['idle_agents']} idle agents"
    )
    print()
    print(f"{'metric':<48}{'p50':>9}{'p90':>9}{'p99':>9}  (ms)")
    rows = [
        ("floor: POST -> 202", "floor_ack_ms"),
        ("floor: POST -> frame (delivery)", "floor_delivery_ms"),
        ("screenpop: transfer -> 202", "transfer_ack_ms"),
        ("screenpop: transfer -> card on the new agent", "transfer_card_ms"),
        ("screenpop: transfer -> `transferred` on the sender", "transferred_message_ms"),
    ]
    for label, key in rows:
        print(f"{label:<48}" + "".join(f"{result[key][p]:>9.2f}" for p in ("p50", "p90", "p99")))
    target = result["target"]
    verdict = "PASS" if target["pass"] else "MISS"
    print()
    print(
        f"card on the new agent p50 / floor delivery p50: {target['card_p50_ratio']:.2f} "
        f"(limit {target['limit']:.1f}x, as for the first card of a ring) {verdict}"
    )


def failed(result: dict[str, Any]) -> bool:
    return math.isnan(result["transfer_card_ms"]["p50"])


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=200, help="measured transfers (default 200)")
    parser.add_argument("--warmup", type=int, default=20, help="unmeasured calls first (default 20)")
    parser.add_argument("--idle-agents", type=int, default=100, help="connected agents no call rings")
    parser.add_argument("--delay-ms", type=int, default=20, help="each connector's latency (default 20)")
    add_cpus_option(parser)
    parser.add_argument("--log-dir", metavar="DIR", help="keep config, store and child logs here")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    args.connectors, args.profile, args.service_runner = "scripted", None, None
    return args


def main(argv: Sequence[str] | None = None) -> int:
    return run_script(parse(argv), run, print_table, failed)


if __name__ == "__main__":
    sys.exit(main())
