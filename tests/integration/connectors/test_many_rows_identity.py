"""`rows: many` with `identity`: the card's customer block counts the distinct customers the rows name.

Real SQLite and PostgreSQL tables, the real lookup engine and the card as an
agent receives it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from screenpop.card import render_card, section_specs
from screenpop.config import Settings
from screenpop.lookup import LookupEngine
from screenpop.model import Card
from screenpop.phone import parse_caller
from screenpop.plugins import build_connectors, connector_context
from screenpop.testing import make_settings

SHARED = "+14155550132"  # a family line: two customers' invoices
SINGLE = "+12125550199"  # one customer, three invoices
INVOICES = [
    # (invoice, customer id, customer name, phone as typed)
    (1, 10, "Ada Lovelace", "(415) 555-0132 - home"),
    (2, 10, "Ada Lovelace", "415.555.0132"),
    (3, 11, "Byron Lovelace", "+1 415 555 0132 (home)"),
    (4, 12, "Grace Hopper", "212-555-0199"),
    (5, 12, "Grace Hopper", "212-555-0199"),
    (6, 12, "Grace Hopper", "mobile: 212 555 0199"),
]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An invoices table on SQLite or PostgreSQL, the phone typed by hand on each invoice."""
    if request.param == "sqlite":
        found = f"sqlite+aiosqlite:///{tmp_path / 'billing.db'}"
    else:
        found = str(request.getfixturevalue("pg_url"))
    await invoices_table(found, "INTEGER", INVOICES)
    return found


async def invoices_table(url: str, id_type: str, rows: list[tuple[Any, ...]]) -> None:
    """``invoices`` holding ``rows`` (invoice, customer id, name, phone), its customer id ``id_type``."""
    engine = create_async_engine(url)
    columns = ("invoice", "customer", "name", "phone")
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    f"CREATE TABLE invoices (invoice_id INTEGER PRIMARY KEY, customer_id {id_type}, "
                    "name VARCHAR(80), phone VARCHAR(60))"
                )
            )
            await conn.execute(
                text("INSERT INTO invoices VALUES (:invoice, :customer, :name, :phone)"),
                [dict(zip(columns, row, strict=True)) for row in rows],
            )
    finally:
        await engine.dispose()


def billing(url: str) -> Settings:
    return make_settings(
        [
            {
                "name": "billing",
                "kind": "sql",
                "url": url,
                "match": "normalized",
                "index_query": "SELECT invoice_id, phone FROM invoices",
                "query": "SELECT invoice_id, customer_id, name FROM invoices WHERE invoice_id IN :keys "
                "ORDER BY invoice_id",
                "rows": "many",
                "identity": {"id": "customer_id", "name": "name"},
            }
        ]
    )


async def customer_of(settings: Settings, number: str) -> dict[str, Any]:
    """The ``customer`` block of the card an agent receives for a call from ``number``."""
    caller = parse_caller(number, "US")
    async with aiohttp.ClientSession() as http:
        context = connector_context("US", Path("."), http)
        connectors = build_connectors(settings.connectors, context)
        for connector in connectors.values():
            await connector.start()
        engine = LookupEngine(settings, connectors)
        try:
            sections = await engine.lookup(caller)
        finally:
            await engine.close()
            for connector in connectors.values():
                await connector.close()
    card = Card(call_id="t", caller=caller, received_at="", sections=sections)
    customer: dict[str, Any] = render_card(card, section_specs(settings), frozenset())["customer"]
    return customer


async def test_two_customers_rows_are_two_matches_and_a_conflict(url: str) -> None:
    """Three invoices of two customers for one number: `matches` 2, both named in `conflicts`."""
    customer = await customer_of(billing(url), SHARED)
    assert customer["matches"] == 2
    assert customer["name"] == "Ada Lovelace"
    assert customer["ids"] == {"billing": "10"}
    assert customer["conflicts"] == [
        {
            "kind": "rows",
            "field": "name",
            "values": ["Ada Lovelace", "Byron Lovelace"],
            "sections": ["billing"],
        }
    ]
    assert customer["found_by"] == "number"


async def test_one_customers_many_rows_are_one_match(url: str) -> None:
    """Three invoices of one customer are one customer: `matches` 1 and no conflict."""
    customer = await customer_of(billing(url), SINGLE)
    assert customer == {
        "name": "Grace Hopper",
        "ids": {"billing": "12"},
        "matches": 1,
        "conflicts": [],
        "found_by": "number",
    }


async def test_no_rows_name_no_customer(url: str) -> None:
    """A number on no invoice leaves the customer block empty."""
    customer = await customer_of(billing(url), "+16465550100")
    assert (customer["matches"], customer["name"], customer["ids"]) == (0, None, {})


LEGACY = [
    # (invoice, customer id as a legacy table hands it over, name as typed, phone)
    (20, 8, "Zoë Quinn", "(415) 555-0170"),
    (21, 8.0, "Zoe\u0308 Quinn", "415 555 0170"),  # the id via a CSV import; the name decomposed
    (22, None, "ZOË QUINN", "415-555-0170"),  # an invoice whose customer id was never filled in
    (23, None, "   ", "(415) 555-0171"),  # a name of blanks names nobody
    (24, 13, "Fay Wray", "415.555.0171"),
]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def legacy_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Invoices as a legacy table keeps them: ids of mixed types and NULLs, names typed any way."""
    if request.param == "sqlite":  # a column without a type keeps 8 and 8.0 apart, as an import leaves them
        found, id_type = f"sqlite+aiosqlite:///{tmp_path / 'legacy.db'}", ""
    else:
        found, id_type = str(request.getfixturevalue("pg_url")), "NUMERIC"
    await invoices_table(found, id_type, LEGACY)
    return found


async def test_one_customer_however_a_legacy_table_writes_its_rows(legacy_url: str) -> None:
    """8 and 8.0, a NULL id beside the same name, a decomposed name: one customer, no conflict."""
    customer = await customer_of(billing(legacy_url), "+14155550170")
    assert (customer["matches"], customer["ids"], customer["conflicts"]) == (1, {"billing": "8"}, [])
    assert customer["name"] == "Zoë Quinn"


async def test_a_blank_name_names_nobody(legacy_url: str) -> None:
    """An invoice whose identity is blanks is no second customer beside the one its number names."""
    customer = await customer_of(billing(legacy_url), "+14155550171")
    assert customer == {
        "name": "Fay Wray",
        "ids": {"billing": "13"},
        "matches": 1,
        "conflicts": [],
        "found_by": "number",
    }
