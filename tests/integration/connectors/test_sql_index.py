"""The compact number index (issue 15): incremental refresh on real SQLite and PostgreSQL, and
equality with the former dict index on a generated table.
"""

from __future__ import annotations

import functools
import random
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from screenpop.broker.redis_url import redis_client
from screenpop.connectors.sql import SqlConnector, SqlOptions
from screenpop.connectors.sql.index import PhoneIndex
from screenpop.connectors.sql.reading import LOCAL_ROWS, WORKER_FETCH_ROWS
from screenpop.connectors.sql.rows import RowReader
from screenpop.plugins import connector_context

CREATE = (
    "CREATE TABLE customers (customer_id INTEGER PRIMARY KEY, name VARCHAR(80), phone VARCHAR(60), "
    "deleted INTEGER NOT NULL DEFAULT 0, updated_at TIMESTAMP NOT NULL)"
)
#: Soft-deleted rows come back with a blank phone, so an incremental read removes their numbers.
CHANGED_SINCE = (
    "SELECT customer_id, CASE WHEN deleted = 1 THEN NULL ELSE phone END AS phone "
    "FROM customers WHERE updated_at > :since"
)
BY_KEYS = "SELECT customer_id, name FROM customers WHERE customer_id IN :keys ORDER BY customer_id"


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'customers.db'}"
    return str(request.getfixturevalue("pg_url"))


async def execute(url: str, statement: str, params: Sequence[dict[str, Any]] | dict[str, Any]) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(statement), params)
    finally:
        await engine.dispose()


@pytest.fixture
async def sql(url: str) -> AsyncIterator[SqlConnector]:
    """Three customers written two hours ago, indexed by a connector whose index_query binds :since."""
    old = utcnow() - timedelta(hours=2)
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(CREATE))
            await conn.execute(
                text("INSERT INTO customers VALUES (:id, :name, :phone, 0, :at)"),
                [
                    {"id": 1, "name": "Stays", "phone": "(415) 555-0101", "at": old},
                    {"id": 2, "name": "Moves", "phone": "415.555.0102 (work)", "at": old},
                    {"id": 3, "name": "Leaves", "phone": "+1 415 555 0103", "at": old},
                ],
            )
    finally:
        await engine.dispose()
    options = SqlOptions(
        url=url, match="normalized", index_query=CHANGED_SINCE, query=BY_KEYS, index_full_every=1000
    )
    connector = SqlConnector("crm", options, connector_context("US", Path("."), None))
    await connector.start()
    yield connector
    await connector.close()


async def found(sql: SqlConnector, e164: str) -> list[str]:
    result = await sql.lookup({"e164": e164})
    if result.data is None:
        return []
    return [row["name"] for row in (result.data, *result.extra_rows)]


async def test_one_incremental_refresh_finds_added_and_changed_rows_and_drops_deleted(
    url: str, sql: SqlConnector
) -> None:
    assert await found(sql, "+14155550102") == ["Moves"]
    assert await found(sql, "+14155550103") == ["Leaves"]
    now = utcnow()
    await execute(url, "INSERT INTO customers VALUES (4, 'New', '415-555-0104', 0, :at)", {"at": now})
    await execute(
        url,
        "UPDATE customers SET phone = '415 555 0199', updated_at = :at WHERE customer_id = 2",
        {"at": now},
    )
    await execute(
        url, "UPDATE customers SET deleted = 1, updated_at = :at WHERE customer_id = 3", {"at": now}
    )
    keeper = sql._keeper
    assert keeper is not None
    before = keeper.index
    assert await keeper.refresh()
    assert keeper.last_kind == "incremental"
    assert await found(sql, "+14155550104") == ["New"]
    assert await found(sql, "+14155550199") == ["Moves"]
    assert await found(sql, "+14155550102") == []  # the changed row's old number is gone
    assert await found(sql, "+14155550103") == []  # the soft-deleted row is gone
    assert await found(sql, "+14155550101") == ["Stays"]  # not re-read, still there
    assert keeper.index is not None and before is not None
    assert keeper.index.rows == before.rows + 1


async def test_a_refresh_with_nothing_changed_keeps_the_index(url: str, sql: SqlConnector) -> None:
    """Nothing changed: the refresh is incremental and the index is the same as before."""
    keeper = sql._keeper
    assert keeper is not None and keeper.index is not None
    before = keeper.index.keys_by_number
    assert await keeper.refresh()
    assert keeper.last_kind == "incremental"
    assert keeper.index.keys_by_number == before
    assert await keeper.refresh(full=True)
    assert keeper.last_kind == "full"
    assert keeper.index.keys_by_number == before


