"""Three SQLite databases that look like a small office supplier's back office.

The demo has to show what screenpop is for: numbers stored the way real
departments store them (accounting clean in E.164, sales in whatever a rep
typed, some with extensions, some missing), customers entered twice under
slightly different names, accounts that are overdue or on credit hold.
Everything comes from one seeded ``random.Random`` and a fixed anchor date, so
two runs give identical rows.  The documented ``DEMO_CUSTOMERS`` come first
and keep their numbers and standing whatever the seed (Ada Lovelace's ledger
and orders are written out in full), so docs and ``screenpop demo`` can name
them.

Each file is written under a temporary name and renamed into place, so a
service reading the demo directory never sees half a database.
"""

from __future__ import annotations

import os
import random
import sqlite3
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

ANCHOR = date(2026, 11, 1)  # "today" in the demo data; every date is relative to it
DATABASES = ("accounting", "sales", "credit")
Row = tuple[Any, ...]
# An invoice as the generators describe it: issued, cents, payments as (days after issue, cents).
Invoice = tuple[date, int, tuple[tuple[int, int], ...]]
# An order as the generators describe it: its date and its (sku, quantity) lines.
Order = tuple[date, tuple[tuple[str, int], ...]]


@dataclass(frozen=True)
class DemoCustomer:
    """A customer the docs and ``screenpop demo`` point at; never left to chance."""

    name: str
    e164: str
    phone_text: str
    segment: str
    rating: str
    country: str = "US"
    mobile_text: str | None = None
    duplicate_name: str | None = None
    duplicate_phone_text: str | None = None
    credit_limit_cents: int = 500000
    invoices: tuple[Invoice, ...] = ()
    orders: tuple[Order, ...] = ()


DEMO_CUSTOMERS = (
    DemoCustomer(
        "Ada Lovelace",
        "+14155550132",
        "(415) 555-0132",
        "SMB",
        "B",
        mobile_text="415.555.0199",
        credit_limit_cents=500000,
        invoices=(
            (date(2026, 6, 15), 48000, ((25, 48000),)),
            (date(2026, 8, 16), 125000, ((30, 125000),)),
            (date(2026, 9, 10), 12050, ()),
        ),
        orders=(
            (date(2025, 11, 18), (("LAP-14", 1), ("MOUSE-WL", 1))),
            (date(2026, 5, 6), (("MON-27", 2),)),
            (date(2026, 10, 5), (("PAP-LTR", 4),)),
        ),
    ),
    DemoCustomer(
        "Grace Hopper", "+12125550147", "212-555-0147 x12", "Enterprise", "A", credit_limit_cents=5000000
    ),
    DemoCustomer(
        "Charles Babbage",
        "+13125550178",
        "1-312-555-0178",
        "SMB",
        "B",
        duplicate_name="Charles B. Babbage",
        duplicate_phone_text="+1 312 555 0178",
    ),
    DemoCustomer("Herman Hollerith", "+16175550190", "617.555.0190", "SMB", "D", credit_limit_cents=300000),
    DemoCustomer("Alan Turing", "+442079460018", "+44 20 7946 0018", "SMB", "A", country="GB"),
    DemoCustomer("Konrad Zuse", "+493023125012", "011 49 30 23125012", "Retail", "B", country="DE"),
)

