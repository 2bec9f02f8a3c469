"""The ``purchases`` connector on the order tables legacy sales databases really have, SQLite and PostgreSQL.

NULLs where a key or a time should be, returns as negative quantities,
``CHAR(n)`` padding, keys typed differently in two tables, dates instead of
times, ISO text with a ``T``, a line dated years ahead: each was read wrongly
once (a whole refresh failed, a return counted as a purchase, a ``:since``
refresh missed or doubled lines).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from screenpop.connector_api import ConnectorContext, ConnectorTrace, tracing
from screenpop.connectors.purchases import PurchasesConnector
from tests.support.waiting import wait_for

NOW = datetime(2026, 6, 1, tzinfo=UTC)
QUERY = "SELECT c AS customer, p AS product, n AS product_name, at, q AS quantity FROM lines"
SINCE_QUERY = f"{QUERY} WHERE at > :since"
INSERT = text("INSERT INTO lines VALUES (:v0, :v1, :v2, :v3, :v4)")
TIMES = "CREATE TABLE lines (c INTEGER, p VARCHAR(20), n VARCHAR(40), at TIMESTAMP, q INTEGER)"


def ago(days: float) -> datetime:
    """A naive moment ``days`` before NOW (negative: after it), as a TIMESTAMP column holds it."""
    return (NOW - timedelta(days=days)).replace(tzinfo=None)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'sales.db'}"
    return str(request.getfixturevalue("pg_url"))


async def table(url: str, ddl: str, rows: list[tuple[Any, ...]]) -> None:
    """Create ``lines`` with ``ddl`` (unless empty), add rows of customer, product, name, at, quantity."""
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        if ddl:
            await conn.execute(text(ddl))
        for row in rows:
            await conn.execute(INSERT, {f"v{i}": value for i, value in enumerate(row)})
    await engine.dispose()


@pytest.fixture
async def make() -> AsyncIterator[Callable[..., Any]]:
    """Started connectors, refreshed once, closed after the test."""
    made: list[PurchasesConnector] = []

    async def build(url: str, query: str = QUERY, **options: Any) -> PurchasesConnector:
        opts = {"url": url, "history_query": query, "refresh_s": 3600, "min_customers": 2, **options}
        context = ConnectorContext(default_region="US", normalize=lambda raw: raw)
        connector = PurchasesConnector("sales", opts, context, now=lambda: NOW)
        made.append(connector)
        await connector.start()
        assert await connector.refresh(), connector.error
        return connector

    yield build
    for connector in made:
        await connector.close()


async def advice(connector: PurchasesConnector, key: Any) -> dict[str, Any] | None:
    return (await connector.lookup({"e164": "+14155550132", "crm_customer_id": key})).data


def first(found: dict[str, Any] | None) -> dict[str, Any]:
    assert found is not None and found["likely_next"], found
    item: dict[str, Any] = found["likely_next"][0]
    return item


async def test_a_line_without_a_readable_time_is_left_out_not_the_whole_history(
    url: str, make: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A NULL ``at`` (or in SQLite a date typed 01/03/2026) is left out and logged; the rest is advised."""
    rows = [(1, "A", "Apple", ago(10), 1), (1, "A", "Apple", None, 1), (1, "A", "Apple", ago(40), 1)]
    await table(url, TIMES, rows)
    if url.startswith("sqlite"):
        await table(url, "", [(1, "A", "Apple", "01/03/2026", 1)])
    with caplog.at_level(logging.WARNING):
        connector = await make(url)
    item = first(await advice(connector, 1))
    assert (item["times"], item["reason"]) == (2, "bought 2 times, about every 30 days; last 10 days ago")
    left_out = "2 order lines (2" if url.startswith("sqlite") else "1 order line (1"
    assert f"left out {left_out} with no readable time)" in caplog.text


