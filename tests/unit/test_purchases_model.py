"""The pure purchase model: scores, ordering and the minimum support, without a database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from screenpop.connectors.purchases import Line, PurchaseModel

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