# Real US area codes whose 555-01XX lines phonenumbers accepts as valid.
AREA_CODES = (
    201,
    202,
    203,
    206,
    212,
    213,
    214,
    303,
    305,
    310,
    312,
    313,
    317,
    404,
    407,
    412,
    415,
    503,
    504,
    512,
    602,
    612,
    617,
    619,
    646,
    702,
    704,
    713,
    718,
    720,
    773,
    801,
    804,
    808,
    813,
    816,
    832,
    858,
    917,
    919,
)
FIRST_NAMES = (
    "James",
    "Mary",
    "Robert",
    "Patricia",
    "John",
    "Jennifer",
    "Michael",
    "Linda",
    "David",
    "Elizabeth",
    "William",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Carlos",
    "Karen",
    "Daniel",
    "Lisa",
    "Matthew",
    "Nancy",
    "Anthony",
    "Sandra",
    "Mark",
    "Ashley",
    "Steven",
    "Emily",
    "Paul",
    "Michelle",
    "Andrew",
    "Amanda",
    "Joshua",
    "Melissa",
    "Kenneth",
    "Deborah",
    "Kevin",
    "Stephanie",
    "Brian",
    "Rebecca",
    "Wei",
    "Laura",
    "Priya",
    "Sharon",
    "Jose",
    "Cynthia",
    "Aisha",
    "Kathleen",
    "Omar",
    "Amy",
    "Hiroshi",
    "Angela",
    "Dmitri",
    "Shirley",
    "Kwame",
    "Anna",
    "Luis",
    "Brenda",
)
LAST_NAMES = (
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Torres",
    "Nguyen",
    "Hill",
    "Flores",
    "Green",
    "Adams",
    "Nelson",
    "Baker",
    "Hall",
    "Rivera",
    "Campbell",
    "Mitchell",
    "Carter",
    "Roberts",
    "Chen",
    "Patel",
    "Okafor",
    "Kowalski",
    "O'Brien",
    "Tanaka",
    "Schmidt",
    "Novak",
    "Haddad",
    "Ivanova",
)
PRODUCTS = (  # sku, name, category, price in cents
    ("LAP-14", "Laptop 14in, 16 GB", "Computers", 114900),
    ("LAP-16", "Laptop 16in workstation", "Computers", 219900),
    ("DESK-MINI", "Mini desktop PC", "Computers", 79900),
    ("MON-24", "Monitor 24in", "Displays", 18900),
    ("MON-27", "Monitor 27in 4K", "Displays", 42900),
    ("ARM-DUAL", "Dual monitor arm", "Displays", 13900),
    ("DOCK-USBC", "USB-C docking station", "Accessories", 24900),
    ("MOUSE-WL", "Wireless mouse", "Accessories", 3900),
    ("KBD-WL", "Wireless keyboard", "Accessories", 6900),
    ("PAD-MOUSE", "Mouse pad", "Accessories", 1200),
    ("HEAD-BT", "Bluetooth headset", "Accessories", 12900),
    ("CAM-HD", "HD webcam", "Accessories", 8900),
    ("BAG-15", "Laptop bag 15in", "Accessories", 5900),
    ("CBL-HDMI", "HDMI cable 2 m", "Accessories", 1500),
    ("PRN-LASER", "Laser printer, mono", "Printers", 32900),
    ("PRN-COLOR", "Color laser printer", "Printers", 54900),
    ("TON-BLK", "Toner cartridge, black", "Supplies", 8900),
    ("TON-CMY", "Toner set, color", "Supplies", 25900),
    ("PAP-LTR", "Copy paper, letter, case", "Supplies", 5400),
    ("PEN-GEL", "Gel pens, box of 12", "Supplies", 1400),
    ("NOTE-PAD", "Notepads, pack of 12", "Supplies", 1800),
    ("CHAIR-ERG", "Ergonomic chair", "Furniture", 48900),
    ("DESK-SIT", "Sit-stand desk", "Furniture", 69900),
    ("LAMP-LED", "LED desk lamp", "Furniture", 4900),
    ("RTR-WIFI", "Wi-Fi 6 router", "Networking", 21900),
    ("SW-24", "24-port switch", "Networking", 34900),
    ("UPS-1500", "UPS 1500 VA", "Networking", 27900),
    ("WARR-3Y", "3-year on-site warranty", "Services", 19900),
    ("SETUP", "On-site setup", "Services", 15000),
    ("OFF-365", "Office suite, 1 year", "Software", 9900),
)
# What merchandising says goes with what (score 0..1); orders follow it, and the
# "likely next purchase" query reads it.  Keys are the products an order starts from.
AFFINITY: dict[str, tuple[tuple[str, float], ...]] = {
    "LAP-14": (
        ("DOCK-USBC", 0.82),
        ("BAG-15", 0.64),
        ("MOUSE-WL", 0.58),
        ("WARR-3Y", 0.45),
        ("OFF-365", 0.40),
    ),
    "LAP-16": (("DOCK-USBC", 0.85), ("WARR-3Y", 0.60), ("BAG-15", 0.55), ("HEAD-BT", 0.35)),
    "DESK-MINI": (("MON-24", 0.78), ("KBD-WL", 0.70), ("MOUSE-WL", 0.66), ("OFF-365", 0.45)),
    "MON-24": (("CBL-HDMI", 0.60), ("ARM-DUAL", 0.42)),
    "MON-27": (("ARM-DUAL", 0.71), ("CBL-HDMI", 0.55), ("DOCK-USBC", 0.50), ("CAM-HD", 0.30)),
    "MOUSE-WL": (("KBD-WL", 0.74), ("PAD-MOUSE", 0.41)),
    "HEAD-BT": (("CAM-HD", 0.52),),
    "PRN-LASER": (("TON-BLK", 0.88), ("PAP-LTR", 0.76), ("SETUP", 0.25)),
    "PRN-COLOR": (("TON-CMY", 0.86), ("TON-BLK", 0.62), ("PAP-LTR", 0.70)),
    "TON-BLK": (("PAP-LTR", 0.48),),
    "PAP-LTR": (("PEN-GEL", 0.35), ("NOTE-PAD", 0.33)),
    "CHAIR-ERG": (("DESK-SIT", 0.47), ("LAMP-LED", 0.38)),
    "DESK-SIT": (("CHAIR-ERG", 0.58), ("ARM-DUAL", 0.44), ("LAMP-LED", 0.36)),
    "RTR-WIFI": (("SW-24", 0.46), ("UPS-1500", 0.40), ("SETUP", 0.55)),
    "SW-24": (("UPS-1500", 0.57), ("SETUP", 0.50)),
}

