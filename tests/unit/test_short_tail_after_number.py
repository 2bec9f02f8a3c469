"""A number followed by a short tail after a separator (``415 555 0132 / 0133``) keeps the number."""

from __future__ import annotations

import pytest

from screenpop.phone import stored_numbers

CELLS = [
    ("415 555 0132 / 0133", "US", ("+14155550132",)),
    ("(415) 555-0132/0133", "US", ("+14155550132",)),
    ("415-555-0132, 33", "US", ("+14155550132",)),
    # unchanged: read whole, this is a number (a German direct dial: the switchboard's digits, then 89)
    ("030 1234567 / 89", "DE", ("+4930123456789",)),
    # unchanged: an area code before the separator is part of the number, and so is an RFC 3966 extension
    ("030/1234567", "DE", ("+49301234567",)),
    ("+1-415-555-0132;ext=12", "US", ("+14155550132",)),
    ("12 / 34", "US", ()),
]


@pytest.mark.parametrize(("cell", "region", "numbers"), CELLS)
def test_the_whole_number_before_a_short_tail_is_found(
    cell: str, region: str, numbers: tuple[str, ...]
) -> None:
    """The number before the separator is indexed; the tail (a sibling line, a note) is not guessed at."""
    assert stored_numbers(cell, region) == numbers
