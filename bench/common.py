"""What the benchmark's run modes share: child processes, signing, the load loop, percentiles.

The load loop (``run_load``) knows nothing about screenpop: it posts prepared
webhooks to one or more URLs and learns from a ``Tracker`` when frames for
each call arrived on an agent socket.  The service run, the bare-aiohttp floor
and a later two-instance run all measure through the same loop, so their
figures differ only by what is on the other end of the loopback.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import gc
import hashlib
import hmac
import json
import math
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import aiohttp
import websockets

from screenpop.auth import mint_token
from screenpop.config import Settings

HEALTH_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 12.0
CALL_TIMEOUT_S = 5.0
SETTLE_S = 0.3
"""After a block: the server's trailing work (cards completing, their records) lands in its own CPU
figure and before the other target's next block, not on it."""

# The connectors' data, keyed by E.164; the floor.py backend serves the same rows over HTTP.
ADA, GRACE, LONDON, NOBODY = "+14155550132", "+12125550143", "+442079460958", "+14155550199"
CALLERS = ("+1 (415) 555-0132", "+1 212 555 0143", "+44 20 7946 0958", "(415) 555-0199")
ROWS: dict[str, dict[str, dict[str, Any]]] = {
    "accounting": {
        ADA: {"account_id": "A-1001", "name": "Ada Lovelace", "balance": 120.5, "overdue_amount": 20},
        GRACE: {"account_id": "A-2002", "name": "Grace Hopper", "balance": 0, "overdue_amount": 0},
    },
    "sales": {
        ADA: {"customer_id": "S-77", "name": "Ada Lovelace", "lifetime_value": 18250.0, "segment": "B2B"},
        LONDON: {"customer_id": "S-91", "name": "Tim Berners", "lifetime_value": 990.0, "segment": "B2C"},
    },
    "crm": {
        ADA: {"contact_id": "C-9", "name": "Ada Lovelace", "tier": "gold", "owner": "Linus"},
        LONDON: {"contact_id": "C-31", "name": "Tim Berners-Lee", "tier": "silver", "owner": "Ken"},
    },
}


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its threads so far (Linux /proc), NaN where unreadable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return math.nan
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_ticks() -> tuple[int, int]:
    """(stolen, all) CPU ticks of the whole machine so far (Linux /proc/stat); (0, 0) where unreadable.

    Steal is time the hypervisor gave the virtual CPUs to someone else: when
    it is high, every figure of the run is slower, and CPU per call drifts
    by a fifth from one run to the next on the same code.
    """
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return 0, 0
    ticks = [int(f) for f in fields[:8]]
    return (ticks[7] if len(ticks) > 7 else 0), sum(ticks)


def free_port() -> int:
    """A loopback port nobody listens on right now (the child binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def sign(body: bytes, secret: str) -> str:
    """The generic ``Screenpop-Signature`` of SPEC section 4."""
    stamp = int(time.time())
    mac = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={stamp},v1={mac}"


def percentiles(values_s: Sequence[float]) -> dict[str, float]:
    """p50/p90/p99 in milliseconds (inclusive method); NaN when nothing was measured."""
    if len(values_s) < 2:
        only = values_s[0] * 1000 if values_s else math.nan
        return {"p50": only, "p90": only, "p99": only}
    cuts = statistics.quantiles([v * 1000 for v in values_s], n=100, method="inclusive")
    return {"p50": cuts[49], "p90": cuts[89], "p99": cuts[98]}


class Children:
    """The bench's child processes; whatever happens, each is stopped on exit (SIGTERM, then kill)."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, argv: Sequence[str], cwd: Path | None = None) -> subprocess.Popen[bytes]:
        with (self.log_dir / f"{name}.log").open("wb") as log:
            # Own session: a Ctrl-C in the terminal reaches only the bench, which then stops them in order.
            proc = subprocess.Popen(
                list(argv), stdout=log, stderr=subprocess.STDOUT, cwd=cwd, start_new_session=True
            )
        self.procs[name] = proc
        return proc

    def log_tail(self, name: str, lines: int = 25) -> str:
        path = self.log_dir / f"{name}.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop_all(self) -> None:
        for proc in reversed(list(self.procs.values())):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)

    def __enter__(self) -> Children:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop_all()


class BenchError(Exception):
    """Something the bench needs did not work (a child did not start, calls were lost)."""


