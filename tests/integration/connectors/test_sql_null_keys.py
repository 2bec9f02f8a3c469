"""Rows whose key is NULL: ``IN :keys`` can never find them, so they are counted and left out of the index."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from screenpop.connectors.sql import SqlConnector, SqlOptions
from screenpop.connectors.sql.reading import LOCAL_ROWS
from screenpop.plugins import connector_context


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'customers.db'}"
    return str(request.getfixturevalue("pg_url"))


async def fill(url: str, rows: list[dict[str, object]]) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE crm (id INTEGER, name VARCHAR(40), phone VARCHAR(40))"))
            await conn.execute(text("INSERT INTO crm VALUES (:id, :name, :phone)"), rows)
    finally:
        await engine.dispose()


def connector(url: str) -> SqlConnector:
    options = SqlOptions(
        url=url,
        match="normalized",
        index_query="SELECT id, phone FROM crm",
        query="SELECT id, name FROM crm WHERE id IN :keys",
    )
    return SqlConnector("crm", options, connector_context("US", Path("."), None))


async def test_rows_without_a_key_are_counted_by_check_and_the_others_still_found(url: str) -> None:
    """`screenpop check` says how many rows have a NULL key; the keyed rows stay found, keys stay integers."""
    await fill(
        url,
        [
            {"id": 1, "name": "Keyed", "phone": "(415) 555-0101"},
            {"id": None, "name": "Lost", "phone": "(415) 555-0102"},
            {"id": None, "name": "Lost too", "phone": "(415) 555-0103"},
            {"id": 4, "name": "Keyed too", "phone": "(415) 555-0104"},
        ],
    )
    sql = connector(url)
    try:
        summary = await sql.check()
        assert summary is not None
        assert "2 rows have a NULL key" in summary
        assert sql._keeper is not None and sql._keeper.index is not None
        index = sql._keeper.index
        assert index.keys.tolist() == [1, 4] and index.keys_sorted
        assert index.keys_for("+14155550102") == ()
        found = await sql.lookup({"e164": "+14155550104"})
        assert found.data == {"id": 4, "name": "Keyed too"}
    finally:
        await sql.close()


async def test_a_big_read_by_workers_counts_each_keyless_row_once(url: str) -> None:
    """Past ``LOCAL_ROWS`` the workers read the table; a NULL-key row counts once, not per worker."""
    rows: list[dict[str, object]] = [
        {
            "id": None if i % 1000 == 0 else i,
            "name": f"C{i}",
            "phone": f"415 {i // 10000 + 200} {i % 10000:04d}",
        }
        for i in range(LOCAL_ROWS + 1000)
    ]
    await fill(url, rows)
    sql = connector(url)
    try:
        await sql.start()
        assert sql._keeper is not None and sql._keeper.index is not None, sql._keeper and sql._keeper.error
        index = sql._keeper.index
        assert index.keyless == sum(1 for r in rows if r["id"] is None)
        assert index.rows == len(rows) - index.keyless
        assert index.keys.dtype.kind == "i"
    finally:
        await sql.close()