# --- equality with the former dict index -------------------------------------------------------

FORMATS = (
    "({a}) {b}-{c}",
    "{a}.{b}.{c}",
    "+1 {a} {b} {c}",
    "1-{a}-{b}-{c}",
    "{a}{b}{c}",
    "{a}-{b}-{c} - office",
    "+1 {a} {b} {c} (work)",
    "mobile: {a} {b} {c}",
    "{a} {b} {c} x12",
    "({a}) {b}-{c} / {a}.{b}.{d}",
    "1-800-FLOWERS",
    "n/a",
    "",
)


def generated_rows(rng: random.Random, count: int, key_kind: str) -> list[tuple[Any, ...]]:
    """Rows of a phones-like table: repeated keys, shared switchboard numbers, labels, junk."""
    pool = [(rng.randint(201, 989), rng.randint(200, 999), rng.randint(0, 9999)) for _ in range(count // 3)]
    rows = []
    for _ in range(count):
        key_number = rng.randint(1, count // 2)
        key: Any = key_number if key_kind == "int" else f"C{key_number:06d}"
        cells = []
        for _ in range(2):
            a, b, c = rng.choice(pool)
            form = rng.choice(FORMATS)
            cells.append(form.format(a=a, b=b, c=f"{c:04d}", d=f"{(c + 1) % 10000:04d}") or None)
        rows.append((key, *cells))
    return rows


def dict_index(rows: Iterable[Sequence[Any]], reader: RowReader) -> dict[str, set[Any]]:
    """The former index, as it was written: E.164 -> the keys of the rows carrying it."""
    found: dict[str, list[Any]] = {}
    for row in rows:
        for e164 in reader(row):
            keys = found.setdefault(e164, [])
            if row[0] not in keys:
                keys.append(row[0])
    return {number: set(keys) for number, keys in found.items()}


def as_sets(index: PhoneIndex) -> dict[str, set[Any]]:
    return {number: set(keys) for number, keys in index.keys_by_number.items()}


def reader() -> RowReader:
    return RowReader(("id", "phone", "mobile"), None, connector_context("US", Path("."), None))


@pytest.mark.parametrize("key_kind", ["int", "str"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_compact_index_equals_the_dict_index(seed: int, key_kind: str) -> None:
    rows = generated_rows(random.Random(seed), 3000, key_kind)
    expected_reader, compact_reader = reader(), reader()
    expected = dict_index(rows, expected_reader)
    index = PhoneIndex.build(rows, compact_reader)
    assert as_sets(index) == expected
    assert index.unreadable == expected_reader.unreadable > 0
    assert index.rows == len(rows)
    for number, keys in list(expected.items())[:200]:
        assert set(index.keys_for(number)) == keys
        assert all(type(key) is type(rows[0][0]) for key in index.keys_for(number))
    assert index.keys_for("+19999999999") == ()
    assert index.keys_for("not a number") == ()


@pytest.mark.parametrize("key_kind", ["int", "str"])
@pytest.mark.parametrize("seed", [4, 5])
def test_an_updated_index_equals_a_fresh_build(seed: int, key_kind: str) -> None:
    """Changing, adding and blanking rows incrementally gives what a full rebuild gives."""
    rng = random.Random(seed)
    rows = {row[0]: row for row in generated_rows(rng, 2000, key_kind)}  # one row per key
    index = PhoneIndex.build(rows.values(), reader())
    fresh_rows = generated_rows(rng, 400, key_kind)
    changed = {row[0]: row for row in fresh_rows}
    blanked = {key: (key, None, None) for key in rng.sample(sorted(rows), 50)}
    changed |= blanked
    rows |= changed
    updated = index.updated(PhoneIndex.build(changed.values(), reader()))
    assert as_sets(updated) == dict_index(rows.values(), reader())
    assert updated.rows == len(rows)


@pytest.mark.parametrize("key_kind", ["int", "str"])
def test_an_empty_incremental_read_keeps_the_index_as_it_is(key_kind: str) -> None:
    """A refresh that read no changed row returns the very same index: nothing rebuilt, whatever the keys."""
    index = PhoneIndex.build(generated_rows(random.Random(6), 300, key_kind), reader())
    nothing = PhoneIndex.build([], reader())
    assert index.updated(nothing) is index


# --- one instance builds, the others load (shared through the Redis broker) -------------------


def shared_connector(url: str, shared_url: str | None) -> SqlConnector:
    """A connector as the service builds it: the broker's client factory when there is a broker."""
    options = SqlOptions(url=url, match="normalized", index_query=CHANGED_SINCE, query=BY_KEYS)
    factory = functools.partial(redis_client, shared_url) if shared_url else None
    return SqlConnector("crm", options, connector_context("US", Path("."), None, factory))


@pytest.mark.redis
async def test_a_second_instance_loads_the_index_the_first_built(url: str, redis_url: str) -> None:
    """The second connector does not read the table: a row added after the first build is not in its index."""
    await execute(url, CREATE, {})
    old = utcnow() - timedelta(hours=2)
    insert = "INSERT INTO customers VALUES (:id, :name, :phone, 0, :at)"
    await execute(url, insert, {"id": 1, "name": "First", "phone": "(415) 555-0101", "at": old})
    first, second = shared_connector(url, redis_url), shared_connector(url, redis_url)
    try:
        await first.start()
        assert first._shared is not None
        assert first._shared.last_source == "table"
        await execute(url, insert, {"id": 2, "name": "Later", "phone": "(415) 555-0102", "at": old})
        await second.start()
        assert second._shared is not None
        assert second._shared.last_source == "shared"
        assert await found(second, "+14155550101") == ["First"]
        assert await found(second, "+14155550102") == []  # it did not read the table
        assert second._keeper is not None
        assert second._keeper.index is not None
        assert first._keeper is not None
        assert first._keeper.index is not None
        assert second._keeper.index.keys_by_number == first._keeper.index.keys_by_number
        assert second._keeper.index.summary() == first._keeper.index.summary()
    finally:
        await first.close()
        await second.close()


async def test_without_redis_the_index_is_built_locally(url: str) -> None:
    """A broker that cannot be reached only costs the shortcut: the table is read here."""
    await execute(url, CREATE, {})
    await execute(
        url,
        "INSERT INTO customers VALUES (1, 'Alone', '(415) 555-0101', 0, :at)",
        {"at": utcnow() - timedelta(hours=1)},
    )
    closed_port = "redis://127.0.0.1:9/0"  # discard port: nothing listens on loopback there
    sql = shared_connector(url, closed_port)
    try:
        await sql.start()
        assert sql._shared is not None
        assert sql._shared.last_source == "table"
        assert await found(sql, "+14155550101") == ["Alone"]
    finally:
        await sql.close()


@pytest.mark.parametrize("key_kind", ["int", "text"])
async def test_a_big_read_by_worker_processes_equals_the_dict_index(url: str, key_kind: str) -> None:
    """Past ``LOCAL_ROWS`` rows, worker processes read the table themselves; the index is the same.

    SQLite through the stdlib cursor, PostgreSQL through the async engine, in the workers.
    """
    rows = generated_rows(random.Random(9), LOCAL_ROWS + 3 * WORKER_FETCH_ROWS + 17, key_kind)
    key_type = (
        "BIGINT"
        if key_kind == "int" and "postgresql" in url
        else "VARCHAR(20)"
        if "postgresql" in url
        else ""
    )
    await execute(url, f"CREATE TABLE phones (id {key_type}, phone TEXT, mobile TEXT)", {})
    await execute(  # a key may repeat (one row per number, as a join returns them)
        url,
        "INSERT INTO phones VALUES (:id, :phone, :mobile)",
        [{"id": r[0], "phone": r[1], "mobile": r[2]} for r in rows],
    )
    options = SqlOptions(
        url=url,
        match="normalized",
        index_query="SELECT id, phone, mobile FROM phones",
        query="SELECT id FROM phones WHERE id IN :keys",
    )
    sql = SqlConnector("big", options, connector_context("US", Path("."), None))
    try:
        await sql.start()
        assert sql._keeper is not None
        index = sql._keeper.index
        assert index is not None, sql._keeper.error
        expected_reader = reader()
        assert as_sets(index) == dict_index(rows, expected_reader)
        assert index.rows == len(rows)
        assert index.unreadable == expected_reader.unreadable
        assert sorted(index.keys.tolist()) == sorted({r[0] for r in rows})
    finally:
        await sql.close()
