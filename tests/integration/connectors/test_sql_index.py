"""The compact number index (issue 15): incremental refresh on real SQLite and PostgreSQL, and
equality with the former dict index on a generated table.
"""

from __future__ import annotations

import functools
import json
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
from screenpop.connectors.sql.shared import decode, describe, encode
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


PHONES = (
    "CREATE TABLE customer_phones (customer_id INTEGER NOT NULL, phone VARCHAR(60), "
    "updated_at TIMESTAMP NOT NULL)"
)
PHONES_SINCE = "SELECT customer_id, phone FROM customer_phones WHERE updated_at > :since"
PHONE_CHANGE = "UPDATE customer_phones SET phone = :new, updated_at = :at WHERE phone = :old"
#: One row per key, a key's numbers in one cell (docs/matching.md), in each database's own words.
AGGREGATED_SINCE = {
    "postgresql": "SELECT customer_id, string_agg(phone, '; ') AS phones FROM customer_phones "
    "GROUP BY customer_id HAVING max(updated_at) > :since",
    "sqlite": "SELECT customer_id, group_concat(phone, '; ') AS phones FROM customer_phones "
    "GROUP BY customer_id HAVING max(updated_at) > :since",
}


async def test_a_changed_number_of_a_key_with_several_rows_keeps_its_other_numbers(url: str) -> None:
    """One row per number: a re-read row adds its number; the key's rows not re-read keep theirs."""
    insert = "INSERT INTO customer_phones VALUES (:id, :phone, :at)"
    old = utcnow() - timedelta(hours=2)
    await execute(url, PHONES, {})
    await execute(
        url,
        insert,
        [
            {"id": 7, "phone": "415 555 0701", "at": old},
            {"id": 7, "phone": "415 555 0702 (cell)", "at": old},
            {"id": 8, "phone": "415 555 0801", "at": old},
        ],
    )
    options = SqlOptions(
        url=url,
        match="normalized",
        index_query=PHONES_SINCE,
        query=(
            "SELECT DISTINCT CAST(customer_id AS VARCHAR(10)) AS name FROM customer_phones "
            "WHERE customer_id IN :keys"
        ),
        index_full_every=1000,
    )
    sql = SqlConnector("crm", options, connector_context("US", Path("."), None))
    try:
        await sql.start()
        assert sql._keeper is not None
        await execute(url, PHONE_CHANGE, {"new": "415 555 0799", "old": "415 555 0701", "at": utcnow()})
        await execute(url, insert, {"id": 8, "phone": "415 555 0802", "at": utcnow()})
        assert await sql._keeper.refresh()
        assert sql._keeper.last_kind == "incremental"
        assert await found(sql, "+14155550702") == ["7"]  # not re-read, still found
        assert await found(sql, "+14155550799") == ["7"]
        assert await found(sql, "+14155550801") == ["8"]  # a key's second row came: the first stays
        assert await found(sql, "+14155550802") == ["8"]
        assert await found(sql, "+14155550701") == ["7"]  # no row holds it: it goes at the full read
        assert await sql._keeper.refresh(full=True)
        assert await found(sql, "+14155550701") == []
        assert await found(sql, "+14155550702") == ["7"]
    finally:
        await sql.close()


