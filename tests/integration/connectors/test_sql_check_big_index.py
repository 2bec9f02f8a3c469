"""`screenpop check` waits for a big table's number index, and reads it once.

A full read of a table of millions of rows takes a minute (docs/matching.md);
the connector probe was cut off after `check`'s 10 s ("no answer in 10 s",
FAIL) though the connector worked, and the probe read the table twice (once
to start, once more to check).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from screenpop.cli import check as check_command
from screenpop.testing import make_settings

pytestmark = pytest.mark.postgres
#: The index query sleeps this long; `check`'s short limit is set below it.
SLOW_S = 0.5


async def test_a_slow_index_read_passes_check_and_is_read_once(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """An index read longer than `check`'s per-part limit is waited for, and the table is read once."""
    engine = create_async_engine(pg_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE customers (id INT PRIMARY KEY, phone TEXT)"))
            await conn.execute(text("INSERT INTO customers VALUES (1, '(415) 555-0132')"))
    finally:
        await engine.dispose()
    monkeypatch.setattr(check_command, "CHECK_TIMEOUT_S", SLOW_S / 5)
    block = {
        "name": "sales",
        "kind": "sql",
        "url": pg_url,
        "match": "normalized",
        "index_query": "SELECT id, phone FROM customers, pg_sleep(0.5)",  # SLOW_S
        "query": "SELECT id FROM customers WHERE id IN :keys",
    }
    settings = make_settings([block], store={"url": f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"})
    with caplog.at_level(logging.INFO, logger="screenpop.connectors.sql.keeper"):
        rows = await check_command.run_checks(settings, None)
    probe = next(row for row in rows if row.part == "connector sales")
    assert (probe.ok, probe.detail) == (
        True,
        "reachable; index of 1 numbers from 1 rows; every stored number read",
    )
    reads = [r for r in caplog.records if r.getMessage().startswith("connector sales: index (full)")]
    assert len(reads) == 1
