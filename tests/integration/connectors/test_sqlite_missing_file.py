"""A connector pointed at a SQLite file that does not exist says so, and leaves no empty file behind.

SQLite creates a missing file on connect: a typo in a connector's path
(``acounting.db``) left an empty database beside the real one and answered
``no such table: accounts``, which sent the IT person looking for a table.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from screenpop.connector_api import ConnectorContext
from screenpop.connectors.purchases import PurchasesConnector
from screenpop.connectors.sql import SqlConnector, SqlOptions
from screenpop.errors import ConnectorError
from screenpop.plugins import connector_context


async def test_a_sql_connector_on_a_missing_file_says_it_is_missing(tmp_path: Path) -> None:
    """The lookup's error names the missing file, and no file is created."""
    missing = tmp_path / "acounting.db"
    options = SqlOptions(
        url=f"sqlite+aiosqlite:///{missing}", query="SELECT name FROM accounts WHERE phone = :e164"
    )
    connector = SqlConnector("accounting", options, connector_context("US", Path("."), None))
    await connector.start()
    try:
        with pytest.raises(ConnectorError, match=f"{missing} does not exist"):
            await connector.lookup({"e164": "+14155550132"})
        with pytest.raises(ConnectorError, match=f"{missing} does not exist"):
            await connector.check()
    finally:
        await connector.close()
    assert not missing.exists()


async def test_a_purchases_connector_on_a_missing_file_says_it_is_missing(tmp_path: Path) -> None:
    """The history refresh fails naming the missing file, and no file is created."""
    missing = tmp_path / "sales.db"
    options = {
        "url": f"sqlite+aiosqlite:///{missing}",
        "history_query": "SELECT 1 AS customer, 2 AS product, 3 AS at",
    }
    context = ConnectorContext(default_region="US", normalize=lambda raw: raw)
    connector = PurchasesConnector("insight", options, context, now=lambda: datetime(2026, 6, 1, tzinfo=UTC))
    await connector.start()
    try:
        assert not await connector.refresh()
        assert connector.error is not None and f"{missing} does not exist" in connector.error
    finally:
        await connector.close()
    assert not missing.exists()
