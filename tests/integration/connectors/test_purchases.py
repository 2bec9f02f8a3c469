"""The ``purchases`` connector against a hand-made order history in real SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from screenpop.config import settings_from_mapping
from screenpop.connector_api import ENTRY_POINT_GROUP, ConnectorContext
from screenpop.connectors.purchases import PurchasesConnector, PurchasesOptions
from screenpop.connectors.purchases import connector as module
from screenpop.errors import ConfigError, ConnectorError
from screenpop.lookup import LookupEngine
from screenpop.model import SectionStatus
from screenpop.phone import parse_caller
from screenpop.plugins import build_connectors, connector_context
from screenpop.testing import make_settings
from tests.support.waiting import wait_for

NOW = datetime(2026, 6, 1, tzinfo=UTC)
QUERY = (
    "SELECT customer_id AS customer, sku AS product, product_name, ordered_at AS at, qty AS quantity "
    "FROM order_lines"
)
SINCE_QUERY = f"{QUERY} WHERE ordered_at > :since"
KEY = "crm_customer_id"

CADENCE, NEWBIE, ONE_OFF, BULK, LATE_SOAP, NOBODY = 1, 2, 3, 4, 45, 999
BUNDLE = range(10, 19)  # nine laptop buyers; the first seven also bought a bag, two a tripod
OTHERS = range(30, 35)  # buyers of a mug only, so a bag is rarer than among laptop buyers
SOAP = range(40, 45)  # soap buyers 120 days ago; the first three bought it again 10 days ago
BULK_QUANTITIES = [(5,), (2, 3), (4,), (6,), (5,)]  # paper every 14 days; two lines in one order add up
AS_OF = NOW - timedelta(days=93)  # a day after the 4th coffee order, before the bundles and the soap repeats


def day(value: datetime) -> datetime:
    return value.replace(tzinfo=None)


def history() -> list[tuple[int, str, str, datetime, int]]:
    """Lines with known answers: coffee every 30 days, laptop + bag bundles, a sofa once."""
    lines = []
    last_coffee = NOW - timedelta(days=34)
    lines += [
        (CADENCE, "C1", "Coffee beans 1kg", day(last_coffee - timedelta(days=30 * i)), 1) for i in range(6)
    ]
    bundle_day = NOW - timedelta(days=60)
    for n, customer in enumerate(BUNDLE):
        lines.append((customer, "L14", "Laptop 14in", day(bundle_day), 1))
        if n < 7:
            lines.append((customer, "BAG", "Laptop bag", day(bundle_day), 1))
        if n < 2:
            lines.append((customer, "TRI", "Tripod", day(bundle_day), 1))
    lines.append((NEWBIE, "L14", "Laptop 14in", day(NOW - timedelta(days=5)), 1))
    lines.append((ONE_OFF, "SOFA", "Sofa", day(NOW - timedelta(days=200)), 1))
    lines += [(customer, "MUG", "Mug", day(NOW - timedelta(days=90)), 2) for customer in OTHERS]
    for n, quantities in enumerate(BULK_QUANTITIES):
        at = day(NOW - timedelta(days=3 + 14 * n))
        lines += [(BULK, "P5", "Paper, 5 reams", at, q) for q in quantities]
    for n, customer in enumerate(SOAP):
        lines.append((customer, "SOAP", "Soap", day(NOW - timedelta(days=120)), 1))
        if n < 3:
            lines.append((customer, "SOAP", "Soap", day(NOW - timedelta(days=10)), 1))
    lines.append((LATE_SOAP, "SOAP", "Soap", day(NOW - timedelta(days=100)), 1))
    return lines


async def insert(url: str, lines: list[tuple[int, str, str, datetime, int]]) -> None:
    """Write order lines; SQLite gets ISO text, as applications usually store it there."""
    engine = create_async_engine(url)
    sqlite = url.startswith("sqlite")
    rows = [
        {"c": c, "p": p, "n": n, "at": f"{at:%Y-%m-%d %H:%M:%S}" if sqlite else at, "q": q}
        for c, p, n, at, q in lines
    ]
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "CREATE TABLE IF NOT EXISTS order_lines (customer_id INTEGER, sku VARCHAR(20),"
                " product_name VARCHAR(80), ordered_at TIMESTAMP, qty INTEGER)"
            )
        )
        if rows:
            await conn.execute(text("INSERT INTO order_lines VALUES (:c, :p, :n, :at, :q)"), rows)
    await engine.dispose()


async def execute(url: str, statement: str) -> None:
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await conn.execute(text(statement))
    await engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database holding the hand-made history."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'sales.db'}"
    else:
        url = str(request.getfixturevalue("pg_url"))
    await insert(url, history())
    return url


@pytest.fixture
async def make() -> AsyncIterator[Callable[..., Any]]:
    """Builds started connectors (with a refresh far in the future) and closes them after the test."""
    made: list[PurchasesConnector] = []

    async def build(url: str, *, ready: bool = True, **options: Any) -> PurchasesConnector:
        opts = {"url": url, "history_query": QUERY, "refresh_s": 3600, "min_customers": 5, **options}
        context = ConnectorContext(default_region="US", normalize=lambda raw: raw)
        connector = PurchasesConnector("sales", opts, context, now=lambda: NOW)
        made.append(connector)
        await connector.start()
        if ready:
            assert await connector.refresh()
        return connector

    yield build
    for connector in made:
        await connector.close()


def params(customer: Any, **extra: Any) -> dict[str, Any]:
    return {"e164": "+14155550132", "digits": "4155550132", "region": "US", KEY: customer, **extra}


async def test_cadence_buyer_gets_the_item_with_its_true_cadence(db_url: str, make: Any) -> None:
    """A customer who bought coffee every 30 days is told so, with counts taken from the data."""
    connector = await make(db_url)
    result = await connector.lookup(params(CADENCE))
    assert result.data is not None
    item = result.data["likely_next"][0]
    coffee = sorted(at for c, p, _, at, _ in history() if c == CADENCE and p == "C1")
    every = round((coffee[-1] - coffee[0]).days / (len(coffee) - 1))
    ago = (day(NOW) - coffee[-1]).days
    assert (item["product"], item["name"], item["times"]) == ("C1", "Coffee beans 1kg", len(coffee))
    assert item["reason"] == f"bought {len(coffee)} times, about every {every} days; last {ago} days ago"
    assert item["reason"] == "bought 6 times, about every 30 days; last 34 days ago"
    assert 0 < item["score"] <= 1
    assert result.data["as_of"] == NOW.isoformat()


async def test_bundle_suggests_the_companion_with_its_share(db_url: str, make: Any) -> None:
    """A laptop buyer without a bag is offered the bag, with the share of laptop buyers who bought one."""
    connector = await make(db_url)
    result = await connector.lookup(params(NEWBIE))
    assert result.data is not None
    lines = history()
    laptop = {c for c, p, *_ in lines if p == "L14"}
    both = laptop & {c for c, p, *_ in lines if p == "BAG"}
    share = round(100 * len(both) / len(laptop))
    [bag] = result.data["goes_with"]  # the tripod: only two customers' evidence, below min_customers
    assert (bag["product"], bag["with"], bag["with_name"]) == ("BAG", "L14", "Laptop 14in")
    assert bag["customers"] == len(both)
    assert bag["reason"] == f"{share}% of customers who bought Laptop 14in also bought it"
    assert bag["score"] == pytest.approx(len(both) / len(laptop), abs=1e-4)
    assert bag["lift"] > 1


async def test_goes_with_never_offers_what_the_customer_bought(db_url: str, make: Any) -> None:
    """A customer who bought the laptop and the bag is offered neither as a companion."""
    connector = await make(db_url)
    result = await connector.lookup(params(BUNDLE[0]))
    assert result.data is not None
    assert {i["product"] for i in result.data["goes_with"]}.isdisjoint({"L14", "BAG", "TRI"})


async def test_one_off_buyer_of_what_nobody_buys_twice_gets_no_likely_next(db_url: str, make: Any) -> None:
    """A sofa bought once, whose buyers never buy it again, is no likely next purchase; the buyer is found."""
    connector = await make(db_url)
    sofa = (await connector.lookup(params(ONE_OFF))).data
    assert sofa is not None
    assert sofa["likely_next"] == [] and sofa["goes_with"] == []


async def test_customer_without_orders_is_not_found(db_url: str, make: Any) -> None:
    """A customer key with no order lines is not_found (no data)."""
    connector = await make(db_url)
    result = await connector.lookup(params(NOBODY))
    assert result.data is None and result.rows == 0


async def test_as_of_hides_later_orders(db_url: str, make: Any) -> None:
    """With as_of in the past, orders after it do not count and days are counted from it."""
    connector = await make(db_url, as_of=AS_OF.isoformat())
    result = await connector.lookup(params(CADENCE))
    assert result.data is not None and result.data["as_of"] == AS_OF.isoformat()
    [item] = result.data["likely_next"]
    assert item["times"] == 4 and item["reason"] == "bought 4 times, about every 30 days; last 1 day ago"
    assert (await connector.lookup(params(NEWBIE))).data is None  # first order 5 days ago: after as_of


async def test_as_of_keeps_the_future_out_of_population_rates(db_url: str, make: Any) -> None:
    """The soap's repeat rate and the laptop's companions are those known at as_of, not today's."""
    lines = history()
    soap = [(c, at) for c, p, _, at, _ in lines if p == "SOAP"]

    def repeat_share(until: datetime) -> int:
        counts = [sum(1 for c, at in soap if c == buyer and at <= until) for buyer in {c for c, _ in soap}]
        bought = [n for n in counts if n]
        return round(100 * sum(1 for n in bought if n > 1) / len(bought))

    today = await make(db_url)
    then = await make(db_url, as_of=AS_OF.isoformat())
    now_data, then_data = (
        (await today.lookup(params(LATE_SOAP))).data,
        (await then.lookup(params(LATE_SOAP))).data,
    )
    assert now_data is not None and then_data is not None
    now_item = now_data["likely_next"][0]
    assert repeat_share(day(NOW)) == 50 and repeat_share(day(AS_OF)) == 0
    assert now_item["reason"] == "bought once, 100 days ago; 50% of its buyers buy it again"
    # as of then no soap buyer had bought it again: bought once, it was no likely next purchase
    assert then_data["likely_next"] == []
    assert then.model is not None and then.model.customers == len(
        {c for c, _, _, at, _ in lines if at <= day(AS_OF)}
    )
    laptop_buyer = await then.lookup(params(BUNDLE[0]))  # the bundles were bought after as_of
    assert laptop_buyer.data is None


