"""Every row of the three demo databases, from one seeded ``random.Random``.

Everything comes from the seed and the day the demo is written (``today``,
every date is so many days before it), so two runs on one day give identical
rows, and a demo written today shows "last ordered 26 days ago" today.  The
documented ``DEMO_CUSTOMERS`` come first and keep their numbers and standing
whatever the seed (their ledgers and orders are written out in catalogue).
Numbers are stored the way real departments store them: accounting clean in
E.164, sales in whatever a rep typed, some with extensions, some missing, some
customers entered twice.

The order history has the rhythms the insight connectors learn from:
consumables re-bought on each customer's own cadence (paper about monthly,
toner about every two months once they own a printer), equipment bought with
its usual companions (a laptop with a dock and a bag), occasional one-off
buyers, and customers who never ordered.  No row says what goes with what.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from screenpop.demo.catalogue import (
    AREA_CODES,
    BUNDLES,
    CADENCES,
    CATEGORIES,
    DEMO_CUSTOMERS,
    FIRST_NAMES,
    HISTORY_DAYS,
    INVOICE_CENTS,
    LAST_NAMES,
    LATENESS,
    LIMIT_CENTS,
    PAY_CHANCE,
    PRICES,
    PRODUCTS,
    REFILLS,
    TERMS,
    DemoCustomer,
    Invoice,
    Order,
)
from screenpop.demo.payment_history import payment_history

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


def generate(customers: int, seed: int, today: date) -> Tables:
    """Every row of the three databases; the seed and ``today`` are the only inputs."""
    rng = random.Random(seed)
    tables = Tables()
    for sku, name, category, cents in PRODUCTS:
        tables.add("products", (sku, name, category, cents / 100))
    people = _people(rng, customers)
    for person in people:
        _add_accounting(rng, tables, person, today)
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
        fixed = person.fixed.orders if person.fixed else None
        orders = list(fixed) if fixed is not None else _orders(rng, person.segment)
        _add_orders(tables, person.customer_id, orders, today)
    _add_duplicates(rng, tables, people, today)
    tables.rows["payment_history"] = payment_history(tables.rows)
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
        """A number of ``country``, else (that pool spent) a US one."""
        for pool in (self._pools[country], self._pools["US"]):
            for number in pool:
                if number not in self._taken:
                    self._taken.add(number)
                    return number
        raise ValueError("the demo has no fictional phone numbers left for that many customers")


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


def _add_accounting(rng: random.Random, tables: Tables, person: _Person, today: date) -> None:
    fixed_invoices = person.fixed.invoices if person.fixed else ()
    invoices = list(fixed_invoices) or _invoices(rng, person)
    balance, overdue, last_paid = _add_ledger(rng, tables, person, invoices, today)
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
    _add_credit(rng, tables, person, balance, today)


def _invoices(rng: random.Random, person: _Person) -> list[Invoice]:
    low, high = INVOICE_CENTS[person.segment]
    days = [rng.randint(120, 480)] + [rng.randint(1, 450) for _ in range(rng.randint(1, 8))]
    term = TERMS[person.rating][1]
    invoices = [
        _invoice(rng, d, rng.randint(low, high), term, person.rating) for d in sorted(days, reverse=True)
    ]
    if person.rating == "D":
        issued, cents, _ = invoices[0]
        invoices[0] = (issued, cents, ())  # a credit hold always has something overdue
    return invoices


def _invoice(rng: random.Random, issued_ago: int, cents: int, term: int, rating: str) -> Invoice:
    """An invoice issued ``issued_ago`` days ago, paid in full, in part or not at all by today."""
    paid_after = max(0, term + rng.randint(*LATENESS[rating]))
    if paid_after >= issued_ago or rng.random() >= PAY_CHANCE[rating]:
        partial = cents * rng.randint(3, 7) // 10 if rng.random() < 0.3 else 0
        paid_after = min(paid_after, issued_ago - 1)
        return (issued_ago, cents, ((paid_after, partial),) if partial else ())
    return (issued_ago, cents, ((paid_after, cents),))


def _add_ledger(
    rng: random.Random, tables: Tables, person: _Person, invoices: list[Invoice], today: date
) -> tuple[int, int, date | None]:
    """Invoices and payments; returns balance and overdue in cents, and the last payment day."""
    balance = overdue = 0
    last_paid: date | None = None
    term_name, term_days = TERMS[person.rating]
    for issued_ago, cents, payments in invoices:
        issued = today - timedelta(days=issued_ago)
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
        overdue += open_cents if due < today else 0
    return balance, overdue, last_paid


def _add_credit(rng: random.Random, tables: Tables, person: _Person, balance: int, today: date) -> None:
    """Credit exposure is the accounting balance; card-paying retail has no credit account.

    Only what a credit department knows: limit, use, rating, the terms granted
    today and the next review.  What an agent may offer is the ``rules``
    connector's decision, not a column.
    """
    if not person.fixed and person.segment == "Retail" and person.rating in "AB" and rng.random() < 0.3:
        return
    low, high = LIMIT_CENTS[person.segment]
    limit = person.fixed.credit_limit_cents if person.fixed else rng.randint(low, high)
    limit = limit // 50000 * 50000
    if person.rating != "D":
        limit = max(limit, (balance // 50000 + 2) * 50000)
    review = today + timedelta(days=rng.randint(30, 240))
    tables.add(
        "credit_accounts",
        (
            person.account_id,
            limit / 100,
            balance / 100,
            person.rating,
            TERMS[person.rating][0],
            review.isoformat(),
        ),
    )


# --- sales -------------------------------------------------------------------


# Per segment: how many units an order line holds (equipment, consumables), the
# chance of keeping each consumable habit, how many bundles are bought in two years.
SCALE = {"Retail": 1, "SMB": 3, "Enterprise": 10}
PAPER_HABIT = {"Retail": 0.3, "SMB": 0.65, "Enterprise": 0.85}
OFFICE_HABIT = {"Retail": 0.1, "SMB": 0.3, "Enterprise": 0.5}
BUNDLE_COUNTS = {"Retail": (0, 1, 1, 2), "SMB": (0, 1, 2, 2, 3), "Enterprise": (1, 2, 3, 4)}
NO_ORDERS = {"Retail": 0.12, "SMB": 0.04, "Enterprise": 0.0}
REFILL_HABIT = 0.85  # printer owners who buy their toner here
CHURN = 0.2  # share of habits that stopped some time ago


def _orders(rng: random.Random, segment: str) -> list[Order]:
    """Two years of one customer's orders: bundles, consumable cadences, one-offs (or nothing)."""
    if rng.random() < NO_ORDERS[segment]:
        return []
    scale = SCALE[segment]
    lines: dict[int, dict[str, int]] = defaultdict(dict)  # days ago -> sku -> quantity
    habits: list[str] = []
    for main, companions in rng.sample(BUNDLES, rng.choice(BUNDLE_COUNTS[segment])):
        ago = rng.randint(20, HISTORY_DAYS)
        units = rng.randint(1, scale)
        for sku in [main, *(sku for sku, chance in companions if rng.random() < chance)]:
            bought = units * (rng.randint(1, 3) if CATEGORIES[sku] == "Supplies" else 1)
            lines[ago][sku] = lines[ago].get(sku, 0) + bought
        habits += [sku for sku in REFILLS.get(main, ()) if rng.random() < REFILL_HABIT]
    if rng.random() < PAPER_HABIT[segment]:
        habits.append("PAP-LTR")
    habits += [sku for sku in ("PEN-GEL", "NOTE-PAD") if rng.random() < OFFICE_HABIT[segment]]
    for sku in dict.fromkeys(habits):
        _add_habit(rng, lines, sku, scale)
    if not lines:  # an occasional buyer: one or two orders of something
        for _ in range(rng.randint(1, 2)):
            sku = rng.choice(PRODUCTS)[0]
            lines[rng.randint(1, HISTORY_DAYS)][sku] = 1
    return [(ago, tuple(items.items())) for ago, items in lines.items()]


