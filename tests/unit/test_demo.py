"""The demo databases: deterministic, self-consistent, facts only, and answering config/demo.yaml's SQL.

The advice sections (``insight``, ``offer``) are computed by connectors, not
SQL: tests/integration/test_demo_insight.py runs them through the engine.
"""

from __future__ import annotations

import functools
import itertools
import re
import sqlite3
from collections import defaultdict
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from statistics import median
from typing import Any

import phonenumbers
import pytest
import yaml

from screenpop.demo import (
    DATABASES,
    DEMO_CUSTOMERS,
    PRODUCTS,
    SCHEMAS,
    write_demo_databases,
)
from screenpop.demo.catalogue import PRICES

CONFIG = Path(__file__).resolve().parents[2] / "config" / "demo.yaml"
DB_URL = re.compile(r"^sqlite\+aiosqlite:///\$\{SCREENPOP_DEMO_DIR:-demo-data\}/(\w+\.db)$")
ADA, GRACE, BABBAGE, HOLLERITH, TURING, ZUSE = DEMO_CUSTOMERS
TODAY = date(2026, 11, 1)  # the day the module's demo is written: every date is relative to it
NAMES = {sku: name for sku, name, _, _ in PRODUCTS}
ADVICE = re.compile(r"affinit|recommend|offer|suggest|likel|next_buy|goes_with|propens", re.IGNORECASE)

Rows = list[dict[str, Any]]


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default demo (2,000 customers, seed 7), written once for the module as of ``TODAY``."""
    directory = tmp_path_factory.mktemp("demo")
    write_demo_databases(directory, today=TODAY)
    return directory


def query(path: Path, sql: str, params: dict[str, Any] | tuple[Any, ...] = ()) -> Rows:
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    connection.row_factory = sqlite3.Row
    try:
        return [dict(row) for row in connection.execute(sql, params)]
    finally:
        connection.close()


def dump(directory: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in a stable order."""
    tables: dict[str, list[tuple[Any, ...]]] = {}
    for database, schema in SCHEMAS.items():
        for table in schema:
            rows = query(directory / f"{database}.db", f"SELECT * FROM {table}")  # noqa: S608
            tables[table] = sorted(tuple(row.values()) for row in rows)
    return tables


def e164(text: str) -> str:
    parsed = phonenumbers.parse(text, "US")
    assert phonenumbers.is_valid_number(parsed), text
    return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))


# --- generation ----------------------------------------------------------------


def test_same_seed_gives_identical_rows_and_another_seed_does_not(tmp_path: Path) -> None:
    """Two runs with one seed and day write the same rows; a different seed writes different ones."""
    for name, seed in (("a", 7), ("b", 7), ("c", 8)):
        write_demo_databases(tmp_path / name, customers=300, seed=seed, today=TODAY)
    assert dump(tmp_path / "a") == dump(tmp_path / "b")
    assert dump(tmp_path / "a")["accounts"] != dump(tmp_path / "c")["accounts"]


def test_a_later_day_moves_every_date_by_as_many_days(tmp_path: Path) -> None:
    """Written 10 days later, the same seed gives the same rows with every order and invoice 10 days later."""
    write_demo_databases(tmp_path / "then", customers=100, today=TODAY)
    write_demo_databases(tmp_path / "later", customers=100, today=TODAY + timedelta(days=10))

    def shifted(rows: list[tuple[Any, ...]], column: int, days: int) -> list[tuple[Any, ...]]:
        moved = (date.fromisoformat(r[column]) + timedelta(days=days) for r in rows)
        return sorted(
            (*r[:column], d.isoformat(), *r[column + 1 :]) for r, d in zip(rows, moved, strict=True)
        )

    then, later = dump(tmp_path / "then"), dump(tmp_path / "later")
    assert shifted(then["orders"], 2, 10) == later["orders"]
    assert then["order_lines"] == later["order_lines"]
    assert shifted(shifted(then["invoices"], 2, 10), 3, 10) == later["invoices"]
    assert shifted(then["credit_accounts"], 5, 10) == later["credit_accounts"]
    assert shifted(shifted(then["payment_history"], 2, 10), 3, 10) == later["payment_history"]
    summary = write_demo_databases(tmp_path / "now", customers=10)
    assert summary.today is not None
    newest = query(tmp_path / "now" / "sales.db", "SELECT MAX(ordered_on) AS day FROM orders")[0]["day"]
    assert newest < summary.today.isoformat()


