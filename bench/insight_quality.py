"""Leave-last-basket-out quality of the purchase model, beside two baselines from the same split.

A basket is one order: one distinct ``at`` of a customer.  For every customer
with at least two baskets the last one is held out; the model (and the
baselines) learn from every other line, and each is asked for the customer
as of one second before the held-out basket.

- ``likely_next`` hit@3: one of the top 3 is in the held-out basket.
- ``likely_next`` recall@10: |top 10 ∩ basket| / |basket|, as Li et al.
  ("A Next Basket Recommendation Reality Check", 2023) define it;
  ``recall10_capped`` divides by min(10, |basket|) instead (a basket of 30
  cannot be recalled whole by 10 items).
- ``goes_with`` hit@3 on new products: only customers whose held-out basket
  holds a product they never bought before; a hit when one of the top 3
  goes-with products is among those new ones.

Baselines: **popularity** (products by how many customers bought them; for
goes-with, the most popular products this customer never bought) and
**personal top-frequency** (the customer's own products by how many of their
baskets hold each, ties to the more recent; it cannot name a new product, so
it has no goes-with figure).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from screenpop.connectors.purchases.model import Line

TOP_HIT = 3
TOP_RECALL = 10
METHODS = ("ours", "personal", "popularity")


@dataclass(frozen=True)
class Split:
    """The lines a model learns from, and each evaluated customer's held-out basket."""

    train: list[Line]
    held: dict[str, tuple[datetime, frozenset[str]]]  # customer -> (basket time, products)
    eligible: int  # customers with at least two baskets


def split(lines: Iterable[Line]) -> Split:
    """Hold out the last basket of every customer who has at least two."""
    lines = list(lines)
    baskets: dict[str, set[datetime]] = {}
    for line in lines:
        baskets.setdefault(str(line.customer), set()).add(line.at)
    last = {c: max(ats) for c, ats in baskets.items() if len(ats) >= 2}
    train: list[Line] = []
    held: dict[str, set[str]] = {}
    for line in lines:
        customer = str(line.customer)
        if last.get(customer) == line.at:
            held.setdefault(customer, set()).add(str(line.product))
        else:
            train.append(line)
    return Split(train, {c: (last[c], frozenset(ps)) for c, ps in held.items()}, len(last))


class Baselines:
    """Global popularity and personal top-frequency, learnt from the training lines."""

    def __init__(self, train: Iterable[Line]) -> None:
        # customer -> product -> (baskets holding it, its last basket's time)
        self.own: dict[str, dict[str, tuple[int, datetime]]] = {}
        baskets: set[tuple[str, str, datetime]] = set()
        for line in train:
            baskets.add((str(line.customer), str(line.product), line.at))
        for customer, product, at in baskets:
            mine = self.own.setdefault(customer, {})
            count, latest = mine.get(product, (0, at))
            mine[product] = (count + 1, max(latest, at))
        buyers = Counter(p for products in self.own.values() for p in products)
        self.popular = [p for p, _ in sorted(buyers.items(), key=lambda item: (-item[1], item[0]))]

    def popularity(self, customer: str) -> tuple[list[str], list[str]]:
        """(likely next, goes with): the most popular products; for goes-with, those never bought."""
        owned = self.own.get(customer, {})
        new = [p for p in self.popular[: len(owned) + TOP_RECALL] if p not in owned]
        return self.popular[:TOP_RECALL], new[:TOP_HIT]

    def personal(self, customer: str) -> tuple[list[str], list[str]]:
        """(likely next, nothing): the customer's products by baskets, then by recency."""
        owned = self.own.get(customer, {})
        ranked = sorted(owned.items(), key=lambda item: (-item[1][0], -item[1][1].timestamp(), item[0]))
        return [p for p, _ in ranked[:TOP_RECALL]], []


Advise = Callable[[str, datetime, int, int], dict[str, Any] | None]


def ours(advise: Advise, customer: str, as_of: datetime) -> tuple[list[str], list[str]]:
    advice = advise(customer, as_of, TOP_RECALL, TOP_HIT) or {}
    likely = [str(item["product"]) for item in advice.get("likely_next", [])]
    goes = [str(item["product"]) for item in advice.get("goes_with", [])]
    return likely, goes


@dataclass
class Tally:
    """Sums of one method's per-customer figures."""

    hit3: int = 0
    recall10: float = 0.0
    recall10_capped: float = 0.0
    goes_hit3: int = 0

    def add(self, likely: Sequence[str], goes: Sequence[str], basket: frozenset[str], new: set[str]) -> None:
        found = len(set(likely[:TOP_RECALL]) & basket)
        self.hit3 += bool(set(likely[:TOP_HIT]) & basket)
        self.recall10 += found / len(basket)
        self.recall10_capped += found / min(TOP_RECALL, len(basket))
        self.goes_hit3 += bool(new and set(goes[:TOP_HIT]) & new)

    def figures(self, customers: int, with_new: int, goes: bool) -> dict[str, float | None]:
        return {
            "hit3": self.hit3 / customers if customers else None,
            "recall10": self.recall10 / customers if customers else None,
            "recall10_capped": self.recall10_capped / customers if customers else None,
            "goes_with_new_hit3": self.goes_hit3 / with_new if with_new and goes else None,
        }


def evaluate(data: Split, advise: Advise, baselines: Baselines, limit: int, seed: int) -> dict[str, Any]:
    """Every method's figures over the same customers (a seeded sample of at most ``limit``)."""
    customers = sorted(data.held)
    if len(customers) > limit:
        customers = sorted(random.Random(seed).sample(customers, limit))
    tallies = {name: Tally() for name in METHODS}
    with_new = 0
    for customer in customers:
        at, basket = data.held[customer]
        new = set(basket) - set(baselines.own.get(customer, {}))
        with_new += bool(new)
        answers = {
            "ours": ours(advise, customer, at - timedelta(seconds=1)),
            "personal": baselines.personal(customer),
            "popularity": baselines.popularity(customer),
        }
        for name, (likely, goes) in answers.items():
            tallies[name].add(likely, goes, basket, new)
    return {
        "customers_with_2_baskets": data.eligible,
        "customers_evaluated": len(customers),
        "customers_with_new_products": with_new,
        "train_lines": len(data.train),
        **{name: tallies[name].figures(len(customers), with_new, name != "personal") for name in METHODS},
    }
