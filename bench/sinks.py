"""Note saved -> row at the sink: p50/p99 per sink kind, next to floors measured in the same run.

Run by ``make bench`` (``make bench-sinks``).  One real ``screenpop serve``
(SQLite store in a temp file, ``memory://``) has three sinks:

- ``hook``: ``kind: http`` to a receiver in this process (an aiohttp app that
  stamps each POST's arrival with ``time.perf_counter``);
- ``lite``: ``kind: sql`` inserting into a SQLite file;
- ``pg``: ``kind: sql`` inserting into a throwaway PostgreSQL cluster
  (started the way the tests start theirs; left out with ``--no-pg`` or when
  PostgreSQL is not installed).

Calls are rung first (not measured).  Then each note is posted to
``/api/calls/{id}/notes`` and timed, closed-loop (one note at a time, so this
measures the path, not throughput): **POST -> 201**, **POST -> at the
sink** for each sink, and **201 -> at the sink** (what delivery adds once
the note is saved; it can be negative when the sink is faster than the
client reading its 201).  An ``sql`` row is seen by polling its table every
millisecond (on a connection of the bench's own), so its figures carry up to
about 1 ms of polling.

Floors, same run, same receiver and pollers: a direct POST of the same JSON
to the receiver (**floor http**), a direct INSERT + COMMIT into the SQLite
file (**floor lite**) and into PostgreSQL (**floor pg**), each seen the same
way as the service's deliveries.  The ratio is service / floor; the
difference is what screenpop adds (its note transaction with the outbox
entries, the worker's lease and settle transactions, the hop to the sink).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import secrets
import sqlite3
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from aiohttp import web
from common import Children, free_port, percentiles, run_script, sign, wait_healthy

from screenpop.auth import mint_token
from screenpop.config import settings_from_mapping

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
AGENT = "bench-agent"
TABLE = (
    "CREATE TABLE call_log (idempotency_key TEXT PRIMARY KEY, call_id TEXT, phone TEXT, agent TEXT,"
    " notes TEXT, saved_at {ts})"
)
STATEMENT = (
    "INSERT INTO call_log (idempotency_key, call_id, phone, agent, notes, saved_at)"
    " VALUES (:idempotency_key, :call_id, :e164, :agent, :notes, :saved_at)"
)
WAIT_S = 10.0
POLL_S = 0.001


class Receiver:
    """The http sink's endpoint: the arrival time of each Idempotency-Key (or floor key)."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        self.port = free_port()
        self._runner: web.AppRunner | None = None

    async def _post(self, request: web.Request) -> web.Response:
        await request.read()
        self.arrived.setdefault(request.headers.get("Idempotency-Key", ""), time.perf_counter())
        return web.Response(status=204)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/log", self._post)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


async def until(seen: Callable[[], Awaitable[bool]]) -> float:
    """Poll ``seen`` every millisecond; the perf_counter time it first answered True."""
    deadline = time.perf_counter() + WAIT_S
    while time.perf_counter() < deadline:
        if await seen():
            return time.perf_counter()
        await asyncio.sleep(POLL_S)
    return math.nan


class SqlitePoller:
    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None)
        self.conn.execute(TABLE.format(ts="TIMESTAMP"))
        self.conn.execute("PRAGMA journal_mode=WAL")

    async def has(self, key: str) -> bool:
        return (
            self.conn.execute("SELECT 1 FROM call_log WHERE idempotency_key = ?", (key,)).fetchone()
            is not None
        )

    async def insert(self, key: str) -> None:
        self.conn.execute("INSERT INTO call_log (idempotency_key, notes) VALUES (?, 'floor')", (key,))


class PgPoller:
    def __init__(self, conn: Any) -> None:
        self.conn = conn

    async def has(self, key: str) -> bool:
        return await self.conn.fetchval("SELECT 1 FROM call_log WHERE idempotency_key = $1", key) is not None

    async def insert(self, key: str) -> None:
        await self.conn.execute("INSERT INTO call_log (idempotency_key, notes) VALUES ($1, 'floor')", key)


def start_postgres(args: argparse.Namespace) -> Any:
    """The tests' throwaway PostgreSQL cluster, or None (``--no-pg``, or PostgreSQL not installed)."""
    if args.no_pg:
        return None
    try:
        from tests.support.servers import PostgresServer  # the bench's only use of the test support

        server = PostgresServer()
        server.start()
        return server
    except Exception as exc:  # no PostgreSQL here: the figures are SQLite and HTTP only
        print(f"bench: PostgreSQL not available ({exc}); measuring without it", file=sys.stderr)
        return None


