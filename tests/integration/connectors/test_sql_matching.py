"""`match: normalized` rules (SPEC 3) against real SQLite and PostgreSQL tables.

Labels before and after a number, several numbers in a cell, extensions,
letters that are never vanity digits, and ``index_region``: each row's
numbers read in that row's own country.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from screenpop.connectors.sql import SqlConnector, SqlOptions
from screenpop.errors import ConfigError, ConnectorError
from screenpop.plugins import connector_context
from screenpop.testing import make_settings

CUSTOMERS = [
    # (id, name, country, phone, mobile)
    (1, "Office label", "US", "469-580-7231 - office", None),
    (2, "Work label", "US", "+1 201 506 6435 (work)", None),
    (3, "Cell label", None, "(780) 918-1406 (cell)", "mobile: 212 555 0199"),
    (4, "Two in one", "", "415 555 0132 / 646.555.0100 x3", None),
    (5, "Or between", "us", "303-555-0188 or 720 555 0177", None),
    (6, "Vanity", "US", "1-800-FLOWERS", None),
    (7, "Fax only", "DE", "Fax: 030 1234567", None),
    (8, "Mexico City", "MX", "55 9474 4977", None),
    (9, "Fresno", "US", "559 474 4977", None),
    (10, "London in Mexico", "MX", "+44 20 7946 0958", None),
    (11, "Unknown country", "ZZ", "(617) 555-0142", None),
    (12, "Munich", "de", "089 1234567", None),
    (13, "Manchester", "UK", "0161 496 0000", None),
]


CREATE = (
    "CREATE TABLE customers (customer_id INTEGER PRIMARY KEY, name VARCHAR(80), country VARCHAR(8), "
    "phone VARCHAR(60), mobile VARCHAR(60))"
)
INSERT = "INSERT INTO customers VALUES (:id, :name, :country, :phone, :mobile)"


async def create_customers(url: str) -> None:
    """The table above, its values bound as a real application would write them."""
    engine = create_async_engine(url)
    columns = ("id", "name", "country", "phone", "mobile")
    try:
        async with engine.begin() as conn:
            await conn.execute(text(CREATE))
            await conn.execute(text(INSERT), [dict(zip(columns, row, strict=True)) for row in CUSTOMERS])
    finally:
        await engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The customers table above on SQLite or PostgreSQL."""
    if request.param == "sqlite":
        found = f"sqlite+aiosqlite:///{tmp_path / 'customers.db'}"
    else:
        found = str(request.getfixturevalue("pg_url"))
    await create_customers(found)
    return found


BY_KEYS = "SELECT customer_id, name FROM customers WHERE customer_id IN :keys ORDER BY customer_id"
PHONES = "SELECT customer_id, phone, mobile FROM customers"
WITH_COUNTRY = "SELECT customer_id, phone, country, mobile FROM customers"


@pytest.fixture
async def make() -> AsyncIterator[Callable[..., Any]]:
    """Build and start normalized connectors with screenpop's own context; close them after the test."""
    made: list[SqlConnector] = []

    async def build(url: str, region: str = "US", **options: Any) -> SqlConnector:
        options = {"match": "normalized", "index_query": PHONES, "query": BY_KEYS, **options}
        connector = SqlConnector(
            "sales", SqlOptions(url=url, **options), connector_context(region, Path("."), None)
        )
        made.append(connector)
        await connector.start()
        return connector

    yield build
    for connector in made:
        await connector.close()


async def names(sql: SqlConnector, e164: str) -> list[str]:
    """The names of every customer the connector returns for a caller (first row and the others)."""
    result = await sql.lookup({"e164": e164})
    if result.data is None:
        return []
    return [row["name"] for row in (result.data, *result.extra_rows)]


@pytest.mark.parametrize(
    ("e164", "expected"),
    [
        ("+14695807231", ["Office label"]),
        ("+12015066435", ["Work label"]),
        ("+17809181406", ["Cell label"]),
        ("+12125550199", ["Cell label"]),
    ],
)
async def test_labels_before_and_after_are_not_read_as_digits(
    url: str, make: Any, e164: str, expected: list[str]
) -> None:
    """`- office`, `(work)`, `(cell)` and `mobile:` are labels: the number beside them is found."""
    sql = await make(url)
    assert await names(sql, e164) == expected


async def test_every_number_of_a_cell_finds_its_customer(url: str, make: Any) -> None:
    """Numbers separated by `/` or `or` in one cell each find the row; an extension is no obstacle."""
    sql = await make(url)
    for e164 in ("+14155550132", "+16465550100"):
        assert await names(sql, e164) == ["Two in one"]
    for e164 in ("+13035550188", "+17205550177"):
        assert await names(sql, e164) == ["Or between"]


