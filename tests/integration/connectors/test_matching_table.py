"""A generated legacy table in 15 real-world formats, every customer called in E.164 (issue 15's measurement).

The real ``sql`` connector with ``match: normalized`` and ``index_region`` on
real SQLite and PostgreSQL must find every customer and never another one;
exact and last-7-digit matching on the same table are computed beside it so
that the table is shown to be a hard one (``bench/matching.py`` measures the
same at 3,000 customers).
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from pathlib import Path

import phonenumbers
import pytest
from phonenumbers import PhoneNumber, PhoneNumberFormat, PhoneNumberType
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from screenpop.connectors.sql import SqlConnector, SqlOptions
from screenpop.plugins import connector_context

CUSTOMERS = 240
REGIONS = ["US", "US", "US", "US", "MX", "MX", "CA", "GB", "DE", "FR", "ES", "BR"]


def e164(n: PhoneNumber) -> str:
    return str(phonenumbers.format_number(n, PhoneNumberFormat.E164))


def national(n: PhoneNumber) -> str:
    return str(phonenumbers.format_number(n, PhoneNumberFormat.NATIONAL))


def international(n: PhoneNumber) -> str:
    return str(phonenumbers.format_number(n, PhoneNumberFormat.INTERNATIONAL))


FORMATS: list[Callable[[PhoneNumber, PhoneNumber], str]] = [
    lambda n, _: e164(n),
    lambda n, _: international(n),
    lambda n, _: national(n),
    lambda n, _: re.sub(r"[()]", "", national(n)).replace(" ", ".").replace("-", "."),
    lambda n, _: re.sub(r"[()]", "", national(n)).replace(" ", "-"),
    lambda n, _: re.sub(r"\D", "", national(n)),
    lambda n, _: str(phonenumbers.format_out_of_country_calling_number(n, "CH")),
    lambda n, _: national(n) + " x12",
    lambda n, _: national(n) + " ext. 345",
    lambda n, _: national(n) + " - office",
    lambda n, _: international(n) + " (work)",
    lambda n, _: national(n) + " (cell)",
    lambda n, _: "mobile: " + national(n),
    lambda n, _: "Tel. " + international(n),
    lambda n, other: national(n) + " / " + national(other),
]


def draw_number(rng: random.Random, region: str, taken: set[str]) -> PhoneNumber:
    """A valid number of ``region`` that no customer has: an example number, last four digits redrawn."""
    for _ in range(1000):  # bounded: almost every draw is valid and free
        kind = rng.choice([PhoneNumberType.FIXED_LINE, PhoneNumberType.MOBILE])
        example = phonenumbers.example_number_for_type(region, kind)
        assert example is not None
        nsn = str(example.national_number)
        number = phonenumbers.parse(f"+{example.country_code}{nsn[:-4]}{rng.randrange(10_000):04d}")
        if phonenumbers.is_valid_number(number) and e164(number) not in taken:
            taken.add(e164(number))
            return number
    raise AssertionError(f"no free valid number in {region}")


def mexican_twins(rng: random.Random, taken: set[str]) -> tuple[PhoneNumber, PhoneNumber]:
    """A Mexican number and the US number with the same ten digits (``55 9474 4977``, ``(559) 474-4977``)."""
    for _ in range(1000):  # bounded: most draws are valid on both sides
        digits = rng.choice(["55", "33", "81"]) + f"{rng.randrange(10**8):08d}"
        mx, us = phonenumbers.parse("+52" + digits), phonenumbers.parse("+1" + digits)
        if phonenumbers.is_valid_number(mx) and phonenumbers.is_valid_number(us) and e164(us) not in taken:
            taken.update({e164(mx), e164(us)})
            return mx, us
    raise AssertionError("no Mexican/US twin drawn")


def generate(seed: int) -> list[tuple[int, str, str, str]]:
    """(key, country, stored cell, E.164 the customer calls from); formats taken in turn, twins included."""
    rng = random.Random(seed)
    taken: set[str] = set()
    rows: list[tuple[int, str, str, str]] = []
    while len(rows) < CUSTOMERS:
        region = REGIONS[len(rows) % len(REGIONS)]
        pairs = [(region, draw_number(rng, region, taken))]
        if region == "MX" and len(rows) % 2 == 0:
            mx, us = mexican_twins(rng, taken)
            pairs = [("MX", mx), ("US", us)]
        for country, number in pairs:
            style = FORMATS[len(rows) % len(FORMATS)]
            cell = style(number, draw_number(rng, country, taken))
            rows.append((len(rows) + 1, country, cell, e164(number)))
    return rows


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def table(
    request: pytest.FixtureRequest, tmp_path: Path
) -> tuple[str, list[tuple[int, str, str, str]]]:
    """The generated customers on SQLite or PostgreSQL."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'legacy.db'}"
    if request.param == "postgres":
        url = str(request.getfixturevalue("pg_url"))
    rows = generate(seed=15)
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE legacy (id INTEGER PRIMARY KEY, country TEXT, phone TEXT)"))
            await conn.execute(
                text("INSERT INTO legacy VALUES (:id, :country, :phone)"),
                [{"id": key, "country": country, "phone": cell} for key, country, cell, _ in rows],
            )
    finally:
        await engine.dispose()
    return url, rows


def rates(rows: list[tuple[int, str, str, str]], found: dict[int, list[int]]) -> tuple[float, float]:
    """(recall, wrong-customer rate) over every customer's call."""
    right = sum(key in found[key] for key, *_ in rows)
    wrong = sum(any(k != key for k in found[key]) for key, *_ in rows)
    return right / len(rows), wrong / len(rows)


async def lookups(url: str, rows: list[tuple[int, str, str, str]], region: bool) -> dict[int, list[int]]:
    """Each customer's call through the real connector: the keys it returns."""
    options = SqlOptions(
        url=url,
        match="normalized",
        index_query="SELECT id, phone, country FROM legacy" if region else "SELECT id, phone FROM legacy",
        index_region="country" if region else None,
        query="SELECT id FROM legacy WHERE id IN :keys",
        rows="many",
        limit=100,
    )
    connector = SqlConnector("legacy", options, connector_context("US", Path("."), None))
    await connector.start()
    found: dict[int, list[int]] = {}
    try:
        for key, _, _, number in rows:
            result = await connector.lookup({"e164": number})
            found[key] = [row["id"] for row in (result.data or {}).get("items", [])]
    finally:
        await connector.close()
    return found


async def test_every_customer_is_found_and_no_other(
    table: tuple[str, list[tuple[int, str, str, str]]],
) -> None:
    """Recall 1 and no wrong customer with `index_region`, where exact and last-7 matching fall short."""
    url, rows = table
    assert rates(rows, await lookups(url, rows, region=True)) == (1.0, 0.0)
    exact = {key: [k for k, _, c, _ in rows if c == number] for key, _, _, number in rows}
    last7 = {
        key: [k for k, _, c, _ in rows if re.sub(r"\D", "", c)[-7:] == number[-7:]]
        for key, *_, number in rows
    }
    exact_recall, _ = rates(rows, exact)
    _, last7_wrong = rates(rows, last7)
    assert exact_recall < 0.2 and last7_wrong > 0.02


async def test_without_index_region_foreign_national_numbers_are_misread(
    table: tuple[str, list[tuple[int, str, str, str]]],
) -> None:
    """The same table without `index_region` returns Mexican customers to US callers: what the key fixes."""
    url, rows = table
    recall, wrong = rates(rows, await lookups(url, rows, region=False))
    assert recall < 1.0 and wrong > 0.0