async def wait_healthy(children: Children, name: str, url: str, timeout_s: float = HEALTH_TIMEOUT_S) -> None:
    """Poll ``url`` until it answers 200; fail with the child's log when it exits or takes too long."""
    proc = children.procs[name]
    deadline = time.monotonic() + timeout_s
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=1)) as session:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise BenchError(f"{name} exited with {proc.returncode}:\n{children.log_tail(name)}")
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with session.get(url) as reply:
                    if reply.status == 200:
                        return
            await asyncio.sleep(0.05)
    raise BenchError(f"{name} did not answer {url} within {timeout_s:.0f} s:\n{children.log_tail(name)}")


@dataclass
class Call:
    """One measured call: what is posted, and when each milestone was seen (perf_counter seconds)."""

    call_id: str
    body: bytes
    secret: str
    t0: float = math.nan
    ack: float = math.nan
    status: int = 0
    first: float = math.nan
    complete: float = math.nan
    frames: int = 0
    done: asyncio.Event = field(default_factory=asyncio.Event)


FrameParser = Callable[[str], tuple[str, bool] | None]
"""Frame text -> (call_id, complete) for a frame that belongs to a call, else None."""


class Tracker:
    """Matches frames on the measuring agent's socket to the calls in flight."""

    def __init__(self, parse: FrameParser) -> None:
        self.parse = parse
        self.calls: dict[str, Call] = {}
        self.strays = 0

    def expect(self, call: Call) -> None:
        self.calls[call.call_id] = call

    def on_frame(self, text: str, at: float) -> None:
        parsed = self.parse(text)
        if parsed is None:
            return
        call = self.calls.get(parsed[0])
        if call is None:
            self.strays += 1
            return
        call.frames += 1
        if math.isnan(call.first):
            call.first = at
        if parsed[1] and math.isnan(call.complete):
            call.complete = at
            call.done.set()

    async def read(self, messages: AsyncIterable[Any]) -> None:
        """Feed every text frame to ``on_frame``, stamped the moment it was received."""
        async for message in messages:
            at = time.perf_counter()
            if isinstance(message, str):
                self.on_frame(message, at)


@dataclass(frozen=True)
class Plan:
    """How the load is offered: ``rate`` calls/s (0 = as fast as ``concurrency`` allows)."""

    rate: float
    concurrency: int = 32
    timeout_s: float = CALL_TIMEOUT_S


async def run_load(
    session: aiohttp.ClientSession,
    urls: Sequence[str],
    calls: Sequence[Call],
    tracker: Tracker,
    plan: Plan,
    schedule: Schedule | None = None,
) -> None:
    """Post every call (round-robin over ``urls``) and wait for its last frame, or ``timeout_s``.

    ``schedule`` (call i's ``perf_counter`` time) lets several targets share one
    fixed-rate schedule; by default call i goes at now + i / rate.
    """
    for call in calls:
        tracker.expect(call)
    if plan.rate > 0:
        if schedule is None:
            start, rate = time.perf_counter() + 0.02, plan.rate
            schedule = lambda i: start + i / rate  # noqa: E731 - the schedule's one line
        await _open_loop(session, urls, calls, schedule, plan.timeout_s)
    else:
        await _closed_loop(session, urls, calls, plan)


async def _open_loop(
    session: aiohttp.ClientSession,
    urls: Sequence[str],
    calls: Sequence[Call],
    schedule: Schedule,
    timeout_s: float,
) -> None:
    """A fixed schedule: call i is sent at ``schedule(i)`` whatever the answers, so a slow
    answer cannot hide later ones (no coordinated omission)."""
    posts = []
    for i, call in enumerate(calls):
        delay = schedule(i) - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        posts.append(asyncio.create_task(_post(session, urls[i % len(urls)], call)))
    await asyncio.gather(*posts)
    await _await_frames(calls, timeout_s)


async def _closed_loop(
    session: aiohttp.ClientSession, urls: Sequence[str], calls: Sequence[Call], plan: Plan
) -> None:
    """Max throughput: ``concurrency`` workers, each sending its next call when its last card completes."""
    queue = list(enumerate(calls))
    queue.reverse()

    async def worker() -> None:
        while queue:
            i, call = queue.pop()
            await _post(session, urls[i % len(urls)], call)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(call.done.wait(), plan.timeout_s)

    await asyncio.gather(*(worker() for _ in range(max(1, plan.concurrency))))


async def _post(session: aiohttp.ClientSession, url: str, call: Call) -> None:
    headers = {"Content-Type": "application/json", "Screenpop-Signature": sign(call.body, call.secret)}
    call.t0 = time.perf_counter()
    try:
        async with session.post(url, data=call.body, headers=headers) as reply:
            await reply.read()
            call.ack = time.perf_counter()
            call.status = reply.status
    except aiohttp.ClientError:
        call.status = -1
    if call.status >= 300 or call.status < 0:
        call.done.set()  # no frame will come for a refused call