async def test_letters_are_never_vanity_digits(url: str, make: Any) -> None:
    """`1-800-FLOWERS` is not indexed as +1 800 356 9377 (nor as any other number)."""
    sql = await make(url)
    assert await names(sql, "+18003569377") == []
    index = sql._keeper.index if sql._keeper else None
    assert index is not None and all(6 not in keys for keys in index.keys_by_number.values())


async def test_a_fax_labelled_number_is_the_customers(url: str, make: Any) -> None:
    """A number labelled `Fax:` is indexed like any other number of the row (docs/matching.md)."""
    sql = await make(url, region="DE")
    assert await names(sql, "+49301234567") == ["Fax only"]


async def test_without_index_region_every_number_is_read_in_the_default_region(url: str, make: Any) -> None:
    """Without `index_region` the Mexican `55 9474 4977` is read as US: the reason the key exists."""
    sql = await make(url)
    assert await names(sql, "+15594744977") == ["Mexico City", "Fresno"]
    assert await names(sql, "+525594744977") == []


async def test_index_region_reads_each_row_in_its_own_country(url: str, make: Any) -> None:
    """With `index_region`, the Mexican customer is +52 55 9474 4977 and never the US caller's match."""
    sql = await make(url, index_query=WITH_COUNTRY, index_region="country")
    assert await names(sql, "+15594744977") == ["Fresno"]
    assert await names(sql, "+525594744977") == ["Mexico City"]


@pytest.mark.parametrize(
    ("e164", "expected"),
    [
        ("+442079460958", ["London in Mexico"]),  # an international prefix is read as written
        ("+16175550142", ["Unknown country"]),  # an unknown code falls back to numbers.default_region
        ("+17809181406", ["Cell label"]),  # NULL falls back too
        ("+14155550132", ["Two in one"]),  # and so does an empty value
        ("+13035550188", ["Or between"]),  # codes are read without regard to case
        ("+49891234567", ["Munich"]),
        ("+441614960000", ["Manchester"]),  # UK, as British tables write it, is GB
    ],
)
async def test_index_region_values(url: str, make: Any, e164: str, expected: list[str]) -> None:
    """Each kind of country value reads the row's numbers as the SPEC says."""
    sql = await make(url, index_query=WITH_COUNTRY, index_region="Country")
    assert await names(sql, e164) == expected


async def test_index_region_must_be_a_column_of_the_index_query(url: str, make: Any) -> None:
    """A region column the query does not return fails the index load with the columns it has."""
    sql = await make(url, index_region="nation")
    with pytest.raises(
        ConnectorError, match=r"index_region column 'nation' is not among .*customer_id, phone"
    ):
        await sql.check()
    with pytest.raises(ConnectorError, match="number index not loaded yet: index_region column 'nation'"):
        await sql.lookup({"e164": "+14695807231"})


async def test_index_region_cannot_be_the_row_key(url: str, make: Any) -> None:
    """The first column is the row key, never the region."""
    sql = await make(url, index_region="customer_id")
    with pytest.raises(ConnectorError, match="is the row key"):
        await sql.check()


def test_index_region_needs_match_normalized() -> None:
    """`index_region` on an exact-match connector is a config error, not silently ignored."""
    with pytest.raises(ValidationError, match="`index_region` is for `match: normalized`"):
        SqlOptions(url="sqlite+aiosqlite:///x.db", query="SELECT 1 WHERE p = :e164", index_region="country")


def test_index_region_errors_name_the_connector_and_the_key() -> None:
    """The config loader reports an empty `index_region` at its key path, as every config error."""
    block = {
        "name": "sales",
        "kind": "sql",
        "url": "sqlite+aiosqlite:///x.db",
        "match": "normalized",
        "index_query": PHONES,
        "query": BY_KEYS,
        "index_region": "",
    }
    with pytest.raises(
        ConfigError, match=r"connectors\[0\] \(sales\)\.index_region: String should have at least 1"
    ):
        make_settings([block])


@pytest.mark.parametrize(
    "keys",
    [{"index_query": PHONES}, {"index_refresh_s": 60}, {"index_full_every": 4}],
    ids=["index_query", "index_refresh_s", "index_full_every"],
)
def test_index_keys_need_match_normalized(keys: dict[str, Any]) -> None:
    """An index key on an exact-match connector (`match: normalized` forgotten) is refused, naming the fix."""
    name = next(iter(keys))
    with pytest.raises(ValidationError, match=f"`{name}` is for `match: normalized`"):
        SqlOptions(url="sqlite+aiosqlite:///x.db", query="SELECT 1 WHERE p = :e164", **keys)


async def test_an_index_query_without_a_phone_column_fails_the_index_load(url: str, make: Any) -> None:
    """An index_query of only the key and the region indexes nothing: `check` fails instead of passing."""
    sql = await make(url, index_query="SELECT customer_id, country FROM customers", index_region="country")
    with pytest.raises(ConnectorError, match=r"index_query returns no phone column \(customer_id, country\)"):
        await sql.check()
