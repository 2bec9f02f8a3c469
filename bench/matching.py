"""Matching legacy numbers (`match: normalized`): recall and wrong-customer rate against two baselines.

Run by ``make bench`` (also ``make bench-matching``).  A generated table of
customers (3,000 by default) whose numbers are stored in 15 real-world
formats, each customer called once from its number in E.164, as a phone
system presents it.  Four ways to find the customer:

- ``exact``: the stored text equals the caller's E.164 (wazo-dird's way);
- ``last7``: the last 7 digits of the stored text equal the caller's (3CX, OpenERP);
- ``whole_cell``: the same connector reading each cell as one number with
  ``phonenumbers.parse`` (how screenpop matched before issue 15: labels read
  as vanity digits, one number a cell);
- ``normalized``: screenpop's real ``sql`` connector with ``match: normalized``
  on a real SQLite file, every number read in ``numbers.default_region`` (US);
- ``normalized+region``: the same with ``index_region: country``.

For each: **recall** (the right customer is among those returned) and the
**wrong-customer rate** (any other customer is returned).  The table is
mostly US, with customers in MX, CA, GB, DE, FR, ES and BR whose numbers are
often stored in their own national format; a Mexican customer's number
sometimes has the same digits as a US customer's (``55 9474 4977`` and
``(559) 474-4977``), as the Mexico/Fresno case of issue 15.  Also reported:
the index build (read + normalise) time, and lookup p50/p99 inside the
connector.  Exit status 0 whatever the figures, 1 when a part failed to run.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import random
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import phonenumbers
from common import Children, percentiles, run_script
from phonenumbers import PhoneNumber, PhoneNumberFormat
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from screenpop.connectors.sql import SqlConnector, SqlOptions
from screenpop.phone import stored_numbers
from screenpop.plugins import connector_context

REGIONS = (("US", 60), ("MX", 12), ("CA", 5), ("GB", 7), ("DE", 7), ("FR", 4), ("ES", 3), ("BR", 2))
LOOKALIKE_SHARE = 0.5  # of Mexican customers, how many have a US twin with the same ten digits
PHONES_ONLY = "SELECT id, phone FROM customers"
WITH_COUNTRY = "SELECT id, phone, country FROM customers"
METHODS = ("exact", "last7", "whole_cell", "normalized", "normalized+region")


def _national(n: PhoneNumber) -> str:
    return str(phonenumbers.format_number(n, PhoneNumberFormat.NATIONAL))


def _international(n: PhoneNumber) -> str:
    return str(phonenumbers.format_number(n, PhoneNumberFormat.INTERNATIONAL))


def _from_abroad(n: PhoneNumber) -> str:
    home = phonenumbers.region_code_for_number(n)
    return str(phonenumbers.format_out_of_country_calling_number(n, "FR" if home == "DE" else "DE"))


FORMATS: dict[str, Callable[[PhoneNumber, PhoneNumber], str]] = {
    "e164": lambda n, _: str(phonenumbers.format_number(n, PhoneNumberFormat.E164)),
    "international": lambda n, _: _international(n),
    "national": lambda n, _: _national(n),
    "dotted": lambda n, _: re.sub(r"[()]", "", _national(n)).replace(" ", ".").replace("-", "."),
    "dashed": lambda n, _: re.sub(r"[()]", "", _national(n)).replace(" ", "-"),
    "digits": lambda n, _: re.sub(r"\D", "", _national(n)),
    "from_abroad_00": lambda n, _: _from_abroad(n),
    "ext_x": lambda n, _: _national(n) + " x12",
    "ext_word": lambda n, _: _national(n) + " ext. 345",
    "label_after_dash": lambda n, _: _national(n) + " - office",
    "label_after_paren": lambda n, _: _international(n) + " (work)",
    "label_after_cell": lambda n, _: _national(n) + " (cell)",
    "label_before": lambda n, _: "mobile: " + _national(n),
    "label_before_tel": lambda n, _: "Tel. " + _international(n),
    "two_in_one_cell": lambda n, other: _national(n) + " / " + _national(other),
}


@dataclass(frozen=True)
class Customer:
    key: int
    country: str
    number: PhoneNumber
    stored: str
    style: str

    @property
    def e164(self) -> str:
        return str(phonenumbers.format_number(self.number, PhoneNumberFormat.E164))


def valid_number(rng: random.Random, region: str) -> PhoneNumber:
    """A valid fixed or mobile number of ``region``: an example number with its last four digits redrawn."""
    kinds = (phonenumbers.PhoneNumberType.FIXED_LINE, phonenumbers.PhoneNumberType.MOBILE)
    for _ in range(1000):  # bounded: valid numbers are dense in every range drawn from
        example = phonenumbers.example_number_for_type(region, rng.choice(kinds))
        if example is None:
            continue
        nsn = str(example.national_number)
        candidate = phonenumbers.parse(f"+{example.country_code}{nsn[:-4]}{rng.randrange(10_000):04d}")
        if phonenumbers.is_valid_number(candidate):
            return candidate
    raise RuntimeError(f"no valid number drawn for {region}")


def mexican_with_twin(rng: random.Random) -> tuple[PhoneNumber, PhoneNumber] | None:
    """A Mexico City, Guadalajara or Monterrey number whose ten digits are also a valid US number."""
    for _ in range(100):  # bounded: most draws are valid on both sides
        digits = rng.choice(("55", "33", "81")) + f"{rng.randrange(10**8):08d}"
        number, twin = phonenumbers.parse("+52" + digits), us_twin(phonenumbers.parse("+52" + digits))
        if phonenumbers.is_valid_number(number) and twin is not None:
            return number, twin
    return None


def us_twin(number: PhoneNumber) -> PhoneNumber | None:
    """The US number with the same national digits (``55 9474 4977`` -> ``(559) 474-4977``), if valid."""
    twin = phonenumbers.parse("+1" + str(number.national_number))
    return twin if len(str(number.national_number)) == 10 and phonenumbers.is_valid_number(twin) else None


def generate(count: int, seed: int) -> list[Customer]:
    """``count`` customers, formats drawn evenly; every customer's number distinct."""
    rng = random.Random(seed)
    regions = [r for r, weight in REGIONS for _ in range(weight)]
    styles = list(FORMATS)
    customers: list[Customer] = []
    taken: set[str] = set()

    def fresh(country: str) -> PhoneNumber:
        """A number no customer has yet (a second line of one customer is nobody else's either)."""
        for _ in range(1000):  # bounded: the drawn ranges hold far more numbers than customers
            number = valid_number(rng, country)
            if phonenumbers.format_number(number, PhoneNumberFormat.E164) not in taken:
                return number
        raise RuntimeError(f"no free number left in {country}")

    def add(country: str, number: PhoneNumber) -> None:
        e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
        if e164 in taken:
            return
        taken.add(e164)
        style = rng.choice(styles)
        other = fresh(country)
        taken.add(phonenumbers.format_number(other, PhoneNumberFormat.E164))
        stored = FORMATS[style](number, other)
        customers.append(Customer(len(customers) + 1, country, number, stored, style))

    while len(customers) < count:
        country = rng.choice(regions)
        pair = mexican_with_twin(rng) if country == "MX" and rng.random() < LOOKALIKE_SHARE else None
        if pair is None:
            add(country, fresh(country))
            continue
        add("MX", pair[0])
        if len(customers) < count:
            add("US", pair[1])
    return customers


