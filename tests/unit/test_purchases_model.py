"""The pure purchase model: scores, ordering and the minimum support, without a database."""

from __future__ import annotations

import pickle
import tracemalloc
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import numpy as np
import pytest

from screenpop.connectors.purchases import Line, PurchaseModel
from screenpop.connectors.purchases.columns import micros_column, to_micros

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def lines() -> list[Line]:
    """Ten customers buy a kettle and tea together; three of them also buy a rare cosy."""
    found = []
    for customer in range(10):
        at = NOW - timedelta(days=20 + customer)
        found += [Line(customer, "KETTLE", at, "Kettle"), Line(customer, "TEA", at, "Tea")]
        found += [Line(customer, "TEA", at - timedelta(days=14 * k), "Tea") for k in (1, 2)]
        if customer < 3:
            found.append(Line(customer, "COSY", at, "Tea cosy"))
    found += [Line(c, "MUG", NOW - timedelta(days=3), "Mug") for c in range(10, 20)]
    found.append(Line(99, "KETTLE", NOW - timedelta(days=1), "Kettle"))
    return found


def test_scores_are_between_zero_and_one_and_sorted() -> None:
    """Every score lies in 0..1 and each list is sorted by score, highest first."""
    advice = PurchaseModel(lines(), min_customers=5).advise(0, NOW, 20, 20)
    assert advice is not None
    for items in (advice["likely_next"], advice["goes_with"]):
        scores = [item["score"] for item in items]
        assert scores == sorted(scores, reverse=True) and all(0 <= s <= 1 for s in scores)
    assert advice["likely_next"][0]["product"] == "TEA"


def test_a_handful_of_customers_is_not_evidence() -> None:
    """The cosy, bought with a kettle by three customers, is never suggested; tea (ten) is."""
    model = PurchaseModel(lines(), min_customers=5)
    advice = model.advise(99, NOW, 5, 5)
    assert advice is not None
    assert [item["product"] for item in advice["goes_with"]] == ["TEA"]
    assert advice["goes_with"][0]["reason"] == "91% of customers who bought Kettle also bought it"
    looser = PurchaseModel(lines(), min_customers=3).advise(99, NOW, 5, 5)
    assert looser is not None and [i["product"] for i in looser["goes_with"]] == ["TEA", "COSY"]


def test_keys_match_whatever_type_the_database_returned() -> None:
    """A customer key read as an integer is found when it is bound as text, and the reverse."""
    model = PurchaseModel(lines())
    assert model.advise("99", NOW, 5, 5) is not None and model.advise(99, NOW, 5, 5) is not None