def config(
    args: argparse.Namespace, port: int, workdir: Path, hook: str, pg_url: str | None
) -> dict[str, Any]:
    base = f"http://127.0.0.1:{port}"
    sinks: list[dict[str, Any]] = [
        {"name": "hook", "kind": "http", "url": hook},
        {
            "name": "lite",
            "kind": "sql",
            "url": f"sqlite+aiosqlite:///{workdir / 'sink.db'}",
            "statement": STATEMENT,
        },
    ]
    if pg_url:
        sinks.append({"name": "pg", "kind": "sql", "url": pg_url, "statement": STATEMENT})
    return {
        "server": {"host": "127.0.0.1", "port": port, "public_url": base, "allowed_origins": [base]},
        "store": {"url": f"sqlite+aiosqlite:///{workdir / 'store.db'}"},
        "broker": {"url": "memory://"},
        "agents": {
            "token_secret": secrets.token_hex(24),
            "directory": [{"id": AGENT, "queues": ["support"]}],
        },
        "providers": [{"name": "pbx", "kind": "generic", "secret": secrets.token_hex(16)}],
        "sinks": sinks,
    }


async def run(args: argparse.Namespace, children: Children, workdir: Path) -> dict[str, Any]:
    receiver = Receiver()
    await receiver.start()
    pg = await asyncio.to_thread(start_postgres, args)
    try:
        return await measure(args, children, workdir, receiver, pg)
    finally:
        await receiver.close()
        if pg is not None:
            await asyncio.to_thread(pg.close)


async def measure(
    args: argparse.Namespace, children: Children, workdir: Path, receiver: Receiver, pg: Any
) -> dict[str, Any]:
    import asyncpg  # the PostgreSQL poller's own connection

    pollers: dict[str, Any] = {"lite": SqlitePoller(workdir / "sink.db")}
    pg_url = None
    if pg is not None:
        pg_url = pg.create_database("bench_sink")
        conn = await asyncpg.connect(pg_url.replace("postgresql+asyncpg", "postgresql"))
        await conn.execute(TABLE.format(ts="TIMESTAMPTZ"))
        pollers["pg"] = PgPoller(conn)
    port = free_port()
    hook = f"http://127.0.0.1:{receiver.port}/log"
    cfg = config(args, port, workdir, hook, pg_url)
    path = workdir / "service.yaml"
    path.write_text(yaml.safe_dump(cfg))
    settings = settings_from_mapping(cfg, source=str(path), environ={})
    children.start("service", [sys.executable, "-m", "screenpop", "serve", "--config", str(path)], cwd=REPO)
    base = f"http://127.0.0.1:{port}"
    await wait_healthy(children, "service", base + "/healthz")
    token = {"Authorization": f"Bearer {mint_token(settings, AGENT)}"}
    secret = cfg["providers"][0]["secret"]
    nonce = secrets.token_hex(3)
    call_ids = [f"sink-{nonce}-{i}" for i in range(args.calls)]
    times: dict[str, list[float]] = {k: [] for k in ("201", "hook", *pollers)}
    after: dict[str, list[float]] = {k: [] for k in ("hook", *pollers)}
    floors: dict[str, list[float]] = {k: [] for k in ("hook", *pollers)}
    async with aiohttp.ClientSession() as session:
        for call_id in call_ids:
            body = json.dumps(
                {"event": "ringing", "call_id": call_id, "from": "+14155550132", "agent": AGENT}
            )
            headers = {"Content-Type": "application/json", "Screenpop-Signature": sign(body.encode(), secret)}
            async with session.post(f"{base}/webhooks/pbx", data=body, headers=headers) as reply:
                assert reply.status == 202, await reply.text()
        versions: dict[str, int] = {}
        for i in range(args.warmup + args.notes):
            call_id = call_ids[i % len(call_ids)]
            versions[call_id] = versions.get(call_id, 0) + 1
            key = f"{call_id}:{versions[call_id]}"
            t0 = time.perf_counter()
            async with session.post(
                f"{base}/api/calls/{call_id}/notes", json={"notes": f"note {i}"}, headers=token
            ) as reply:
                if reply.status != 201:
                    raise RuntimeError(f"note refused: {reply.status} {await reply.text()}")
                t201 = time.perf_counter()
            seen = await arrivals(receiver, pollers, key)
            hook_at = seen.pop("hook")
            if i >= args.warmup:
                times["201"].append(t201 - t0)
                times["hook"].append(hook_at - t0)
                after["hook"].append(hook_at - t201)
                for name, at in seen.items():
                    times[name].append(at - t0)
                    after[name].append(at - t201)
            await floor_round(session, receiver, pollers, floors, i, i >= args.warmup)
    return figures(times, floors, after)