async def test_quantity_gives_the_usual_amount(db_url: str, make: Any) -> None:
    """The median quantity per order (lines of one order added up) is carried and said."""
    connector = await make(db_url)
    result = await connector.lookup(params(BULK))
    assert result.data is not None
    [item] = result.data["likely_next"]
    per_order = sorted(sum(q) for q in BULK_QUANTITIES)
    usual = per_order[len(per_order) // 2]
    assert item["times"] == len(BULK_QUANTITIES) and item["usual_quantity"] == usual == 5
    assert (
        item["reason"]
        == f"bought {len(BULK_QUANTITIES)} times, about every 14 days, usually {usual}; last 3 days ago"
    )


async def test_counts_come_from_config(db_url: str, make: Any) -> None:
    """likely_next and goes_with lengths follow their config counts, zero included."""
    connector = await make(db_url, likely_next=0, goes_with=0)
    result = await connector.lookup(params(NEWBIE))
    assert result.data is not None
    assert result.data["likely_next"] == [] and result.data["goes_with"] == []


async def test_not_ready_is_an_error_at_once(db_url: str, make: Any) -> None:
    """Before the first model is built a lookup fails at once with a clear text."""
    connector = await make(db_url, ready=False)
    with pytest.raises(ConnectorError, match="insight model not ready yet"):
        await connector.lookup(params(CADENCE))


async def test_failed_refresh_keeps_the_previous_model(db_url: str, make: Any) -> None:
    """When the history can no longer be read, lookups go on with the last model."""
    connector = await make(db_url)
    await execute(db_url, "DROP TABLE order_lines")
    assert not await connector.refresh()
    assert connector.error is not None and db_url not in connector.error
    result = await connector.lookup(params(CADENCE))
    assert result.data is not None and result.data["likely_next"][0]["times"] == 6


async def test_incremental_refresh_reads_only_new_lines(db_url: str, make: Any) -> None:
    """With :since, a refresh adds the new lines and never re-reads the old ones."""
    connector = await make(db_url, history_query=SINCE_QUERY)
    newest = max(at for *_, at, _ in history())
    assert newest < day(NOW - timedelta(days=2))  # so the new line is after everything read
    await insert(db_url, [(CADENCE, "C1", "Coffee beans 1kg", day(NOW - timedelta(days=2)), 1)])
    await execute(db_url, "UPDATE order_lines SET sku = 'GONE' WHERE sku = 'SOFA'")  # an old line
    assert await connector.refresh()
    coffee = (await connector.lookup(params(CADENCE))).data
    sofa = (await connector.lookup(params(ONE_OFF))).data
    assert coffee is not None and sofa is not None
    assert coffee["likely_next"][0]["times"] == 7
    assert coffee["likely_next"][0]["reason"].endswith("last 2 days ago")
    assert connector.model is not None  # not re-read: the old line is kept as it was read
    assert "SOFA" in connector.model.product_keys and "GONE" not in connector.model.product_keys


@pytest.mark.postgres
@pytest.mark.parametrize("zone", ["America/Los_Angeles", "Asia/Tokyo"])
async def test_incremental_refresh_of_a_timestamptz_column_whatever_the_servers_time_zone(
    pg_url: str, make: Any, zone: str
) -> None:
    """After a ``:since`` refresh the model is what a full read gives, on a server west or east of UTC.

    Bound as a naive ``timestamp``, ``:since`` was read in the session's
    TimeZone: eight hours late in Los Angeles (a line two hours after the
    newest was skipped), nine hours early in Tokyo (the lines of those hours
    read again).
    """
    database = pg_url.rsplit("/", 1)[1]
    await execute(pg_url, f"ALTER DATABASE {database} SET timezone = '{zone}'")
    await execute(
        pg_url,
        "CREATE TABLE order_lines (customer_id INTEGER, sku VARCHAR(20),"
        " product_name VARCHAR(80), ordered_at TIMESTAMPTZ, qty INTEGER)",
    )
    lines = [(c, p, n, at.replace(tzinfo=UTC), q) for c, p, n, at, q in history()]
    await insert(pg_url, lines)
    incremental = await make(pg_url, history_query=SINCE_QUERY)
    newest = max(at for *_, at, _ in lines)
    await insert(pg_url, [(CADENCE, "C1", "Coffee beans 1kg", newest + timedelta(hours=2), 1)])
    assert await incremental.refresh()
    full = await make(pg_url)
    for customer in (CADENCE, BULK):
        assert (await incremental.lookup(params(customer))).data == (await full.lookup(params(customer))).data
    coffee = (await incremental.lookup(params(CADENCE))).data
    assert coffee is not None and coffee["likely_next"][0]["times"] == 7


def config(**block: Any) -> dict[str, Any]:
    """A whole screenpop config with a crm connector and one purchases connector."""
    purchases = {"name": "insight", "kind": "purchases", "url": "sqlite+aiosqlite:///x.db"}
    purchases |= {"history_query": QUERY, "needs": ["crm.customer_id"], **block}
    crm = {"name": "crm", "kind": "sql", "url": "sqlite+aiosqlite:///x.db", "query": "SELECT 1"}
    agents = {"token_secret": "s" * 32, "directory": [{"id": "a1"}]}
    return {"agents": agents, "connectors": [crm, purchases]}


@pytest.mark.parametrize("needs", [[], ["crm.customer_id", "crm.email"]])
def test_needs_other_than_one_field_is_a_config_error(needs: list[str]) -> None:
    """No customer key, or two, is refused when the config loads, naming the connector."""
    with pytest.raises(ConfigError) as caught:
        settings_from_mapping(config(needs=needs), source="test.yaml", environ={})
    message = str(caught.value)
    assert message.startswith("test.yaml: connectors[1] (insight).needs: connector 'insight': ")
    assert "exactly one field" in message and f"names {len(needs)}" in message


def test_one_customer_key_and_as_of_load() -> None:
    """A config with one `needs` field and an ISO as_of loads; as_of is read as UTC."""
    settings = settings_from_mapping(config(as_of="2017-12-01T00:00:00Z"), source="test.yaml", environ={})
    options = settings.connectors[1].options
    assert isinstance(options, PurchasesOptions)
    assert options.as_of == datetime(2017, 12, 1, tzinfo=UTC)


def test_a_bad_as_of_is_a_config_error() -> None:
    """An as_of that is not a date-time is refused at load with the key and an example."""
    with pytest.raises(ConfigError) as caught:
        settings_from_mapping(config(as_of="last tuesday"), source="test.yaml", environ={})
    assert "connectors[1] (insight).as_of" in str(caught.value) and "ISO date-time" in str(caught.value)


async def test_the_loop_turns_during_a_chunked_refresh(
    db_url: str, make: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Other tasks run while a refresh reads in small chunks, and the model equals the one-chunk one."""
    whole = await make(db_url)
    monkeypatch.setattr(module, "CHUNK_ROWS", 7)
    chunked = await make(db_url, ready=False)
    ticks = 0
    stop = False

    async def ticker() -> None:
        nonlocal ticks
        for _ in range(100_000):  # bounded: the refresh ends long before
            if stop:
                return
            ticks += 1
            await asyncio.sleep(0)  # allow-sleep: a zero sleep is one turn of the loop, the thing counted

    task = asyncio.create_task(ticker())
    assert await chunked.refresh()
    stop = True
    await task
    assert ticks >= len(history()) // 7
    for customer in (CADENCE, NEWBIE, BULK, LATE_SOAP, BUNDLE[3]):
        assert (await chunked.lookup(params(customer))).data == (await whole.lookup(params(customer))).data


async def test_the_call_context_is_not_taken_for_a_customer_key(db_url: str, make: Any) -> None:
    """Direction, line, call id and attr_ parameters, bound into every connector, leave one customer key."""
    connector = await make(db_url)
    context = {"direction": "inbound", "line": "Acme Support", "call_id": "c-1", "attr_account_id": "A-77"}
    result = await connector.lookup({**params(CADENCE), **context})
    assert result.data is not None and result.data["likely_next"][0]["times"] == 6


def test_registered_under_the_entry_point_group() -> None:
    """`kind: purchases` is found through the entry-point group like sql and http."""
    [point] = [e for e in entry_points(group=ENTRY_POINT_GROUP) if e.name == "purchases"]
    assert point.load() is PurchasesConnector


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        ({"likely_next": 21}, "likely_next"),
        ({"goes_with": -1}, "goes_with"),
        ({"history_query": "SELECT * FROM t WHERE c = :customer"}, "only :since"),
        ({"url": "sqlite:///x.db"}, "synchronous"),
        ({"as_of": "2017-13-01"}, "ISO date-time"),
    ],
)
def test_bad_options_are_refused(extra: dict[str, Any], fragment: str) -> None:
    """Counts outside 0..20, a query binding other parameters and a sync URL are refused."""
    with pytest.raises(ValidationError, match=fragment):
        PurchasesOptions.model_validate({"url": "sqlite+aiosqlite:///x.db", "history_query": QUERY, **extra})


async def test_not_ready_lookups_never_open_the_circuit(db_url: str, tmp_path: Path) -> None:
    """Cards before the first model say "not ready" without tripping the breaker: once built, it answers.

    Before, each not-ready answer counted as a failure of the source, so the
    first few calls after start-up opened the circuit and the section stayed
    "circuit open" for `reset_s` after the model was there.
    """
    await execute(db_url, "CREATE TABLE crm (phone TEXT, customer_id INTEGER)")
    await execute(db_url, "INSERT INTO crm VALUES ('+14155550132', 1)")  # CADENCE
    later = QUERY.replace("FROM order_lines", "FROM order_lines_view")  # not there yet: the build fails
    query = "SELECT customer_id FROM crm WHERE phone = :e164"
    crm = {"name": "crm", "kind": "sql", "url": db_url, "query": query}
    insight = {"name": "insight", "kind": "purchases", "url": db_url, "history_query": later}
    insight |= {"needs": ["crm.customer_id"], "refresh_s": 3600, "min_customers": 5}
    insight |= {"circuit": {"failures": 2, "reset_s": 3600}}
    settings = make_settings([crm, insight])
    connectors = build_connectors(settings.connectors, connector_context("US", tmp_path, None))
    for connector in connectors.values():
        await connector.start()
    engine = LookupEngine(settings, connectors)
    caller = parse_caller("+14155550132", "US")
    purchases = connectors["insight"]
    try:
        assert isinstance(purchases, PurchasesConnector)
        await wait_for(lambda: purchases.error is not None, within=60, what="the first build's failure")
        for _ in range(5):
            section = (await engine.lookup(caller))["insight"]
            assert section.status is SectionStatus.ERROR
            assert (section.error or "").startswith("insight model not ready yet"), section.error
        await execute(db_url, "CREATE VIEW order_lines_view AS SELECT * FROM order_lines")
        assert await purchases.refresh()
        ready = (await engine.lookup(caller))["insight"]
        assert ready.status is SectionStatus.OK, ready.error
    finally:
        await engine.close()
        for connector in connectors.values():
            await connector.close()


async def test_check_reports_the_first_refresh(db_url: str, make: Any) -> None:
    """`screenpop check` starts then checks: the answer is the first build's, good or bad."""
    good = await make(db_url, ready=False)
    await good.check()
    assert good.model is not None
    bad = await make(db_url, ready=False, history_query=QUERY.replace("order_lines", "no_such_table"))
    with pytest.raises(ConnectorError, match="history query failed"):
        await bad.check()
    assert bad.model is None


async def test_check_names_what_is_wrong_with_the_table(db_url: str, make: Any) -> None:
    """A missing table is named in the check's failure (as the sql kind names it), not just an error class."""
    bad = await make(db_url, ready=False, history_query=QUERY.replace("order_lines", "no_such_table"))
    with pytest.raises(
        ConnectorError, match=r"history query failed: database error: .*no_such_table"
    ) as caught:
        await bad.check()
    assert len(str(caught.value).splitlines()) == 1, caught.value


def test_a_stopped_worker_is_reaped_before_stop_returns() -> None:
    """A busy worker, stopped, reads as exited, and the pool's own thread is done, when stopping returns.

    The executor's thread joins a worker that dies under it, and stopping
    joined it as well: whichever of the two lost the race for the exit
    status read the process as still alive (CPython's ``poll`` answers None
    to a process already reaped), so a worker could seem to outlive
    ``close``.
    """
    for _ in range(3):  # the race was won or lost in microseconds: several rounds
        pool = module._worker_pool()
        worker_pid = pool.submit(os.getpid).result(timeout=30)  # up, past its initializer
        busy = pool.submit(time.sleep, 60)
        processes = list(pool._processes.values())
        manager = pool._executor_manager_thread
        module._stop_worker(pool)
        assert [process.pid for process in processes] == [worker_pid]
        assert all(process.exitcode is not None for process in processes)
        assert manager is not None and not manager.is_alive()
        assert busy.done()  # failed with the pool, not left pending
