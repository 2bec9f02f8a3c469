"""A database that restarted, or that accepts connections and never answers, as a running service meets it.

Before, the first call after a PostgreSQL restart got `error: connection is
closed` in every SQL section, though the database was up again; and a
database that never answered held `screenpop serve` for asyncpg's minute,
then said the index query "ran longer than 600000 ms".
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from screenpop.connectors.sql import SqlConnector, SqlOptions
from screenpop.connectors.sql import options as sql_options
from screenpop.errors import ConnectorError
from screenpop.plugins import connector_context

pytestmark = pytest.mark.postgres


async def run(url: str, *statements: str) -> list[object]:
    """Statements on a connection of their own (the database's administrator)."""
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            results = [await conn.execute(text(s)) for s in statements]
            return [r.scalar() if r.returns_rows else None for r in results]
    finally:
        await engine.dispose()


@pytest.fixture
async def accounting(pg_url: str) -> AsyncIterator[SqlConnector]:
    """An exact-match connector on a one-customer table, started."""
    await run(
        pg_url,
        "CREATE TABLE accounts (account_id TEXT, name TEXT, phone TEXT)",
        "INSERT INTO accounts VALUES ('A-1', 'Ada', '+14155550132')",
    )
    options = SqlOptions(url=pg_url, query="SELECT account_id, name FROM accounts WHERE phone = :e164")
    connector = SqlConnector("accounting", options, connector_context("US", Path("."), None))
    await connector.start()
    yield connector
    await connector.close()


async def test_a_lookup_after_the_server_closed_the_pool_is_answered(
    pg_url: str, accounting: SqlConnector
) -> None:
    """The pooled connection the server ended is replaced within the same lookup."""
    assert (await accounting.lookup({"e164": "+14155550132"})).data == {"account_id": "A-1", "name": "Ada"}
    ended = await run(
        pg_url,
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    assert ended == [1]
    assert (await accounting.lookup({"e164": "+14155550132"})).data == {"account_id": "A-1", "name": "Ada"}


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port whose listener accepts connections and never says a word (a hung server)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    yield listener.getsockname()[1]
    listener.close()


async def test_a_silent_database_is_unreachable_within_the_connect_timeout(
    silent_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Start-up waits the connect timeout, not the driver's minute, and says the database is unreachable."""
    monkeypatch.setattr(sql_options, "CONNECT_TIMEOUT_S", 0.5, raising=False)
    options = SqlOptions(
        url=f"postgresql+asyncpg://screenpop@127.0.0.1:{silent_port}/sales",
        match="normalized",
        index_query="SELECT customer_id, phone FROM customers",
        query="SELECT customer_id, name FROM customers WHERE customer_id IN :keys",
    )
    connector = SqlConnector("sales", options, connector_context("US", Path("."), None))
    try:
        async with asyncio.timeout(20):
            await connector.start()
        with pytest.raises(ConnectorError, match=r"^number index not loaded yet: cannot reach database$"):
            await connector.lookup({"e164": "+14155550132"})
    finally:
        await connector.close()