async def test_a_trace_says_why_a_customer_with_only_unreadable_lines_has_no_advice(
    url: str, make: Any
) -> None:
    """The IT person's `lookup --trace` shows that the customer's lines were left out, and why."""
    await table(
        url, TIMES, [(7, "A", "Apple", None, 1), (7, "A", "Apple", ago(3), -1), (1, "A", "Apple", ago(3), 1)]
    )
    connector = await make(url)
    with tracing(ConnectorTrace()) as trace:
        assert await advice(connector, 7) is None
    why = "1 with no readable time, 1 with a quantity of 0 or less"
    assert trace.notes[1] == f"the last read left out 2 order lines ({why})"


async def test_null_customers_and_products_are_never_a_key_or_an_item(url: str, make: Any) -> None:
    """Walk-in sales (NULL customer) are nobody's history, and a NULL product is never offered as "None"."""
    rows = [(None, "A", "Apple", ago(10), 1), (None, "A", "Apple", ago(20), 1)]
    rows += [(1, None, None, ago(10), 1), (1, None, None, ago(20), 1), (1, "B", "Bread", ago(5), 1)]
    rows += [(1, "B", "Bread", ago(15), 1), (2, "", "", ago(3), 1), (2, "", "", ago(4), 1)]
    await table(url, TIMES, rows)
    connector = await make(url)
    assert await advice(connector, None) is None
    assert await advice(connector, "None") is None
    assert [item["product"] for item in (await advice(connector, 1) or {})["likely_next"]] == ["B"]
    assert await advice(connector, 2) is None  # blank product codes only: nothing bought


async def test_returns_and_zero_quantities_are_not_purchases(url: str, make: Any) -> None:
    """A credit note (negative quantity) or a zero line is not an order: "bought 2 times" is two purchases."""
    rows = [(1, "A", "Apple", ago(100), 2), (1, "A", "Apple", ago(70), -2), (1, "A", "Apple", ago(50), 0)]
    rows += [(1, "A", "Apple", ago(40), 2), (2, "A", "Apple", ago(30), -1)]
    await table(url, TIMES, rows)
    connector = await make(url)
    item = first(await advice(connector, 1))
    assert (item["times"], item["usual_quantity"]) == (2, 2)
    assert item["reason"] == "bought 2 times, about every 60 days, usually 2; last 40 days ago"
    assert await advice(connector, 2) is None  # only a return: no order line to advise from


@pytest.mark.postgres
async def test_keys_match_across_numeric_types_and_char_padding(pg_url: str, make: Any) -> None:
    """A NUMERIC(10,2) customer id is found as 42, "42" or 42.0; a CHAR(10) code is "A", not "A         "."""
    ddl = "CREATE TABLE lines (c NUMERIC(10, 2), p CHAR(10), n CHAR(20), at DATE, q NUMERIC(8, 3))"
    await table(
        pg_url, ddl, [(42, "A", "Apple", ago(10).date(), 1.5), (42, "A ", "Apple", ago(40).date(), 2)]
    )
    connector = await make(pg_url)
    for key in (42, "42", 42.0, " 42 "):
        item = first(await advice(connector, key))
        assert (item["product"], item["name"], item["times"], item["usual_quantity"]) == (
            "A",
            "Apple",
            2,
            1.75,
        )


