"""The built-in ``sql`` connector against real SQLite files and a real PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import AsyncIterator, Callable
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from screenpop.connector_api import ENTRY_POINT_GROUP, ConnectorContext, LookupResult
from screenpop.connectors.sql import SqlConnector, SqlOptions
from screenpop.errors import ConnectorError
from screenpop.plugins import connector_context
from tests.support.ports import free_port
from tests.support.waiting import wait_for

ADA = "+14155550132"
SCHEMA = [
    "CREATE TABLE accounts (account_id INTEGER PRIMARY KEY, phone VARCHAR(40), name VARCHAR(80),"
    " balance NUMERIC(12, 2), opened DATE)",
    "INSERT INTO accounts VALUES (1, '+14155550132', 'Ada Lovelace', 120.50, '2020-01-31')",
    "INSERT INTO accounts VALUES (2, '+14155550132', 'Ada L.', 0, '2021-06-01')",
    "INSERT INTO accounts VALUES (3, '+442079460000', 'Charles Babbage', 99, '2019-12-24')",
]
SLOW_SQLITE = (  # counts to :test_n; 50 million takes SQLite far longer than any test
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < :test_n) "
    "SELECT count(*) AS n FROM c"
)
SLOW_PG = "SELECT count(*) AS n FROM pg_sleep(CAST(:test_n AS float) / 1000000)"
RUNNING_SLEEPS = (
    "SELECT count(*) AS n FROM pg_stat_activity WHERE query LIKE '%pg_sleep%' "
    "AND state = 'active' AND pid <> pg_backend_pid()"
)


def context(region: str = "US") -> ConnectorContext:
    """What screenpop builds every connector with (its number reading included)."""
    return connector_context(region, Path("."), None)


def params(e164: str = ADA, **extra: Any) -> dict[str, Any]:
    """What screenpop binds for a caller: more than any one query uses."""
    return {
        "e164": e164,
        "national": "(415) 555-0132",
        "digits": "4155550132",
        "country_code": "1",
        "region": "US",
        **extra,
    }


async def run_sql(url: str, *statements: str) -> list[Any]:
    """Set up or inspect a database with a plain engine of the test's own."""
    engine = create_async_engine(url)
    rows: list[Any] = []
    try:
        async with engine.begin() as conn:
            for statement in statements:
                result = await conn.execute(text(statement))
                rows = list(result.fetchall()) if result.returns_rows else []
    finally:
        await engine.dispose()
    return rows


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An accounts database on SQLite or PostgreSQL (the same rows in both)."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'accounts.db'}"
    else:
        url = str(request.getfixturevalue("pg_url"))
    await run_sql(url, *SCHEMA)
    return url


@pytest.fixture
async def make() -> AsyncIterator[Callable[..., Any]]:
    """Build, start and (after the test) close connectors."""
    made: list[SqlConnector] = []

    async def build(url: str, region: str = "US", name: str = "accounting", **options: Any) -> SqlConnector:
        connector = SqlConnector(name, SqlOptions(url=url, **options), context(region))
        made.append(connector)
        await connector.start()
        return connector

    yield build
    for connector in made:
        await connector.close()


async def test_exact_match_returns_first_row_and_counts_the_others(db_url: str, make: Any) -> None:
    """`rows: one` gives the first row as data, the match count, and the other rows as extra_rows."""
    sql = await make(
        db_url, query="SELECT account_id, name FROM accounts WHERE phone = :e164 ORDER BY account_id"
    )
    result = await sql.lookup(params())
    assert result == LookupResult(
        {"account_id": 1, "name": "Ada Lovelace"}, 2, ({"account_id": 2, "name": "Ada L."},)
    )


async def test_no_row_is_not_found(db_url: str, make: Any) -> None:
    """A number that matches nothing gives data None and zero rows."""
    sql = await make(db_url, query="SELECT name FROM accounts WHERE phone = :e164")
    assert await sql.lookup(params("+15555550100")) == LookupResult(None, 0)


