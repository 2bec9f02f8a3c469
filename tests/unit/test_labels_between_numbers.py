"""Two numbers in one cell told apart by their labels only: ``415-555-0132 (h) 415-555-0133 (w)``."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from phonenumbers import PhoneNumberFormat

from screenpop.phone import stored_numbers
from screenpop.phone.parsing import e164_of

PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
REGIONS = ["US", "CA", "MX", "GB", "DE", "FR", "IT", "ES", "BR", "AR", "AU", "IN", "JP", "NL", "CH", "ZA"]

CELLS = [
    ("415-555-0132 (h) 415-555-0133 (w)", "US", ("+14155550132", "+14155550133")),
    ("H: 415-555-0132 W: 415-555-0133", "US", ("+14155550132", "+14155550133")),
    ("Home: (415) 555-0132  Cell: (212) 555-0199", "US", ("+14155550132", "+12125550199")),
    ("415 555 0132 [home] 212 555 0199 [work]", "US", ("+14155550132", "+12125550199")),
    ("030 1234567 (Büro) 0171 1234567 (mobil)", "DE", ("+49301234567", "+491711234567")),
    # a label with fewer than 7 digits on one side stays part of its number, as before
    ("415 555 0132 (cell) ext 12", "US", ("+14155550132",)),
    ("mobile: 555 123 4567", "US", ("+15551234567",)),
    ("+44 (0)20 7946 0958 [home]", "US", ("+442079460958",)),
]


@pytest.mark.parametrize(("cell", "region", "numbers"), CELLS)
def test_a_label_between_two_numbers_separates_them(cell: str, region: str, numbers: tuple[str, ...]) -> None:
    """Both numbers are found; before, the digits after the first number made the whole cell unreadable."""
    assert stored_numbers(cell, region) == numbers


@PROPERTY
@given(
    region=st.sampled_from(REGIONS),
    tails=st.tuples(st.integers(0, 999), st.integers(0, 999)),
    labels=st.sampled_from([("", " (h) ", " (w)"), ("H: ", " W: ", ""), ("", " [home] ", " [cell]")]),
)
def test_two_labelled_numbers_are_both_found(
    region: str, tails: tuple[int, int], labels: tuple[str, str, str]
) -> None:
    """Any two valid numbers written nationally with a label between them both read to their E.164."""
    example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.FIXED_LINE)
    assume(example is not None)
    assert example is not None
    nsn = phonenumbers.national_significant_number(example)
    numbers = [phonenumbers.parse(f"+{example.country_code}{nsn[:-3]}{t:03d}") for t in tails]
    assume(tails[0] != tails[1] and all(phonenumbers.is_valid_number(n) for n in numbers))
    written = [phonenumbers.format_number(n, PhoneNumberFormat.NATIONAL) for n in numbers]
    cell = labels[0] + written[0] + labels[1] + written[1] + labels[2]
    assert stored_numbers(cell, region) == tuple(e164_of(n) for n in numbers)