async def test_a_real_customer_column_matches_an_integer_key(tmp_path: Path, make: Any) -> None:
    """SQLite hands back 42.0 from a REAL column; the call binds 42 from the CRM: the same customer."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'sales.db'}"
    ddl = "CREATE TABLE lines (c REAL, p TEXT, n TEXT, at TEXT, q REAL)"
    await table(url, ddl, [(42.0, "A", "Apple", "2026-05-01", 1), (42.0, "A", "Apple", "2026-05-21", 1)])
    connector = await make(url)
    for key in (42, "42", 42.0):
        assert first(await advice(connector, key))["times"] == 2


async def test_since_reads_lines_added_later_with_the_newest_date(url: str, make: Any) -> None:
    """With a DATE column, an order entered after a refresh on the same day is read by the next one."""
    sqlite = url.startswith("sqlite")
    ddl = "CREATE TABLE lines (c INTEGER, p VARCHAR(20), n VARCHAR(40), at DATE, q INTEGER)"
    day = (lambda d: f"{ago(d).date()}") if sqlite else (lambda d: ago(d).date())
    await table(url, ddl, [(1, "A", "Apple", day(40), 1), (1, "A", "Apple", day(10), 1)])
    connector = await make(url, SINCE_QUERY)
    await table(url, "", [(1, "B", "Bread", day(10), 1), (1, "B", "Bread", day(40), 1)])
    for _ in range(3):
        assert await connector.refresh()
    found = await advice(connector, 1) or {}
    assert {item["product"]: item["times"] for item in found["likely_next"]} == {"A": 2}
    assert len(connector._history) == 3  # B of day 10 read once; B of day 40 is behind :since (documented)
    assert connector.model is not None and "B" in connector.model.product_keys


async def test_since_over_iso_text_with_a_t_never_counts_a_line_twice(tmp_path: Path, make: Any) -> None:
    """ISO text "2026-05-01T10:00:00" sorts after the bound "2026-05-01 10:00:00": read again, not twice."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'sales.db'}"
    ddl = "CREATE TABLE lines (c TEXT, p TEXT, n TEXT, at TEXT, q REAL)"
    await table(
        url,
        ddl,
        [("1", "A", "Apple", "2026-04-01T10:00:00", 1), ("1", "A", "Apple", "2026-05-01T10:00:00", 1)],
    )
    connector = await make(url, SINCE_QUERY)
    for _ in range(3):
        assert await connector.refresh()
    item = first(await advice(connector, 1))
    assert (item["times"], item["usual_quantity"], len(connector._history)) == (2, 1, 2)


async def test_a_line_dated_years_ahead_does_not_stop_since_refreshes(url: str, make: Any) -> None:
    """A typo dated 2066 neither hides the orders entered after it nor counts as a repeat purchase."""
    rows = [(1, "A", "Apple", ago(100), 1), (1, "A", "Apple", ago(-3650 * 4), 1)]
    await table(url, TIMES, [*rows, (2, "A", "Apple", ago(300), 1), (2, "A", "Apple", ago(200), 1)])
    connector = await make(url, SINCE_QUERY)
    reason = first(await advice(connector, 1))["reason"]
    assert reason == "bought once, 100 days ago; 50% of its buyers buy it again"  # customer 2 did, not 1
    await table(url, "", [(1, "A", "Apple", ago(5), 1)])
    assert await connector.refresh()
    assert await connector.refresh()
    item = first(await advice(connector, 1))
    assert (item["times"], item["reason"]) == (2, "bought 2 times, about every 95 days; last 5 days ago")
    assert len(connector._history) == 5


async def test_columns_named_in_another_case_are_the_columns_the_spec_names(url: str, make: Any) -> None:
    """A history_query whose columns come back as "Customer", "PRODUCT", "At" (legacy case) is read."""
    await table(url, TIMES, [(1, "A", "Apple", ago(10), 2), (1, "A", "Apple", ago(40), 2)])
    query = (
        'SELECT c AS "Customer", p AS "PRODUCT", n AS "Product_Name", at AS "At", q AS "Quantity" FROM lines'
    )
    item = first(await advice(await make(url, query), 1))
    assert (item["name"], item["times"], item["usual_quantity"]) == ("Apple", 2, 2)


async def test_a_renamed_product_shows_its_latest_name(url: str, make: Any) -> None:
    """The name on the newest line wins, whatever order the query returns the lines in."""
    rows = [
        (1, "A", "Widget (new)", ago(5), 1),
        (1, "A", "Widget", ago(50), 1),
        (1, "A", "Widget", ago(90), 1),
    ]
    await table(url, TIMES, rows)
    connector = await make(url, f"{QUERY} ORDER BY at DESC")
    assert first(await advice(connector, 1))["name"] == "Widget (new)"


