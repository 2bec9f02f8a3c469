"""Every row of the three demo databases, from one seeded ``random.Random``.

Everything comes from the seed and a fixed anchor date (``catalogue.ANCHOR``),
so two runs give identical rows.  The documented ``DEMO_CUSTOMERS`` come first
and keep their numbers and standing whatever the seed (Ada Lovelace's ledger
and orders are written out in full).  Numbers are stored the way real
departments store them: accounting clean in E.164, sales in whatever a rep
typed, some with extensions, some missing, some customers entered twice.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from screenpop.demo.catalogue import (
    AFFINITY,
    ANCHOR,
    AREA_CODES,
    CATEGORIES,
    DEMO_CUSTOMERS,
    FIRST_NAMES,
    INVOICE_CENTS,
    LAST_NAMES,
    LATENESS,
    LIMIT_CENTS,
    OFFER_TERMS,
    PAY_CHANCE,
    PRICES,
    PRODUCTS,
    TERMS,
    DemoCustomer,
    Invoice,
    Order,
)

Row = tuple[Any, ...]


@dataclass(frozen=True)
class _Person:
    """One real-world customer as accounting, sales and credit each know them."""

    account_id: str
    customer_id: str
    name: str
    e164: str | None
    phone_text: str | None
    mobile_text: str | None
    email: str | None
    segment: str
    rating: str
    country: str
    fixed: DemoCustomer | None = None


@dataclass
class Tables:
    """Rows per table, filled by the generators and written at the end in one go."""

    rows: dict[str, list[Row]] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)

    def add(self, table: str, row: Row) -> None:
        self.rows.setdefault(table, []).append(row)

    def next_id(self, prefix: str, start: int) -> str:
        value = self.counters.get(prefix, start)
        self.counters[prefix] = value + 1
        return f"{prefix}-{value}"


def generate(customers: int, seed: int) -> Tables:
    """Every row of the three databases; the seeded generator is the only input."""
    rng = random.Random(seed)
    tables = Tables()
    for sku, name, category, cents in PRODUCTS:
        tables.add("products", (sku, name, category, cents / 100))
    for sku, partners in AFFINITY.items():
        for partner, score in partners:
            tables.add("product_affinity", (sku, partner, score))
    people = _people(rng, customers)
    for person in people:
        _add_accounting(rng, tables, person)
        tables.add(
            "customers",
            (
                person.customer_id,
                person.name,
                person.phone_text,
                person.mobile_text,
                person.email,
                person.segment,
                person.country,
            ),
        )
        fixed_orders = person.fixed.orders if person.fixed else ()
        _add_orders(tables, person.customer_id, list(fixed_orders) or _orders(rng, person))
    _add_duplicates(rng, tables, people)
    return tables


# --- people and their numbers ------------------------------------------------


def _people(rng: random.Random, count: int) -> list[_Person]:
    pools = _NumberPools(rng)
    fixed = [_fixed_person(i, c) for i, c in enumerate(DEMO_CUSTOMERS)]
    return fixed + [_random_person(rng, i, pools) for i in range(len(fixed), count)]


def _fixed_person(index: int, c: DemoCustomer) -> _Person:
    first, last = c.name.split(" ", 1)
    return _Person(
        _account_id(index),
        _customer_id(index),
        c.name,
        c.e164,
        c.phone_text,
        c.mobile_text,
        f"{first}.{last}@example.com".lower(),
        c.segment,
        c.rating,
        c.country,
        fixed=c,
    )


def _random_person(rng: random.Random, index: int, pools: _NumberPools) -> _Person:
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    country = rng.choices(["US", "GB", "DE"], [198, 1, 1])[0]
    e164 = pools.take(country) if rng.random() >= 0.02 else None
    mobile = pools.take("US") if country == "US" and rng.random() < 0.45 else None
    return _Person(
        _account_id(index),
        _customer_id(index),
        f"{first} {last}",
        e164,
        free_form(rng, e164) if e164 else rng.choice([None, ""]),
        free_form(rng, mobile, extension=False) if mobile else None,
        _email(rng, first, last) if rng.random() < 0.9 else None,
        rng.choices(["Retail", "SMB", "Enterprise"], [50, 38, 12])[0],
        rng.choices("ABCD", [35, 35, 20, 10])[0],
        country,
    )


class _NumberPools:
    """Unique, valid numbers per country, never one of the documented customers'."""

    def __init__(self, rng: random.Random) -> None:
        self._taken = {c.e164 for c in DEMO_CUSTOMERS} | {"+14155550199"}
        us = [f"+1{area}5550{line}" for area in AREA_CODES for line in range(100, 200)]
        gb = [f"+44207946{line:04d}" for line in range(1000)]  # Ofcom's drama range
        de = [f"+493023125{line:03d}" for line in range(1000)]  # Berlin's drama range
        for pool in (us, gb, de):
            rng.shuffle(pool)
        self._pools = {"US": _then_rest_of_555(us), "GB": iter(gb), "DE": iter(de)}

    def take(self, country: str) -> str:
        for number in self._pools[country]:
            if number not in self._taken:
                self._taken.add(number)
                return number
        return self.take("US")  # only reached by absurd customer counts