def test_no_table_or_column_stores_advice(demo_dir: Path) -> None:
    """Every demo database, as written, holds facts only: nothing named like an affinity or an offer."""
    seen: set[str] = set()
    for name in DATABASES:
        path = demo_dir / f"{name}.db"
        tables = [
            r["name"] for r in query(path, "SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")
        ]
        assert tables, name
        for table in tables:
            assert not ADVICE.search(table), (name, table)
            columns = [r["name"] for r in query(path, f"PRAGMA table_info({table})")]
            assert not [c for c in columns if ADVICE.search(c) or c in ("max_offer", "score")], (
                table,
                columns,
            )
            seen |= {table, *columns}
    assert {"orders", "order_lines", "credit_accounts", "terms", "quantity"} <= seen
    assert not ADVICE.search("max_order rule terms credit_limit")  # the pattern spares the facts it must
    assert ADVICE.search("product_affinity") and ADVICE.search("offer_terms")


def test_default_demo_has_expected_sizes(demo_dir: Path) -> None:
    """2,000 accounts, about 3% more sales records (duplicates), credit for most accounts."""
    summary = write_demo_databases(demo_dir, overwrite=False)
    assert (summary.accounts, summary.written) == (2000, False)
    assert 2000 + 50 <= summary.sales_customers <= 2000 + 70
    tables = dump(demo_dir)
    assert len(tables["products"]) == len(PRODUCTS)
    assert 1600 <= len(tables["credit_accounts"]) < 2000
    assert len(tables["invoices"]) > 4 * 2000
    assert len(tables["orders"]) > 5 * 2000
    assert len(tables["order_lines"]) > len(tables["orders"])


def test_default_demo_databases_are_written_whole(tmp_path: Path) -> None:
    """The default demo writes every database and leaves no temporary file (speed: bench/components.py)."""
    summary = write_demo_databases(tmp_path)
    assert summary.written
    assert set(summary.databases) == set(DATABASES)
    assert all(path.exists() for path in summary.databases.values())
    assert not list(tmp_path.glob(".*.tmp"))


def test_existing_files_are_kept_only_when_asked(tmp_path: Path) -> None:
    """overwrite=False leaves a complete set alone; the default rewrites it."""
    write_demo_databases(tmp_path, customers=40, seed=1)
    before = dump(tmp_path)
    kept = write_demo_databases(tmp_path, customers=60, seed=2, overwrite=False)
    assert not kept.written
    assert kept.accounts == 40
    assert dump(tmp_path) == before
    rewritten = write_demo_databases(tmp_path, customers=60, seed=2)
    assert rewritten.written
    assert rewritten.accounts == 60


def test_too_few_customers_is_refused(tmp_path: Path) -> None:
    """A demo smaller than the documented customers cannot be written."""
    with pytest.raises(ValueError, match="at least"):
        write_demo_databases(tmp_path, customers=len(DEMO_CUSTOMERS) - 1)
    assert not (tmp_path / "accounting.db").exists()


# --- accounting and credit agree with themselves -------------------------------


