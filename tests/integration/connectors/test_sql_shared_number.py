"""A number tens of thousands of rows share (a client company's switchboard on every contact) is answered.

Before, `:keys` carried every matching key: past 32,767 the drivers refuse
the statement (asyncpg's and SQLite's parameter limits) and the section
was an error for every call from that switchboard.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from screenpop.connectors.sql import SqlConnector, SqlOptions
from screenpop.plugins import connector_context

CONTACTS = 40_000
SWITCHBOARD = "+12125550000"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def contacts(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SqlConnector]:
    """A started connector over 40,000 contacts sharing the switchboard's number, and one with their own."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'contacts.db'}"
    else:
        url = str(request.getfixturevalue("pg_url"))
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE contacts (id INTEGER PRIMARY KEY, name TEXT, phone TEXT)"))
            rows = [
                {"id": i, "name": f"Contact {i}", "phone": "(212) 555-0000"} for i in range(1, CONTACTS + 1)
            ]
            rows.append({"id": CONTACTS + 1, "name": "Direct line", "phone": "(212) 555-0001"})
            await conn.execute(text("INSERT INTO contacts VALUES (:id, :name, :phone)"), rows)
    finally:
        await engine.dispose()
    options = SqlOptions(
        url=url,
        match="normalized",
        index_query="SELECT id, phone FROM contacts",
        query="SELECT id, name FROM contacts WHERE id IN :keys ORDER BY id",
        rows="many",
        limit=5,
    )
    connector = SqlConnector("contacts", options, connector_context("US", Path("."), None))
    await connector.start()
    yield connector
    await connector.close()


async def test_a_switchboard_number_on_every_contact_answers_with_its_first_rows(
    contacts: SqlConnector,
) -> None:
    """The section lists `limit` of the contacts instead of failing on the driver's parameter limit."""
    result = await contacts.lookup({"e164": SWITCHBOARD})
    assert result.data == {"items": [{"id": i, "name": f"Contact {i}"} for i in range(1, 6)]}
    assert (await contacts.lookup({"e164": "+12125550001"})).data == {
        "items": [{"id": CONTACTS + 1, "name": "Direct line"}]
    }
