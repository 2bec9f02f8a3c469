"""The ``purchases`` connector against a hand-made order history in real SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from screenpop.connector_api import ENTRY_POINT_GROUP, ConnectorContext
from screenpop.connectors.purchases import PurchasesConnector, PurchasesOptions
from screenpop.errors import ConnectorError

NOW = datetime(2026, 6, 1, tzinfo=UTC)
QUERY = (
    "SELECT customer_id AS customer, sku AS product, product_name, ordered_at AS at, qty AS quantity "
    "FROM order_lines"
)
SINCE_QUERY = f"{QUERY} WHERE ordered_at > :since"
KEY = "crm_customer_id"

CADENCE, NEWBIE, ONE_OFF, NOBODY = 1, 2, 3, 999
BUNDLE = range(10, 19)  # nine laptop buyers; the first seven also bought a bag, two a tripod
OTHERS = range(30, 35)  # buyers of a mug only, so a bag is rarer than among laptop buyers


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
    assert (bag["product"], bag["with"], bag["customers"]) == ("BAG", "Laptop 14in", len(both))
    assert bag["reason"] == f"{share}% of customers who bought Laptop 14in also bought it"
    assert bag["score"] == pytest.approx(len(both) / len(laptop), abs=1e-4)
    assert bag["lift"] > 1


async def test_goes_with_never_offers_what_the_customer_bought(db_url: str, make: Any) -> None:
    """A customer who bought the laptop and the bag is offered neither as a companion."""
    connector = await make(db_url)
    result = await connector.lookup(params(BUNDLE[0]))
    assert result.data is not None
    assert {i["product"] for i in result.data["goes_with"]}.isdisjoint({"L14", "BAG", "TRI"})


async def test_one_off_buyer_ranks_low_and_says_so(db_url: str, make: Any) -> None:
    """A sofa bought once long ago scores below a due cadence item and its reason says once."""
    connector = await make(db_url)
    sofa = (await connector.lookup(params(ONE_OFF))).data
    coffee = (await connector.lookup(params(CADENCE))).data
    assert sofa is not None and coffee is not None
    [item] = sofa["likely_next"]
    assert item["reason"] == "bought once, 200 days ago; 0% of its buyers buy it again"
    assert item["score"] < coffee["likely_next"][0]["score"]
    assert sofa["goes_with"] == []


async def test_customer_without_orders_is_not_found(db_url: str, make: Any) -> None:
    """A customer key with no order lines is not_found (no data)."""
    connector = await make(db_url)
    result = await connector.lookup(params(NOBODY))
    assert result.data is None and result.rows == 0


async def test_as_of_hides_later_orders(db_url: str, make: Any) -> None:
    """With as_of in the past, orders after it do not count and days are counted from it."""
    connector = await make(db_url)
    as_of = NOW - timedelta(days=93)  # a day after the 4th coffee order (94 days before NOW)
    result = await connector.lookup(params(CADENCE, as_of=as_of.isoformat()))
    assert result.data is not None
    [item] = result.data["likely_next"]
    assert item["times"] == 4 and item["reason"] == "bought 4 times, about every 30 days; last 1 day ago"
    before_any = await connector.lookup(params(CADENCE, as_of=NOW - timedelta(days=400)))
    assert before_any.data is None


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
    await insert(db_url, [(CADENCE, "C1", "Coffee beans 1kg", day(NOW - timedelta(days=4)), 1)])
    await execute(db_url, "UPDATE order_lines SET sku = 'GONE' WHERE sku = 'SOFA'")  # an old line
    assert await connector.refresh()
    coffee = (await connector.lookup(params(CADENCE))).data
    sofa = (await connector.lookup(params(ONE_OFF))).data
    assert coffee is not None and sofa is not None
    assert coffee["likely_next"][0]["times"] == 7
    assert coffee["likely_next"][0]["reason"].endswith("last 4 days ago")
    assert sofa["likely_next"][0]["product"] == "SOFA"  # not re-read: the old line is kept as read


async def test_needs_exactly_one_customer_key(db_url: str, make: Any) -> None:
    """A lookup without a customer key, or with two, says the connector needs exactly one field."""
    connector = await make(db_url)
    with pytest.raises(ConnectorError, match="exactly one field"):
        await connector.lookup({"e164": "+14155550132"})
    with pytest.raises(ConnectorError, match="exactly one field"):
        await connector.lookup(params(CADENCE, other_id=3))


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
    ],
)
def test_bad_options_are_refused(extra: dict[str, Any], fragment: str) -> None:
    """Counts outside 0..20, a query binding other parameters and a sync URL are refused."""
    with pytest.raises(ValidationError, match=fragment):
        PurchasesOptions.model_validate({"url": "sqlite+aiosqlite:///x.db", "history_query": QUERY, **extra})