def test_balances_overdue_and_last_payment_follow_from_invoices_and_payments(
    demo_dir: Path,
) -> None:
    """Each account's balance, overdue amount and last payment date are its ledger's sums."""
    ledger = query(
        demo_dir / "accounting.db",
        """
        SELECT a.account_id, a.balance, a.overdue_amount, a.last_payment_date,
               (SELECT SUM(amount) FROM invoices i WHERE i.account_id = a.account_id) AS invoiced,
               (SELECT COALESCE(SUM(amount), 0) FROM payments p
                 WHERE p.account_id = a.account_id) AS paid,
               (SELECT MAX(paid_on) FROM payments p WHERE p.account_id = a.account_id) AS last,
               (SELECT COALESCE(SUM(i.amount - (SELECT COALESCE(SUM(p.amount), 0) FROM payments p
                                                WHERE p.invoice_id = i.invoice_id)), 0)
                  FROM invoices i WHERE i.account_id = a.account_id AND i.due_on < :anchor)
                 AS overdue
        FROM accounts a""",
        {"anchor": TODAY.isoformat()},
    )
    assert len(ledger) == 2000
    for row in ledger:
        assert round(row["invoiced"] - row["paid"], 2) == round(row["balance"], 2), row
        assert round(row["overdue"], 2) == round(row["overdue_amount"], 2), row
        assert row["last"] == row["last_payment_date"], row
    assert sum(1 for row in ledger if row["overdue_amount"] > 0) > 100
    assert all(
        row["last_payment_date"] is None or row["last_payment_date"] < TODAY.isoformat() for row in ledger
    )


def test_credit_used_is_the_accounting_balance_and_holds_are_overdue(demo_dir: Path) -> None:
    """Credit exposure equals the account balance, and every D rating has an overdue amount."""
    balances = {r["account_id"]: r for r in query(demo_dir / "accounting.db", "SELECT * FROM accounts")}
    credit = query(demo_dir / "credit.db", "SELECT * FROM credit_accounts")
    for row in credit:
        account = balances[row["account_id"]]
        assert row["used"] == account["balance"]
        assert (row["rating"] != "D") or account["overdue_amount"] > 0
        assert row["rating"] == "D" or row["credit_limit"] >= row["used"]
    assert {row["rating"] for row in credit} == set("ABCD")


def test_credit_keeps_each_accounts_payment_history_as_the_ledger_has_it(demo_dir: Path) -> None:
    """credit.db holds payment history (SPEC 8): every payment of a credit account, days late against due."""
    history = query(demo_dir / "credit.db", "SELECT * FROM payment_history")
    credit = {
        r["account_id"] for r in query(demo_dir / "credit.db", "SELECT account_id FROM credit_accounts")
    }
    ledger = query(
        demo_dir / "accounting.db",
        "SELECT p.account_id, p.invoice_id, i.due_on, p.paid_on, p.amount"
        " FROM payments p JOIN invoices i ON i.invoice_id = p.invoice_id",
    )
    expected = sorted(
        (*row.values(), max(0, (date.fromisoformat(row["paid_on"]) - date.fromisoformat(row["due_on"])).days))
        for row in ledger
        if row["account_id"] in credit
    )
    assert sorted(tuple(row.values()) for row in history) == expected
    late = {row["account_id"] for row in history if row["days_late"] > 0}
    assert len(late) > 100 and len({row["account_id"] for row in history}) > len(late)
    hold = look_up(demo_dir, HOLLERITH.e164)["credit"][0]
    assert hold["rating"] == "D" and hold["paid_late"] >= 1 and hold["most_days_late"] > 0


def test_a_set_written_before_a_table_existed_is_written_again(tmp_path: Path) -> None:
    """`overwrite=False` keeps a set only when every table is there; an older set missing one is rewritten."""
    write_demo_databases(tmp_path, customers=20, today=TODAY)
    connection = sqlite3.connect(tmp_path / "credit.db")
    connection.execute("DROP TABLE payment_history")
    connection.close()
    assert write_demo_databases(tmp_path, customers=20, today=TODAY, overwrite=False).written
    assert query(tmp_path / "credit.db", "SELECT COUNT(*) AS n FROM payment_history")[0]["n"] > 0
    assert not write_demo_databases(tmp_path, customers=20, today=TODAY, overwrite=False).written


# --- numbers -------------------------------------------------------------------