SCHEMAS: dict[str, dict[str, str]] = {
    "accounting": {
        "accounts": """CREATE TABLE accounts (
            account_id TEXT PRIMARY KEY, name TEXT NOT NULL, phone_e164 TEXT, email TEXT,
            currency TEXT NOT NULL, balance NUMERIC NOT NULL, overdue_amount NUMERIC NOT NULL,
            last_payment_date TEXT);
            CREATE INDEX accounts_phone_e164 ON accounts (phone_e164);""",
        "invoices": """CREATE TABLE invoices (
            invoice_id TEXT PRIMARY KEY, account_id TEXT NOT NULL REFERENCES accounts,
            issued_on TEXT NOT NULL, due_on TEXT NOT NULL, amount NUMERIC NOT NULL,
            terms TEXT NOT NULL);
            CREATE INDEX invoices_account ON invoices (account_id);""",
        "payments": """CREATE TABLE payments (
            payment_id TEXT PRIMARY KEY, account_id TEXT NOT NULL REFERENCES accounts,
            invoice_id TEXT NOT NULL REFERENCES invoices, paid_on TEXT NOT NULL,
            amount NUMERIC NOT NULL, method TEXT NOT NULL);
            CREATE INDEX payments_account ON payments (account_id);
            CREATE INDEX payments_invoice ON payments (invoice_id);""",
    },
    "sales": {
        "customers": """CREATE TABLE customers (
            customer_id TEXT PRIMARY KEY, name TEXT NOT NULL, phone TEXT, mobile TEXT,
            email TEXT, segment TEXT NOT NULL, country TEXT NOT NULL);""",
        "products": """CREATE TABLE products (
            sku TEXT PRIMARY KEY, name TEXT NOT NULL, category TEXT NOT NULL,
            price NUMERIC NOT NULL);""",
        "product_affinity": """CREATE TABLE product_affinity (
            sku TEXT NOT NULL REFERENCES products, goes_with_sku TEXT NOT NULL REFERENCES products,
            score REAL NOT NULL, PRIMARY KEY (sku, goes_with_sku));""",
        "orders": """CREATE TABLE orders (
            order_id TEXT PRIMARY KEY, customer_id TEXT NOT NULL REFERENCES customers,
            ordered_on TEXT NOT NULL, status TEXT NOT NULL, total NUMERIC NOT NULL);
            CREATE INDEX orders_customer ON orders (customer_id, ordered_on);""",
        "order_lines": """CREATE TABLE order_lines (
            order_id TEXT NOT NULL REFERENCES orders, line_no INTEGER NOT NULL,
            sku TEXT NOT NULL REFERENCES products, quantity INTEGER NOT NULL,
            unit_price NUMERIC NOT NULL, PRIMARY KEY (order_id, line_no));""",
    },
    "credit": {
        "credit_accounts": """CREATE TABLE credit_accounts (
            account_id TEXT PRIMARY KEY, credit_limit NUMERIC NOT NULL, used NUMERIC NOT NULL,
            rating TEXT NOT NULL CHECK (rating IN ('A', 'B', 'C', 'D')), terms TEXT NOT NULL,
            offer_terms TEXT NOT NULL, max_offer NUMERIC NOT NULL, review_date TEXT NOT NULL);""",
    },
}