def _then_rest_of_555(first: list[str]) -> Iterator[str]:
    """The fictional 555-01XX lines, then (for big demos) the other 555 lines."""
    yield from first
    for line in range(200, 10000):
        yield from (f"+1{area}555{line:04d}" for area in AREA_CODES)


def free_form(rng: random.Random, e164: str, extension: bool = True) -> str:
    """An E.164 number the way a sales rep might have typed it (US dialling habits)."""
    if e164.startswith("+44"):
        return rng.choice(
            [
                f"+44 20 {e164[5:9]} {e164[9:]}",
                f"+44 (0)20 {e164[5:9]} {e164[9:]}",
                f"011 44 20 {e164[5:9]} {e164[9:]}",
            ]
        )
    if e164.startswith("+49"):
        return rng.choice(
            [f"+49 30 {e164[5:10]} {e164[10:]}", f"+49 (0)30 {e164[5:]}", f"011 49 30 {e164[5:]}"]
        )
    area, exchange, line = e164[2:5], e164[5:8], e164[8:]
    text = rng.choice(
        [
            f"({area}) {exchange}-{line}",
            f"{area}.{exchange}.{line}",
            f"{area}-{exchange}-{line}",
            f"+1 {area} {exchange} {line}",
            f"{area}{exchange}{line}",
            f"1-{area}-{exchange}-{line}",
            f"{area} {exchange} {line}",
            f"+1 ({area}) {exchange}-{line}",
        ]
    )
    if extension and rng.random() < 0.1:
        text += rng.choice([" x", " ext. ", " ext "]) + str(rng.randint(2, 499))
    return text


def _email(rng: random.Random, first: str, last: str) -> str:
    domain = rng.choice(["example.com", "example.net", "example.org"])
    local = rng.choice([f"{first}.{last}", f"{first[0]}{last}", f"{first}{rng.randint(1, 99)}"])
    return local.lower().replace("'", "") + "@" + domain


def _account_id(index: int) -> str:
    return f"A-{1001 + index}"


def _customer_id(index: int) -> str:
    return f"C-{10001 + index}"


# --- accounting and credit ---------------------------------------------------


def _add_accounting(rng: random.Random, tables: Tables, person: _Person) -> None:
    fixed_invoices = person.fixed.invoices if person.fixed else ()
    invoices = list(fixed_invoices) or _invoices(rng, person)
    balance, overdue, last_paid = _add_ledger(rng, tables, person, invoices)
    tables.add(
        "accounts",
        (
            person.account_id,
            person.name,
            person.e164,
            person.email,
            "USD",
            balance / 100,
            overdue / 100,
            last_paid.isoformat() if last_paid else None,
        ),
    )
    _add_credit(rng, tables, person, balance)


def _invoices(rng: random.Random, person: _Person) -> list[Invoice]:
    low, high = INVOICE_CENTS[person.segment]
    days = [rng.randint(120, 480)] + [rng.randint(1, 450) for _ in range(rng.randint(1, 8))]
    term = TERMS[person.rating][1]
    invoices = [
        _invoice(rng, ANCHOR - timedelta(days=d), rng.randint(low, high), term, person.rating)
        for d in sorted(days, reverse=True)
    ]
    if person.rating == "D":
        issued, cents, _ = invoices[0]
        invoices[0] = (issued, cents, ())  # a credit hold always has something overdue
    return invoices


def _invoice(rng: random.Random, issued: date, cents: int, term: int, rating: str) -> Invoice:
    paid_after = max(0, term + rng.randint(*LATENESS[rating]))
    if issued + timedelta(days=paid_after) >= ANCHOR or rng.random() >= PAY_CHANCE[rating]:
        partial = cents * rng.randint(3, 7) // 10 if rng.random() < 0.3 else 0
        paid_after = min(paid_after, (ANCHOR - issued).days - 1)
        return (issued, cents, ((paid_after, partial),) if partial else ())
    return (issued, cents, ((paid_after, cents),))