def test_accounting_numbers_are_clean_valid_e164(demo_dir: Path) -> None:
    """accounts.phone_e164 holds valid E.164 numbers, unique, except about 2% with none."""
    numbers = [r["phone_e164"] for r in query(demo_dir / "accounting.db", "SELECT phone_e164 FROM accounts")]
    present = [n for n in numbers if n]
    assert all(e164(n) == n for n in present)
    assert len(set(present)) == len(present)
    assert 10 <= len(numbers) - len(present) <= 70
    assert {phonenumbers.region_code_for_number(phonenumbers.parse(n)) for n in present} >= {"US", "GB", "DE"}


def test_free_form_sales_numbers_normalise_to_the_accounting_number(demo_dir: Path) -> None:
    """Every sales phone, however typed, normalises (region US) to its account's E.164."""
    accounts = {
        r["phone_e164"]: r["name"]
        for r in query(demo_dir / "accounting.db", "SELECT phone_e164, name FROM accounts")
    }
    customers = query(demo_dir / "sales.db", "SELECT customer_id, name, phone FROM customers ORDER BY rowid")
    by_number: dict[str, list[str]] = defaultdict(list)
    for row in customers:
        if row["phone"]:
            by_number[e164(row["phone"])].append(row["name"])
    assert set(by_number) <= set(accounts)
    for number, names in by_number.items():
        assert accounts[number] == names[0], (number, names)  # the original record comes first
    missing = [row for row in customers if not row["phone"]]
    assert {row["phone"] for row in missing} == {None, ""}


def test_numbers_come_in_mixed_real_world_formats(demo_dir: Path) -> None:
    """Sales numbers show several shapes, extensions, international forms and mobiles."""
    rows = query(demo_dir / "sales.db", "SELECT phone, mobile FROM customers")
    phones = [r["phone"] for r in rows if r["phone"]]
    shapes = {re.sub(r"\d", "9", p) for p in phones}
    assert {"(999) 999-9999", "999.999.9999", "+9 999 999 9999", "9999999999", "9-999-999-9999"} <= shapes
    assert sum(1 for p in phones if phonenumbers.parse(p, "US").extension) > 50
    assert any(p.startswith(("+44", "011 44")) for p in phones)
    assert any(p.startswith(("+49", "011 49")) for p in phones)
    mobiles = [r["mobile"] for r in rows if r["mobile"]]
    assert len(mobiles) > 500
    assert all(e164(m).startswith("+1") for m in mobiles)
    everyone = [e164(n) for n in phones] + [e164(m) for m in mobiles]
    assert not set(map(e164, mobiles)) & set(map(e164, phones))
    assert len(set(everyone)) > 2500


def test_some_customers_are_entered_twice_with_a_different_name(demo_dir: Path) -> None:
    """About 3% of numbers belong to two sales records whose names differ."""
    rows = query(demo_dir / "sales.db", "SELECT name, phone FROM customers WHERE phone <> '' ORDER BY rowid")
    names: dict[str, list[str]] = defaultdict(list)
    for row in rows:
        names[e164(row["phone"])].append(row["name"])
    twice = {number: found for number, found in names.items() if len(found) > 1}
    assert 50 <= len(twice) <= 70
    assert all(len(found) == 2 and found[0] != found[1] for found in twice.values())
    assert twice[BABBAGE.e164] == [BABBAGE.name, BABBAGE.duplicate_name]


# --- config/demo.yaml against the databases -------------------------------------


def connectors(kind: str = "sql") -> dict[str, dict[str, Any]]:
    """The demo config's connectors of one kind (the SQL ones are run here with sqlite3)."""
    loaded = yaml.safe_load(CONFIG.read_text())
    return {c["name"]: c for c in loaded["connectors"] if c["kind"] == kind}


def number_parameters(number: str) -> dict[str, Any]:
    """The parameters SPEC section 3 binds for a caller's number."""
    parsed = phonenumbers.parse(number, "US")
    national = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)
    return {
        "e164": number,
        "national": national,
        "country_code": str(parsed.country_code),
        "digits": phonenumbers.national_significant_number(parsed),
        "region": phonenumbers.region_code_for_number(parsed),
    }


