"""The retention purge's cost on a big store, against a one-statement delete of the same rows.

For each backend (SQLite in a temporary file, PostgreSQL on a throwaway
cluster started like the tests start theirs), the store is filled with
``--calls`` calls (default 10^6) spread evenly over the last 730 days, each
with one event, one recipient and one audit row, and a note on every tenth
call.  Then ``Store.purge_expired`` runs with every age at 365 days: about
half of everything goes (the purge the service runs hourly, on a store that
was never purged before, its worst case).

Printed per backend: rows deleted, rows/s, transactions, and the longest
single transaction (how long the purge can make a webhook's write wait).
The **floor**, measured in the same run on an identical second store: the
same rows deleted with one ``DELETE`` per table (children cascading) in one
transaction, the fastest way and the one that locks for its whole length.
The purge's price is its throughput against the floor's; what it buys is its
longest transaction against the floor's one.

    .venv/bin/python bench/retention.py [--calls N] [--backends sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the tests' PostgreSQL helper starts the throwaway cluster

from screenpop.store import RetentionPolicy, Store  # noqa: E402
from tests.support.servers import PostgresServer  # noqa: E402

DAYS = 365
SPAN_DAYS = 730
NOW = datetime(2026, 12, 4, tzinfo=UTC)

SQLITE_FILL = [
    # a sequence 1..N, then every table from it; times as the store writes them (naive UTC text)
    "CREATE TEMP TABLE seq(i INTEGER PRIMARY KEY)",
    "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < :n) "
    "INSERT INTO seq SELECT i FROM s",
    "INSERT INTO calls (id, provider, call_id, caller_e164, status, received_at) "
    "SELECT i, 'pbx', 'c-' || i, '+1415555' || printf('%04d', i % 10000), 'ended', "
    "strftime('%Y-%m-%d %H:%M:%S', :now, '-' || (AGE) || ' seconds') || '.000000' FROM seq",
    "INSERT INTO call_events (call_pk, event, received_at) SELECT id, 'ringing', received_at FROM calls",
    "INSERT INTO call_recipients (call_pk, agent_id, added_at) "
    "SELECT id, 'agent-' || (id % 50), received_at FROM calls",
    "INSERT INTO notes (call_pk, agent_id, disposition, notes, created_at) "
    "SELECT id, 'agent-1', 'resolved', 'called back', received_at FROM calls WHERE id % 10 = 0",
    "INSERT INTO audit (at, agent_id, action, provider, call_id, sections) "
    "SELECT received_at, 'agent-1', 'card', 'pbx', call_id, '[]' FROM calls",
    "DROP TABLE seq",
]
POSTGRES_FILL = [
    "INSERT INTO calls (id, provider, call_id, caller_e164, status, received_at) "
    "SELECT i, 'pbx', 'c-' || i, '+1415555' || lpad((i % 10000)::text, 4, '0'), 'ended', "
    "CAST(:now AS timestamptz) - (AGE) * interval '1 second' "
    "FROM generate_series(1, :n) AS i",
    "INSERT INTO call_events (call_pk, event, received_at) SELECT id, 'ringing', received_at FROM calls",
    "INSERT INTO call_recipients (call_pk, agent_id, added_at) "
    "SELECT id, 'agent-' || (id % 50), received_at FROM calls",
    "INSERT INTO notes (call_pk, agent_id, disposition, notes, created_at) "
    "SELECT id, 'agent-1', 'resolved', 'called back', received_at FROM calls WHERE id % 10 = 0",
    "INSERT INTO audit (at, agent_id, action, provider, call_id, sections) "
    "SELECT received_at, 'agent-1', 'card', 'pbx', call_id, '[]'::jsonb FROM calls",
    "SELECT setval(pg_get_serial_sequence('calls', 'id'), :n)",
    "ANALYZE",
]


AGES = {
    # seconds before NOW of call i (1..n): newer calls have higher ids, as in a store written over time
    "time": "CAST((:n - i) AS BIGINT) * :span * 86400 / :n",
    # the same ages dealt out across the ids: every batch touches pages all over the tables (worst case)
    "scattered": "(i % :span) * 86400 + (i % 86400)",
}


async def fill(url: str, calls: int, layout: str) -> float:
    """Migrate an empty store and fill it; seconds taken."""
    await (await Store.open(url)).close()
    started = time.perf_counter()
    engine = create_async_engine(url)
    sqlite = url.startswith("sqlite")
    now: object = NOW.replace(tzinfo=None).isoformat(sep=" ") if sqlite else NOW
    params = {"n": calls, "span": SPAN_DAYS, "now": now}
    try:
        async with engine.begin() as conn:
            for template in SQLITE_FILL if sqlite else POSTGRES_FILL:
                statement = template.replace("AGE", AGES[layout])
                names = {k: v for k, v in params.items() if f":{k}" in statement}
                await conn.execute(sa.text(statement), names)
    finally:
        await engine.dispose()
    return time.perf_counter() - started


async def rows_in(url: str) -> int:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            total = 0
            for table in ("calls", "call_events", "call_recipients", "notes", "audit"):
                total += (await conn.execute(sa.text(f"SELECT count(*) FROM {table}"))).scalar_one()  # noqa: S608
            return total
    finally:
        await engine.dispose()


async def purge(url: str) -> dict[str, Any]:
    store = await Store.open(url)
    try:
        report = await store.purge_expired(RetentionPolicy(DAYS, DAYS, DAYS), NOW, holder="bench")
    finally:
        await store.close()
    assert report is not None
    return {
        "rows": report.total,
        "seconds": report.elapsed_s,
        "rows_per_s": report.total / report.elapsed_s,
        "transactions": report.batches,
        "max_transaction_ms": report.max_batch_s * 1000,
        "p50_transaction_ms": statistics.median(report.batch_s) * 1000,
        "p99_transaction_ms": sorted(report.batch_s)[int(0.99 * (len(report.batch_s) - 1))] * 1000,
        "counts": report.counts,
    }


async def floor(url: str) -> dict[str, Any]:
    """The same deletes as one statement per table in one transaction (children cascade)."""
    cutoff = NOW - timedelta(days=DAYS)
    bound = cutoff.replace(tzinfo=None).isoformat(sep=" ") + ".000000" if url.startswith("sqlite") else cutoff
    engine = create_async_engine(url, connect_args={"timeout": 600} if url.startswith("sqlite") else {})
    before = await rows_in(url)
    started = time.perf_counter()
    try:
        async with engine.begin() as conn:
            if url.startswith("sqlite"):
                await conn.execute(sa.text("PRAGMA foreign_keys=ON"))
            await conn.execute(sa.text("DELETE FROM notes WHERE created_at < :c"), {"c": bound})
            await conn.execute(sa.text("DELETE FROM audit WHERE at < :c"), {"c": bound})
            await conn.execute(sa.text("DELETE FROM calls WHERE received_at < :c"), {"c": bound})
    finally:
        await engine.dispose()
    elapsed = time.perf_counter() - started
    rows = before - await rows_in(url)
    return {
        "rows": rows,
        "seconds": elapsed,
        "rows_per_s": rows / elapsed,
        "max_transaction_ms": elapsed * 1000,
    }


async def measure(
    backend: str, calls: int, layout: str, workdir: Path, server: PostgresServer | None
) -> dict[str, Any]:
    urls = []
    for name in ("purge", "floor"):
        if server is None:
            urls.append(f"sqlite+aiosqlite:///{workdir}/{name}.db")
        else:
            urls.append(server.create_database(f"bench_{name}"))
    fill_s = [await fill(url, calls, layout) for url in urls]
    stored = await rows_in(urls[0])
    purged = await purge(urls[0])
    floored = await floor(urls[1])
    if purged["rows"] != floored["rows"]:
        raise SystemExit(f"bench: the purge deleted {purged['rows']} rows, the floor {floored['rows']}")
    return {
        "backend": backend,
        "calls": calls,
        "layout": layout,
        "stored_rows": stored,
        "fill_s": fill_s[0],
        "purge": purged,
        "floor": floored,
    }


def show(result: dict[str, Any]) -> None:
    p, f = result["purge"], result["floor"]
    print(
        f"{result['backend']}: {result['calls']:,} calls ({result['layout']}), "
        f"{result['stored_rows']:,} rows stored "
        f"(filled in {result['fill_s']:.1f} s); purged {p['rows']:,} rows"
    )
    print(
        f"  purge : {p['rows_per_s']:>10,.0f} rows/s  {p['seconds']:7.1f} s  "
        f"{p['transactions']:5d} transactions  longest {p['max_transaction_ms']:8.1f} ms "
        f"(p50 {p['p50_transaction_ms']:.1f} ms, p99 {p['p99_transaction_ms']:.1f} ms)"
    )
    print(
        f"  floor : {f['rows_per_s']:>10,.0f} rows/s  {f['seconds']:7.1f} s      1 transaction   "
        f"longest {f['max_transaction_ms']:8.1f} ms"
    )
    print(
        f"  purge/floor: throughput {p['rows_per_s'] / f['rows_per_s']:.2f}x, "
        f"longest lock {p['max_transaction_ms'] / f['max_transaction_ms']:.4f}x"
    )


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        for backend in args.backends.split(","):
            if backend == "sqlite":
                show(await measure("sqlite", args.calls, args.layout, workdir, None))
                continue
            server = PostgresServer()
            try:
                server.start()
                show(await measure("postgresql", args.calls, args.layout, workdir, server))
            finally:
                server.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument(
        "--layout",
        choices=sorted(AGES),
        default="time",
        help="time: ids in the order calls arrived (a real store); scattered: ages spread over ids (worst)",
    )
    asyncio.run(main(parser.parse_args()))