def test_columns_and_lines_build_the_same_model() -> None:
    """A model from whole columns (times as int64 microseconds) advises as one from Line objects."""
    given = lines()
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    micros = np.array([(line.at - epoch) // timedelta(microseconds=1) for line in given], np.int64)
    columns = PurchaseModel.from_columns(
        [line.customer for line in given],
        [line.product for line in given],
        micros,
        product_name=[line.product_name for line in given],
        min_customers=5,
    )
    for customer in (0, 5, 12, 99):
        assert columns.advise(customer, NOW, 5, 5) == PurchaseModel(given).advise(customer, NOW, 5, 5)


def test_a_pickled_model_advises_the_same() -> None:
    """The model crosses a process boundary as arrays and finds keys by binary search there."""
    model = PurchaseModel(lines(), min_customers=3)
    copy = pickle.loads(pickle.dumps(model))  # noqa: S301 (our own bytes, as the worker sends them)
    for customer in (0, "5", 12, 99, "99", "nobody"):
        assert copy.advise(customer, NOW, 5, 5) == model.advise(customer, NOW, 5, 5)
    assert copy.advise("nobody", NOW, 5, 5) is None


@pytest.mark.parametrize(
    "values",
    [
        [datetime(2026, 1, 2, 3, 4, 5), datetime(2026, 1, 3)],
        [
            datetime(2026, 1, 2, 5, 4, 5, tzinfo=timezone(timedelta(hours=2))),
            datetime(2026, 1, 3, tzinfo=UTC),
        ],
        ["2026-01-02 03:04:05", "2026-01-03"],
        ["2026-01-02T03:04:05Z", "2026-01-03T02:00:00+02:00"],
        [date(2026, 1, 2), date(2026, 1, 3)],
    ],
)
def test_every_time_type_a_driver_returns_is_read_as_utc(values: list[Any]) -> None:
    """Naive (UTC), aware, ISO text with or without zone, and dates all become UTC microseconds."""
    assert micros_column(values).tolist() == [to_micros(value) for value in values]
    assert to_micros(values[0]) // 10**6 in (1767323045, 1767312000)  # 2026-01-02 03:04:05 or 00:00 UTC


def test_goes_with_keeps_only_lift_above_one() -> None:
    """A product every customer buys (lift 1) is never a companion, however high its share."""
    found = [Line(c, "BREAD", NOW - timedelta(days=2), "Bread") for c in range(12)]
    found += [Line(c, "JAM", NOW - timedelta(days=2), "Jam") for c in range(6)]
    found += [Line(c, "BUTTER", NOW - timedelta(days=2), "Butter") for c in range(6)]
    found += [Line(c, "CHEESE", NOW - timedelta(days=2), "Cheese") for c in range(6, 12)]
    model = PurchaseModel(found, min_customers=5)
    advice = model.advise(0, NOW, 5, 5)  # bought bread, jam and butter
    assert advice is not None
    assert advice["goes_with"] == []  # cheese has lift 0 with jam and butter; bread's partners are lift 1
    advice = model.advise(7, NOW, 5, 5)  # bread and cheese: jam/butter never with cheese
    assert advice is not None and advice["goes_with"] == []


def co_purchases(anchor_buyers: int, both: int, others: int) -> list[Line]:
    """``anchor_buyers`` customers bought X, the first ``both`` of them Y too; ``others`` bought only Z."""
    at = NOW - timedelta(days=10)
    found = [Line(c, "X", at, "Kettle") for c in range(anchor_buyers)]
    found += [Line(c, "Y", at, "Tea") for c in range(anchor_buyers - both, anchor_buyers)]
    return found + [Line(c, "Z", at, "Mug") for c in range(anchor_buyers, anchor_buyers + others)]


@pytest.mark.parametrize(
    ("anchor_buyers", "both", "others", "share"), [(200, 199, 300, "99%"), (1000, 5, 500, "under 1%")]
)
def test_a_share_is_never_rounded_to_all_or_none(
    anchor_buyers: int, both: int, others: int, share: str
) -> None:
    """199 of 200 buyers is "99%", not "100%" (the one advised did not); 5 of 1,000 is not "0%"."""
    advice = PurchaseModel(co_purchases(anchor_buyers, both, others), min_customers=5).advise(0, NOW, 0, 5)
    assert advice is not None and advice["goes_with"][0]["customers"] == both
    assert advice["goes_with"][0]["reason"] == f"{share} of customers who bought Kettle also bought it"


@pytest.mark.parametrize(
    ("gap", "said"), [(timedelta(hours=6), "about every 6 hours"), (timedelta(days=1), "about every day")]
)
def test_a_cadence_under_a_day_or_of_one_day_reads_right(gap: timedelta, said: str) -> None:
    """Two orders six hours apart were "about every 0 days", and a daily cadence "about every 1 days"."""
    found = [Line(1, "MILK", NOW - timedelta(days=3) - gap * k, "Milk") for k in range(3)]
    advice = PurchaseModel(found).advise(1, NOW, 5, 0)
    assert advice is not None
    assert advice["likely_next"][0]["reason"] == f"bought 3 times, {said}; last 3 days ago"


def test_recency_weights_count_only_the_orders_before_the_moment_asked() -> None:
    """Orders are weighed newest first among those up to the call (ranked once at build, not per call)."""
    days = [NOW - timedelta(days=d) for d in (30, 20, 10)]
    history = [Line(1, "A", at) for at in days] + [
        Line(1, "B", days[2]),
        Line(1, "A", NOW + timedelta(days=5)),
    ]
    history += [Line(2, "B", at) for at in days]  # B is rebought by its buyers, so B bought once is advised
    advice = PurchaseModel(history).advise(1, NOW, 5, 0)
    assert advice is not None
    total = 1 + 0.9 + 0.81  # three orders up to NOW; the one five days ahead is not one yet
    again = (1 * 1 + 1) / (1 + 2), (0.5 * 2 + 1) / (2 + 2)  # A: 1 repeating buyer of 1; B: 1 of 2
    expected = {"A": round((total + again[0]) / (total + 1), 4), "B": round((1 + again[1]) / (total + 1), 4)}
    assert {item["product"]: item["score"] for item in advice["likely_next"]} == expected
    earlier = PurchaseModel(history).advise(1, NOW - timedelta(days=25), 5, 0)  # one order by then
    assert earlier is not None
    assert [(i["product"], i["score"]) for i in earlier["likely_next"]] == [
        ("A", round((1 + again[0]) / 2, 4))
    ]


def test_a_big_catalogue_comes_back_from_the_worker_without_an_object_per_product() -> None:
    """Unpickling a model of 5,000 named products makes a few objects, not one per product and name.

    It runs on the server's process under the GIL at the end of each
    refresh: with 100,000 SKUs, dicts of names held the event loop 20+ ms.
    """
    products = [f"SKU-{i}" for i in range(5000)]
    model = PurchaseModel.from_columns(
        [i % 50 for i in range(5000)],
        products,
        [NOW - timedelta(days=i % 90) for i in range(5000)],
        product_name=[f"Product {i}" for i in range(5000)],
    )
    state = pickle.dumps(model)
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        copied = pickle.loads(state)  # noqa: S301 (our own bytes, as the worker sends them)
        made = tracemalloc.take_snapshot().compare_to(before, "filename")
    finally:
        tracemalloc.stop()
    assert sum(stat.count_diff for stat in made) < 500, made[:3]
    assert (copied.name(4321), copied.product_keys.key(4321), "SKU-7" in copied.product_keys) == (
        "Product 4321",
        "SKU-4321",
        True,
    )