async def _await_frames(calls: Sequence[Call], timeout_s: float) -> None:
    pending = [c.done.wait() for c in calls if not c.done.is_set()]
    if pending:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*pending), timeout_s)


@dataclass(frozen=True)
class Figures:
    """The outcome of one measured run, in milliseconds and calls per second."""

    ack: dict[str, float]
    first: dict[str, float]
    complete: dict[str, float]
    calls: int
    refused: int
    lost: int
    calls_per_s: float
    frames_per_call: float
    cpu_ms_per_call: float = math.nan
    steal_share: float = math.nan

    def as_json(self) -> dict[str, Any]:
        return {
            "ack_ms": self.ack,
            "first_frame_ms": self.first,
            "complete_ms": self.complete,
            "calls": self.calls,
            "refused": self.refused,
            "lost": self.lost,
            "calls_per_s": self.calls_per_s,
            "frames_per_call": self.frames_per_call,
            "server_cpu_ms_per_call": self.cpu_ms_per_call,
            "machine_steal_share": self.steal_share,
        }


class Target:
    """One system under measurement: where its webhooks go, the socket watching its frames, its CPU.

    Calls can be run in several blocks (interleaved with another target's, so
    that noise from the rest of the machine falls on both alike); ``figures``
    summarises every measured call and the server CPU spent while they ran.
    """

    def __init__(
        self, session: aiohttp.ClientSession, urls: Sequence[str], tracker: Tracker, pids: Sequence[int]
    ) -> None:
        self._session = session
        self._urls = urls
        self._tracker = tracker
        self._pids = pids
        self.measured: list[Call] = []
        self.cpu_s = 0.0
        self.busy_s = 0.0
        self.stolen_ticks = 0
        self.machine_ticks = 0

    async def warm(self, calls: Sequence[Call], plan: Plan) -> None:
        await run_load(self._session, self._urls, calls, self._tracker, plan)

    async def run(self, calls: Sequence[Call], plan: Plan, schedule: Schedule | None = None) -> None:
        before = sum(cpu_seconds(pid) for pid in self._pids)
        stolen, ticks = machine_ticks()
        await run_load(self._session, self._urls, calls, self._tracker, plan, schedule)
        await asyncio.sleep(SETTLE_S)  # allow-sleep: the server's own trailing work, counted as its CPU
        self.cpu_s += sum(cpu_seconds(pid) for pid in self._pids) - before
        stolen_after, ticks_after = machine_ticks()
        self.stolen_ticks += stolen_after - stolen
        self.machine_ticks += ticks_after - ticks
        self.busy_s += _span(calls)
        self.measured.extend(calls)

    def figures(self) -> Figures:
        """Every measured call; calls/s counts only the time this target's own blocks ran."""
        figures = summarise(self.measured)
        finished = figures.calls - figures.refused - figures.lost
        return dataclasses.replace(
            figures,
            cpu_ms_per_call=self.cpu_s * 1000 / max(1, len(self.measured)),
            calls_per_s=finished / self.busy_s if self.busy_s > 0 else math.nan,
            steal_share=self.stolen_ticks / self.machine_ticks if self.machine_ticks > 0 else math.nan,
        )


def _span(calls: Sequence[Call]) -> float:
    """From the first POST to the last complete card of one block."""
    ends = [c.complete for c in calls if not math.isnan(c.complete)]
    return max(ends) - min(c.t0 for c in calls) if ends else 0.0


def summarise(calls: Sequence[Call]) -> Figures:
    accepted = [c for c in calls if 200 <= c.status < 300]
    finished = [c for c in accepted if not math.isnan(c.complete)]
    span = _span(calls)
    return Figures(
        ack=percentiles([c.ack - c.t0 for c in accepted]),
        first=percentiles([c.first - c.t0 for c in accepted if not math.isnan(c.first)]),
        complete=percentiles([c.complete - c.t0 for c in finished]),
        calls=len(calls),
        refused=len(calls) - len(accepted),
        lost=len(accepted) - len(finished),
        calls_per_s=len(finished) / span if span > 0 else math.nan,
        frames_per_call=sum(c.frames for c in finished) / len(finished) if finished else math.nan,
    )


# --- the service run: options, configuration, agents --------------------------------------------


REPO = Path(__file__).resolve().parent.parent
MEASURING_AGENT = "bench-agent"
IDLE_QUEUE = "idle"
ACK_TARGET = 1.5
FIRST_FRAME_TARGET = 1.5  # issue 15 (it was 2.0 before)
#: Server CPU per call in a burst with three HTTP connectors, all threads (issue 15).
BURST_CPU_TARGET_MS = 1.1
CONNECT_CONCURRENCY = 20
Schedule = Callable[[int], float]
"""When a fixed-rate run sends its call i (a ``perf_counter`` time)."""
TURN_GAP_MS = 10.0
"""Call by call, the time between the calls of a round (see ``_call_by_call``)."""


