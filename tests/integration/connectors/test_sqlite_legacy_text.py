"""Text in a legacy SQLite file that is not UTF-8 (a Windows-1252 export) is read, not an error.

SQLite stores whatever bytes an old application wrote into a TEXT column;
Python's sqlite3 refuses to decode such a value, and one ``Müller`` typed
in Latin-1 failed the whole number index (no caller found on any call),
every query returning that row, and the whole purchase history.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from screenpop.connector_api import ConnectorContext
from screenpop.connectors.purchases import PurchasesConnector
from screenpop.connectors.sql import SqlConnector, SqlOptions
from screenpop.plugins import connector_context

NOW = datetime(2026, 6, 1, tzinfo=UTC)
MUELLER = "M\xfcller".encode("cp1252")  # "Müller" as a Windows application wrote it
PHONE = "+49 30 1234567 Büro".encode("cp1252")


def legacy_file(path: Path) -> str:
    """A SQLite file whose TEXT columns hold Windows-1252 bytes beside UTF-8 ones."""
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE customers (id INTEGER, name TEXT, phone TEXT)")
    db.execute("INSERT INTO customers VALUES (1, 'Ada Lovelace', '+1 (415) 555-0132')")
    db.execute("INSERT INTO customers VALUES (2, CAST(? AS TEXT), CAST(? AS TEXT))", (MUELLER, PHONE))
    db.execute("CREATE TABLE lines (c INTEGER, p TEXT, n TEXT, at TEXT, q INTEGER)")
    for at in ("2026-03-01", "2026-04-01", "2026-05-01"):
        db.execute(
            "INSERT INTO lines VALUES (2, 'SKU-1', CAST(? AS TEXT), ?, 1)",
            ("Kaffeemühle".encode("cp1252"), at),
        )
    db.commit()
    db.close()
    return f"sqlite+aiosqlite:///{path}"


async def lookup(url: str, e164: str, **options: Any) -> dict[str, Any] | None:
    connector = SqlConnector(
        "sales", SqlOptions(url=url, **options), connector_context("DE", Path("."), None)
    )
    await connector.start()
    try:
        return (await connector.lookup({"e164": e164})).data
    finally:
        await connector.close()


async def test_a_normalized_index_reads_a_windows_1252_row(tmp_path: Path) -> None:
    """The index is built, and the Latin-1 customer is found by number with their name read as written."""
    url = legacy_file(tmp_path / "legacy.db")
    options = {
        "match": "normalized",
        "index_query": "SELECT id, phone FROM customers",
        "query": "SELECT id, name FROM customers WHERE id IN :keys",
    }
    assert await lookup(url, "+493012345678", **options) is None
    assert await lookup(url, "+49301234567", **options) == {"id": 2, "name": "Müller"}
    assert await lookup(url, "+14155550132", **options) == {"id": 1, "name": "Ada Lovelace"}


async def test_an_exact_query_returns_a_windows_1252_row(tmp_path: Path) -> None:
    """A query whose row holds Windows-1252 text answers it, decoded, instead of a database error."""
    url = legacy_file(tmp_path / "legacy.db")
    found = await lookup(url, "+49301234567", query="SELECT id, name, phone FROM customers WHERE id = 2")
    assert found == {"id": 2, "name": "Müller", "phone": "+49 30 1234567 Büro"}


async def test_a_purchase_history_with_windows_1252_names_is_advised(tmp_path: Path) -> None:
    """The history is read whole and the product keeps its name (Kaffeemühle)."""
    url = legacy_file(tmp_path / "legacy.db")
    options = {
        "url": url,
        "history_query": "SELECT c AS customer, p AS product, n AS product_name, at FROM lines",
        "refresh_s": 3600,
    }
    context = ConnectorContext(default_region="US", normalize=lambda raw: raw)
    connector = PurchasesConnector("insight", options, context, now=lambda: NOW)
    await connector.start()
    try:
        assert await connector.refresh(), connector.error
        found = (await connector.lookup({"e164": "+49301234567", "sales_id": 2})).data
    finally:
        await connector.close()
    assert found is not None and found["likely_next"][0]["name"] == "Kaffeemühle"
