"""The purchase model: counting over order lines held as numpy arrays, no I/O.

``likely_next`` follows Amazon's "buy it again" and the finding of Li et
al. ("A Next Basket Recommendation Reality Check") that a customer's own
purchase frequency is the signal to beat: an item's score is the share of the
customer's orders that contained it, with recent orders weighing more (each
older order counts ``ORDER_DECAY`` times the next), smoothed towards the
item's repeat rate among all its buyers.  Frequency therefore dominates;
recency and the population's repeat rate break the many ties between items
bought once or twice.  The cadence ("about every 30 days") is reported in the
reason but does not multiply the score: on real data a "not due yet" penalty
loses more hits than it wins (docs/insight.md has the figures).

``goes_with`` is item-to-item co-purchase at the customer level: among the
customers who bought an anchor product, the share who also bought another
(confidence), kept only with lift above 1 and with at least ``min_customers``
customers behind the pair, so a product bought by a handful of customers is
never suggested on that alone.  A candidate that goes with several of the
customer's products takes the anchor with the highest confidence: its score
is that share, and the reason names that anchor (combining anchors with a
noisy-or ranked no better on real data, and made the score less plain).

An order is a distinct ``at`` of a customer; several lines of one product in
one order count once (their quantities add up).  The model is built from the
lines at or before its ``as_of`` (all lines when None), so the population's
rates never see later orders either; ``advise`` also hides the customer's own
lines after the moment it is asked about.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from scipy import sparse

from .columns import DAY_US, F32, F64, I32, I64, History, as_utc, from_micros, to_micros

PARTNERS_KEPT = 50
ORDER_DECAY = 0.9
RARELY_REBOUGHT = 0.05
"""An item bought once whose buyers buy it again less often than this is never a likely next purchase.

