"""At most one pop per agent per call, whatever arrives: a property test through the real service.

Hypothesis (derandomized, so every run draws the same sequences) draws
sequences of a call's events — rings, answers, transfers there and back and
to a queue, the end — with repeats and in any order, and sends each one as a
signed webhook to the real service over loopback, where agent-1 has two
sockets, agent-2 and agent-3 one each.  For every call it checks:

- no socket ever receives two ``version: 1`` cards of that call (a pop is a
  version 1, docs/transfers.md; a transfer delivers a later version);
- every agent that received the card ends with the call's final status: the
  holders when the call ended get that end (the first ``ended``/``missed``),
  and those the call was transferred away from end with ``transferred``;
- the two sockets of agent-1 receive the same call messages.

Who holds the call at the end is computed by ``model`` from the rules of
docs/transfers.md, applied to the events in the order they were sent (each
distinct event once: the rest are duplicates), except that a transfer
stamped before one already applied moves nobody (transfers are applied by
their ``at``, however they arrive).  One service serves every
example; each example has a fresh call id, and ends with a sentinel call
ringing every agent: a socket that has the sentinel's card has everything
published before it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import threading
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from screenpop.config import Settings
from tests.support.agents import read_until
from tests.support.servers import RedisServer
from tests.support.service import SECRET, Agent, agent_socket, make, running
from tests.support.signers import sign

T = TypeVar("T")
T0, T1, T2, T3 = (
    "2026-11-22T10:00:00Z",
    "2026-11-22T10:01:00Z",
    "2026-11-22T10:02:00Z",
    "2026-11-22T10:03:00Z",
)
SUPPORT = ("agent-1", "agent-2")
SALES = ("agent-3",)
EVENTS: dict[str, dict[str, str]] = {
    "ring-1": {"event": "ringing", "agent": "agent-1", "at": T0},
    "ring-support": {"event": "ringing", "queue": "support", "at": T0},
    "answer-1": {"event": "answered", "agent": "agent-1"},
    "answer-2": {"event": "answered", "agent": "agent-2"},
    "to-2": {"event": "transferred", "agent": "agent-2", "from_agent": "agent-1", "at": T1},
    "back-to-1": {"event": "transferred", "agent": "agent-1", "from_agent": "agent-2", "at": T2},
    "to-sales": {"event": "transferred", "queue": "sales", "at": T3},
    "ended": {"event": "ended"},
    "missed": {"event": "missed"},
}
TERMINAL = ("ended", "missed")
SOCKETS = (("agent-1", 0), ("agent-1", 1), ("agent-2", 0), ("agent-3", 0))
DIRECTORY = [  # the base config's agents, each also in queue `all` (the sentinel's)
    {"id": "agent-1", "role": "tier1", "queues": ["support", "all"]},
    {"id": "agent-2", "role": "tier1", "queues": ["support", "all"]},
    {"id": "agent-3", "role": "supervisor", "queues": ["sales", "all"]},
]


def targets(event: dict[str, str]) -> set[str]:
    if "agent" in event:
        return {event["agent"]}
    return set(SUPPORT if event["queue"] == "support" else SALES)


@dataclass
class Expected:
    holders: set[str] = field(default_factory=set)
    final: str | None = None  # the first ended/missed
    holders_at_end: set[str] = field(default_factory=set)


def model(sequence: list[str]) -> Expected:
    """Who holds the call after these events, by the rules of docs/transfers.md (each event once)."""
    out, state, moved, latest = Expected(), None, False, ""
    for name in dict.fromkeys(sequence):
        event = EVENTS[name]
        kind = event["event"]
        if out.final is not None:
            continue  # the call is over: nothing changes it
        if kind == "ringing" and state is None:  # rings are stamped T0, before every transfer
            out.holders |= targets(event)
        elif kind == "answered" and not (moved and event["agent"] not in out.holders):
            state = "answered"
        elif kind == "transferred" and event["at"] >= latest:  # an older one, late, moves nobody
            out.holders, state, moved, latest = targets(event), "transferred", True, event["at"]
        elif kind in TERMINAL:
            out.final, out.holders_at_end = kind, set(out.holders)
    if out.final is None:
        out.holders_at_end = set(out.holders)
    return out


class Portal:
    """The service, its agents' sockets and an HTTP client on one loop in a background thread."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="pop-property", daemon=True)
        self.stack = contextlib.AsyncExitStack()
        self.sockets: dict[tuple[str, int], Agent] = {}
        self.base = ""
        self.session: aiohttp.ClientSession | None = None

    def run(self, work: Coroutine[Any, Any, T], within: float = 30.0) -> T:
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(within)

    async def open(self) -> None:
        self.base = await self.stack.enter_async_context(running(self.settings))
        for agent, n in SOCKETS:
            socket = agent_socket(self.base, self.settings, agent)
            self.sockets[agent, n] = await self.stack.enter_async_context(socket)
        self.session = await self.stack.enter_async_context(aiohttp.ClientSession())

    async def post(self, call_id: str, event: dict[str, str]) -> None:
        assert self.session is not None
        body = json.dumps({"call_id": call_id, "from": "+14155550132", **event}).encode()
        headers = {"Content-Type": "application/json", "Screenpop-Signature": sign(body)}
        async with self.session.post(f"{self.base}/webhooks/pbx", data=body, headers=headers) as reply:
            assert reply.status == 202, await reply.text()

    async def play(self, call_id: str, sequence: list[str]) -> dict[tuple[str, int], list[dict[str, Any]]]:
        """Send the sequence, then the sentinel; every socket's frames of the call, in order."""
        starts = {key: len(socket.raw) for key, socket in self.sockets.items()}
        for name in sequence:
            await self.post(call_id, EVENTS[name])
        sentinel = f"{call_id}-sentinel"
        await self.post(sentinel, {"event": "ringing", "queue": "all", "at": T0})
        done = lambda f: f["type"] == "card" and f["call_id"] == sentinel  # noqa: E731
        await asyncio.gather(*(read_until(s, done, within=10.0) for s in self.sockets.values()))
        frames = {key: [json.loads(t) for t in s.raw[starts[key] :]] for key, s in self.sockets.items()}
        return {key: [f for f in got if f.get("call_id") == call_id] for key, got in frames.items()}

    def __enter__(self) -> Portal:
        self.thread.start()
        self.run(self.open(), 60)
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(Exception):  # closing what is open; a failure here must not hide the test's
            self.run(self.stack.aclose(), 60)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture(scope="module")
def portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Portal]:
    store = Path(tmp_path_factory.mktemp("pop")) / "store.db"
    settings = make(f"sqlite+aiosqlite:///{store}", agents={"token_secret": SECRET, "directory": DIRECTORY})
    with Portal(settings) as started:
        yield started


CALLS = itertools.count()
SEQUENCES = st.lists(st.sampled_from(sorted(EVENTS)), min_size=1, max_size=9)
PROPERTY = settings(
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(scope="module")
def redis_portal(tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer) -> Iterator[Portal]:
    """The same service with a Redis broker: the recipients set, the claims and the card in Redis."""
    if not redis_server.running:
        redis_server.start()
    redis_server.flushall()
    store = Path(tmp_path_factory.mktemp("pop-redis")) / "store.db"
    settings = make(
        f"sqlite+aiosqlite:///{store}",
        agents={"token_secret": SECRET, "directory": DIRECTORY},
        broker={"url": redis_server.url},
    )
    with Portal(settings) as started:
        yield started


@pytest.mark.timeout(600)
@settings(PROPERTY, max_examples=200)
@given(sequence=SEQUENCES)
def test_at_most_one_pop_per_agent_and_everyone_ends_with_the_final_status(
    portal: Portal, sequence: list[str]
) -> None:
    """Repeated and reordered events never pop twice for one agent; every holder ends as the call did."""
    check(portal, sequence)


@pytest.mark.redis
@pytest.mark.timeout(600)
@settings(PROPERTY, max_examples=50)
@given(sequence=SEQUENCES)
def test_the_same_with_a_redis_broker(redis_portal: Portal, sequence: list[str]) -> None:
    """The property again with every claim, recipients set and card kept in a real Redis."""
    check(redis_portal, sequence, prefix="r")


def check(portal: Portal, sequence: list[str], prefix: str = "p") -> None:
    call_id = f"{prefix}-{next(CALLS)}"
    frames = portal.run(portal.play(call_id, sequence))
    expected = model(sequence)
    statuses = {key: [f["status"] for f in got if f["type"] == "call"] for key, got in frames.items()}
    assert statuses[("agent-1", 0)] == statuses[("agent-1", 1)], statuses
    with_card = set()
    for (agent, n), got in frames.items():
        versions = [f["version"] for f in got if f["type"] == "card"]
        assert versions.count(1) <= 1, (agent, n, versions, sequence)
        if not versions:
            continue
        with_card.add(agent)
        end = where_it_ended(got)
        if agent not in expected.holders_at_end:
            assert end == "transferred", (agent, end, statuses[agent, n], sequence)
        elif expected.final is not None:
            assert end == expected.final, (agent, end, statuses[agent, n], sequence)
        else:
            assert end in ("holding", "answered"), (agent, end, statuses[agent, n], sequence)
    assert expected.holders_at_end <= with_card, (expected, with_card, sequence)


def where_it_ended(frames: list[dict[str, Any]]) -> str | None:
    """What a screen shows at the end: the last call status, or ``holding`` when the card came back after.

    A card after ``transferred`` is the call transferred back; a card after
    any other status is a later version of a card the agent has.
    """
    shown: str | None = None
    for frame in frames:
        if frame["type"] == "call":
            shown = frame["status"]
        elif shown in (None, "transferred"):
            shown = "holding"
    return shown
