"""What the benchmark's run modes share: child processes, signing, the load loop, percentiles.

The load loop (``run_load``) knows nothing about screenpop: it posts prepared
webhooks to one or more URLs and learns from a ``Tracker`` when frames for
each call arrived on an agent socket.  The service run, the bare-aiohttp floor
and a later two-instance run all measure through the same loop, so their
figures differ only by what is on the other end of the loopback.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import hmac
import math
import os
import signal
import socket
import statistics
import subprocess
import time
from collections.abc import AsyncIterable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import aiohttp

HEALTH_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 12.0
CALL_TIMEOUT_S = 5.0

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
    session: aiohttp.ClientSession, urls: Sequence[str], calls: Sequence[Call], tracker: Tracker, plan: Plan
) -> None:
    """Post every call (round-robin over ``urls``) and wait for its last frame, or ``timeout_s``."""
    for call in calls:
        tracker.expect(call)
    if plan.rate > 0:
        await _open_loop(session, urls, calls, plan)
    else:
        await _closed_loop(session, urls, calls, plan)


async def _open_loop(
    session: aiohttp.ClientSession, urls: Sequence[str], calls: Sequence[Call], plan: Plan
) -> None:
    """A fixed schedule: call i is sent at start + i/rate whatever the answers, so a slow
    answer cannot hide later ones (no coordinated omission)."""
    start = time.perf_counter() + 0.02
    posts = []
    for i, call in enumerate(calls):
        delay = start + i / plan.rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        posts.append(asyncio.create_task(_post(session, urls[i % len(urls)], call)))
    await asyncio.gather(*posts)
    await _await_frames(calls, plan.timeout_s)


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

    async def warm(self, calls: Sequence[Call], plan: Plan) -> None:
        await run_load(self._session, self._urls, calls, self._tracker, plan)

    async def run(self, calls: Sequence[Call], plan: Plan) -> None:
        before = sum(cpu_seconds(pid) for pid in self._pids)
        await run_load(self._session, self._urls, calls, self._tracker, plan)
        self.cpu_s += sum(cpu_seconds(pid) for pid in self._pids) - before
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
