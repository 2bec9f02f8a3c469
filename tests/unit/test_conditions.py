"""The one condition code of badges and rules: above, below, equals, in."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from screenpop.card import badge_applies
from screenpop.conditions import holds, only_condition
from screenpop.config.schema import BadgeRule


@pytest.mark.parametrize(
    ("kind", "expected", "value", "result"),
    [
        ("above", 0, 12.5, True),
        ("above", 0, "12.5", True),
        ("above", 0, 0, False),
        ("above", 0, True, False),
        ("above", 0, "n/a", False),
        ("above", 0, float("inf"), False),  # a CRM's 1e999: the card shows null, so no badge either
        ("above", 0, "1e999", False),
        ("below", 100, float("-inf"), False),
        ("below", 100, float("nan"), False),
        ("equals", 5, "NaN", False),
        ("equals", True, 1, True),  # SQLite and MySQL store a boolean as 0 or 1
        ("equals", False, 0, True),
        ("equals", True, 0, False),
        ("equals", True, 2, False),
        ("equals", 1, True, True),  # PostgreSQL's boolean against a rule written with 1
        ("equals", True, "true", False),
        ("equals", True, None, False),
        ("above", 0, 10**400, False),  # json.loads makes it; float() of it raised OverflowError
        ("below", 100, 99, True),
        ("below", 100, 100, False),
        ("equals", "closed", " Closed ", True),
        ("equals", 5, "5.0", True),
        ("equals", True, True, True),
        ("in", ["A", "B"], "b", True),
        ("in", ["A", "B"], "C", False),
        ("in", [1, 2], 2.0, True),
        ("above", 0, None, False),
        ("equals", "x", None, False),
    ],
)
def test_each_condition_kind(kind: str, expected: Any, value: Any, result: bool) -> None:
    """Each condition kind compares numbers as numbers, texts without case, booleans as themselves."""
    assert holds(kind, expected, value) is result


def test_a_badge_on_unquoted_norway_is_a_config_error() -> None:
    """``in: [NO, SE]`` read as ``[0.0, "SE"]``: Norwegian customers got no badge, a balance of 0 got one."""
    with pytest.raises(ValidationError, match=r"YAML boolean .* quote it"):
        BadgeRule.model_validate(yaml.safe_load("{field: country, in: [NO, SE], text: Nordic}"))
    quoted = BadgeRule.model_validate(yaml.safe_load("{field: country, in: ['NO', SE], text: Nordic}"))
    assert badge_applies(quoted, "no") and not badge_applies(quoted, 0)
    flags = BadgeRule.model_validate(yaml.safe_load("{field: vip, in: [yes], text: VIP}"))  # a flag alone
    assert flags.in_ == (True,) and badge_applies(flags, 1) and not badge_applies(flags, 1.0 + 1)


def test_badges_use_the_same_code() -> None:
    """A badge and the shared condition agree, since the badge calls it."""
    rule = BadgeRule.model_validate({"field": "rating", "in": ["D", "E"], "text": "Hold"})
    assert badge_applies(rule, "d") is holds("in", ("D", "E"), "d") is True
    assert badge_applies(rule, "A") is False


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"over": 1}, "unknown condition 'over'"),
        ({"above": 1, "below": 5}, "exactly one"),
        ({}, "exactly one"),
        ({"equals": None}, "`equals` has no value"),  # `equals:` or `equals: ~` in YAML
    ],
)
def test_malformed_condition_is_refused(spec: dict[str, Any], message: str) -> None:
    """An unknown, doubled or missing condition is a ValueError naming the problem."""
    with pytest.raises(ValueError, match=message):
        only_condition(spec)


@pytest.mark.parametrize(
    ("kind", "expected", "value", "result"),
    [
        ("equals", "1000", 1000.0, True),  # a rule written `equals: "1000"`, a REAL column's 1000.0
        ("equals", "1000", Decimal("1000.00"), True),  # a NUMERIC(10,2) column
        ("in", ["10", "20"], 20.0, True),
        ("equals", "1000", 1000.5, False),
        ("equals", "007", "7", False),  # both texts: a code stays a code
        ("equals", "1000", True, False),
    ],
)
def test_a_number_written_as_text_in_a_rule_matches_a_number(
    kind: str, expected: Any, value: Any, result: bool
) -> None:
    """A number quoted in the config compares as a number with a number, as a number text already did."""
    assert holds(kind, expected, value) is result