@functools.cache
def phone_index(path: Path, index_query: str) -> dict[str, list[str]]:
    """What a `match: normalized` connector keeps: E.164 -> row keys, from every phone column."""
    index: dict[str, list[str]] = defaultdict(list)
    for row in query(path, index_query):
        key, *phones = row.values()
        for phone in phones:
            if phone:
                index[e164(phone)].append(key)
    return dict(index)


def run_connector(directory: Path, spec: dict[str, Any], params: dict[str, Any]) -> Rows:
    match = DB_URL.match(spec["url"])
    assert match, spec["url"]
    path = directory / match.group(1)
    sql, bound = spec["query"], dict(params)
    if spec.get("match") == "normalized":
        keys = phone_index(path, spec["index_query"]).get(params["e164"], [])
        if not keys:
            return []
        marks = ", ".join(f":key{i}" for i in range(len(keys)))
        sql = sql.replace("IN :keys", f"IN ({marks})")
        bound.update({f"key{i}": key for i, key in enumerate(keys)})
    rows = query(path, sql, bound)
    return rows[: spec.get("limit", 20)] if spec.get("rows") == "many" else rows


def look_up(directory: Path, number: str) -> dict[str, Rows]:
    """Every demo connector's rows for a number, with `needs` from the first row it names."""
    results: dict[str, Rows] = {}
    pending = list(connectors().values())
    for _ in range(len(pending)):
        spec = pending.pop(0)
        params = number_parameters(number)
        for need in spec.get("needs", []):
            source, field = need.split(".")
            if source not in results:
                pending.append(spec)
                break
            params[f"{source}_{field}"] = (results[source] or [{}])[0].get(field)
        else:
            results[spec["name"]] = run_connector(directory, spec, params)
    assert not pending
    return results


def test_demo_config_wires_every_database_with_known_parameters(demo_dir: Path) -> None:
    """Each SQL connector points at a demo database and binds only parameters screenpop provides."""
    specs = connectors()
    assert list(specs) == ["accounting", "sales", "purchases", "credit"]
    assert list(connectors("purchases")) == ["insight"]
    assert list(connectors("rules")) == ["offer"]
    known = set(number_parameters(ADA.e164)) | {"keys"}
    for spec in specs.values():
        match = DB_URL.match(spec["url"])
        assert match
        assert (demo_dir / match.group(1)).exists()
        wanted = set(re.findall(r"(?<!:):([a-z_][a-z0-9_]*)", spec["query"]))
        needed = {n.replace(".", "_") for n in spec.get("needs", [])}
        assert wanted <= known | needed, spec["name"]
    assert specs["credit"]["needs"] == ["accounting.account_id"]
    assert specs["sales"]["match"] == "normalized"


def test_display_hints_name_columns_the_queries_return(demo_dir: Path) -> None:
    """Every displayed field, link field and badge field is a column of its connector's rows."""
    results = look_up(demo_dir, ADA.e164)
    for name, spec in connectors().items():
        columns = set(results[name][0])
        display = spec["display"]
        assert set(display["fields"]) <= columns, name
        for field in display["fields"].values():
            assert set(re.findall(r"\{(\w+)\}", field.get("link", ""))) <= columns
        assert {badge["field"] for badge in display.get("badges", [])} <= columns