def baseline(customers: Sequence[Customer], method: str) -> dict[str, list[int]]:
    """Which customers each caller finds by the stored text itself (exact) or its last 7 digits."""
    found: dict[str, list[int]] = {}
    by_last7: dict[str, list[int]] = {}
    for c in customers:
        by_last7.setdefault(re.sub(r"\D", "", c.stored)[-7:], []).append(c.key)
    for c in customers:
        if method == "exact":
            found[c.e164] = [o.key for o in customers if o.stored == c.e164] if c.stored == c.e164 else []
        else:
            found[c.e164] = by_last7.get(c.e164[-7:], [])
    return found


async def write_table(url: str, customers: Sequence[Customer]) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text("CREATE TABLE customers (id INTEGER PRIMARY KEY, country TEXT, phone TEXT, style TEXT)")
            )
            await conn.execute(
                text("INSERT INTO customers VALUES (:id, :country, :phone, :style)"),
                [{"id": c.key, "country": c.country, "phone": c.stored, "style": c.style} for c in customers],
            )
    finally:
        await engine.dispose()


async def through_connector(
    url: str, customers: Sequence[Customer], region_column: bool, whole_cell: bool = False
) -> dict[str, Any]:
    """Every call looked up by the real sql connector; what it found, the build and lookup times."""
    options = SqlOptions(
        url=url,
        match="normalized",
        index_query=WITH_COUNTRY if region_column else PHONES_ONLY,
        index_region="country" if region_column else None,
        query="SELECT id FROM customers WHERE id IN :keys",
        rows="many",
        limit=1000,
    )
    context = connector_context("US", Path("."), None)
    if whole_cell:  # a context without read_numbers reads a cell as one number (ConnectorContext)
        context = dataclasses.replace(context, read_numbers=None)
    connector = SqlConnector("sales", options, context)
    started = time.perf_counter()
    await connector.start()
    build_s = time.perf_counter() - started
    found: dict[str, list[int]] = {}
    took: list[float] = []
    try:
        for c in customers:
            t0 = time.perf_counter()
            result = await connector.lookup({"e164": c.e164})
            took.append(time.perf_counter() - t0)
            found[c.e164] = [row["id"] for row in (result.data or {}).get("items", [])]
    finally:
        await connector.close()
    return {"found": found, "build_s": build_s, "lookup_ms": percentiles(took)}