async def test_rows_many_returns_items_up_to_limit(db_url: str, make: Any) -> None:
    """`rows: many` puts at most `limit` rows under `items` and counts what it returned."""
    sql = await make(
        db_url,
        rows="many",
        limit=2,
        query="SELECT account_id FROM accounts WHERE :region = 'US' ORDER BY account_id",
    )
    result = await sql.lookup(params())
    assert result == LookupResult({"items": [{"account_id": 1}, {"account_id": 2}]}, 2)


async def test_injection_attempt_is_a_harmless_string(db_url: str, make: Any) -> None:
    """A number carrying SQL is bound as a value: nothing matches and the table survives."""
    sql = await make(db_url, query="SELECT name FROM accounts WHERE phone = :e164")
    hostile = "'; DROP TABLE accounts; --"
    assert await sql.lookup(params(hostile)) == LookupResult(None, 0)
    assert await sql.lookup(params(f"{ADA}' OR '1'='1")) == LookupResult(None, 0)
    assert (await run_sql(db_url, "SELECT count(*) FROM accounts"))[0][0] == 3


async def test_needs_value_is_bound_with_its_own_type(db_url: str, make: Any) -> None:
    """A `<connector>_<field>` parameter from `needs` keeps its type (an int key works on PostgreSQL)."""
    sql = await make(
        db_url, name="credit", query="SELECT name FROM accounts WHERE account_id = :accounting_account_id"
    )
    result = await sql.lookup(params(accounting_account_id=3))
    assert result.data == {"name": "Charles Babbage"}


async def test_missing_needs_parameter_is_a_clear_error(db_url: str, make: Any) -> None:
    """A query naming a parameter the lookup lacks says which one, instead of a driver error."""
    sql = await make(db_url, query="SELECT name FROM accounts WHERE account_id = :accounting_account_id")
    with pytest.raises(ConnectorError, match=r"query needs :accounting_account_id"):
        await sql.lookup(params())


@pytest.mark.postgres
async def test_postgres_types_become_json(pg_url: str, make: Any) -> None:
    """NUMERIC stays a JSON number, DATE/TIMESTAMP become ISO 8601, UUID and BYTEA become text."""
    await run_sql(
        pg_url,
        "CREATE TABLE t (phone TEXT, amount NUMERIC(12,2), whole NUMERIC, "
        "day DATE, at TIMESTAMPTZ, id UUID, blob BYTEA, ratio DOUBLE PRECISION)",
        "INSERT INTO t VALUES ('+14155550132', 120.50, 7, '2026-11-22', "
        "'2026-11-22T10:00:00Z', 'a8098c1a-f86e-11da-bd1a-00112444be1e', '\\x0102', 0.25)",
    )
    sql = await make(
        pg_url, query="SELECT amount, whole, day, at, id, blob, ratio FROM t WHERE phone = :e164"
    )
    data = (await sql.lookup(params())).data
    assert data == {
        "amount": 120.5,
        "whole": 7,
        "day": "2026-11-22",
        "at": "2026-11-22T10:00:00+00:00",
        "id": "a8098c1a-f86e-11da-bd1a-00112444be1e",
        "blob": "AQI=",
        "ratio": 0.25,
    }
    assert type(data["whole"]) is int
    json.dumps(data, allow_nan=False)


@pytest.mark.postgres
async def test_postgres_sessions_carry_the_statement_timeout(pg_url: str, make: Any) -> None:
    """`statement_timeout_ms` is set on the server for every pooled PostgreSQL session."""
    sql = await make(pg_url, statement_timeout_ms=1234, query="SHOW statement_timeout")
    assert (await sql.lookup(params())).data == {"statement_timeout": "1234ms"}


