"""A full read's worker processes stop with it: a cancelled or failed read leaves none reading on.

A big table's read can run for minutes in its workers (``connectors/sql/reading.py``);
a connector closed meanwhile (a reload, a shutdown) or a read cut off by its
timeout must not leave them reading the customer table in the background.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import sqlite3
from pathlib import Path

import pytest

from screenpop.connectors.sql.reading import FullRead, read_in_workers
from screenpop.errors import ConnectorError
from screenpop.plugins import connector_context
from tests.support.waiting import wait_for

#: A statement that works for seconds before its first row, holding no memory meanwhile.
SLOW_QUERY = (
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 2000000000) "
    "SELECT max(x) AS id, '415 555 0132' AS phone FROM c"
)


def job(tmp_path: Path, query: str, timeout_ms: int = 600_000) -> FullRead:
    path = tmp_path / "customers.db"
    sqlite3.connect(path).close()
    return FullRead(
        url=f"sqlite+aiosqlite:///{path}",
        query=query,
        bound={},
        region_column=None,
        timeout_ms=timeout_ms,
        connect_args={},
        server_timeout=False,
        secrets=(),
        sqlite_path=str(path),
    )


def _new_children(before: set[int | None]) -> list[multiprocessing.process.BaseProcess]:
    return [p for p in multiprocessing.active_children() if p.pid not in before]


async def _workers_started(before: set[int | None]) -> list[multiprocessing.process.BaseProcess]:
    started: list[multiprocessing.process.BaseProcess] = await wait_for(
        lambda: _new_children(before), 60, "the read's worker processes"
    )
    return started


async def _all_stopped(workers: list[multiprocessing.process.BaseProcess]) -> bool:
    stopped: bool = await wait_for(lambda: not any(w.is_alive() for w in workers), 30, "every worker stopped")
    return stopped


US = connector_context("US", Path("."), None)


async def test_a_cancelled_read_stops_its_workers(tmp_path: Path) -> None:
    """A connector closed mid-read: its workers are stopped, not left reading for minutes."""
    before = {p.pid for p in multiprocessing.active_children() if p.pid is not None}
    reading = asyncio.create_task(
        read_in_workers(job(tmp_path, SLOW_QUERY), connector_context("US", Path("."), None))
    )
    workers = await _workers_started(before)
    reading.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reading
    assert await _all_stopped(workers)


async def test_a_read_cut_off_by_its_timeout_stops_its_workers_and_says_so(tmp_path: Path) -> None:
    """A read past its time: one clear error, and no worker reading on."""
    before = {p.pid for p in multiprocessing.active_children()}
    reading = asyncio.create_task(read_in_workers(job(tmp_path, SLOW_QUERY, timeout_ms=300), US))
    workers = await _workers_started(before)
    with pytest.raises(ConnectorError, match="longer than 300 ms"):
        await reading
    assert await _all_stopped(workers)


async def test_a_failing_query_is_one_clear_error(tmp_path: Path) -> None:
    """A query the database refuses: the workers' safe error, once."""
    with pytest.raises(ConnectorError, match="no such table"):
        await read_in_workers(
            job(tmp_path, "SELECT id, phone FROM nowhere"), connector_context("US", Path("."), None)
        )


async def test_a_worker_killed_mid_read_is_a_clear_error_and_stops_the_others(tmp_path: Path) -> None:
    """A worker gone without a word (the kernel's OOM killer): one clear error, no worker left."""
    before = {p.pid for p in multiprocessing.active_children()}
    reading = asyncio.create_task(read_in_workers(job(tmp_path, SLOW_QUERY), US))
    workers = await _workers_started(before)
    workers[0].kill()
    with pytest.raises(ConnectorError, match="an index worker stopped unexpectedly"):
        await reading
    assert await _all_stopped(workers)