def score(customers: Sequence[Customer], found: dict[str, list[int]]) -> dict[str, Any]:
    """Recall, wrong-customer rate, and recall per stored format."""
    right = [c.key in found[c.e164] for c in customers]
    wrong = [any(k != c.key for k in found[c.e164]) for c in customers]
    per_style: dict[str, list[bool]] = {}
    per_country: dict[str, list[bool]] = {}
    for c, ok in zip(customers, right, strict=True):
        per_style.setdefault(c.style, []).append(ok)
        per_country.setdefault(c.country, []).append(ok)
    return {
        "recall": round(sum(right) / len(customers), 4),
        "wrong_customer_rate": round(sum(wrong) / len(customers), 4),
        "recall_by_format": {s: round(sum(v) / len(v), 3) for s, v in sorted(per_style.items())},
        "recall_by_country": {r: round(sum(v) / len(v), 3) for r, v in sorted(per_country.items())},
    }


async def run(args: argparse.Namespace, _children: Children, workdir: Path) -> dict[str, Any]:
    customers = generate(args.customers, args.seed)
    url = f"sqlite+aiosqlite:///{workdir / 'customers.db'}"
    await write_table(url, customers)
    result: dict[str, Any] = {
        "customers": len(customers),
        "formats": len(FORMATS),
        "countries": {r: sum(c.country == r for c in customers) for r, _ in REGIONS},
        "methods": {},
        "reading": reading_cost(customers),
    }
    for method in ("exact", "last7"):
        result["methods"][method] = score(customers, baseline(customers, method))
    runs = (("whole_cell", False, True), ("normalized", False, False), ("normalized+region", True, False))
    for method, region_column, whole_cell in runs:
        measured = await through_connector(url, customers, region_column, whole_cell)
        figures = score(customers, measured["found"])
        figures |= {"index_build_s": round(measured["build_s"], 3), "lookup_ms": measured["lookup_ms"]}
        result["methods"][method] = figures
    return result


def reading_cost(customers: Sequence[Customer]) -> dict[str, float]:
    """µs per stored cell: screenpop's reading against ``phonenumbers.parse`` alone, same cells, same loop.

    ``parse`` alone is the floor a reading built on phonenumbers cannot go
    under without a fast path; it reads labels as vanity digits, so its
    answers are not the same ones, only its cost is compared.
    """
    cells = [c.stored for c in customers]
    t0 = time.perf_counter()
    for cell in cells:
        stored_numbers(cell, "US")
    ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    for cell in cells:
        with contextlib.suppress(phonenumbers.NumberParseException):  # only the time is measured
            phonenumbers.parse(cell, "US")
    floor = time.perf_counter() - t0
    return {
        "stored_numbers_us": round(ours / len(cells) * 1e6, 1),
        "phonenumbers_parse_us": round(floor / len(cells) * 1e6, 1),
    }


def print_table(result: dict[str, Any]) -> None:
    print(f"matching: {result['customers']} customers, {result['formats']} stored formats, called in E.164")
    print(f"  countries: {result['countries']}")
    print(f"  {'method':<20} {'recall':>8} {'wrong':>8}  index build   lookup p50/p99 (ms)")
    for method in METHODS:
        m = result["methods"][method]
        build = f"{m['index_build_s']:.3f} s" if "index_build_s" in m else "-"
        lookup = f"{m['lookup_ms']['p50']:.2f}/{m['lookup_ms']['p99']:.2f}" if "lookup_ms" in m else "-"
        print(f"  {method:<20} {m['recall']:>8.3f} {m['wrong_customer_rate']:>8.3f}  {build:>11}   {lookup}")
    reading = result["reading"]
    print(
        f"  reading a cell: {reading['stored_numbers_us']:.1f} µs (stored_numbers), "
        f"{reading['phonenumbers_parse_us']:.1f} µs (phonenumbers.parse alone, the floor)"
    )
    us = {method: result["methods"][method]["recall_by_country"]["US"] for method in METHODS}
    print("  recall of the US customers only: " + ", ".join(f"{m} {r:.3f}" for m, r in us.items()))
    print("  recall by stored format (normalized+region):")
    for style, recall in result["methods"]["normalized+region"]["recall_by_format"].items():
        print(f"    {style:<20} {recall:.3f}")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--customers", type=int, default=3000, help="rows in the generated table (default 3000)"
    )
    parser.add_argument("--seed", type=int, default=15, help="random seed of the table (default 15)")
    parser.add_argument("--log-dir", metavar="DIR", help="keep the SQLite table here")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--out", metavar="FILE", help="also write the figures as JSON to FILE")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    return run_script(parse_args(argv), run, print_table, lambda _result: False)


if __name__ == "__main__":
    sys.exit(main())