async def test_statement_timeout_stops_a_slow_query(tmp_path: Path, make: Any) -> None:
    """A query longer than `statement_timeout_ms` fails with a short error instead of running on."""
    (tmp_path / "slow.db").touch()  # an empty database: a connector never creates one
    url = f"sqlite+aiosqlite:///{tmp_path / 'slow.db'}"
    sql = await make(url, statement_timeout_ms=200, query=SLOW_SQLITE)
    with pytest.raises(ConnectorError, match=r"query ran longer than 200 ms"):
        await sql.lookup(params(test_n=50_000_000))


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def test_cancelled_lookups_return_their_connections(
    backend: str, tmp_path: Path, make: Any, request: pytest.FixtureRequest
) -> None:
    """Twenty lookups cancelled mid-query on a pool of two leave the pool free and nothing running."""
    if backend == "sqlite":
        (tmp_path / "slow.db").touch()  # an empty database: a connector never creates one
        url, query = f"sqlite+aiosqlite:///{tmp_path / 'slow.db'}", SLOW_SQLITE
    else:
        url, query = str(request.getfixturevalue("pg_url")), SLOW_PG
    sql = await make(url, pool_size=2, statement_timeout_ms=60000, query=query)

    async def cancelled() -> None:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.1):
                await sql.lookup(params(test_n=50_000_000))

    await asyncio.gather(*(cancelled() for _ in range(20)))
    async with asyncio.timeout(3):  # a pool still held by the cancelled lookups would not answer
        assert (await sql.lookup(params(test_n=1))).data == {"n": 1}
    if backend == "postgres":
        probe = await make(url, query=RUNNING_SLEEPS)
        assert await _running_sleeps(probe) == 0


async def test_a_lookup_cancelled_before_its_statement_starts_still_stops_it(
    tmp_path: Path, make: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """SQLite drops an interrupt that comes before the statement runs: it is sent again until it stops.

    Lookups cancelled at once (the statement still queued on the connection's
    thread) used to leave a 50-million-row count running after the interrupt,
    holding its connection, and closing the pool waited for it.
    """
    (tmp_path / "slow.db").touch()  # an empty database: a connector never creates one
    url = f"sqlite+aiosqlite:///{tmp_path / 'slow.db'}"
    sql = await make(url, pool_size=1, statement_timeout_ms=60000, query=SLOW_SQLITE)
    for delay in (0, 0, 0.001, 0, 0.002, 0):
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(delay):
                await sql.lookup(params(test_n=50_000_000))
    async with asyncio.timeout(3):  # the one connection is free again
        assert (await sql.lookup(params(test_n=1))).data == {"n": 1}
    assert "did not stop" not in caplog.text
    async with asyncio.timeout(5):  # nothing left running holds the pool's close
        await sql.close()


async def test_closing_ends_the_thread_of_a_connection_given_up_mid_statement(
    tmp_path: Path, make: Any
) -> None:
    """A connection SQLAlchemy gave up on mid-statement kept its SQLite thread running after close.

    When a lookup is cancelled while its connection is checked out or in,
    SQLAlchemy stops the aiosqlite connection without waiting (as a connection
    collected as garbage is stopped).  Its thread ran the statement to its
    end after the connector had closed, then answered a loop already closed:
    "Event loop is closed" in a thread, in whichever test ran next.
    """
    (tmp_path / "slow.db").touch()  # an empty database: a connector never creates one
    url = f"sqlite+aiosqlite:///{tmp_path / 'slow.db'}"
    sql = await make(url, statement_timeout_ms=60000, query=SLOW_SQLITE)
    conn = await sql._engine.connect()  # what a lookup holds, given up as SQLAlchemy gives it up
    driver = (await conn.get_raw_connection()).driver_connection
    started = threading.Event()
    await driver.set_progress_handler(lambda: started.set() or 0, 1000)  # called while a statement runs
    running = asyncio.ensure_future(driver.execute(SLOW_SQLITE.replace(":test_n", "50000000")))
    assert await asyncio.to_thread(started.wait, 10), "the statement never started"
    driver.stop()
    async with asyncio.timeout(10):
        await sql.close()
    assert not driver._thread.is_alive(), "the statement still runs after the connector closed"
    with contextlib.suppress(Exception):
        await running  # interrupted: its error is the test's to collect, not the loop's
    await conn.invalidate()  # the pool's record of it, given back as SQLAlchemy does for a dead one
    await conn.close()


async def _running_sleeps(probe: SqlConnector) -> int:
    """How many pg_sleep queries still run on the server (polled: cancel requests are asynchronous)."""
    counts: list[int] = []

    async def none_running() -> bool:
        data = (await probe.lookup(params())).data
        counts.append(int(data["n"]) if data else -1)
        return counts[-1] == 0

    with contextlib.suppress(AssertionError):
        await wait_for(none_running, 2, "no pg_sleep left running")
    return counts[-1]


def messy_customers() -> list[str]:
    return [
        "CREATE TABLE customers (customer_id INTEGER PRIMARY KEY, name VARCHAR(80))",
        "CREATE TABLE phones (customer_id INTEGER, phone VARCHAR(40), mobile VARCHAR(40))",
        "INSERT INTO customers VALUES (10, 'Ada Lovelace'), (11, 'Ada L.'), (12, 'Max Planck'), "
        "(13, 'Nobody')",
        "INSERT INTO phones VALUES (10, '(415) 555-0132', NULL), (11, 'n/a', '415.555.0132 x12'), "
        "(12, '', '0049 30 1234567'), (13, 'call reception', '   ')",
    ]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def messy_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A customers table whose numbers were typed by hand, on SQLite or PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'sales.db'}"
    else:
        url = str(request.getfixturevalue("pg_url"))
    await run_sql(url, *messy_customers())
    return url


