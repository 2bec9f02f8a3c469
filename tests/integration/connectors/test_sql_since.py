"""``:since`` names one instant whatever time zone screenpop's host is in, whatever column stamps rows.

The rows are stamped by the database itself (``CURRENT_TIMESTAMP``), as
applications and triggers do; screenpop runs in a zone west or east of UTC.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from screenpop.connectors.sql import SqlConnector, SqlOptions
from screenpop.connectors.sql.reading import LOCAL_ROWS
from screenpop.plugins import connector_context

#: The column that stamps a row, as each database and column type writes CURRENT_TIMESTAMP.
STAMPS = {
    "postgres timestamptz": "TIMESTAMPTZ",
    "postgres timestamp": "TIMESTAMP",
    "sqlite text": "TEXT",  # SQLite writes UTC text: "2024-05-01 12:00:00"
}
CHANGED_SINCE = "SELECT id, phone FROM cust WHERE updated_at > :since"
BY_KEYS = "SELECT id, name FROM cust WHERE id IN :keys"


@pytest.fixture(params=["America/Los_Angeles", "Asia/Tokyo"])
def host_zone(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """screenpop's process in a zone west, then east, of UTC (``TZ``), put back afterwards."""
    monkeypatch.setenv("TZ", request.param)
    time.tzset()
    yield request.param
    monkeypatch.undo()
    time.tzset()


@pytest.fixture(
    params=[
        pytest.param("postgres timestamptz", marks=pytest.mark.postgres),
        pytest.param("postgres timestamp", marks=pytest.mark.postgres),
        "sqlite text",
    ]
)
async def table(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database URL holding ``cust``, its ``updated_at`` of the column type under test."""
    if request.param.startswith("postgres"):
        url = str(request.getfixturevalue("pg_url"))
    else:
        url = f"sqlite+aiosqlite:///{tmp_path / 'cust.db'}"
    await execute(
        url,
        "CREATE TABLE cust (id INTEGER PRIMARY KEY, name VARCHAR(20), phone VARCHAR(30), "
        f"updated_at {STAMPS[request.param]} NOT NULL DEFAULT CURRENT_TIMESTAMP)",
    )
    return url


async def execute(url: str, *statements: str, **params: int) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            for statement in statements:
                await conn.execute(text(statement), params)
    finally:
        await engine.dispose()


def connector(url: str) -> SqlConnector:
    options = SqlOptions(
        url=url, match="normalized", index_query=CHANGED_SINCE, query=BY_KEYS, index_full_every=1000
    )
    return SqlConnector("crm", options, connector_context("US", Path("."), None))


async def names(sql: SqlConnector, e164: str) -> list[str]:
    result = await sql.lookup({"e164": e164})
    return [] if result.data is None else [str(result.data["name"])]


async def test_an_incremental_refresh_finds_the_rows_changed_since_the_last_read(
    table: str, host_zone: str
) -> None:
    """A row added and a row changed after the first read are found by the next, incremental, read."""
    await execute(table, "INSERT INTO cust (id, name, phone) VALUES (1, 'One', '415 555 0101')")
    sql = connector(table)
    try:
        await sql.start()
        await execute(
            table,
            "INSERT INTO cust (id, name, phone) VALUES (2, 'Two', '415 555 0102')",
            "UPDATE cust SET phone = '415 555 0111', updated_at = CURRENT_TIMESTAMP WHERE id = 1",
        )
        assert sql._keeper is not None
        assert await sql._keeper.refresh()
        assert sql._keeper.last_kind == "incremental"
        assert await names(sql, "+14155550102") == ["Two"]
        assert await names(sql, "+14155550111") == ["One"]
        assert await names(sql, "+14155550101") == []
    finally:
        await sql.close()


@pytest.mark.postgres
@pytest.mark.parametrize("column", ["TIMESTAMPTZ", "TIMESTAMP"])
async def test_a_big_full_read_binds_since_for_either_column_type(pg_url: str, column: str) -> None:
    """Worker processes read a table past ``LOCAL_ROWS`` rows with ``:since`` bound as the loop binds it."""
    rows = LOCAL_ROWS + 10
    await execute(
        pg_url,
        "CREATE TABLE cust (id INTEGER PRIMARY KEY, name VARCHAR(20), phone VARCHAR(30), "
        f"updated_at {column})",
        "INSERT INTO cust SELECT i, 'C' || i, '+1 415 55' || lpad(i::text, 5, '0'), CURRENT_TIMESTAMP "
        "FROM generate_series(1, :rows) AS i",
        rows=rows,
    )
    sql = connector(pg_url)
    try:
        await sql.start()
        assert sql._keeper is not None
        assert sql._keeper.index is not None, sql._keeper.error
        assert sql._keeper.index.rows == rows
        assert await names(sql, "+14155500007") == ["C7"]
    finally:
        await sql.close()


@pytest.mark.postgres
async def test_a_timestamp_column_written_in_utc_is_read_at_time_zone_utc(pg_url: str) -> None:
    """The documented recipe: UTC wall time in a ``timestamp``, a server in Tokyo, ``AT TIME ZONE 'UTC'``."""
    database = pg_url.rsplit("/", 1)[1]
    await execute(
        pg_url,
        f"ALTER DATABASE {database} SET timezone = 'Asia/Tokyo'",
        "CREATE TABLE cust (id INTEGER PRIMARY KEY, name VARCHAR(20), phone VARCHAR(30), "
        "updated_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'UTC'))",
        "INSERT INTO cust (id, name, phone) VALUES (1, 'One', '415 555 0101')",
    )
    options = SqlOptions(
        url=pg_url,
        match="normalized",
        index_query="SELECT id, phone FROM cust WHERE updated_at AT TIME ZONE 'UTC' > :since",
        query=BY_KEYS,
        index_full_every=1000,
    )
    sql = SqlConnector("crm", options, connector_context("US", Path("."), None))
    try:
        await sql.start()
        await execute(pg_url, "INSERT INTO cust (id, name, phone) VALUES (2, 'Two', '415 555 0102')")
        assert sql._keeper is not None
        assert await sql._keeper.refresh()
        assert sql._keeper.last_kind == "incremental"
        assert await names(sql, "+14155550102") == ["Two"]
    finally:
        await sql.close()