async def _arrived(receiver: Receiver, key: str) -> bool:
    return key in receiver.arrived


async def arrivals(receiver: Receiver, pollers: dict[str, Any], key: str) -> dict[str, float]:
    """When ``key`` reached each sink: all polled at once; the receiver's own stamp for the http sink."""
    names = list(pollers)
    seen = await asyncio.gather(
        *(until(_has(pollers[n], key)) for n in names), until(_has_arrived(receiver, key))
    )
    found = dict(zip(names, seen[:-1], strict=True))
    found["hook"] = receiver.arrived.get(key, math.nan)
    return found


def _has_arrived(receiver: Receiver, key: str) -> Callable[[], Awaitable[bool]]:
    return lambda: _arrived(receiver, key)


def _has(poller: Any, key: str) -> Callable[[], Awaitable[bool]]:
    return lambda: poller.has(key)


async def floor_round(
    session: aiohttp.ClientSession,
    receiver: Receiver,
    pollers: dict[str, Any],
    floors: dict[str, list[float]],
    i: int,
    keep: bool,
) -> None:
    """A direct POST to the receiver and a direct INSERT into each sink database, seen the same way."""
    key = f"floor-{i}"
    body = {"call_id": key, "e164": "+14155550132", "agent": AGENT, "notes": f"note {i}"}
    t0 = time.perf_counter()
    async with session.post(
        f"http://127.0.0.1:{receiver.port}/log", json=body, headers={"Idempotency-Key": key}
    ):
        pass
    await until(_has_arrived(receiver, key))
    if keep:
        floors["hook"].append(receiver.arrived.get(key, math.nan) - t0)
    for name, poller in pollers.items():
        t0 = time.perf_counter()
        await poller.insert(key)
        at = await until(_has(poller, key))
        if keep:
            floors[name].append(at - t0)


def figures(
    times: dict[str, list[float]], floors: dict[str, list[float]], after: dict[str, list[float]]
) -> dict[str, Any]:
    out: dict[str, Any] = {"notes": len(times["201"]), "post_to_201": percentiles(times["201"])}
    lost = {name: sum(1 for t in values if math.isnan(t)) for name, values in times.items()}
    out["lost"] = lost
    for name, values in times.items():
        if name == "201":
            continue
        svc = percentiles([t for t in values if not math.isnan(t)])
        flo = percentiles(floors[name])
        out[name] = {
            "service": svc,
            "floor": flo,
            "after_201": percentiles([t for t in after[name] if not math.isnan(t)]),
            "ratio_p50": svc["p50"] / flo["p50"],
            "ratio_p99": svc["p99"] / flo["p99"],
        }
    return out


def show(result: dict[str, Any]) -> None:
    p = result["post_to_201"]
    print(
        f"{result['notes']} notes, one at a time; POST -> 201: p50 {p['p50']:.2f} ms, p99 {p['p99']:.2f} ms"
    )
    print(
        f"{'sink':<6}{'POST->sink p50':>16}{'p99':>9}{'201->sink p50':>15}{'p99':>9}"
        f"{'floor p50':>12}{'p99':>9}{'x p50':>8}{'x p99':>8}"
    )
    for name in ("hook", "lite", "pg"):
        if name not in result:
            continue
        r = result[name]
        s, f, a = r["service"], r["floor"], r["after_201"]
        print(
            f"{name:<6}{s['p50']:>13.2f} ms{s['p99']:>9.2f}{a['p50']:>12.2f} ms{a['p99']:>9.2f}"
            f"{f['p50']:>9.2f} ms{f['p99']:>9.2f}"
            f"{r['ratio_p50']:>8.1f}{r['ratio_p99']:>8.1f}"
        )


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notes", type=int, default=300, help="measured notes (default 300)")
    parser.add_argument("--warmup", type=int, default=20, help="notes before measuring (default 20)")
    parser.add_argument("--calls", type=int, default=50, help="calls the notes are spread over (edits)")
    parser.add_argument("--no-pg", action="store_true", help="leave out the PostgreSQL sink")
    parser.add_argument("--log-dir", help="keep the service's log and files here")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--out", help="also write the figures as JSON to this file")
    return parser.parse_args()


if __name__ == "__main__":
    sys.exit(
        run_script(parse(), run, show, lambda r: any(r["lost"].values()), lambda r: f"lost: {r['lost']}")
    )