def test_documented_customer_answers_every_connector(demo_dir: Path) -> None:
    """Ada Lovelace's number gives her account, sales record, recent purchases and credit standing."""
    found = look_up(demo_dir, ADA.e164)
    assert found["accounting"] == [
        {
            "account_id": "A-1001",
            "name": "Ada Lovelace",
            "balance": 120.5,
            "overdue_amount": 120.5,
            "last_payment_date": (TODAY - timedelta(days=77 - 30)).isoformat(),
            "currency": "USD",
        }
    ]
    assert ADA.orders
    days: dict[int, int] = defaultdict(int)  # days ago -> cents, one order per day
    for ago, lines in ADA.orders:
        days[ago] += sum(PRICES[sku] * quantity for sku, quantity in lines)
    assert found["sales"] == [
        {
            "customer_id": "C-10001",
            "name": "Ada Lovelace",
            "segment": "SMB",
            "orders": len(days),
            "lifetime_value": sum(days.values()) / 100,
            "last_order_date": (TODAY - timedelta(days=min(days))).isoformat(),
        }
    ]
    newest = sorted(ADA.orders)[:5]
    assert [(r["ordered_on"], r["product"], r["quantity"]) for r in found["purchases"]] == [
        ((TODAY - timedelta(days=ago)).isoformat(), NAMES[sku], quantity)
        for ago, lines in newest
        for sku, quantity in lines
    ][:5]
    assert found["credit"] == [
        {
            "credit_limit": 5000,
            "used": 120.5,
            "available": 4879.5,
            "rating": "B",
            "terms": "Net 30",
            "review_date": found["credit"][0]["review_date"],
            "payments": 2,
            "paid_late": 0,
            "most_days_late": 0,
        }
    ]
    assert found["credit"][0]["review_date"] > TODAY.isoformat()


# --- the order history's rhythms -------------------------------------------------


def orders_by_customer(demo_dir: Path) -> dict[str, dict[str, list[date]]]:
    """customer -> sku -> the days they ordered it, oldest first."""
    found: dict[str, dict[str, list[date]]] = defaultdict(lambda: defaultdict(list))
    for row in query(
        demo_dir / "sales.db",
        "SELECT o.customer_id, l.sku, o.ordered_on FROM orders o"
        " JOIN order_lines l ON l.order_id = o.order_id ORDER BY o.ordered_on",
    ):
        found[row["customer_id"]][row["sku"]].append(date.fromisoformat(row["ordered_on"]))
    return found


def test_two_years_of_orders_up_to_the_day_the_demo_is_written(demo_dir: Path) -> None:
    """Orders span about two years before today, one per customer and day, with real quantities."""
    (span,) = query(
        demo_dir / "sales.db",
        "SELECT MIN(ordered_on) AS first, MAX(ordered_on) AS last, COUNT(*) AS n,"
        " COUNT(DISTINCT customer_id || ordered_on) AS days FROM orders",
    )
    assert (
        (TODAY - timedelta(days=740)).isoformat()
        <= span["first"]
        <= (TODAY - timedelta(days=700)).isoformat()
    )
    assert (TODAY - timedelta(days=3)).isoformat() <= span["last"] < TODAY.isoformat()
    assert span["n"] == span["days"]
    quantities = query(
        demo_dir / "sales.db",
        "SELECT c.segment, AVG(l.quantity) AS units FROM order_lines l"
        " JOIN orders o ON o.order_id = l.order_id"
        " JOIN customers c ON c.customer_id = o.customer_id GROUP BY c.segment",
    )
    units = {r["segment"]: r["units"] for r in quantities}
    assert units["Retail"] < units["SMB"] < units["Enterprise"]
    totals = query(
        demo_dir / "sales.db",
        "SELECT o.total, SUM(l.quantity * l.unit_price) AS lines FROM orders o"
        " JOIN order_lines l ON l.order_id = o.order_id GROUP BY o.order_id",
    )
    assert all(round(r["total"], 2) == round(r["lines"], 2) for r in totals)


def test_consumables_are_re_bought_on_a_cadence(demo_dir: Path) -> None:
    """Hundreds of customers re-buy paper about monthly and toner about every two months."""
    history = orders_by_customer(demo_dir)
    for sku, low, high, customers in (("PAP-LTR", 24, 38, 300), ("TON-BLK", 48, 75, 100)):
        gaps = [
            median((b - a).days for a, b in itertools.pairwise(days))
            for products in history.values()
            if len(days := products.get(sku, [])) >= 4
        ]
        assert len(gaps) >= customers, sku
        assert low <= median(gaps) <= high, (sku, median(gaps))