def _add_habit(rng: random.Random, lines: dict[int, dict[str, int]], sku: str, scale: int) -> None:
    """A consumable re-bought on this customer's own cadence, from some day until today (or a churn)."""
    cadence = CADENCES[sku] * rng.uniform(0.8, 1.25)
    quantity = rng.randint(1, 2) * scale
    stopped = rng.randint(int(cadence) * 2, HISTORY_DAYS // 2) if rng.random() < CHURN else 0
    ago = float(rng.randint(int(cadence), HISTORY_DAYS))
    for _ in range(HISTORY_DAYS):  # bounded: each step moves at least a few days towards today
        day = round(ago)
        if day <= stopped or day < 1:
            break
        lines[day][sku] = lines[day].get(sku, 0) + max(1, quantity + rng.randint(-1, 1) * scale // 2)
        ago -= cadence * rng.uniform(0.85, 1.15)


def _add_orders(tables: Tables, customer_id: str, orders: list[Order], today: date) -> None:
    """One order per day (lines of one day together), oldest first, with its total."""
    days: dict[int, dict[str, int]] = defaultdict(dict)
    for ago, lines in orders:
        for sku, quantity in lines:
            days[ago][sku] = days[ago].get(sku, 0) + quantity
    for ago in sorted(days, reverse=True):
        order_id = tables.next_id("SO", 300001)
        total = sum(PRICES[sku] * quantity for sku, quantity in days[ago].items())
        status = "open" if ago < 14 else "shipped"
        day = today - timedelta(days=ago)
        tables.add("orders", (order_id, customer_id, day.isoformat(), status, total / 100))
        for line_no, (sku, quantity) in enumerate(days[ago].items(), start=1):
            tables.add("order_lines", (order_id, line_no, sku, quantity, PRICES[sku] / 100))


def _add_duplicates(rng: random.Random, tables: Tables, people: list[_Person], today: date) -> None:
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
        one_off: list[Order] = [(rng.randint(1, HISTORY_DAYS), ((rng.choice(PRODUCTS)[0], 1),))]
        _add_orders(tables, customer_id, one_off if rng.random() < 0.5 else [], today)


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