NORMALIZED = {
    "match": "normalized",
    "index_query": "SELECT customer_id, phone, mobile FROM phones",
    "query": "SELECT customer_id, name FROM customers WHERE customer_id IN :keys ORDER BY customer_id",
}


async def test_normalized_match_finds_numbers_typed_by_hand(messy_url: str, make: Any) -> None:
    """`(415) 555-0132` and `415.555.0132 x12` are both found for +14155550132; junk is skipped."""
    sql = await make(messy_url, **NORMALIZED)
    result = await sql.lookup(params())
    assert result.data == {"customer_id": 10, "name": "Ada Lovelace"}
    assert result.rows == 2
    assert result.extra_rows == ({"customer_id": 11, "name": "Ada L."},)
    assert await sql.lookup(params("+15555550100")) == LookupResult(None, 0)


async def test_normalized_match_reads_international_prefix_of_default_region(
    messy_url: str, make: Any
) -> None:
    """With default region DE, `0049 30 1234567` is the Berlin number +49301234567."""
    sql = await make(messy_url, region="DE", **NORMALIZED)
    result = await sql.lookup(params("+49301234567"))
    assert result.data == {"customer_id": 12, "name": "Max Planck"}


async def test_index_refresh_picks_up_new_rows(messy_url: str, make: Any) -> None:
    """A row added after start is found once the index has refreshed."""
    sql = await make(messy_url, **{**NORMALIZED, "index_refresh_s": 0.1})
    new = "+12125550199"
    assert (await sql.lookup(params(new))).data is None
    await run_sql(
        messy_url,
        "INSERT INTO customers VALUES (14, 'Grace Hopper')",
        "INSERT INTO phones VALUES (14, '212-555-0199', NULL)",
    )
    found = await wait_for(lambda: _data(sql, new), 5, "the new phone in the refreshed index")
    assert found == {"customer_id": 14, "name": "Grace Hopper"}


