"""Webhook -> card latency of screenpop, printed as ratios to a bare-aiohttp floor measured in the same run.

Run by ``make bench``.  The service and the floor each run in their own
process, so the load client never shares their event loop.  See
bench/README.md for what is measured and how to read the table.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import secrets
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import websockets
import yaml
from common import (
    CALLERS,
    ROWS,
    BenchError,
    Call,
    Children,
    Figures,
    FrameParser,
    Plan,
    Target,
    Tracker,
    free_port,
    wait_healthy,
)

from screenpop.auth import mint_token
from screenpop.config import Settings, settings_from_mapping

REPO = Path(__file__).resolve().parent.parent
MEASURING_AGENT = "bench-agent"
IDLE_QUEUE = "idle"
ACK_TARGET = 1.5
FIRST_FRAME_TARGET = 2.0
CONNECT_CONCURRENCY = 20
TWO_INSTANCE_BLOCKS = 8


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=400, help="measured calls (default 400)")
    parser.add_argument("--warmup", type=int, default=30, help="unmeasured calls first (default 30)")
    parser.add_argument("--rate", type=float, default=50.0, help="calls/s; 0 = as fast as possible")
    parser.add_argument("--concurrency", type=int, default=32, help="calls in flight with --rate 0")
    parser.add_argument(
        "--blocks",
        type=int,
        default=None,
        help="split the measured calls into N blocks, taking turns (default 1; 8 with --two-instance)",
    )
    parser.add_argument(
        "--two-instance",
        action="store_true",
        help="two services sharing a Redis broker: webhook to A, agent on B, against both on B",
    )
    parser.add_argument("--idle-agents", type=int, default=100, help="connected agents the calls never ring")
    parser.add_argument("--delay-ms", type=int, default=20, help="each connector's latency (default 20)")
    parser.add_argument(
        "--connectors",
        choices=["scripted", "http"],
        default="scripted",
        help="scripted: in-process ScriptedConnector; http: the http kind against floor.py backend",
    )
    parser.add_argument(
        "--unique-numbers", action="store_true", help="a new caller number per call (defeats any parse cache)"
    )
    parser.add_argument("--profile", metavar="FILE", help="run the service under cProfile, stats to FILE")
    parser.add_argument(
        "--service-runner",
        metavar="SCRIPT",
        help="run SCRIPT (given `serve --config FILE`) instead of `-m screenpop`, for what-if experiments",
    )
    parser.add_argument("--log-dir", metavar="DIR", help="keep config, store and child logs here")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    if args.blocks is None:
        args.blocks = TWO_INSTANCE_BLOCKS if args.two_instance else 1
    return args


# --- the service's configuration -------------------------------------------------------------


@dataclass(frozen=True)
class Ports:
    service: int
    floor: int
    backend: int


def service_config(args: argparse.Namespace, ports: Ports, workdir: Path) -> dict[str, Any]:
    """Three connectors of known latency, one measuring agent, and idle agents in their own queue."""
    idle = [{"id": f"idle-{i:03d}", "queues": [IDLE_QUEUE]} for i in range(args.idle_agents)]
    base = f"http://127.0.0.1:{ports.service}"
    return {
        "server": {"host": "127.0.0.1", "port": ports.service, "public_url": base, "allowed_origins": [base]},
        "store": {"url": f"sqlite+aiosqlite:///{workdir / 'store.db'}"},
        "broker": {"url": "memory://"},
        "agents": {
            "token_secret": secrets.token_hex(24),
            "directory": [{"id": MEASURING_AGENT, "queues": ["support"]}, *idle],
        },
        "providers": [{"name": "pbx", "kind": "generic", "secret": secrets.token_hex(16)}],
        "connectors": [connector(name, args, ports) for name in ROWS],
    }


IDENTITY = {
    "accounting": {"id": "account_id", "name": "name"},
    "sales": {"id": "customer_id", "name": "name"},
    "crm": {"id": "contact_id", "name": "name"},
}


def connector(name: str, args: argparse.Namespace, ports: Ports) -> dict[str, Any]:
    block: dict[str, Any] = {"name": name, "timeout_ms": 800, "identity": IDENTITY[name]}
    if name == "accounting":
        block["display"] = {
            "title": "Accounting",
            "fields": {"balance": {"label": "Balance", "format": "currency", "currency": "USD"}},
            "badges": [{"field": "overdue_amount", "above": 0, "text": "Overdue", "level": "warn"}],
        }
    if args.connectors == "scripted":
        return {
            **block,
            "kind": "screenpop.testing:ScriptedConnector",
            "delay_ms": args.delay_ms,
            "rows": ROWS[name],
        }
    fields = next(iter(ROWS[name].values()))
    return {
        **block,
        "kind": "http",
        "method": "GET",
        "url": f"http://127.0.0.1:{ports.backend}/{name}?phone={{e164}}",
        "select": {field: f"$.{field}" for field in fields},
    }


def service_argv(config_path: Path, profile: str | None, runner: str | None) -> list[str]:
    profiler = ["-m", "cProfile", "-o", str(Path(profile).resolve())] if profile else []
    program = [str(Path(runner).resolve())] if runner else ["-m", "screenpop"]
    return [sys.executable, *profiler, *program, "serve", "--config", str(config_path)]


# --- the calls ---------------------------------------------------------------------------------


def make_calls(label: str, count: int, secret: str, unique: bool) -> list[Call]:
    """Generic ``ringing`` webhooks for the measuring agent, each with a new call id."""
    nonce = secrets.token_hex(3)
    calls = []
    for i in range(count):
        number = f"+1 (415) {200 + (i // 10_000) % 700:03d}-{i % 10_000:04d}" if unique else CALLERS[i % 4]
        body = {
            "event": "ringing",
            "call_id": f"{label}-{nonce}-{i:05d}",
            "from": number,
            "to": "+18005550100",
            "caller_name": "BENCH CALLER",
            "agent": MEASURING_AGENT,
            "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        calls.append(Call(body["call_id"], json.dumps(body).encode(), secret))
    return calls


class CardFrames:
    """Reads the service's card frames, and counts the section statuses of complete cards.

    The counts show that the connectors really answered (a broken connector
    would make the cards fast and wrong).
    """

    def __init__(self) -> None:
        self.statuses: Counter[str] = Counter()

    def __call__(self, text: str) -> tuple[str, bool] | None:
        frame = json.loads(text)
        if frame.get("type") != "card":
            return None
        if frame["complete"]:
            self.statuses.update(s["status"] for s in frame["card"]["sections"].values())
        return str(frame["call_id"]), bool(frame["complete"])


def forwarded_body(text: str) -> tuple[str, bool] | None:
    """The floor forwards the webhook body itself: it is the first and the last frame."""
    return str(json.loads(text)["call_id"]), True


@contextlib.asynccontextmanager
async def watching(
    agent_ws_url: str, hello: str | None, tracker: Tracker
) -> AsyncIterator[aiohttp.ClientSession]:
    """One agent socket feeding ``tracker``, and the HTTP session that posts the webhooks.

    ``hello`` (the agent's hello frame) is sent first when given, and the
    welcome awaited, so that no frame can be missed; the floor needs none.
    Several ``Target``s may share what this yields: the two-instance run
    posts to either instance and watches one socket for both paths.
    """
    async with websockets.connect(agent_ws_url, open_timeout=10, max_size=2**22) as ws:
        if hello is not None:
            await ws.send(hello)
            welcome = json.loads(await asyncio.wait_for(ws.recv(), 10))
            if welcome.get("type") != "welcome":
                raise BenchError(f"the agent socket was not welcomed: {welcome}")
        reader = asyncio.create_task(tracker.read(ws))
        try:
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100)) as session:
                yield session
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, websockets.ConnectionClosed):
                await reader


@contextlib.asynccontextmanager
async def target(
    webhook_urls: Sequence[str],
    agent_ws_url: str,
    hello: str | None,
    parse: FrameParser,
    server_pids: Sequence[int],
) -> AsyncIterator[Target]:
    """A system to measure: webhooks go to ``webhook_urls``, one agent socket watches for the frames.

    ``server_pids`` are the processes whose CPU is counted against the calls.
    """
    tracker = Tracker(parse)
    async with watching(agent_ws_url, hello, tracker) as session:
        yield Target(session, webhook_urls, tracker, server_pids)


async def interleaved(targets: Sequence[Target], args: argparse.Namespace, secret: str) -> None:
    """Warm every target up, then run the measured calls in blocks, taking turns between targets."""
    plan = Plan(rate=args.rate, concurrency=args.concurrency)
    for t in targets:
        await t.warm(make_calls("warm", args.warmup, secret, args.unique_numbers), plan)
    blocks = max(1, min(args.blocks, args.calls))
    for b in range(blocks):
        size = args.calls // blocks + (1 if b < args.calls % blocks else 0)
        # ABBA: each target goes first as often as last, so neither always follows the other's backlog
        for t in targets if b % 2 == 0 else list(reversed(targets)):
            await t.run(make_calls(f"b{b}", size, secret, args.unique_numbers), plan)


@contextlib.asynccontextmanager
async def idle_agents(
    ws_url: str, settings: Settings, count: int, first: int = 0
) -> AsyncIterator[list[int]]:
    """``count`` agents (``idle-{first:03d}`` on) connected and welcomed; yields their frame counters."""
    received = [0] * count
    limit = asyncio.Semaphore(CONNECT_CONCURRENCY)
    async with contextlib.AsyncExitStack() as stack:

        async def connect(i: int) -> Any:
            async with limit:
                ws = await stack.enter_async_context(websockets.connect(ws_url, open_timeout=10))
                token = mint_token(settings, f"idle-{first + i:03d}")
                await ws.send(json.dumps({"type": "hello", "token": token}))
                if json.loads(await asyncio.wait_for(ws.recv(), 10)).get("type") != "welcome":
                    raise BenchError(f"idle agent {first + i} was not welcomed")
                return ws

        sockets = await asyncio.gather(*(connect(i) for i in range(count)))

        async def drain(i: int, ws: Any) -> None:
            with contextlib.suppress(websockets.ConnectionClosed):
                async for _ in ws:
                    received[i] += 1

        readers = [asyncio.create_task(drain(i, ws)) for i, ws in enumerate(sockets)]
        try:
            yield received
        finally:
            for reader in readers:
                reader.cancel()
            await asyncio.gather(*readers, return_exceptions=True)


# --- the run -----------------------------------------------------------------------------------


HERE = Path(__file__).resolve().parent


def start_children(
    args: argparse.Namespace, children: Children, ports: Ports, config: Path
) -> dict[str, int]:
    """Start the floor, the service (and the HTTP backend); returns each one's port to poll."""
    floor_py = [sys.executable, str(HERE / "floor.py")]
    started = {"floor": ports.floor, "service": ports.service}
    if args.connectors == "http":
        delay = ["--delay-ms", str(args.delay_ms)]
        children.start("backend", [*floor_py, "backend", "--port", str(ports.backend), *delay])
        started["backend"] = ports.backend
    children.start("floor", [*floor_py, "floor", "--port", str(ports.floor)])
    children.start("service", service_argv(config, args.profile, args.service_runner), cwd=REPO)
    return started


async def run(args: argparse.Namespace, children: Children, workdir: Path) -> dict[str, Any]:
    ports = Ports(free_port(), free_port(), free_port())
    config = service_config(args, ports, workdir)
    settings = settings_from_mapping(config, source="<bench>", environ={})
    config_path = workdir / "bench.yaml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    started = start_children(args, children, ports, config_path)
    await asyncio.gather(
        *(wait_healthy(children, name, f"http://127.0.0.1:{port}/healthz") for name, port in started.items())
    )
    secret = config["providers"][0]["secret"]
    floor_base, service_base = f"127.0.0.1:{ports.floor}", f"127.0.0.1:{ports.service}"
    ws_url = f"ws://{service_base}/ws"
    hello = json.dumps({"type": "hello", "token": mint_token(settings, MEASURING_AGENT)})
    cards = CardFrames()
    async with (
        idle_agents(ws_url, settings, args.idle_agents) as idle_frames,
        target(
            [f"http://{floor_base}/webhooks/pbx"], f"ws://{floor_base}/ws", None, forwarded_body,
            [children.procs["floor"].pid],
        ) as floor,
        target(
            [f"http://{service_base}/webhooks/pbx"], ws_url, hello, cards,
            [children.procs["service"].pid],
        ) as service,
    ):  # fmt: skip
        await interleaved([floor, service], args, secret)
        stray_idle_frames = sum(idle_frames)
    result = report(args, floor.figures(), service.figures(), stray_idle_frames)
    result["service"]["section_statuses"] = dict(cards.statuses)
    return result


def report(args: argparse.Namespace, floor: Figures, service: Figures, idle_frames: int) -> dict[str, Any]:
    ack_ratio = service.ack["p99"] / floor.ack["p99"]
    first_ratio = service.first["p50"] / floor.first["p50"]
    return {
        "setup": {
            "calls": args.calls,
            "warmup": args.warmup,
            "blocks": args.blocks,
            "rate": args.rate,
            "concurrency": args.concurrency if args.rate <= 0 else None,
            "connectors": args.connectors,
            "connector_delay_ms": args.delay_ms,
            "idle_agents": args.idle_agents,
            "numbers": "unique per call" if args.unique_numbers else list(CALLERS),
            "profiled": bool(args.profile),
        },
        "floor": floor.as_json(),
        "service": service.as_json(),
        "idle_agent_frames": idle_frames,
        "targets": {
            "ack_p99_ratio": {"value": ack_ratio, "limit": ACK_TARGET, "pass": ack_ratio <= ACK_TARGET},
            "first_frame_p50_ratio": {
                "value": first_ratio,
                "limit": FIRST_FRAME_TARGET,
                "pass": first_ratio <= FIRST_FRAME_TARGET,
            },
        },
    }


def print_table(result: dict[str, Any]) -> None:
    setup, floor, service = result["setup"], result["floor"], result["service"]
    rate = f"{setup['rate']:g}/s" if setup["rate"] > 0 else f"max rate ({setup['concurrency']} in flight)"
    numbers = setup["numbers"] if isinstance(setup["numbers"], str) else f"cycling over {len(CALLERS)}"
    print(
        f"screenpop latency bench: {setup['calls']} calls at {rate} after {setup['warmup']} warm-up; "
        f"3 {setup['connectors']} connectors at {setup['connector_delay_ms']} ms; "
        f"{setup['idle_agents']} idle agents; caller numbers {numbers}"
        + ("; PROFILED (slower)" if setup["profiled"] else "")
    )
    print()
    print(f"{'metric':<40}{'p50':>9}{'p90':>9}{'p99':>9}  (ms)")
    rows = [
        ("floor: POST -> 202 (acknowledgement)", floor["ack_ms"]),
        ("floor: POST -> frame (delivery)", floor["first_frame_ms"]),
        ("screenpop: webhook -> 202", service["ack_ms"]),
        ("screenpop: webhook -> first card frame", service["first_frame_ms"]),
        ("screenpop: webhook -> complete card", service["complete_ms"]),
    ]
    for name, figures in rows:
        print(f"{name:<40}" + "".join(f"{figures[p]:>9.2f}" for p in ("p50", "p90", "p99")))
    print()
    print(
        f"calls/s completed: screenpop {service['calls_per_s']:.1f}, floor {floor['calls_per_s']:.1f}; "
        f"card frames per call {service['frames_per_call']:.2f}"
    )
    statuses = ", ".join(f"{n} {k}" for k, n in sorted(service.get("section_statuses", {}).items()))
    print(f"sections of the complete cards: {statuses or 'none'}")
    print(
        f"server CPU per call (all threads): screenpop {service['server_cpu_ms_per_call']:.2f} ms, "
        f"floor {floor['server_cpu_ms_per_call']:.2f} ms"
    )
    for name, figures in (("floor", floor), ("screenpop", service)):
        if figures["refused"] or figures["lost"]:
            print(f"{name}: {figures['refused']} calls refused, {figures['lost']} without a complete card")
    if result["idle_agent_frames"]:
        print(f"idle agents received {result['idle_agent_frames']} frames (expected none)")
    print_targets(result)


def print_targets(result: dict[str, Any]) -> None:
    print()
    print(f"{'target (ratio to the floor, same run)':<52}{'ratio':>8}{'limit':>8}  verdict")
    labels = {
        "ack_p99_ratio": "webhook -> 202 p99 / floor ack p99",
        "first_frame_p50_ratio": "first card frame p50 / floor delivery p50",
    }
    for key, label in labels.items():
        target = result["targets"][key]
        verdict = "PASS" if target["pass"] else "MISS"
        print(f"{label:<52}{target['value']:>8.2f}{target['limit']:>7.1f}x  {verdict}")
    if result["setup"]["rate"] <= 0:
        print("(the targets are set for the fixed-rate run; at max rate they are shown for reference only)")


def failed(result: dict[str, Any]) -> bool:
    """Lost or refused calls mean the run did not measure what it claims."""
    figures = (result["floor"], result["service"])
    return any(f["refused"] or f["lost"] for f in figures) or any(
        math.isnan(f[m]["p50"]) for f in figures for m in ("ack_ms", "first_frame_ms")
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.two_instance:
        import two_instance  # imports this module: loaded only when asked for

        runner, printer, broken = two_instance.run, two_instance.print_table, two_instance.failed
    else:
        runner, printer, broken = run, print_table, failed
    with contextlib.ExitStack() as stack:
        if args.log_dir:
            workdir = Path(args.log_dir)
            workdir.mkdir(parents=True, exist_ok=True)
        else:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        children = stack.enter_context(Children(workdir))
        try:
            result = asyncio.run(runner(args, children, workdir))
        except BenchError as exc:
            print(f"bench: {exc}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print("bench: interrupted; stopping every child process", file=sys.stderr)
            return 130
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        printer(result)
    if broken(result):
        print("bench: some calls were refused or lost; the figures above are incomplete", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
