"""The purchase model: pure counting over order lines, no I/O.

``likely_next`` follows Amazon's "buy it again": how often this customer
bought an item, how close they are to their own cadence for it (recency), and
how often the item's buyers buy it again at all.  ``goes_with`` is item-to-item
co-purchase at the customer level: among customers who bought an anchor
product, the share who also bought another (confidence), kept only with lift
above 1 and with at least ``min_customers`` customers behind the pair, so a
product bought by a handful of customers is never suggested on that alone.

An order is a distinct ``at`` of a customer; several lines of one product in
one order count once.  ``as_of`` hides a customer's later orders; the global
rates (repeat rate, co-purchase) are those of the whole model.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from itertools import combinations
from typing import Any

DAY_S = 86_400.0
PARTNERS_KEPT = 50
ONE_OFF_HALF_LIFE_DAYS = 90.0


@dataclass(frozen=True, slots=True)
class Line:
    """One order line: who bought what, when."""

    customer: Any
    product: Any
    at: datetime
    product_name: str | None = None
    quantity: float = 1


@dataclass(frozen=True, slots=True)
class _Partner:
    product: str
    confidence: float
    lift: float
    together: int


class PurchaseModel:
    """Compact per-customer histories and per-product rates, built once and then read only."""

    def __init__(self, lines: Iterable[Line], *, min_customers: int = 5) -> None:
        orders: dict[str, dict[str, set[float]]] = defaultdict(lambda: defaultdict(set))
        self.names: dict[str, str] = {}
        for line in lines:
            product = str(line.product)
            at = line.at
            orders[str(line.customer)][product].add((at if at.tzinfo else as_utc(at)).timestamp())
            if line.product_name:
                self.names[product] = line.product_name
        # customer -> product -> sorted order times (as POSIX seconds)
        self.history: dict[str, dict[str, tuple[float, ...]]] = {
            customer: {p: tuple(sorted(ats)) for p, ats in products.items()}
            for customer, products in orders.items()
        }
        del orders
        self.customers = len(self.history)
        buyers: Counter[str] = Counter()
        repeaters: Counter[str] = Counter()
        for products in self.history.values():
            buyers.update(products.keys())
            repeaters.update(p for p, ats in products.items() if len(ats) > 1)
        # only products with enough buyers can be in a pair with enough support: the rest are skipped
        frequent = {p for p, n in buyers.items() if n >= min_customers}
        pairs: Counter[tuple[str, str]] = Counter()
        for products in self.history.values():
            pairs.update(combinations(sorted(p for p in products if p in frequent), 2))
        self.buyers = dict(buyers)
        self.repeat_rate = {p: repeaters[p] / n for p, n in buyers.items()}
        self.partners = self._partners(pairs, min_customers)

    def _partners(
        self, pairs: Counter[tuple[str, str]], min_customers: int
    ) -> dict[str, tuple[_Partner, ...]]:
        found: dict[str, list[_Partner]] = defaultdict(list)
        for (a, b), together in pairs.items():
            if together < min_customers:
                continue
            for anchor, other in ((a, b), (b, a)):
                confidence = together / self.buyers[anchor]
                lift = confidence / (self.buyers[other] / self.customers)
                if lift > 1:
                    found[anchor].append(_Partner(other, confidence, lift, together))
        return {
            anchor: tuple(sorted(ps, key=lambda p: (-p.confidence, -p.lift, p.product))[:PARTNERS_KEPT])
            for anchor, ps in found.items()
        }

    def name(self, product: str) -> str:
        return self.names.get(product, product)

    def advise(
        self, customer: Any, as_of: datetime, likely_next: int, goes_with: int
    ) -> dict[str, Any] | None:
        """The advice for one customer as of a moment, or None when they had no order by then."""
        products = self.history.get(str(customer))
        if products is None:
            return None
        cutoff = as_utc(as_of).timestamp()
        seen = {p: ats[: bisect_right(ats, cutoff)] for p, ats in products.items()}
        seen = {p: ats for p, ats in seen.items() if ats}
        if not seen:
            return None
        return {
            "likely_next": self._likely_next(seen, cutoff)[:likely_next],
            "goes_with": self._goes_with(seen)[:goes_with],
            "as_of": as_utc(as_of).isoformat(),
        }

    def _likely_next(self, seen: dict[str, tuple[float, ...]], now: float) -> list[dict[str, Any]]:
        items = []
        for product, ats in seen.items():
            times = len(ats)
            ago = max(0.0, (now - ats[-1]) / DAY_S)
            every = (ats[-1] - ats[0]) / DAY_S / (times - 1) if times > 1 else None
            if every:
                timing = math.exp(-abs(math.log((ago + 1) / (every + 1))))
            else:
                timing = 0.5 ** (ago / ONE_OFF_HALF_LIFE_DAYS)
            buyers = self.buyers[product]
            again = (self.repeat_rate[product] * buyers + 1) / (buyers + 2)
            score = times / (times + 1) * timing * again
            items.append(
                {
                    "product": product,
                    "name": self.name(product),
                    "score": round(score, 4),
                    "times": times,
                    "every_days": round(every) if every is not None else None,
                    "last_days_ago": int(ago),
                    "reason": _cadence_reason(times, every, int(ago), self.repeat_rate[product]),
                }
            )
        items.sort(key=_by_score)
        return items

    def _goes_with(self, seen: dict[str, tuple[float, ...]]) -> list[dict[str, Any]]:
        best: dict[str, tuple[_Partner, str]] = {}
        for anchor in seen:
            for partner in self.partners.get(anchor, ()):
                if partner.product in seen:
                    continue
                held = best.get(partner.product)
                if held is None or partner.confidence > held[0].confidence:
                    best[partner.product] = (partner, anchor)
        items = [
            {
                "product": product,
                "name": self.name(product),
                "with": self.name(anchor),
                "with_product": anchor,
                "score": round(partner.confidence, 4),
                "lift": round(partner.lift, 2),
                "customers": partner.together,
                "reason": (
                    f"{round(partner.confidence * 100)}% of customers who bought "
                    f"{self.name(anchor)} also bought it"
                ),
            }
            for product, (partner, anchor) in best.items()
        ]
        items.sort(key=_by_score)
        return items


def _by_score(item: dict[str, Any]) -> tuple[float, str]:
    return (-float(item["score"]), str(item["product"]))


def _cadence_reason(times: int, every: float | None, ago: int, repeat_rate: float) -> str:
    last = "last today" if ago == 0 else f"last {ago} day{'s' if ago != 1 else ''} ago"
    if every is None:
        again = round(repeat_rate * 100)
        return f"bought once, {last.removeprefix('last ')}; {again}% of its buyers buy it again"
    return f"bought {times} times, about every {round(every)} days; {last}"


def as_utc(value: Any) -> datetime:
    """A database's date, datetime or ISO text as an aware UTC datetime (naive means UTC)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if isinstance(value, date) and not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    if not isinstance(value, datetime):
        raise TypeError(f"not a date or time: {type(value).__name__}")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
