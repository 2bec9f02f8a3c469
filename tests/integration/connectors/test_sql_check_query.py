"""`screenpop check` runs a normalized connector's `query`, not only its `index_query`.

The probe number is rarely in the index, so the test lookup never reached
`query`: a misspelt column passed `check` and failed every real call.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from screenpop.connectors.sql import SqlConnector, SqlOptions
from screenpop.errors import ConnectorError
from screenpop.plugins import connector_context

PHONES = "SELECT customer_id, phone FROM customers"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A customers table keyed by a padded CHAR code, as legacy systems key them."""
    if request.param == "sqlite":
        found = f"sqlite+aiosqlite:///{tmp_path / 'customers.db'}"
    else:
        found = str(request.getfixturevalue("pg_url"))
    engine = create_async_engine(found)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "CREATE TABLE customers "
                    "(customer_id CHAR(8) PRIMARY KEY, name TEXT, region TEXT, phone TEXT)"
                )
            )
            await conn.execute(text("INSERT INTO customers VALUES ('C001', 'Ada', 'US', '(415) 555-0132')"))
    finally:
        await engine.dispose()
    return found


@pytest.fixture
async def make() -> AsyncIterator[Callable[..., Any]]:
    """Build normalized connectors (not started: `check` starts them); close them after the test."""
    made: list[SqlConnector] = []

    def build(url: str, query: str, index_query: str = PHONES) -> SqlConnector:
        options = SqlOptions(url=url, match="normalized", index_query=index_query, query=query)
        connector = SqlConnector("sales", options, connector_context("US", Path("."), None))
        made.append(connector)
        return connector

    yield build
    for connector in made:
        await connector.close()


async def test_a_wrong_column_in_query_fails_check(url: str, make: Callable[..., SqlConnector]) -> None:
    """A column the table lacks fails `check` with the database's reason, though the index loaded."""
    sales = make(url, "SELECT customer_id, nme FROM customers WHERE customer_id IN :keys")
    with pytest.raises(ConnectorError, match=r"^query failed: database error: .*nme"):
        await sales.check()


async def test_a_good_query_passes_check_with_every_parameter(
    url: str, make: Callable[..., SqlConnector]
) -> None:
    """A query that also binds call parameters runs in `check` and reports the index as before."""
    sales = make(
        url, "SELECT customer_id, name FROM customers WHERE customer_id IN :keys AND region = :region"
    )
    assert await sales.check() == "index of 1 numbers from 1 rows; every stored number read"


async def test_an_empty_index_still_runs_the_query(url: str, make: Callable[..., SqlConnector]) -> None:
    """With no row to try, the query is run for no key: its text and columns are still checked."""
    sales = make(
        url, "SELECT nme FROM customers WHERE customer_id IN :keys", index_query=f"{PHONES} WHERE 1 = 0"
    )
    with pytest.raises(ConnectorError, match=r"^query failed: database error: .*nme"):
        await sales.check()
