"""``parse_time`` reads a webhook's ``at`` as RFC 3339 says, whichever way it gets there.

The usual text is parsed directly; only what ``fromisoformat`` refuses goes
through the normalising of a lower-case ``z`` and a leap second.  Both ways
must agree with the rule itself on any text.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from screenpop.errors import BadRequest
from screenpop.providers.signing import parse_time


def by_the_rule(value: str) -> datetime | None:
    """RFC 3339's ``z`` and ``:60`` normalised first, then Python's ISO 8601 reader."""
    text = re.sub(
        r"^(\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:)60(?=\D|$)", r"\g<1>59", re.sub(r"[zZ]$", "+00:00", value)
    )
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def outcome(value: str) -> datetime | None:
    try:
        return parse_time(value, "at")
    except BadRequest:
        return None


PIECES = st.sampled_from(
    ["2026-12-05", "T", "t", " ", "10:00", ":00", ":60", ".5", "Z", "z", "+02:00", "-0530", "x"]
)


@given(st.lists(PIECES, max_size=6).map("".join))
def test_any_text_reads_as_the_rule_reads_it(value: str) -> None:
    assert outcome(value) == by_the_rule(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-12-05T10:00:00Z", datetime(2026, 12, 5, 10, tzinfo=UTC)),
        ("2026-12-05T10:00:00z", datetime(2026, 12, 5, 10, tzinfo=UTC)),
        ("2026-12-05T23:59:60Z", datetime(2026, 12, 5, 23, 59, 59, tzinfo=UTC)),
    ],
)
def test_usual_lower_case_and_leap_second_times(value: str, expected: datetime) -> None:
    assert parse_time(value, "at") == expected


def test_a_time_without_a_zone_is_refused() -> None:
    with pytest.raises(BadRequest, match="needs a time zone"):
        parse_time("2026-12-05T10:00:00", "at")