async def test_numbers_aggregated_to_one_row_per_key_are_replaced_exactly(url: str) -> None:
    """The recommended shape for one row per number: a changed key's numbers in one cell, so none lingers."""
    options = SqlOptions(
        url=url,
        match="normalized",
        index_query=AGGREGATED_SINCE["postgresql" if "postgresql" in url else "sqlite"],
        query=(
            "SELECT CAST(customer_id AS VARCHAR(10)) AS name FROM customer_phones "
            "WHERE customer_id IN :keys GROUP BY customer_id"
        ),
        index_full_every=1000,
    )
    old = utcnow() - timedelta(hours=2)
    await execute(url, PHONES, {})
    await execute(
        url,
        "INSERT INTO customer_phones VALUES (7, :phone, :at)",
        [{"phone": "415 555 0701", "at": old}, {"phone": "415 555 0702 (cell)", "at": old}],
    )
    sql = SqlConnector("crm", options, connector_context("US", Path("."), None))
    try:
        await sql.start()
        assert sql._keeper is not None and sql._keeper.index is not None
        assert not sql._keeper.index.keys_repeat
        await execute(url, PHONE_CHANGE, {"new": "415 555 0799", "old": "415 555 0701", "at": utcnow()})
        assert await sql._keeper.refresh()
        assert sql._keeper.last_kind == "incremental"
        assert await found(sql, "+14155550799") == ["7"]
        assert await found(sql, "+14155550702") == ["7"]
        assert await found(sql, "+14155550701") == []
    finally:
        await sql.close()


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
@pytest.mark.parametrize("seed", [7, 8])
def test_an_updated_index_of_repeated_keys_loses_no_number(seed: int, key_kind: str) -> None:
    """Keys of several rows: an incremental read adds the re-read rows' numbers to every number held before.

    So every number the table holds now is found, and the only extra entries
    are numbers no row holds any more (gone at the next full read).
    """
    rng = random.Random(seed)
    rows = generated_rows(rng, 2000, key_kind)
    index = PhoneIndex.build(rows, reader())
    assert index.keys_repeat
    cells = generated_rows(rng, 300, key_kind)
    changed = [(row[0], *new[1:]) for row, new in zip(rng.sample(rows, 300), cells, strict=True)]
    changed += generated_rows(rng, 100, key_kind)  # new rows: of new keys and of keys already there
    changed += rng.sample(rows, 100)  # re-read as they were (another column changed)
    updated = index.updated(PhoneIndex.build(changed, reader()))
    before, after = as_sets(index), dict_index(changed, reader())
    expected = {n: before.get(n, set()) | after.get(n, set()) for n in before.keys() | after.keys()}
    assert as_sets(updated) == expected
    assert updated.keys_repeat
    assert sorted(updated.keys.tolist()) == sorted({row[0] for row in rows + changed})


def test_an_incremental_read_that_repeats_a_key_makes_later_reads_add_numbers() -> None:
    """Keys were one row each; a read that returns a key twice shows they are no more: nothing dropped."""
    index = PhoneIndex.build([(8, "415 555 0801", None), (9, "415 555 0901", None)], reader())
    assert not index.keys_repeat
    replaced = index.updated(PhoneIndex.build([(9, "415 555 0999", None)], reader()))
    assert replaced.keys_by_number == {"+14155550801": (8,), "+14155550999": (9,)}
    both = replaced.updated(
        PhoneIndex.build([(8, "415 555 0802", None), (8, "415 555 0803", None)], reader())
    )
    assert both.keys_repeat
    assert set(both.keys_by_number) == {"+14155550801", "+14155550802", "+14155550803", "+14155550999"}
    later = both.updated(PhoneIndex.build([(9, "415 555 0904", None)], reader()))
    assert later.keys_by_number["+14155550999"] == (9,)
    assert later.keys_by_number["+14155550904"] == (9,)


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


@pytest.mark.parametrize("key_kind", ["int", "str"])
@pytest.mark.parametrize("one_row_per_key", [True, False])
def test_a_published_index_keeps_whether_its_keys_repeat(key_kind: str, one_row_per_key: bool) -> None:
    """An instance that loaded the index from Redis merges incremental reads as the one that read it."""
    rows = generated_rows(random.Random(10), 500, key_kind)
    if one_row_per_key:
        rows = list({row[0]: row for row in rows}.values())
    index = PhoneIndex.build(rows, reader())
    blob = encode(index)
    assert blob is not None
    loaded = decode(blob, json.loads(json.dumps(describe(index, 1, utcnow()))))
    assert loaded.keys_repeat == index.keys_repeat == (not one_row_per_key)
    assert as_sets(loaded) == as_sets(index)


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
