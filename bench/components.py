"""How fast screenpop's components do what the tests only check they do, each against a floor.

The test suite asserts behaviour (order of events, an injected clock), never
elapsed time (tests/test_no_sleeps.py holds it to that).  The speeds those
tests used to bound live here: each figure is printed next to a floor
measured in the same run on the same machine, and the verdict is a ratio to
that floor, so it means the same on a fast laptop and on a busy CI box.
Exit status 0 whatever the verdicts (it is a measurement), 1 when something
failed to run.  See bench/README.md, "Components".
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import math
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web
from common import BenchError, Children, free_port
from redis_server import start_redis, wait_redis
from service_figures import flood, frozen_agent

from screenpop.broker import Delivery
from screenpop.broker.redis import RedisBroker
from screenpop.config import Settings
from screenpop.connector_api import ConnectorContext
from screenpop.connectors.http import HttpConnector, HttpOptions
from screenpop.demo import write_demo_databases
from screenpop.lookup import LookupEngine, RedisCache
from screenpop.model import Section, SectionStatus
from screenpop.phone import normalize, parse_caller
from screenpop.store import Store
from screenpop.testing import ManualClock, ScriptedConnector, make_settings

KIND = "screenpop.testing:ScriptedConnector"
ADA = "+14155550132"
ROW = {ADA: {"id": "A-1", "name": "Ada Lovelace"}}
CTX = ConnectorContext(default_region="US", normalize=lambda raw: normalize(raw, "US"))
CALLER = parse_caller(ADA, "US")
SECTION = Section(SectionStatus.OK, title="Accounting", data={"account_id": "A-1001"}, rows=1)
Timed = Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class Figure:
    """One subject against its floor: p50/p90 of each in ms, and the p50 ratio against ``limit``."""

    name: str
    what: str
    subject: dict[str, float]
    floor: dict[str, float]
    floor_what: str
    limit: float

    @property
    def ratio(self) -> float:
        return self.subject["p50"] / self.floor["p50"] if self.floor["p50"] > 0 else math.nan

    def as_json(self) -> dict[str, Any]:
        verdict = "PASS" if self.ratio <= self.limit else "MISS"
        return {
            "what": self.what,
            "subject_ms": self.subject,
            "floor": self.floor_what,
            "floor_ms": self.floor,
            "ratio": self.ratio,
            "limit": self.limit,
            "verdict": verdict,
        }


def p50_p90(samples_s: Sequence[float]) -> dict[str, float]:
    ms = sorted(s * 1000 for s in samples_s)
    return {"p50": statistics.median(ms), "p90": ms[min(len(ms) - 1, int(len(ms) * 0.9))]}


async def sample(timed: Timed, reps: int, setup: Callable[[], Awaitable[Any]] | None = None) -> list[float]:
    """``reps`` timings of ``timed`` (``setup`` before each, not timed)."""
    out = []
    for _ in range(reps):
        if setup is not None:
            await setup()
        started = time.perf_counter()
        await timed()
        out.append(time.perf_counter() - started)
    return out


def scripted(name: str, **options: Any) -> dict[str, Any]:
    return {"name": name, "kind": KIND, "rows": ROW, **options}


def engine(settings: Settings, clock: ManualClock | None = None) -> LookupEngine:
    connectors = {c.name: ScriptedConnector(c.name, c.options, CTX) for c in settings.connectors}
    return LookupEngine(settings, connectors, clock=clock) if clock else LookupEngine(settings, connectors)


async def timed_lookup(settings: Settings, reps: int) -> list[float]:
    """Card lookups on a fresh engine each (so no cache or breaker carries over)."""
    out = []
    for _ in range(reps):
        fresh = engine(settings)
        started = time.perf_counter()
        await fresh.lookup(CALLER)
        out.append(time.perf_counter() - started)
        await fresh.close()
    return out


# -- the fan-out (tests/test_lookup.py, tests/test_fanout_real.py) ------------------------------------


async def fanout(reps: int, delay_ms: int) -> list[Figure]:
    three = make_settings([scripted(n, delay_ms=delay_ms) for n in ("a", "b", "c")])
    one = make_settings([scripted("a", delay_ms=delay_ms)])
    hang = make_settings([scripted("fast"), scripted("slow", delay_ms=60_000, timeout_ms=delay_ms)])
    deadline = make_settings(
        [scripted("fast"), scripted("slow", delay_ms=60_000, timeout_ms=60_000)],
        card={"deadline_ms": delay_ms},
    )
    floor = await timed_lookup(one, reps)
    return [
        Figure(
            "fanout_concurrency",
            f"a card from three {delay_ms} ms connectors",
            p50_p90(await timed_lookup(three, reps)),
            p50_p90(floor),
            f"a card from one {delay_ms} ms connector",
            1.25,
        ),
        Figure(
            "hanging_connector",
            f"a card with a connector that hangs past its timeout_ms={delay_ms}",
            p50_p90(await timed_lookup(hang, reps)),
            p50_p90(floor),
            f"a card from one {delay_ms} ms connector",
            1.5,
        ),
        Figure(
            "card_deadline",
            f"a card cut off by card.deadline_ms={delay_ms}",
            p50_p90(await timed_lookup(deadline, reps)),
            p50_p90(floor),
            f"a card from one {delay_ms} ms connector",
            1.5,
        ),
    ]


async def cached(reps: int, delay_ms: int) -> list[Figure]:
    """Stale-while-revalidate and the open circuit, against a fresh cache hit."""
    clock = ManualClock()
    settings = make_settings([scripted("a", delay_ms=delay_ms, cache_ttl_s=30, cache_stale_s=600)])
    warm = engine(settings, clock)
    await warm.lookup(CALLER)
    hit = await sample(lambda: _lookup(warm), reps)
    await warm.close()
    miss = await timed_lookup(settings, reps)  # a fresh engine: the card waits for the connector

    stale: list[float] = []
    for _ in range(reps):
        fresh = engine(settings, clock)
        await fresh.lookup(CALLER)
        clock.advance(31)
        started = time.perf_counter()
        await fresh.lookup(CALLER)
        stale.append(time.perf_counter() - started)
        await fresh.close()

    broken = make_settings(
        [scripted("a", delay_ms=60_000, timeout_ms=5, circuit={"failures": 1, "reset_s": 3600})]
    )
    opened = engine(broken)
    await opened.lookup(CALLER)  # one timeout opens the circuit
    open_circuit = await sample(lambda: _lookup(opened), reps)
    await opened.close()
    return [
        Figure(
            "stale_section",
            f"a card served stale while its {delay_ms} ms refresh runs behind it",
            p50_p90(stale),
            p50_p90(miss),
            f"a cache miss (the card waits for the {delay_ms} ms connector)",
            0.1,
        ),
        Figure(
            "open_circuit",
            "a card whose only connector's circuit is open",
            p50_p90(open_circuit),
            p50_p90(hit),
            "a card served from a fresh cache entry",
            2.0,
        ),
    ]


async def _lookup(engine: LookupEngine) -> None:
    await engine.lookup(CALLER)


# -- the store's audit queue (tests/test_store.py) ------------------------------------------------------


async def audit(workdir: Path, calls: int) -> list[Figure]:
    store = await Store.open(f"sqlite+aiosqlite:///{workdir / 'audit.db'}")
    row = {"agent_id": "agent-1", "call_id": "c-1", "version": 0, "sections": ["accounting", "credit"]}
    queue: deque[dict[str, Any]] = deque()
    subject, floor = [], []
    try:
        for version in range(calls):
            started = time.perf_counter()
            store.audit_card("agent-1", "c-1", version, ["accounting", "credit"])
            subject.append(time.perf_counter() - started)
            started = time.perf_counter()
            queue.append(dict(row, version=version))
            floor.append(time.perf_counter() - started)
    finally:
        await store.close()
    return [
        Figure(
            "audit_card",
            "one Store.audit_card call (it only queues the row)",
            p50_p90(subject),
            p50_p90(floor),
            "copying the row dict into a deque",
            20.0,
        )
    ]


# -- the demo databases (tests/test_demo_data.py) -------------------------------------------------------


async def demo(workdir: Path) -> list[Figure]:
    target = workdir / "demo"
    started = time.perf_counter()
    summary = await asyncio.to_thread(write_demo_databases, target)
    written = time.perf_counter() - started
    rows = 0
    for path in summary.databases.values():
        with contextlib.closing(sqlite3.connect(path)) as db:
            tables = [t for (t,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
            rows += sum(db.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables)  # noqa: S608
    floor = await asyncio.to_thread(_raw_inserts, workdir / "floor.db", rows)
    return [
        Figure(
            "demo_databases",
            f"writing the default demo databases ({rows} rows)",
            p50_p90([written]),
            p50_p90([floor]),
            f"inserting {rows} rows of five columns with sqlite3 in one transaction",
            10.0,
        )
    ]


def _raw_inserts(path: Path, rows: int) -> float:
    with contextlib.closing(sqlite3.connect(path)) as db:
        started = time.perf_counter()
        db.execute("CREATE TABLE t (a INTEGER, b TEXT, c TEXT, d REAL, e TEXT)")
        db.executemany(
            "INSERT INTO t VALUES (?, ?, ?, ?, ?)", ((n, "x" * 12, "+1415555", 1.5, "y") for n in range(rows))
        )
        db.commit()
        return time.perf_counter() - started


# -- the http connector's hedge (tests/test_connector_http.py) -------------------------------------------


async def hedge(reps: int, hedge_ms: int) -> list[Figure]:
    never = asyncio.Event()
    attempts = {"n": 0}

    async def first_hangs(request: web.Request) -> web.Response:
        attempts["n"] += 1
        if attempts["n"] % 2 == 1:
            await never.wait()
        return web.json_response({"name": "Ada"})

    async def answers(request: web.Request) -> web.Response:
        return web.json_response({"name": "Ada"})

    app = web.Application()
    app.router.add_get("/hedged", first_hangs)
    app.router.add_get("/plain", answers)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    base = f"http://127.0.0.1:{port}"
    hedged = HttpConnector(
        "crm", HttpOptions(url=f"{base}/hedged", select={"n": "$.name"}, hedge_ms=hedge_ms), CTX
    )
    plain = HttpConnector("crm", HttpOptions(url=f"{base}/plain", select={"n": "$.name"}), CTX)
    try:
        await hedged.start()
        await plain.start()
        params = {"e164": ADA}
        floor = await sample(lambda: _plain_after(plain, params, hedge_ms), reps)
        subject = await sample(lambda: _connector(hedged, params), reps)
    finally:
        never.set()  # let the hung first requests end, so the server stops with nothing pending
        await hedged.close()
        await plain.close()
        await runner.cleanup()
    return [
        Figure(
            "hedged_request",
            f"a lookup whose first request hangs, answered by the hedge after hedge_ms={hedge_ms}",
            p50_p90(subject),
            p50_p90(floor),
            f"a {hedge_ms} ms pause, then one plain request",
            1.5,
        )
    ]


async def _connector(connector: HttpConnector, params: dict[str, Any]) -> None:
    await connector.lookup(params)


async def _plain_after(connector: HttpConnector, params: dict[str, Any], pause_ms: int) -> None:
    await asyncio.sleep(pause_ms / 1000)
    await connector.lookup(params)


# -- Redis away (tests/integration/cache/test_redis_cache.py, tests/integration/broker/test_redis.py) --


async def redis_away(children: Children, workdir: Path, reps: int) -> list[Figure]:
    url = start_redis(children, workdir)
    await wait_redis(children, url)
    dead = f"redis://127.0.0.1:{free_port()}/0"  # nobody listens there: connection refused
    live_cache, live_broker = RedisCache(url), RedisBroker(url, 300)
    await live_broker.start()
    dead_broker = RedisBroker(dead, 300)
    await dead_broker.start()
    try:
        await live_cache.put("bench:k", SECTION, keep_s=600)
        live_get = await sample(lambda: _get(live_cache), reps)
        dead_get = []
        for _ in range(reps):  # a fresh cache each time: the first call after a fault is the costly one
            cache = RedisCache(dead)
            started = time.perf_counter()
            await cache.get("bench:k")
            dead_get.append(time.perf_counter() - started)
            await cache.close()
        live_publish = await sample(lambda: _publish(live_broker), reps)
        dead_publish = await sample(lambda: _publish(dead_broker), reps)
    finally:
        await live_cache.close()
        await live_broker.close()
        await dead_broker.close()
    return [
        Figure(
            "cache_get_redis_down",
            "RedisCache.get while Redis refuses connections (a miss)",
            p50_p90(dead_get),
            p50_p90(live_get),
            "RedisCache.get hitting a live Redis",
            50.0,
        ),
        Figure(
            "publish_redis_down",
            "RedisBroker.publish to a local agent while Redis is away",
            p50_p90(dead_publish),
            p50_p90(live_publish),
            "RedisBroker.publish with Redis up",
            1.0,
        ),
    ]


async def _get(cache: RedisCache) -> None:
    await cache.get("bench:k")


async def _publish(broker: RedisBroker) -> None:
    await broker.publish([Delivery("agent-1", json.dumps({"type": "card"}))])


# -- a real service process (tests/test_faults.py) ------------------------------------------------------


async def service(children: Children, workdir: Path, reps: int) -> list[Figure]:
    beside, solo = await frozen_agent(children, workdir, pairs=max(reps, 20))
    refused, healthz = await flood(children, workdir, reps)
    return [
        Figure(
            "frozen_agent",
            "webhook -> complete card for an agent whose queue-mate's socket stopped reading",
            p50_p90(beside),
            p50_p90(solo),
            "the same agent's card on a queue of its own (calls alternate, ABBA)",
            1.2,
        ),
        Figure(
            "flood_refusal",
            "a webhook refused 429 while max_inflight_calls are busy with a 5 s connector",
            p50_p90(refused),
            p50_p90(healthz),
            "GET /healthz on the same service",
            5.0,
        ),
    ]


# -- the run -----------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=30, help="timings per figure (default 30)")
    parser.add_argument("--delay-ms", type=int, default=50, help="the scripted connectors' latency")
    parser.add_argument("--hedge-ms", type=int, default=50, help="the http connector's hedge_ms")
    parser.add_argument("--audit-calls", type=int, default=1000, help="audit_card calls timed (default 1000)")
    parser.add_argument("--no-redis", action="store_true", help="skip the figures that need redis-server")
    parser.add_argument("--no-demo", action="store_true", help="skip writing the demo databases")
    parser.add_argument("--no-service", action="store_true", help="skip the figures that start the service")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    return parser.parse_args(argv)


async def run(args: argparse.Namespace, children: Children, workdir: Path) -> list[Figure]:
    figures = await fanout(args.reps, args.delay_ms)
    figures += await cached(args.reps, args.delay_ms)
    figures += await hedge(args.reps, args.hedge_ms)
    figures += await audit(workdir, args.audit_calls)
    if not args.no_demo:
        figures += await demo(workdir)
    if not args.no_redis:
        figures += await redis_away(children, workdir, args.reps)
    if not args.no_service:
        figures += await service(children, workdir, args.reps)
    return figures


def print_table(figures: Sequence[Figure]) -> None:
    print(f"{'figure':<22}{'p50':>9}{'p90':>9}{'floor p50':>11}{'ratio':>8}{'limit':>8}  verdict  (ms)")
    for f in figures:
        verdict = "PASS" if f.ratio <= f.limit else "MISS"
        print(
            f"{f.name:<22}{f.subject['p50']:>9.3f}{f.subject['p90']:>9.3f}{f.floor['p50']:>11.3f}"
            f"{f.ratio:>8.2f}{f.limit:>7.2f}x  {verdict}"
        )
    print()
    for f in figures:
        print(f"{f.name}: {f.what}; floor: {f.floor_what}")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.ERROR)  # the Redis-away figures provoke warnings by design
    with tempfile.TemporaryDirectory() as tmp, Children(Path(tmp)) as children:
        try:
            figures = asyncio.run(run(args, children, Path(tmp)))
        except BenchError as exc:
            print(f"bench: {exc}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print("bench: interrupted; stopping every child process", file=sys.stderr)
            return 130
    if args.json:
        print(json.dumps({f.name: f.as_json() for f in figures}, indent=2))
    else:
        print_table(figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
