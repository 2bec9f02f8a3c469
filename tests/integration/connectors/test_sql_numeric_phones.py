"""Phones kept in number columns (INTEGER, NUMERIC with a scale, REAL) are found by `match: normalized`.

Tables filled from spreadsheets keep phones as numbers: an Excel import into
a REAL column writes 4155550146.0, a NUMERIC(14,2) column returns
Decimal('4155550146.00'). Such a cell is the number's digits, not text
with a decimal point.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from screenpop.connectors.sql import SqlConnector, SqlOptions
from screenpop.plugins import connector_context

COLUMN_TYPES = {
    "sqlite": ("INTEGER", "NUMERIC", "REAL", "NUMERIC(14,2)", "TEXT"),
    "postgres": ("BIGINT", "NUMERIC(15,0)", "DOUBLE PRECISION", "NUMERIC(14,2)", "TEXT"),
}
# (id, name, whole digits in each column; the fraction row holds a value no phone has;
# the text column holds what a CSV export of a spreadsheet's float column writes)
ROWS = [
    (1, "Integer", 14155550144, None, None, None, None),
    (2, "Numeric", None, 4155550145, None, None, None),
    (3, "Real", None, None, 4155550146.0, None, None),
    (4, "Decimal", None, None, None, 4155550147, None),
    (5, "Fraction", None, None, 4155550148.5, None, None),
    (6, "Text", None, None, None, None, "4155550149.0"),
]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def sales(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SqlConnector]:
    """A started normalized connector over a table whose phone columns are number columns."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'numbers.db'}"
    else:
        url = str(request.getfixturevalue("pg_url"))
    types = COLUMN_TYPES[request.param]
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            columns = ", ".join(f"p{i} {kind}" for i, kind in enumerate(types))
            await conn.execute(text(f"CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT, {columns})"))
            await conn.execute(
                text("INSERT INTO customers VALUES (:id, :name, :p0, :p1, :p2, :p3, :p4)"),
                [dict(zip(("id", "name", "p0", "p1", "p2", "p3", "p4"), row, strict=True)) for row in ROWS],
            )
    finally:
        await engine.dispose()
    options = SqlOptions(
        url=url,
        match="normalized",
        index_query="SELECT id, p0, p1, p2, p3, p4 FROM customers",
        query="SELECT id, name FROM customers WHERE id IN :keys",
    )
    connector = SqlConnector("sales", options, connector_context("US", Path("."), None))
    await connector.start()
    yield connector
    await connector.close()


@pytest.mark.parametrize(
    ("e164", "name"),
    [
        ("+14155550144", "Integer"),
        ("+14155550145", "Numeric"),
        ("+14155550146", "Real"),
        ("+14155550147", "Decimal"),
        ("+14155550149", "Text"),
    ],
)
async def test_a_whole_number_in_a_number_column_is_found(sales: SqlConnector, e164: str, name: str) -> None:
    """INTEGER, NUMERIC, REAL and NUMERIC(14,2) cells holding a phone find their customer."""
    result = await sales.lookup({"e164": e164})
    assert result.data == {"id": ROWS[[r[1] for r in ROWS].index(name)][0], "name": name}


async def test_a_fraction_is_no_number(sales: SqlConnector) -> None:
    """A cell with a real fraction is not cut to its whole part; `check` counts it as unreadable."""
    assert (await sales.lookup({"e164": "+14155550148"})).data is None
    summary = await sales.check()
    assert summary is not None and "1 stored numbers could not be read, e.g. '4155550148.5'" in summary