TERMS = {"A": ("Net 45", 45), "B": ("Net 30", 30), "C": ("Net 15", 15), "D": ("Prepayment", 0)}
OFFER_TERMS = {"A": "Net 60", "B": "Net 45", "C": "Net 30", "D": "Prepayment only"}
LATENESS = {"A": (-15, 0), "B": (-10, 10), "C": (-5, 40), "D": (0, 90)}  # days after due
PAY_CHANCE = {"A": 1.0, "B": 0.97, "C": 0.8, "D": 0.45}
INVOICE_CENTS = {"Retail": (4000, 60000), "SMB": (20000, 300000), "Enterprise": (100000, 2000000)}
LIMIT_CENTS = {"Retail": (100000, 500000), "SMB": (500000, 2500000), "Enterprise": (2500000, 15000000)}
PRICES = {sku: cents for sku, _, _, cents in PRODUCTS}
CATEGORIES = {sku: category for sku, _, category, _ in PRODUCTS}


@dataclass(frozen=True)
class DemoSummary:
    """What was written, and numbers worth calling, for ``screenpop demo`` to print."""

    directory: Path
    written: bool
    accounts: int
    sales_customers: int
    demo_customer: str = DEMO_CUSTOMERS[0].name
    overdue_number: str = DEMO_CUSTOMERS[0].e164
    normal_number: str = DEMO_CUSTOMERS[1].e164
    duplicate_number: str = DEMO_CUSTOMERS[2].e164
    credit_hold_number: str = DEMO_CUSTOMERS[3].e164
    international_number: str = DEMO_CUSTOMERS[4].e164

    @property
    def databases(self) -> dict[str, Path]:
        return {name: self.directory / f"{name}.db" for name in DATABASES}

    @property
    def samples(self) -> dict[str, str]:
        """Label -> E.164 number, in the order a demo is best walked through."""
        return {
            f"{self.demo_customer}, overdue": self.overdue_number,
            f"{DEMO_CUSTOMERS[1].name}, good standing": self.normal_number,
            f"{DEMO_CUSTOMERS[2].name}, entered twice in sales": self.duplicate_number,
            f"{DEMO_CUSTOMERS[3].name}, credit hold": self.credit_hold_number,
            f"{DEMO_CUSTOMERS[4].name}, London": self.international_number,
        }


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
class _Tables:
    """Rows per table, filled by the generators and written at the end in one go."""

    rows: dict[str, list[Row]] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)

    def add(self, table: str, row: Row) -> None:
        self.rows.setdefault(table, []).append(row)

    def next_id(self, prefix: str, start: int) -> str:
        value = self.counters.get(prefix, start)
        self.counters[prefix] = value + 1
        return f"{prefix}-{value}"