def _add_ledger(
    rng: random.Random, tables: Tables, person: _Person, invoices: list[Invoice]
) -> tuple[int, int, date | None]:
    """Invoices and payments; returns balance and overdue in cents, and the last payment day."""
    balance = overdue = 0
    last_paid: date | None = None
    term_name, term_days = TERMS[person.rating]
    for issued, cents, payments in invoices:
        invoice_id = tables.next_id("INV", 100001)
        due = issued + timedelta(days=term_days)
        tables.add(
            "invoices",
            (invoice_id, person.account_id, issued.isoformat(), due.isoformat(), cents / 100, term_name),
        )
        for after, amount in payments:
            day = issued + timedelta(days=after)
            tables.add(
                "payments",
                (
                    tables.next_id("PAY", 500001),
                    person.account_id,
                    invoice_id,
                    day.isoformat(),
                    amount / 100,
                    rng.choice(["ACH", "Card", "Check", "Wire"]),
                ),
            )
            last_paid = max(last_paid or day, day)
        open_cents = cents - sum(amount for _, amount in payments)
        balance += open_cents
        overdue += open_cents if due < ANCHOR else 0
    return balance, overdue, last_paid


def _add_credit(rng: random.Random, tables: Tables, person: _Person, balance: int) -> None:
    """Credit exposure is the accounting balance; card-paying retail has no credit account."""
    if not person.fixed and person.segment == "Retail" and person.rating in "AB" and rng.random() < 0.3:
        return
    low, high = LIMIT_CENTS[person.segment]
    limit = person.fixed.credit_limit_cents if person.fixed else rng.randint(low, high)
    limit = limit // 50000 * 50000
    if person.rating != "D":
        limit = max(limit, (balance // 50000 + 2) * 50000)
    max_offer = {"A": limit // 4, "B": limit // 10, "C": 0, "D": 0}[person.rating] // 10000
    review = ANCHOR + timedelta(days=rng.randint(30, 240))
    tables.add(
        "credit_accounts",
        (
            person.account_id,
            limit / 100,
            balance / 100,
            person.rating,
            TERMS[person.rating][0],
            OFFER_TERMS[person.rating],
            max_offer * 100,
            review.isoformat(),
        ),
    )


# --- sales -------------------------------------------------------------------


def _orders(rng: random.Random, person: _Person) -> list[Order]:
    low, high = {"Retail": (0, 4), "SMB": (1, 8), "Enterprise": (3, 14)}[person.segment]
    return [_order(rng, person.segment) for _ in range(rng.randint(low, high))]


def _order(rng: random.Random, segment: str) -> Order:
    day = ANCHOR - timedelta(days=rng.randint(1, 1000))
    main = rng.choice(tuple(AFFINITY))
    skus = [main] + [sku for sku, score in AFFINITY[main] if rng.random() < score * 0.7]
    scale = {"Retail": 1, "SMB": 3, "Enterprise": 12}[segment]
    bulk = {sku: 6 if CATEGORIES[sku] == "Supplies" else 1 for sku in skus}
    return day, tuple((sku, rng.randint(1, bulk[sku] * scale)) for sku in skus)


def _add_orders(tables: Tables, customer_id: str, orders: list[Order]) -> None:
    for day, lines in sorted(orders):
        order_id = tables.next_id("SO", 300001)
        total = sum(PRICES[sku] * quantity for sku, quantity in lines)
        status = "open" if (ANCHOR - day).days < 14 else "shipped"
        tables.add("orders", (order_id, customer_id, day.isoformat(), status, total / 100))
        for line_no, (sku, quantity) in enumerate(lines, start=1):
            tables.add("order_lines", (order_id, line_no, sku, quantity, PRICES[sku] / 100))


def _add_duplicates(rng: random.Random, tables: Tables, people: list[_Person]) -> None:
    """About 3% of customers entered again later, by another rep, in another format."""
    fixed = [p for p in people if p.fixed and p.fixed.duplicate_name]
    others = [p for p in people if not p.fixed and p.e164]
    chosen = fixed + rng.sample(others, min(len(others), max(1, len(people) * 3 // 100)))
    for offset, person in enumerate(chosen):
        assert person.e164 is not None  # only people with a number are chosen
        customer_id = _customer_id(len(people) + offset)
        name = person.fixed.duplicate_name if person.fixed else None
        phone = person.fixed.duplicate_phone_text if person.fixed else None
        tables.add(
            "customers",
            (
                customer_id,
                name or name_variant(rng, person.name),
                phone or free_form(rng, person.e164),
                None,
                None,
                person.segment,
                person.country,
            ),
        )
        _add_orders(tables, customer_id, [_order(rng, "Retail")] if rng.random() < 0.5 else [])


def name_variant(rng: random.Random, name: str) -> str:
    """The same person's name as someone else typed it."""
    first, last = name.split(" ", 1)
    return rng.choice(
        [
            f"{first} {rng.choice('ABCDEJKLMRS')}. {last}",
            f"{first[0]}. {last}",
            f"{last}, {first}",
            name.upper(),
            f"{first} {last[:-1]}",
        ]
    )
