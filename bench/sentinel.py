"""The pause a Redis Sentinel failover makes: from the primary's SIGKILL to cards flowing again.

A real primary, a replica and three sentinels on loopback (the tests'
``tests/support/sentinel.py``: ``down-after-milliseconds`` 500), two real
`screenpop serve` processes on ``redis+sentinel://`` (each with its own
SQLite store), agent-1 on A and agent-2 on B.  Calls go at ``--rate`` a
second to both instances for both agents, so half of them cross instances
(they need Redis); the primary is SIGKILLed ``--kill-after`` seconds in.

Printed per run, and as the median and worst over ``--runs``:

- **promotion**: kill → the sentinels name the replica as primary;
- **pause, same instance**: kill → the next card delivered whose webhook went
  to the agent's own instance (the local fallback keeps these going);
- **pause, across instances**: kill → the next card delivered whose webhook
  went to the other instance (the failover's real pause; target ≤ 5 s);
- **ready again**: kill → ``/readyz`` 200 on both instances;
- lost and doubled pops: calls without exactly one version-1 card and one
  complete card on their agent (must be 0).

    .venv/bin/python bench/sentinel.py [--runs 3] [--rate 10] [--seconds 8] [--kill-after 2]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the tests' Sentinel deployment and service processes

from tests.support.processes import Service, agent_on, ring, service_config, services  # noqa: E402
from tests.support.sentinel import SentinelSet, sentinel_set  # noqa: E402
from tests.support.service import Agent  # noqa: E402

AGENTS = ("agent-1", "agent-2")
SETTLE_S = 30.0


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rate", type=float, default=10.0, help="calls a second")
    parser.add_argument("--seconds", type=float, default=8.0, help="how long calls flow")
    parser.add_argument("--kill-after", type=float, default=2.0, help="seconds of flow before the kill")
    return parser.parse_args()


async def _read(agent: Agent, got: list[tuple[float, dict[str, Any]]]) -> None:
    """Timestamp every card frame the agent receives, until cancelled."""
    while True:
        frame = json.loads(await agent.ws.recv())
        if frame.get("type") == "card":
            got.append((time.perf_counter(), frame))


async def _ready(instances: list[Service]) -> bool:
    for service in instances:
        with contextlib.suppress(aiohttp.ClientError, TimeoutError):
            status, report = await service.get("/readyz")
            if status == 200 and isinstance(report, dict) and report.get("broker") == "ok":
                continue
        return False
    return True


async def _watch(
    servers: SentinelSet, instances: list[Service], killed: asyncio.Event, marks: dict[str, float]
) -> None:
    """After the kill, note when the replica is promoted and when both instances are ready again."""
    await killed.wait()
    deadline = time.perf_counter() + SETTLE_S
    while time.perf_counter() < deadline and not {"promoted", "ready"} <= marks.keys():
        if "promoted" not in marks and await servers.primary_port() == servers.replica.port:
            marks["promoted"] = time.perf_counter()
        if "promoted" in marks and "ready" not in marks and await _ready(instances):
            marks["ready"] = time.perf_counter()
        await asyncio.sleep(0.02)  # a poll interval of the bench's watcher


async def _flow(
    args: argparse.Namespace,
    instances: list[Service],
    servers: SentinelSet,
    killed: asyncio.Event,
    marks: dict[str, float],
) -> dict[str, tuple[int, str]]:
    """Post the calls at ``--rate``; kill the primary on time; answer each call's (instance, agent)."""
    plan: dict[str, tuple[int, str]] = {}
    start = time.perf_counter()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        for n in range(round(args.seconds * args.rate)):
            due = start + n / args.rate
            await asyncio.sleep(max(0.0, due - time.perf_counter()))  # the call pace
            if not killed.is_set() and time.perf_counter() - start >= args.kill_after:
                marks["killed"] = time.perf_counter()
                servers.primary.kill()
                killed.set()
            which, agent_id = n % 2, AGENTS[(n // 2) % 2]
            plan[f"c-{n}"] = (which, agent_id)
            status, reply = await ring(instances[which], f"c-{n}", session, agent=agent_id)
            if status != 202:
                raise RuntimeError(f"call c-{n} answered {status}: {reply}")
    return plan


async def one_run(args: argparse.Namespace, workdir: Path) -> dict[str, float]:
    async with sentinel_set() as servers:
        configs = {
            n: service_config(f"sqlite+aiosqlite:///{workdir}/{n}.db", servers.url) for n in ("a", "b")
        }
        async with services(workdir, **configs) as started:
            instances = [started["a"], started["b"]]
            await _poll(lambda: _ready(instances))
            got: dict[str, list[tuple[float, dict[str, Any]]]] = {a: [] for a in AGENTS}
            async with agent_on(instances[0], AGENTS[0]) as one, agent_on(instances[1], AGENTS[1]) as two:
                readers = [
                    asyncio.create_task(_read(a, got[n])) for a, n in ((one, AGENTS[0]), (two, AGENTS[1]))
                ]
                killed, marks = asyncio.Event(), dict[str, float]()
                watcher = asyncio.create_task(_watch(servers, instances, killed, marks))
                plan = await _flow(args, instances, servers, killed, marks)
                await asyncio.wait_for(watcher, SETTLE_S + 5)
                await _settle(got, plan)
                for task in readers:
                    task.cancel()
                await asyncio.gather(*readers, return_exceptions=True)
    return _figures(got, plan, marks)


async def _settle(
    got: dict[str, list[tuple[float, dict[str, Any]]]], plan: dict[str, tuple[int, str]]
) -> None:
    """Wait (bounded) until every call has a complete card on its agent; one that never does is lost."""

    async def all_complete() -> bool:
        done = {f["call_id"] for frames in got.values() for _, f in frames if f["complete"]}
        return done >= plan.keys()

    with contextlib.suppress(TimeoutError):
        await _poll(all_complete)


async def _poll(check: Callable[[], Awaitable[bool]]) -> None:
    """Poll ``check`` every 50 ms for up to ``SETTLE_S``; a TimeoutError if it never holds."""
    async with asyncio.timeout(SETTLE_S):
        while not await check():  # noqa: ASYNC110  # polling another process's state: no event to wait on
            await asyncio.sleep(0.05)  # the poll interval


def _figures(
    got: dict[str, list[tuple[float, dict[str, Any]]]],
    plan: dict[str, tuple[int, str]],
    marks: dict[str, float],
) -> dict[str, float]:
    killed = marks["killed"]
    first_after: dict[bool, float] = {}
    bad = 0
    for call_id, (which, agent_id) in plan.items():
        frames = [(t, f) for t, f in got[agent_id] if f["call_id"] == call_id]
        versions = Counter(f["version"] for _, f in frames)
        if sum(1 for _, f in frames if f["complete"]) != 1 or versions[1] != 1 or max(versions.values()) > 1:
            bad += 1
        same = AGENTS.index(agent_id) == which
        after = [t - killed for t, _ in frames if t > killed]
        if after:
            first_after[same] = min(first_after.get(same, after[0]), *after)
    return {
        "promotion_s": marks.get("promoted", float("nan")) - killed,
        "pause_same_s": first_after.get(True, float("nan")),
        "pause_across_s": first_after.get(False, float("nan")),
        "ready_s": marks.get("ready", float("nan")) - killed,
        "lost_or_doubled": float(bad),
        "calls": float(len(plan)),
    }


def _show(label: str, figures: dict[str, float]) -> None:
    print(
        f"{label:>8}: promotion {figures['promotion_s']:.2f} s, "
        f"pause same instance {figures['pause_same_s']:.3f} s, "
        f"across instances {figures['pause_across_s']:.2f} s, /readyz 200 again {figures['ready_s']:.2f} s, "
        f"lost or doubled {figures['lost_or_doubled']:.0f} of {figures['calls']:.0f}"
    )


async def main() -> None:
    args = _parse()
    runs = []
    for n in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="screenpop-bench-sentinel-") as workdir:
            runs.append(await one_run(args, Path(workdir)))
        _show(f"run {n + 1}", runs[-1])
    keys = runs[0].keys()
    _show("median", {k: statistics.median(r[k] for r in runs) for k in keys})
    worst = {k: max(r[k] for r in runs) for k in keys}
    _show("worst", worst)
    verdict = "met" if worst["pause_across_s"] <= 5.0 and worst["lost_or_doubled"] == 0 else "MISSED"
    print(f"target (cards across instances again within 5 s, none lost or doubled): {verdict}")


if __name__ == "__main__":
    asyncio.run(main())