A sofa or a laptop bought once says nothing about the next order; the
score alone (the customer's order share) would rank it high for a customer
with few orders, so it is left out rather than shown with a misleading score.
"""
PRIOR_WEIGHT = 1.0


@dataclass(frozen=True, slots=True)
class Line:
    """One order line: who bought what, when."""

    customer: Any
    product: Any
    at: datetime
    product_name: str | None = None
    quantity: float = 1


def history_of(lines: Iterable[Line]) -> History:
    """A history holding the given lines (one chunk)."""
    listed = list(lines)
    history = History()
    history.add(
        [line.customer for line in listed],
        [line.product for line in listed],
        np.fromiter((to_micros(line.at) for line in listed), np.int64, len(listed)),
        quantity=[line.quantity for line in listed],
        product_name=[line.product_name for line in listed],
    )
    return history


class PurchaseModel:
    """Per-customer histories in CSR form and per-product rates, built once and then read only.

    ``self.c_off[c]:self.c_off[c + 1]`` is customer ``c``'s slice of the
    order-product arrays ``o_product``, ``o_at``, ``o_quantity``, sorted by
    product then time; ``self.p_off`` does the same for each anchor product's
    kept partners.
    """

    def __init__(
        self,
        lines: Iterable[Line] | History,
        *,
        min_customers: int = 5,
        as_of: datetime | None = None,
    ) -> None:
        history = lines if isinstance(lines, History) else history_of(lines)
        self.customer_codes = history.customers.copy()
        self.product_keys = history.products.copy()  # pickled as arrays, as ``names`` (names.py says why)
        self.names = history.names.copy()
        self.as_of = as_utc(as_of) if as_of is not None else None
        customer, product, at, quantity = history.arrays()
        if self.as_of is not None:
            keep = at <= to_micros(self.as_of)
            customer, product, at, quantity = customer[keep], product[keep], at[keep], quantity[keep]
        self._orders(customer, product, at, quantity, len(history.customers))
        self._rates(len(history.products))
        self._partners(min_customers)

    @classmethod
    def from_columns(
        cls,
        customer: Any,
        product: Any,
        at: Any,
        *,
        quantity: Any = None,
        product_name: Any = None,
        min_customers: int = 5,
        as_of: datetime | None = None,
    ) -> PurchaseModel:
        """A model from whole columns (``at`` as datetimes, ISO text or int64 UTC microseconds)."""
        history = History()
        history.add(customer, product, at, quantity=quantity, product_name=product_name)
        return cls(history, min_customers=min_customers, as_of=as_of)

    def _orders(self, customer: I32, product: I32, at: I64, quantity: F32, customers: int) -> None:
        """Sort lines by (customer, product, time), merge lines of one order, index by customer."""
        order = np.lexsort((at, product, customer))
        customer, product, at, quantity = customer[order], product[order], at[order], quantity[order]
        new = np.ones(len(customer), bool)
        new[1:] = (customer[1:] != customer[:-1]) | (product[1:] != product[:-1]) | (at[1:] != at[:-1])
        starts = np.flatnonzero(new)
        self.o_customer = customer[starts]
        self.o_product = product[starts]
        self.o_at = at[starts]
        self.o_quantity = (np.add.reduceat(quantity, starts) if len(starts) else np.empty(0)).astype(
            np.float32
        )
        self.c_off = np.searchsorted(self.o_customer, np.arange(customers + 1)).astype(np.int64)
        self._order_ranks(customers)
        pair = np.ones(len(starts), bool)
        pair[1:] = (self.o_customer[1:] != self.o_customer[:-1]) | (self.o_product[1:] != self.o_product[:-1])
        self._pair_starts = np.flatnonzero(pair)
        self.customers = int(np.count_nonzero(np.diff(self.c_off)))

    def _order_ranks(self, customers: int) -> None:
        """Each row's order's rank among its customer's orders, oldest first (``o_rank``).

        Done once here, not per call: finding a customer's orders with
        ``np.unique`` and ranking every line against them at each lookup took
        20-50 ms on the event loop for a customer with 50,000 lines.
        """
        by_time = np.lexsort((self.o_at, self.o_customer))
        customer, at = self.o_customer[by_time], self.o_at[by_time]
        new = np.ones(len(customer), bool)
        new[1:] = (customer[1:] != customer[:-1]) | (at[1:] != at[:-1])
        first_order = np.searchsorted(customer[new], np.arange(customers + 1))  # per customer
        self.o_rank = np.empty(len(customer), np.int32)
        self.o_rank[by_time] = np.cumsum(new) - 1 - first_order[customer]

    def _rates(self, products: int) -> None:
        """Buyers and repeat rate of each product (share of its buyers who bought it in 2+ orders)."""
        starts = self._pair_starts
        times = np.diff(np.append(starts, len(self.o_product)))
        pair_product = self.o_product[starts]
        self.buyers = np.bincount(pair_product, minlength=products).astype(np.int64)
        repeaters = np.bincount(pair_product[times > 1], minlength=products)
        self.repeat_rate = repeaters / np.maximum(self.buyers, 1)

    def _partners(self, min_customers: int) -> None:
        """Co-purchase counts over products with enough buyers; top partners per anchor with lift > 1."""
        starts = self._pair_starts
        pair_customer, pair_product = self.o_customer[starts], self.o_product[starts]
        del self._pair_starts, self.o_customer  # c_off says whose lines are where from now on
        frequent = np.flatnonzero(self.buyers >= min_customers)
        products = len(self.buyers)
        empty = np.empty(0, np.int32)
        self.p_off = np.zeros(products + 1, np.int64)
        self.p_other, self.p_together, self.p_conf, self.p_lift = empty, empty, np.empty(0), np.empty(0)
        if len(frequent) < 2:
            return
        column = np.full(products, -1, np.int32)
        column[frequent] = np.arange(len(frequent), dtype=np.int32)
        keep = column[pair_product] >= 0
        incidence = sparse.csr_array(
            (np.ones(int(keep.sum()), np.int32), (pair_customer[keep], column[pair_product[keep]])),
            shape=(len(self.c_off) - 1, len(frequent)),
        )
        together = sparse.coo_array(incidence.T @ incidence)
        anchor, other, count = together.row, together.col, together.data
        mask = (anchor != other) & (count >= min_customers)
        anchor, other, count = frequent[anchor[mask]], frequent[other[mask]], count[mask]
        conf = count / self.buyers[anchor]
        lift = conf * self.customers / self.buyers[other]
        mask = lift > 1
        anchor, other, count, conf, lift = anchor[mask], other[mask], count[mask], conf[mask], lift[mask]
        order = np.lexsort((other, -count, -conf, anchor))
        anchor, other, count, conf, lift = anchor[order], other[order], count[order], conf[order], lift[order]
        first = np.searchsorted(anchor, anchor)  # each row's group start (anchor is sorted)
        mask = np.arange(len(anchor)) - first < PARTNERS_KEPT
        anchor = anchor[mask]
        self.p_other = other[mask].astype(np.int32)
        self.p_together = count[mask].astype(np.int32)
        self.p_conf = conf[mask]
        self.p_lift = lift[mask]
        self.p_off = np.searchsorted(anchor, np.arange(products + 1)).astype(np.int64)

    def name(self, product: int) -> str:
        return self.names.get(product) or self.product_keys.key(product)

    def advise(
        self, customer: Any, as_of: datetime, likely_next: int, goes_with: int
    ) -> dict[str, Any] | None:
        """The advice for one customer as of a moment, or None when they had no order by then."""
        code = self.customer_codes.code(customer)
        if code is None or code >= len(self.c_off) - 1:
            return None
        lo, hi = int(self.c_off[code]), int(self.c_off[code + 1])
        cutoff = to_micros(as_of)
        seen = self.o_at[lo:hi] <= cutoff
        index = np.flatnonzero(seen) + lo
        if not len(index):
            return None
        orders = int(self.o_rank[index].max()) + 1  # every order up to the cutoff has a line up to it
        product = self.o_product[lo:hi][seen]
        starts = np.flatnonzero(np.append(True, product[1:] != product[:-1]))
        return {
            "likely_next": self._likely_next(index, orders, starts, cutoff, likely_next),
            "goes_with": self._goes_with(product[starts], goes_with),
            "as_of": from_micros(cutoff).isoformat(),
        }

    def _likely_next(
        self, index: I64, orders: int, starts: I64, now: int, count: int
    ) -> list[dict[str, Any]]:
        """Items ranked by recency-weighted order share, smoothed towards the item's repeat rate.

        ``index`` are the customer's rows up to ``now`` (sorted by product,
        then time), ``orders`` how many orders they make, ``starts`` where
        each product's rows begin.
        """
        if count == 0:
            return []
        weight = ORDER_DECAY ** (orders - 1 - self.o_rank[index])
        ends = np.append(starts[1:], len(index))
        items = self.o_product[index[starts]]
        at = self.o_at[index]
        share = np.add.reduceat(weight, starts)
        again = self._again(items)
        score = (share + PRIOR_WEIGHT * again) / (_geometric(orders) + PRIOR_WEIGHT)
        # bought once, by a customer, of an item its buyers almost never buy again: not "likely next"
        rarely = ((ends - starts) == 1) & (self.repeat_rate[items] < RARELY_REBOUGHT)
        ranked = _top(score, items, np.flatnonzero(~rarely), count).tolist()
        found = []
        for i in ranked:
            lo, hi = int(starts[i]), int(ends[i])
            times = hi - lo
            first, last = int(at[lo]), int(at[hi - 1])
            ago = max(0, now - last) / DAY_US
            every = (last - first) / DAY_US / (times - 1) if times > 1 else None
            usual = _median(self.o_quantity[index[lo:hi]].tolist())
            item = int(items[i])
            found.append(
                {
                    "product": self.product_keys.key(item),
                    "name": self.name(item),
                    "score": round(float(score[i]), 4),
                    "times": times,
                    "every_days": round(every) if every is not None else None,
                    "last_days_ago": int(ago),
                    "usual_quantity": _number(usual),
                    "reason": _cadence_reason(times, every, int(ago), float(self.repeat_rate[item]), usual),
                }
            )
        return found

    def _again(self, items: I32) -> F64:
        """The chance a buyer of each item buys it again, shrunk towards 1/2 for items with few buyers."""
        buyers = self.buyers[items]
        repeat: F64 = (self.repeat_rate[items] * buyers + 1) / (buyers + 2)
        return repeat

    def _goes_with(self, bought: I32, count: int) -> list[dict[str, Any]]:
        """Partners of what the customer bought, never bought by them, combined over anchors."""
        if count == 0:
            return []
        lo, hi = self.p_off[bought], self.p_off[bought + 1]
        sizes = hi - lo
        if not sizes.any():
            return []
        rows = np.repeat(lo - np.cumsum(sizes) + sizes, sizes) + np.arange(int(sizes.sum()))
        anchor = np.repeat(bought, sizes)
        other = self.p_other[rows]
        fresh = ~np.isin(other, bought)
        rows, anchor, other = rows[fresh], anchor[fresh], other[fresh]
        if not len(rows):
            return []
        # per candidate the anchor with the highest confidence (then support): its share is the score
        order = np.lexsort((anchor, -self.p_together[rows], -self.p_conf[rows], other))
        rows, anchor, other = rows[order], anchor[order], other[order]
        firsts = np.flatnonzero(np.append(True, other[1:] != other[:-1]))
        best = rows[firsts]
        ranked = np.lexsort((other[firsts], -self.p_together[best], -self.p_conf[best]))[:count]
        found = []
        for i in ranked.tolist():
            row, product, with_ = int(rows[firsts[i]]), int(other[firsts[i]]), int(anchor[firsts[i]])
            share = float(self.p_conf[row])
            reason = f"{_percent(share)} of customers who bought {self.name(with_)} also bought it"
            found.append(
                {
                    "product": self.product_keys.key(product),
                    "name": self.name(product),
                    "with": self.product_keys.key(with_),  # SPEC 3: the product it goes with, by key
                    "with_name": self.name(with_),
                    "score": round(share, 4),
                    "lift": round(float(self.p_lift[row]), 2),
                    "customers": int(self.p_together[row]),
                    "reason": reason,
                }
            )
        return found


def _top(score: F64, items: I32, candidates: I64, count: int) -> I64:
    """The ``count`` best candidates by score, then item code, without sorting all a big customer bought."""
    if len(candidates) > count:
        threshold = np.partition(score[candidates], len(candidates) - count)[len(candidates) - count]
        candidates = candidates[score[candidates] >= threshold]  # ties at the threshold are all kept
    ranked: I64 = candidates[np.lexsort((items[candidates], -score[candidates]))][:count]
    return ranked


def _median(values: list[float]) -> float:
    """The median of a few numbers (numpy's median costs more than sorting them here)."""
    ordered = sorted(values)
    middle = len(ordered) // 2
    return float(ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2)


def _geometric(orders: int) -> float:
    """The total weight of ``orders`` orders, the newest weighing 1."""
    if ORDER_DECAY == 1:
        return float(orders)
    return (1 - ORDER_DECAY**orders) / (1 - ORDER_DECAY)


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else round(value, 2)


def _cadence_reason(times: int, every: float | None, ago: int, repeat_rate: float, usual: float) -> str:
    last = "last today" if ago == 0 else f"last {_count(ago, 'day')} ago"
    if every is None:
        again = _percent(repeat_rate)
        quantity = "" if usual == 1 else f" ({_number(usual)} units)"
        return f"bought once{quantity}, {last.removeprefix('last ')}; {again} of its buyers buy it again"
    quantity = "" if usual == 1 else f", usually {_number(usual)}"
    return f"bought {times} times, about every {_interval(every)}{quantity}; {last}"


def _percent(share: float) -> str:
    """A share as the agent reads it, never rounded to a claim the history does not make.

    199 customers of 200 is "99%", not "100%" (that would say all did); 3 of
    1,000 is "under 1%", not "0%" (that would say none did).
    """
    percent = round(share * 100)
    if percent >= 100 and share < 1:
        return "99%"
    if percent <= 0 < share:
        return "under 1%"
    return f"{percent}%"


def _interval(days: float) -> str:
    """An average gap between orders, in days, or in hours under a day (not "about every 0 days")."""
    if round(days) >= 1:
        return "day" if round(days) == 1 else f"{round(days)} days"
    hours = round(days * 24)
    return "hour or less" if hours <= 1 else f"{hours} hours"


def _count(number: int, unit: str) -> str:
    return f"{number} {unit}{'' if number == 1 else 's'}"


__all__ = ["Line", "PurchaseModel", "as_utc", "history_of"]