async def test_failed_index_refresh_keeps_the_previous_index(
    messy_url: str, make: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """When the index query starts failing, lookups keep using the last good index and it is logged."""
    sql = await make(messy_url, **{**NORMALIZED, "index_refresh_s": 0.05})
    await run_sql(messy_url, "DROP TABLE phones")
    await wait_for(lambda: _logged(caplog, "index refresh failed"), 5, "the failed refresh logged")
    assert (await sql.lookup(params())).data == {"customer_id": 10, "name": "Ada Lovelace"}


async def _data(sql: SqlConnector, number: str) -> Any:
    return (await sql.lookup(params(number))).data


async def _logged(caplog: pytest.LogCaptureFixture, text: str) -> bool:
    return text in caplog.text


async def test_normalized_keys_keep_their_database_type(messy_url: str, make: Any) -> None:
    """Integer row keys stay integers in the index, so `IN :keys` matches on PostgreSQL too."""
    sql = await make(messy_url, **NORMALIZED)
    assert sql._keeper is not None and sql._keeper.index is not None
    assert sql._keeper.index.keys_for(ADA) == (10, 11)


@pytest.mark.postgres
async def test_database_error_names_the_problem_without_the_password(pg_url: str, make: Any) -> None:
    """A misspelt table gives `database error: <class>: <reason>` with neither URL nor password."""
    url = make_url(pg_url).set(password="s3cret-Pa55")
    rendered = url.render_as_string(hide_password=False)
    sql = await make(rendered, query="SELECT name FROM acounts WHERE phone = :e164")
    with pytest.raises(ConnectorError) as caught:
        await sql.lookup(params())
    message = str(caught.value)
    assert message == 'database error: UndefinedTableError: relation "acounts" does not exist'
    assert "s3cret" not in message and str(url.host) not in message


async def test_sqlite_error_is_one_safe_line(tmp_path: Path, make: Any) -> None:
    """SQLite's error reads `database error: OperationalError: no such table: acounts`."""
    (tmp_path / "empty.db").touch()  # an empty database: a connector never creates one
    url = f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
    sql = await make(url, query="SELECT name FROM acounts WHERE phone = :e164")
    with pytest.raises(ConnectorError) as caught:
        await sql.lookup(params())
    assert str(caught.value) == "database error: OperationalError: no such table: acounts"


async def test_unreachable_database_says_so_without_secrets(make: Any) -> None:
    """A refused connection is `cannot reach database`, for lookups and for check()."""
    url = f"postgresql+asyncpg://screenpop:s3cret-Pa55@127.0.0.1:{free_port()}/nothing"
    sql = await make(url, query="SELECT 1 AS x WHERE :e164 <> ''")
    with pytest.raises(ConnectorError, match=r"^cannot reach database$"):
        await sql.lookup(params())
    with pytest.raises(ConnectorError, match=r"^cannot reach database$"):
        await sql.check()


async def test_check_runs_select_one_and_the_index_query(messy_url: str, make: Any) -> None:
    """check() passes on a good database and fails when the index query cannot run."""
    sql = await make(messy_url, **NORMALIZED)
    await sql.check()
    broken = await make(messy_url, **{**NORMALIZED, "index_query": "SELECT customer_id, fax FROM phones"})
    with pytest.raises(ConnectorError, match=r"index query failed: database error: "):
        await broken.check()


async def test_lookup_before_index_loaded_explains_why(tmp_path: Path, make: Any) -> None:
    """A normalized connector whose first index load failed answers with that reason, not `not found`."""
    (tmp_path / "none.db").touch()  # an empty database: a connector never creates one
    url = f"sqlite+aiosqlite:///{tmp_path / 'none.db'}"
    sql = await make(url, **NORMALIZED)
    with pytest.raises(
        ConnectorError,
        match=r"number index not loaded yet: database error: "
        r"OperationalError: no such table: phones",
    ):
        await sql.lookup(params())


@pytest.mark.parametrize(
    ("url", "hint"),
    [
        ("postgresql://u:s3cret@db.example/crm", "postgresql+asyncpg://"),
        ("sqlite:///customers.db", "sqlite+aiosqlite://"),
    ],
)
def test_sync_driver_url_is_refused_with_a_hint(url: str, hint: str) -> None:
    """A synchronous driver URL fails validation, suggests the async driver and hides the password."""
    with pytest.raises(ValidationError) as caught:
        SqlOptions(url=url, query="SELECT 1")
    message = caught.value.errors()[0]["msg"]
    assert hint in message and "is a synchronous driver" in message
    assert "s3cret" not in message


def test_normalized_match_needs_index_query_and_keys() -> None:
    """`match: normalized` without `index_query`, or a query without `:keys`, is a config error."""
    url = "sqlite+aiosqlite:///x.db"
    with pytest.raises(ValidationError, match="needs `index_query`"):
        SqlOptions(url=url, query="SELECT 1 WHERE id IN :keys", match="normalized")
    with pytest.raises(ValidationError, match="must use `:keys`"):
        SqlOptions(url=url, query="SELECT 1", match="normalized", index_query="SELECT id, phone FROM t")
    with pytest.raises(ValidationError, match="extra"):
        SqlOptions.model_validate({"url": url, "query": "SELECT 1", "rowz": "many"})


def test_sql_kind_is_registered_as_an_entry_point() -> None:
    """`kind: sql` resolves through the plugin entry-point group to SqlConnector."""
    found = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == "sql"]
    assert found and found[0].load() is SqlConnector