def write_demo_databases(
    directory: Path, customers: int = 2000, seed: int = 7, overwrite: bool = True
) -> DemoSummary:
    """Write accounting.db, sales.db and credit.db; ``overwrite=False`` keeps a complete set."""
    directory = Path(directory)
    if not overwrite and all((directory / f"{n}.db").exists() for n in DATABASES):
        return _summary_of(directory, written=False)
    if customers < len(DEMO_CUSTOMERS):
        raise ValueError(f"the demo needs at least {len(DEMO_CUSTOMERS)} customers")
    directory.mkdir(parents=True, exist_ok=True)
    tables = generate(customers, seed)
    for name in DATABASES:
        _write_database(directory / f"{name}.db", SCHEMAS[name], tables)
    return _summary_of(directory, written=True)


def generate(customers: int, seed: int) -> _Tables:
    """Every row of the three databases; the seeded generator is the only input."""
    rng = random.Random(seed)
    tables = _Tables()
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


def _add_accounting(rng: random.Random, tables: _Tables, person: _Person) -> None:
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
    rng: random.Random, tables: _Tables, person: _Person, invoices: list[Invoice]
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


def _add_credit(rng: random.Random, tables: _Tables, person: _Person, balance: int) -> None:
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


def _add_orders(tables: _Tables, customer_id: str, orders: list[Order]) -> None:
    for day, lines in sorted(orders):
        order_id = tables.next_id("SO", 300001)
        total = sum(PRICES[sku] * quantity for sku, quantity in lines)
        status = "open" if (ANCHOR - day).days < 14 else "shipped"
        tables.add("orders", (order_id, customer_id, day.isoformat(), status, total / 100))
        for line_no, (sku, quantity) in enumerate(lines, start=1):
            tables.add("order_lines", (order_id, line_no, sku, quantity, PRICES[sku] / 100))


def _add_duplicates(rng: random.Random, tables: _Tables, people: list[_Person]) -> None:
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


# --- files -------------------------------------------------------------------


def _write_database(path: Path, schema: dict[str, str], tables: _Tables) -> None:
    """Write a new file next to ``path`` and rename it over ``path``: readers see the old or the new.

    The temporary name is unique (``mkstemp``), not derived from the pid:
    two writers in one process, or in two containers sharing the directory
    (where pids repeat), would otherwise write and rename one file.
    """
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)  # SQLite opens an empty file as a new database
    os.chmod(name, 0o644)  # what SQLite would have created; mkstemp's 0600 would hide it from other users
    temporary = Path(name)
    try:
        _fill(temporary, schema, tables)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def _fill(temporary: Path, schema: dict[str, str], tables: _Tables) -> None:
    connection = sqlite3.connect(temporary)
    try:
        # A half-written temporary file is thrown away, never renamed: no need to sync it.
        connection.executescript("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;")
        for ddl in schema.values():
            connection.executescript(ddl)
        with connection:  # one transaction for every row of this database
            for table in schema:
                rows = tables.rows.get(table, [])
                marks = ", ".join("?" * len(rows[0])) if rows else ""
                connection.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)  # noqa: S608
    finally:
        connection.close()


def _summary_of(directory: Path, written: bool) -> DemoSummary:
    return DemoSummary(
        directory=directory,
        written=written,
        accounts=_count(directory / "accounting.db", "accounts"),
        sales_customers=_count(directory / "sales.db", "customers"),
    )


def _count(path: Path, table: str) -> int:
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        (count,) = connection.execute(f"SELECT COUNT(*) FROM {table}").fetchone()  # noqa: S608
    finally:
        connection.close()
    return int(count)
