"""A second number written without its area code in a legacy cell (``(415) 555-1234 / 555-9876``)."""

from __future__ import annotations

import re

import phonenumbers
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from phonenumbers import PhoneNumber, PhoneNumberFormat

from screenpop.phone import normalize, stored_numbers
from screenpop.phone.parsing import e164_of

PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
REGIONS = ["US", "CA", "MX", "GB", "DE", "FR", "IT", "ES", "BR", "AR", "AU", "IN", "JP", "NL", "CH", "ZA"]

CELLS = [
    # (cell, row region, every E.164 it holds)
    ("(415) 555-1234 / 555-9876", "US", ("+14155551234", "+14155559876")),
    ("415-555-1234, 555-9876 (cell)", "US", ("+14155551234", "+14155559876")),
    ("415.555.1234 / 555.9876 / 555.0000", "US", ("+14155551234", "+14155559876", "+14155550000")),
    ("+44 20 7946 0958 / 7946 0959", "US", ("+442079460958", "+442079460959")),
    ("(415) 555-1234 / 212-555-9876", "US", ("+14155551234", "+12125559876")),  # valid as written: kept
    ("555-9876 / (415) 555-1234", "US", ("+15559876", "+14155551234")),  # nothing before it to inherit
]


@pytest.mark.parametrize(("cell", "region", "numbers"), CELLS)
def test_short_second_number_takes_the_area_code_of_the_first(
    cell: str, region: str, numbers: tuple[str, ...]
) -> None:
    """A number too short to be valid takes the area code of the number before it in the cell."""
    assert stored_numbers(cell, region) == numbers


@st.composite
def with_area_code(draw: st.DrawFn) -> tuple[PhoneNumber, PhoneNumber, str]:
    """(a valid number, another valid number of its area code, the row's region)."""
    region = draw(st.sampled_from(REGIONS))
    example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.FIXED_LINE)
    assume(example is not None)
    assert example is not None
    nsn = phonenumbers.national_significant_number(example)
    ndc = phonenumbers.length_of_national_destination_code(example)
    assume(ndc > 0)
    first, second = (draw(st.integers(0, 999)) for _ in range(2))
    numbers = [phonenumbers.parse(f"+{example.country_code}{nsn[:-3]}{tail:03d}") for tail in (first, second)]
    assume(first != second and all(phonenumbers.is_valid_number(n) for n in numbers))
    return numbers[0], numbers[1], region


def _subscriber(number: PhoneNumber) -> str:
    nsn = phonenumbers.national_significant_number(number)
    return nsn[phonenumbers.length_of_national_destination_code(number) :]


@PROPERTY
@given(case=with_area_code(), separator=st.sampled_from([" / ", "; ", ", ", " or "]))
def test_second_number_is_found_with_the_first_ones_area_code(
    case: tuple[PhoneNumber, PhoneNumber, str], separator: str
) -> None:
    """Whenever phonenumbers finds the subscriber part alone invalid, the cell holds the whole number."""
    first, second, region = case
    subscriber = _subscriber(second)
    assume(len(subscriber) >= 7)  # a shorter piece is no number of its own: the cell is read as one
    alone = phonenumbers.parse(subscriber, region)
    assume(not phonenumbers.is_valid_number(alone))
    written = phonenumbers.format_number(first, PhoneNumberFormat.NATIONAL)
    assert stored_numbers(written + separator + subscriber, region) == (e164_of(first), e164_of(second))


@PROPERTY
@given(
    case=with_area_code(),
    other=st.text(alphabet="0123456789 -.", min_size=7, max_size=16),
)
def test_second_number_is_never_given_an_area_code_it_does_not_need(
    case: tuple[PhoneNumber, PhoneNumber, str], other: str
) -> None:
    """The second number is read as written unless only the first's area code makes it valid."""
    first, _, region = case
    assume(len(re.sub(r"\D", "", other)) >= 7)
    written = phonenumbers.format_number(first, PhoneNumberFormat.NATIONAL)
    found = stored_numbers(f"{written} / {other}", region)
    as_written = normalize(other, region)
    if as_written is not None and phonenumbers.is_valid_number(phonenumbers.parse(as_written)):
        assert found[1:] == ((as_written,) if as_written != e164_of(first) else ())
    elif len(found) > 1 and found[1] != as_written:
        inherited = phonenumbers.parse(found[1])
        assert phonenumbers.is_valid_number(inherited)
        assert found[1].startswith(e164_of(first)[: -len(_subscriber(first))])
