"""`screenpop check` names the identity, display and badge fields a connector's query does not return.

PostgreSQL folds unquoted names to lower case: `SELECT ID AS CustomerID`
returns `customerid`, and `identity: {id: CustomerID}` then silently found
nothing (every card "unknown caller", every display field blank) while
`check` said ok.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.support.cli import check_rows, screenpop

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.postgres, pytest.mark.timeout(120)]


async def customers(url: str) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE customers (id INT PRIMARY KEY, name TEXT, phone TEXT)"))
            await conn.execute(text("INSERT INTO customers VALUES (1, 'Ada', '(415) 555-0132')"))
    finally:
        await engine.dispose()


def check(tmp_path: Path, connector: dict[str, Any]) -> tuple[int, dict[str, tuple[str, str]]]:
    """Run `screenpop check` on a config of this one connector; part -> (result, detail)."""
    config = {
        "store": {"url": f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"},
        "agents": {"token_secret": "s" * 32, "directory": [{"id": "agent-1"}]},
        "connectors": [connector],
    }
    path = tmp_path / "screenpop.yaml"
    path.write_text(yaml.safe_dump(config))
    run = screenpop("check", "--config", str(path))
    assert "Traceback" not in run.stderr
    rows = check_rows(run.stdout)
    return run.returncode, rows


@pytest.mark.parametrize("match", ["exact", "normalized"])
async def test_a_field_the_query_does_not_return_fails_check(pg_url: str, tmp_path: Path, match: str) -> None:
    """`CustomerID` in identity and display against PostgreSQL's `customerid` is FAIL, naming the fix."""
    await customers(pg_url)
    connector: dict[str, Any] = {
        "name": "sales",
        "kind": "sql",
        "url": pg_url,
        "query": "SELECT id AS CustomerID, name AS Name FROM customers WHERE phone = :national",
        "identity": {"id": "CustomerID", "name": "Name"},
        "display": {
            "fields": {"CustomerID": {"label": "Customer"}},
            "badges": [{"field": "name", "equals": "x", "text": "X"}],
        },
    }
    if match == "normalized":
        connector |= {
            "match": "normalized",
            "index_query": "SELECT id, phone FROM customers",
            "query": "SELECT id AS CustomerID, name AS Name FROM customers WHERE id IN :keys",
        }
    code, rows = check(tmp_path, connector)
    assert code == 1
    result, detail = rows["connector sales"]
    assert result == "FAIL"
    assert detail == (
        "identity.id 'CustomerID', identity.name 'Name', display.fields 'CustomerID': "
        "query returns only customerid, name; quote a name to keep its case"
    )


async def test_fields_the_query_returns_pass_check(pg_url: str, tmp_path: Path) -> None:
    """Quoted aliases keep their case: identity, display and badges that name them pass."""
    await customers(pg_url)
    code, rows = check(
        tmp_path,
        {
            "name": "sales",
            "kind": "sql",
            "url": pg_url,
            "query": 'SELECT id AS "CustomerID", name FROM customers WHERE phone = :e164',
            "identity": {"id": "CustomerID", "name": "name"},
            "display": {
                "fields": {"CustomerID": {}},
                "badges": [{"field": "name", "equals": "x", "text": "X"}],
            },
        },
    )
    assert (code, rows["connector sales"]) == (0, ("ok", "reachable"))


async def test_a_link_naming_a_field_the_query_does_not_return_fails_check(
    pg_url: str, tmp_path: Path
) -> None:
    """A `link` naming `{CustomerID}` against `customerid` would drop the link on every card: FAIL."""
    await customers(pg_url)
    link = "https://crm.example/c/{CustomerID}?n={name}"
    connector = {
        "name": "sales",
        "kind": "sql",
        "url": pg_url,
        "query": "SELECT id AS CustomerID, name FROM customers WHERE phone = :national",
        "display": {"fields": {"name": {"link": link}}},
    }
    code, rows = check(tmp_path, connector)
    assert (code, rows["connector sales"]) == (
        1,
        (
            "FAIL",
            "display.fields.name.link 'CustomerID': query returns only customerid, name;"
            " quote a name to keep its case",
        ),
    )