def parse_args(
    description: str | None, argv: Sequence[str] | None = None, default_blocks: int = 1
) -> argparse.Namespace:
    """The options every service run takes (latency.py and two_instance.py alike)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--calls", type=int, default=400, help="measured calls (default 400)")
    parser.add_argument("--warmup", type=int, default=30, help="unmeasured calls first (default 30)")
    parser.add_argument("--rate", type=float, default=50.0, help="calls/s; 0 = as fast as possible")
    parser.add_argument("--concurrency", type=int, default=32, help="calls in flight with --rate 0")
    parser.add_argument(
        "--blocks",
        type=int,
        default=None,
        help="split the measured calls into N blocks, taking turns; 0: take turns call by call, "
        f"each target at --rate (fixed rates only) (default {default_blocks})",
    )
    parser.add_argument(
        "--turn-gap-ms",
        type=float,
        default=TURN_GAP_MS,
        help="call by call: the time between calls of a round (the floor's before or after the service's), "
        f"the rest of the period left quiet (default {TURN_GAP_MS:g})",
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
    parser.add_argument(
        "--event-loop",
        choices=["auto", "uvloop", "asyncio"],
        default="auto",
        help="the service's server.event_loop (default auto: uvloop where installed); floor: asyncio",
    )
    add_cpus_option(parser)
    parser.add_argument("--log-dir", metavar="DIR", help="keep config, store and child logs here")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    if args.blocks is None:
        args.blocks = default_blocks
    return args


def add_cpus_option(parser: argparse.ArgumentParser) -> None:
    """``--cpus``: where the load client runs, against the servers it measures (``placed_apart``)."""
    parser.add_argument(
        "--cpus",
        choices=["split", "shared"],
        default="split",
        help="split (default): the load client on the last CPU, the floor and the service on the others; "
        "shared: every process anywhere",
    )


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
        "server": {
            "host": "127.0.0.1",
            "port": ports.service,
            "public_url": base,
            "allowed_origins": [base],
            "event_loop": getattr(args, "event_loop", "auto"),
        },
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
    """Warm every target up, then run the measured calls taking turns between targets.

    ``--blocks N`` takes turns by blocks; ``--blocks 0`` (at a fixed rate) call by call.
    """
    plan = Plan(rate=args.rate, concurrency=args.concurrency)
    for t in targets:
        await t.warm(make_calls("warm", args.warmup, secret, args.unique_numbers), plan)
    with collector_paused(plan.rate > 0):
        if call_by_call(args.blocks, plan.rate):
            await _call_by_call(targets, args, secret, plan)
        else:
            await _in_blocks(targets, args, secret, plan)


def turn_gap_s(gap_ms: float, rate: float, targets: int) -> float:
    """The time between calls in a round: ``--turn-gap-ms``, at most 1 / (targets + 1) of the period."""
    return min(gap_ms / 1000, 1 / (rate * (targets + 1)))


def call_by_call(blocks: int, rate: float) -> bool:
    """Whether targets take turns call by call: ``--blocks 0`` at a fixed rate (a burst has no schedule)."""
    return blocks == 0 and rate > 0


@contextlib.contextmanager
def collector_paused(pause: bool) -> Iterator[None]:
    """No collection of the load client's own garbage while ``pause``d calls are measured.

    The client's collector paused it mid-call: in a run of 400 calls at 20
    calls/s, 21 middle-generation collections of up to 1.4 ms and two full
    ones of 12 and 27 ms, each charged to whichever target's call was in
    flight.  What exists is frozen (never scanned again), the collector is
    off until the calls are done, and a fixed-rate run of a few hundred
    calls leaves little to collect afterwards.  A burst (thousands of calls
    as fast as they go) keeps its collector.
    """
    if not pause:
        yield
        return
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.unfreeze()


async def _in_blocks(targets: Sequence[Target], args: argparse.Namespace, secret: str, plan: Plan) -> None:
    blocks = max(1, min(args.blocks, args.calls))
    for b in range(blocks):
        size = args.calls // blocks + (1 if b < args.calls % blocks else 0)
        # ABBA: each target goes first as often as last, so neither always follows the other's backlog
        for t in targets if b % 2 == 0 else list(reversed(targets)):
            await t.run(make_calls(f"b{b}", size, secret, args.unique_numbers), plan)


async def _call_by_call(targets: Sequence[Target], args: argparse.Namespace, secret: str, plan: Plan) -> None:
    """One schedule: target k >= 1 sends call i at start + (i / rate) + k * gap, target 0 before or after.

    Each target still gets ``rate`` calls/s.  This machine has phases lasting
    seconds in which every webhook takes two to two and a half times as long,
    floor and service alike (docs/performance.md); blocks, however short,
    meet them one target at a time, so a ratio between two targets measured
    in turns of blocks says more about the phases than about the targets.
    Taking turns call by call puts both under the same phase, call after call.

    The calls of a round come ``--turn-gap-ms`` (10 ms) apart and the rest
    of the period is quiet, so that the reference (the first target, the
    floor) never meets the work a service's call leaves behind: its card
    completing 20-25 ms later (the connectors answer after 20 ms) and its
    records, written right after its 202 and as its card completes.  Spread
    evenly, every floor call arrived as the service's card of 25 ms before
    completed: the floor's 202 p99 rose from about 1.0 to 1.5-2.4 ms, a tail
    that was the service's, not the floor's.

    A service's calls keep their slot, one period apart; the reference's
    alternate between the slot before them and the slot after, so that each
    side comes 10 ms after the other's call in half the rounds (that call
    leaves the client and the kernel's loopback path warm).  The service's
    slot stays put: while the records writer waited 50 ms before each
    transaction, alternating it moved those transactions onto the
    reference's calls (docs/performance.md, "Quiet rounds").
    """
    start = time.perf_counter() + 0.05
    period = 1 / plan.rate
    gap = turn_gap_s(args.turn_gap_ms, plan.rate, len(targets))

    def turn(k: int) -> Schedule:
        if k == 0:
            return lambda i: start + i * period + (0 if i % 2 == 0 else len(targets)) * gap
        return lambda i: start + i * period + k * gap

    await asyncio.gather(
        *(
            t.run(make_calls(f"t{k}", args.calls, secret, args.unique_numbers), plan, turn(k))
            for k, t in enumerate(targets)
        )
    )


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
    measured = placed_apart(args.cpus)
    if args.connectors == "http":
        delay = ["--delay-ms", str(args.delay_ms)]
        children.start("backend", [*floor_py, "backend", "--port", str(ports.backend), *delay])
        started["backend"] = ports.backend
    children.start("floor", [*measured, *floor_py, "floor", "--port", str(ports.floor)])
    children.start("service", [*measured, *service_argv(config, args.profile, args.service_runner)], cwd=REPO)
    return started


def placed_apart(cpus: str) -> list[str]:
    """With ``cpus == "split"``, pin the bench to the last CPU; the argv prefix for the servers it measures.

    On a 2-core machine the scheduler often woke the client, when a card
    frame reached it, on the CPU of the server that had just written it, and
    the client then waited there until the server's next step ended: for the
    service, the start of the call's three lookups, history read and records
    (about 0.5 ms), which the floor does not have.  Alternating runs of 400
    calls at 20 calls/s showed 1 to 22 acknowledgements read over 0.5 ms
    late this way, against 0 to 2 with the client on a CPU of its own
    (docs/performance.md).  A load generator on cores of its own is how load
    is measured anywhere, and the floor is placed like the service.  Call it
    before starting anything else: the children started without the prefix
    (the HTTP backend and Redis, which stand in for other machines) inherit
    the bench's CPU.  On one CPU there is nothing to split: no prefix, and
    the bench stays put.
    """
    available = sorted(os.sched_getaffinity(0))
    if cpus != "split" or len(available) < 2 or shutil.which("taskset") is None:
        return []
    os.sched_setaffinity(0, {available[-1]})
    return ["taskset", "--cpu-list", ",".join(str(cpu) for cpu in available[:-1])]


# --- running a script --------------------------------------------------------------------------


def run_script(
    args: argparse.Namespace,
    runner: Callable[[argparse.Namespace, Children, Path], Awaitable[dict[str, Any]]],
    printer: Callable[[dict[str, Any]], None],
    broken: Callable[[dict[str, Any]], bool],
    why_broken: Callable[[dict[str, Any]], str] = lambda _: (
        "some calls were refused or lost; the figures above are incomplete"
    ),
) -> int:
    """Run one bench script's ``runner`` with its child processes, print its figures; the exit status.

    A script with an ``--out FILE`` option also gets its figures written there as JSON.
    """
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
    if getattr(args, "out", None):
        Path(args.out).write_text(json.dumps(result, indent=2))
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        printer(result)
    if broken(result):
        print(f"bench: {why_broken(result)}", file=sys.stderr)
        return 1
    return 0