def test_bundles_are_bought_together_by_enough_customers(demo_dir: Path) -> None:
    """Laptop buyers bought docks and bags far more often than customers at large, with real support."""
    history = orders_by_customer(demo_dir)
    customers = len(history)
    laptop = [products for products in history.values() if "LAP-14" in products]
    minimum = connectors("purchases")["insight"]["min_customers"]
    for companion in ("DOCK-USBC", "BAG-15"):
        together = sum(1 for products in laptop if companion in products)
        overall = sum(1 for products in history.values() if companion in products) / customers
        assert together >= 10 * minimum, companion
        assert together / len(laptop) > 2 * overall, companion  # lift above 2
        same_day = sum(1 for p in laptop if set(p["LAP-14"]) & set(p.get(companion, [])))
        assert same_day >= together * 0.8, companion  # bought in the same order


def test_some_customers_buy_once_and_some_never(demo_dir: Path) -> None:
    """Occasional buyers have one order; some sales customers (Konrad Zuse among them) have none."""
    counts = {
        r["customer_id"]: r["n"]
        for r in query(
            demo_dir / "sales.db",
            "SELECT c.customer_id, COUNT(o.order_id) AS n FROM customers c"
            " LEFT JOIN orders o ON o.customer_id = c.customer_id GROUP BY c.customer_id",
        )
    }
    assert sum(1 for n in counts.values() if n == 1) >= 50
    assert sum(1 for n in counts.values() if n == 0) >= 50
    names = {r["name"]: r["customer_id"] for r in query(demo_dir / "sales.db", "SELECT * FROM customers")}
    assert counts[names[ZUSE.name]] == 0
    assert counts[names[TURING.name]] == 1


def test_sample_numbers_show_what_the_summary_says(demo_dir: Path) -> None:
    """The summary's numbers are in good standing, duplicated, on credit hold, or abroad, as labelled."""
    summary = write_demo_databases(demo_dir, overwrite=False)
    good = look_up(demo_dir, summary.normal_number)
    assert good["accounting"][0]["overdue_amount"] == 0
    assert good["credit"][0]["rating"] == "A"
    twice = look_up(demo_dir, summary.duplicate_number)
    assert {r["name"] for r in twice["sales"]} == {BABBAGE.name, BABBAGE.duplicate_name}
    assert len(twice["accounting"]) == 1
    hold = look_up(demo_dir, summary.credit_hold_number)
    assert hold["credit"][0]["rating"] == "D"
    assert hold["accounting"][0]["overdue_amount"] > 0
    assert look_up(demo_dir, summary.overdue_number)["accounting"][0]["overdue_amount"] > 0
    for number in (summary.international_number, ZUSE.e164):
        abroad = look_up(demo_dir, number)
        assert len(abroad["accounting"]) == 1
        assert len(abroad["sales"]) == 1
    assert list(summary.samples.values()) == [c.e164 for c in DEMO_CUSTOMERS]
    assert all(
        label.startswith(c.name + ": ") for label, c in zip(summary.samples, DEMO_CUSTOMERS, strict=True)
    )
    comments = CONFIG.read_text().split("\nserver:")[0]
    for customer in DEMO_CUSTOMERS:  # the config's header names every documented customer and number
        assert re.search(rf"^#\s+{re.escape(customer.e164)}\s+{customer.name}:", comments, re.M), (
            customer.name
        )


def test_mobile_numbers_reach_sales_only(demo_dir: Path) -> None:
    """A customer's mobile is known to sales (normalised index) but not to accounting."""
    mobile = e164(ADA.mobile_text or "")
    found = look_up(demo_dir, mobile)
    assert found["accounting"] == []
    assert found["credit"] == []
    assert [r["customer_id"] for r in found["sales"]] == ["C-10001"]


def test_unknown_number_finds_nothing(demo_dir: Path) -> None:
    """A number nobody has gives no rows from any connector."""
    found: Iterator[Rows] = iter(look_up(demo_dir, "+12025550000").values())
    assert all(rows == [] for rows in found)
