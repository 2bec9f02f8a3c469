"""The quick ways a big table's cells are read (issue 15) never disagree with the general way."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from screenpop.phone import stored_numbers
from screenpop.phone.fast_path import fast_cell_e164, fast_e164
from screenpop.phone.parsing import e164_of, parse_number
from screenpop.phone.stored import read_cell

PROPERTY = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
REGIONS = [
    *("US", "CA", "MX", "GB", "DE", "FR", "IT", "ES", "BR", "AR", "AU", "IN", "JP", "NL", "CH", "ZA"),
    *("RU", "CN", "HU", "KR", "GG", "us", "", "ZZ"),
]
LABELS = [" - office", " (work)", " x12", " - cell", " (Main)", " x7", " -office", " ( work)", " x", " - o"]


@st.composite
def plain_cells(draw: st.DrawFn) -> str:
    """Digits in groups joined as people type them, some with a leading +, (, 1, 00 or 011."""
    groups = draw(st.lists(st.text(alphabet="0123456789", min_size=1, max_size=5), min_size=1, max_size=5))
    joiners = draw(st.lists(st.sampled_from([" ", "-", ".", "", ") ", "("]), min_size=len(groups)))
    text = "".join(g + j for g, j in zip(groups, joiners, strict=False)).strip()
    lead = draw(st.sampled_from(["", "+", "(", "+1 ", "1", "1-", "00", "011 ", "0", " ", "+44 0"]))
    return lead + text + draw(st.sampled_from(["", " ", "  "]))


def phonenumbers_e164(text: str, region: str) -> str | None:
    number = parse_number(text, region)
    return e164_of(number) if number is not None and phonenumbers.is_possible_number(number) else None


@PROPERTY
@given(
    text=st.one_of(plain_cells(), st.text(alphabet="0123456789 +-.()", max_size=24)),
    region=st.sampled_from(REGIONS),
)
@example(text="1 415 555 0132", region="US")
@example(text="14155550132", region="US")
@example(text="0044 20 7946 0958", region="GB")
@example(text="+44 (0)20 7946 0958", region="US")
def test_the_plain_cell_way_agrees_with_fast_e164_and_phonenumbers(text: str, region: str) -> None:
    """Whenever the remembered-prefix way answers, fast_e164 and phonenumbers answer the same."""
    handled, e164 = fast_cell_e164(text, region)
    if not handled:
        return
    assert (True, e164) == fast_e164(text, region)
    assert e164 == phonenumbers_e164(text, region)


@PROPERTY
@given(
    cell=st.one_of(
        st.builds(lambda c, label: c.rstrip() + label, plain_cells(), st.sampled_from(LABELS)),
        plain_cells(),
        st.text(alphabet="0123456789 +-.()xofice/;,#:", max_size=40),
    ),
    region=st.sampled_from(REGIONS),
)
@example(cell="469-580-7231 - office", region="US")
@example(cell="+1 201 506 6435 (work)", region="US")
@example(cell="415 555 0132 x12", region="US")
@example(cell="415-555- (work)", region="US")
def test_a_cell_read_the_quick_way_equals_the_general_way(cell: str, region: str) -> None:
    """Plain and simply labelled cells read to exactly what splitting and label-cutting find."""
    assert stored_numbers(cell, region) == read_cell(cell, region)


@pytest.mark.parametrize(
    ("cell", "e164"),
    [
        ("(415) 555-0132", "+14155550132"),
        ("415.555.0132", "+14155550132"),
        ("+1 415 555 0132", "+14155550132"),
        ("14155550132", "+14155550132"),
        ("1-415-555-0132", "+14155550132"),
    ],
)
def test_the_formats_of_a_legacy_us_table_take_the_plain_cell_way(cell: str, e164: str) -> None:
    """The common formats (own code included) are answered without phonenumbers.parse."""
    assert fast_cell_e164(cell, "US") == (True, e164)