@pytest.mark.postgres
async def test_closing_during_a_blocked_read_stops_the_worker_at_once(pg_url: str, make: Any) -> None:
    """A history read stuck behind a table lock no longer holds shutdown: close ends, the worker is gone."""
    await table(pg_url, TIMES, [(1, "A", "Apple", ago(10), 1)])
    connector = await make(pg_url)
    await connector.check()  # the refresh start() began is over: the one below is the only one
    engine = create_async_engine(pg_url)
    try:
        async with engine.connect() as locker, locker.begin():
            await locker.execute(text("LOCK TABLE lines IN ACCESS EXCLUSIVE MODE"))
            refreshing = asyncio.create_task(connector.refresh())
            await wait_for(lambda: scalar(engine, BLOCKED), 30, "the history read to wait on the lock")
            assert connector._pool is not None
            workers = list(connector._pool._processes.values())
            await asyncio.wait_for(connector.close(), timeout=20)
            assert workers and not any(process.is_alive() for process in workers)
            assert not await refreshing  # the model read before stays; the refresh says it failed
    finally:
        await engine.dispose()


BLOCKED = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%FROM lines%'"


async def scalar(engine: Any, query: str) -> Any:
    async with engine.connect() as conn:
        return (await conn.execute(text(query))).scalar()


@pytest.mark.postgres
async def test_infinite_times_are_not_orders(pg_url: str, make: Any) -> None:
    """PostgreSQL's ``-infinity`` (an "open" date in legacy rows) was an order in year 1: it is left out."""
    await table(pg_url, TIMES, [(1, "A", "Apple", ago(10), 1), (1, "A", "Apple", ago(40), 1)])
    engine = create_async_engine(pg_url)
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO lines VALUES (1, 'A', 'Apple', '-infinity', 1), (1, 'A', 'Apple', 'infinity', 1)"
            )
        )
    await engine.dispose()
    connector = await make(pg_url)
    item = first(await advice(connector, 1))
    assert (item["times"], item["reason"]) == (2, "bought 2 times, about every 30 days; last 10 days ago")
    assert connector.skipped == {"no readable time": 2}


async def test_compact_text_dates_are_read_as_dates_and_words_are_not_times(
    tmp_path: Path, make: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """An ERP's ``20260502`` text is 2 May 2026 (not year -219091), and "now" or "12345" is no time at all."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'sales.db'}"
    ddl = "CREATE TABLE lines (c TEXT, p TEXT, n TEXT, at CHAR(10), q REAL)"
    rows = [("1", "A", "Apple", at, 1) for at in ("20260502", "20260516", "now", "12345")]
    await table(url, ddl, rows)
    with caplog.at_level(logging.WARNING):
        connector = await make(url)
    item = first(await advice(connector, 1))
    assert (item["times"], item["reason"]) == (2, "bought 2 times, about every 14 days; last 16 days ago")
    assert "left out 2 order lines (2 with no readable time)" in caplog.text


@pytest.mark.parametrize(
    ("separator", "zone"), [(" ", "-05:00"), ("T", "-05:00"), (" ", "-05"), (" ", " -0500")]
)
async def test_since_over_text_with_a_zone_west_of_utc_reads_the_next_lines(
    tmp_path: Path, make: Any, separator: str, zone: str
) -> None:
    """Text times with ``-05:00`` (a US shop's app) compare as text: ``:since`` is bound in their style.

    Bound as UTC wall time, "2026-05-02 03:59:59" sorted after the next
    evening's "2026-05-01 23:30:00-05:00": lines entered in the five hours
    after the newest one were never read.
    """
    url = f"sqlite+aiosqlite:///{tmp_path / 'sales.db'}"
    ddl = "CREATE TABLE lines (c TEXT, p TEXT, n TEXT, at TEXT, q REAL)"
    when = [
        f"2026-{day}{separator}{time}{zone}" for day, time in (("04-01", "22:00:00"), ("05-01", "23:00:00"))
    ]
    await table(url, ddl, [("1", "A", "Apple", at, 1) for at in when])
    connector = await make(url, SINCE_QUERY)
    await table(url, "", [("1", "A", "Apple", f"2026-05-01{separator}23:30:00{zone}", 1)])
    await table(url, "", [("1", "A", "Apple", f"2026-05-02{separator}01:00:00{zone}", 1)])
    for _ in range(2):
        assert await connector.refresh()
    assert (first(await advice(connector, 1))["times"], len(connector._history)) == (4, 4)
