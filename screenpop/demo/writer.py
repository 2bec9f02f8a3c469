"""Writing the three demo SQLite databases, each whole or not at all.

Each file is written under a temporary name and renamed into place, so a
service reading the demo directory never sees half a database.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from screenpop.demo.catalogue import DATABASES, DEMO_CUSTOMERS
from screenpop.demo.generator import Tables, generate

# Each database's tables, created and filled in this order.  Facts only: orders,
# ledgers, credit standing; no table or column holds advice (what goes with
# what, what to offer), which config/demo.yaml computes from these.
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
        "orders": """CREATE TABLE orders (
            order_id TEXT PRIMARY KEY, customer_id TEXT NOT NULL REFERENCES customers,
            ordered_on TEXT NOT NULL, status TEXT NOT NULL, total NUMERIC NOT NULL);
            CREATE INDEX orders_customer ON orders (customer_id, ordered_on);
            CREATE INDEX orders_ordered_on ON orders (ordered_on);""",
        "order_lines": """CREATE TABLE order_lines (
            order_id TEXT NOT NULL REFERENCES orders, line_no INTEGER NOT NULL,
            sku TEXT NOT NULL REFERENCES products, quantity INTEGER NOT NULL,
            unit_price NUMERIC NOT NULL, PRIMARY KEY (order_id, line_no));""",
    },
    "credit": {
        "credit_accounts": """CREATE TABLE credit_accounts (
            account_id TEXT PRIMARY KEY, credit_limit NUMERIC NOT NULL, used NUMERIC NOT NULL,
            rating TEXT NOT NULL CHECK (rating IN ('A', 'B', 'C', 'D')), terms TEXT NOT NULL,
            review_date TEXT NOT NULL);""",
        "payment_history": """CREATE TABLE payment_history (
            account_id TEXT NOT NULL REFERENCES credit_accounts, invoice_id TEXT NOT NULL,
            due_on TEXT NOT NULL, paid_on TEXT NOT NULL, amount NUMERIC NOT NULL,
            days_late INTEGER NOT NULL);
            CREATE INDEX payment_history_account ON payment_history (account_id);""",
    },
}


@dataclass(frozen=True)
class DemoSummary:
    """What was written, and numbers worth calling, for ``screenpop demo`` to print."""

    directory: Path
    written: bool
    accounts: int
    sales_customers: int
    today: date | None = None  # the day the rows are relative to (None: an existing set was kept)
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
        """Label -> E.164 number, in the order config/demo.yaml lists them (the walk through the demo)."""
        return {f"{c.name}: {c.shows}": c.e164 for c in DEMO_CUSTOMERS}


MAX_CUSTOMERS = 100_000
"""Well inside the fictional numbers the demo may hand out (about 400,000); 100,000 take ~40 s to write."""


def write_demo_databases(
    directory: Path,
    customers: int = 2000,
    seed: int = 7,
    overwrite: bool = True,
    today: date | None = None,
) -> DemoSummary:
    """Write accounting.db, sales.db and credit.db; ``overwrite=False`` keeps a complete set.

    Every date is relative to ``today`` (default: today in UTC, the clock the
    insight connectors advise by), so "last ordered 26 days ago" is true on
    the day the demo is written; one seed and one day give identical rows.
    """
    directory = Path(directory)
    if not overwrite and all(_complete(directory / f"{n}.db", SCHEMAS[n]) for n in DATABASES):
        return _summary_of(directory, written=False)
    if customers < len(DEMO_CUSTOMERS):
        raise ValueError(f"the demo needs at least {len(DEMO_CUSTOMERS)} customers")
    if customers > MAX_CUSTOMERS:
        raise ValueError(f"the demo writes at most {MAX_CUSTOMERS:,} customers")
    directory.mkdir(parents=True, exist_ok=True)
    today = today or datetime.now(UTC).date()
    tables = generate(customers, seed, today)
    for name in DATABASES:
        _write_database(directory / f"{name}.db", SCHEMAS[name], tables)
    return _summary_of(directory, written=True, today=today)


# --- files -------------------------------------------------------------------


def _write_database(path: Path, schema: dict[str, str], tables: Tables) -> None:
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


def _fill(temporary: Path, schema: dict[str, str], tables: Tables) -> None:
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


def _complete(path: Path, schema: dict[str, str]) -> bool:
    """Whether ``path`` holds every table of ``schema``: a set written by an older screenpop lacks
    a newer table (credit's payment history), and config/demo.yaml's queries would fail on it."""
    if not path.exists():
        return False
    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            found = {r[0] for r in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        finally:
            connection.close()
    except sqlite3.DatabaseError:
        return False  # not a database (a truncated copy): written again, as a missing file is
    return set(schema) <= found


def _summary_of(directory: Path, written: bool, today: date | None = None) -> DemoSummary:
    return DemoSummary(
        directory=directory,
        written=written,
        accounts=_count(directory / "accounting.db", "accounts"),
        sales_customers=_count(directory / "sales.db", "customers"),
        today=today,
    )


def _count(path: Path, table: str) -> int:
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        (count,) = connection.execute(f"SELECT COUNT(*) FROM {table}").fetchone()  # noqa: S608
    finally:
        connection.close()
    return int(count)
