"""The store's erasure, audit and retention statements find their rows by index, on SQLite and PostgreSQL.

Each statement is captured as the store really runs it (``screenpop erase
--number``, ``screenpop audit --number``, the retention purge) and its plan
read with ``EXPLAIN QUERY PLAN`` (SQLite) or ``EXPLAIN`` (PostgreSQL, with
sequential scans priced out so that a usable index is always chosen on a
small table).  Without the index the plan is a scan of the whole table.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.ext.asyncio import create_async_engine

from screenpop.model import CallEvent, EventKind
from screenpop.store import ErasureTarget, RetentionPolicy, Store
from screenpop.store.connections import MIGRATIONS_DIR

ADA = "+14155550132"
Captured = list[tuple[str, Any]]


@contextmanager
def captured() -> Iterator[Captured]:
    """Every statement any engine runs meanwhile, with its parameters as the driver got them."""
    seen: Captured = []

    def keep(_conn: Any, _cursor: Any, statement: str, params: Any, _context: Any, _many: bool) -> None:
        seen.append((statement, params))

    sa.event.listen(sa.Engine, "before_cursor_execute", keep)
    try:
        yield seen
    finally:
        sa.event.remove(sa.Engine, "before_cursor_execute", keep)


def one(seen: Captured, *fragments: str) -> tuple[str, Any]:
    """The one captured statement containing every fragment."""
    found = {(s, str(p)): (s, p) for s, p in seen if all(f in " ".join(s.split()) for f in fragments)}
    assert len(found) == 1, (fragments, list(found))
    return next(iter(found.values()))


async def plan(url: str, statement: str, params: Any) -> str:
    """The plan of ``statement`` with its parameters, as text."""
    if url.startswith("sqlite"):
        with sqlite3.connect(url.split("///", 1)[1]) as db:
            return "\n".join(str(r[-1]) for r in db.execute("EXPLAIN QUERY PLAN " + statement, params))
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            driver = (await conn.get_raw_connection()).driver_connection
            assert driver is not None
            async with driver.transaction():
                await driver.execute("SET LOCAL enable_seqscan = off")
                rows = await driver.fetch("EXPLAIN " + statement, *params)
            return "\n".join(r[0] for r in rows)
    finally:
        await engine.dispose()


async def busy_store(url: str) -> Store:
    """A store with calls of Ada's, a supervisor's lookups of her number, and notes sent to a sink."""
    store = await Store.open(url, sinks=("crm",))
    for i in range(3):
        await store.record_event(CallEvent("pbx", f"c-{i}", EventKind.RINGING, from_raw=ADA), ADA)
        await store.add_recipients("pbx", f"c-{i}", ["agent-1"])
        await store.save_note(f"c-{i}", "agent-1", "resolved", "called back", True)
        await store.audit_lookup("supervisor", ADA, ["crm"])
    await store.flush_audit()
    return store


async def test_audit_by_number_uses_the_indexes(store_url: str) -> None:
    """`screenpop audit --number` finds lookups by audit.number and cards through the number's calls."""
    store = await busy_store(store_url)
    try:
        with captured() as seen:
            rows = await store.who_saw(number=ADA)
    finally:
        await store.close()
    assert len(rows) == 6  # three lookups, three notes
    shown = await plan(store_url, *one(seen, "FROM audit LEFT OUTER JOIN calls"))
    assert "ix_audit_number" in shown
    assert "ix_audit_call_id" in shown


async def test_erasure_by_number_uses_the_audit_number_index(store_url: str) -> None:
    """`screenpop erase --number` deletes the number's lookups through ix_audit_number."""
    store = await busy_store(store_url)
    try:
        with captured() as seen:
            erased = await store.erase(ErasureTarget(number=ADA))
    finally:
        await store.close()
    assert erased.counts["audit"] == 6
    assert "ix_audit_number" in await plan(store_url, *one(seen, "DELETE FROM audit WHERE audit.number ="))


async def test_retention_finds_old_sink_copies_by_index(store_url: str) -> None:
    """The purge finds sink copies older than their note through ix_sink_outbox_created_at."""
    store = await busy_store(store_url)
    try:
        with captured() as seen:
            later = datetime.now(UTC) + timedelta(days=40)
            await store.purge_expired(RetentionPolicy(notes_days=30), later, "me")
    finally:
        await store.close()
    shown = await plan(
        store_url, *one(seen, "SELECT sink_outbox.id FROM sink_outbox WHERE sink_outbox.created_at <")
    )
    assert "ix_sink_outbox_created_at" in shown


async def test_the_indexes_migration_applies_to_a_store_at_the_previous_head(store_url: str) -> None:
    """A store built by 0005, with rows in it, is migrated to head by opening it, and gets both indexes."""
    if store_url.startswith("sqlite"):
        Path(store_url.split("///", 1)[1]).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(store_url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(migrate_to, "0005_erasure")
            await conn.execute(sa.text(LOOKUP_0005), {"at": datetime.now(UTC), "number": ADA})
        assert await indexes(engine) & NEW_INDEXES == set()
        store = await Store.open(store_url)
        try:
            assert len(await store.who_saw(number=ADA)) == 1  # the row 0005 held is kept
        finally:
            await store.close()
        assert await indexes(engine) >= NEW_INDEXES
    finally:
        await engine.dispose()


NEW_INDEXES = {"ix_audit_number", "ix_sink_outbox_created_at"}
LOOKUP_0005 = (
    "INSERT INTO audit (at, agent_id, action, number, sections) "
    "VALUES (:at, 'supervisor', 'lookup', :number, '[]')"
)


def migrate_to(conn: sa.Connection, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = conn
    command.upgrade(config, revision)


async def indexes(engine: Any) -> set[str]:
    """The names of the indexes on audit and sink_outbox."""
    async with engine.connect() as conn:
        return set(
            await conn.run_sync(
                lambda c: {i["name"] for t in ("audit", "sink_outbox") for i in sa.inspect(c).get_indexes(t)}
            )
        )
