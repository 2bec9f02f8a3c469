"""Stored numbers as people type them: labels, extensions, several to a cell, the row's country."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from phonenumbers import PhoneNumber, PhoneNumberFormat, PhoneNumberType

from screenpop.phone import normalize, stored_numbers
from screenpop.phone.fast_path import fast_e164
from screenpop.phone.parsing import e164_of, parse_number

PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

STORED_FORMS = [
    # (cell, region, every E.164 it holds)
    ("469-580-7231 - office", "US", ("+14695807231",)),
    ("+1 201 506 6435 (work)", "US", ("+12015066435",)),
    ("(780) 918-1406 (cell)", "US", ("+17809181406",)),
    ("mobile: 555 123 4567", "US", ("+15551234567",)),
    ("Tel. 030 1234567", "DE", ("+49301234567",)),
    ("Fax: +49 30 1234567", "US", ("+49301234567",)),
    ("Phone 2: 415 555 0132", "US", ("+14155550132",)),
    ("home 415-555-0132 extension 3", "US", ("+14155550132",)),
    ("Work: (415) 555-0132 ext. 7 - main line", "US", ("+14155550132",)),
    ("415 555 0132 x 12 (cell)", "US", ("+14155550132",)),
    ("469-580-7231, ext 12", "US", ("+14695807231",)),
    ("4155550132#12", "US", ("+14155550132",)),
    ("+44 (0)20 7946 0958 [home]", "US", ("+442079460958",)),
    ("030/1234567", "DE", ("+49301234567",)),
    ("0171/1234567", "DE", ("+491711234567",)),
    ("+1-415-555-0132;ext=12", "US", ("+14155550132",)),
    ('"Lovelace, Ada" <sip:+14155550132@pbx.example.com>', "US", ("+14155550132",)),
    ("030 1234567 / 0171 1234567", "DE", ("+49301234567", "+491711234567")),
    ("415 555 0132 or 212 555 0199", "US", ("+14155550132", "+12125550199")),
    ("415 555 0132; 212-555-0199, 646.555.0100", "US", ("+14155550132", "+12125550199", "+16465550100")),
    ("415 555 0132 | (415) 555-0132", "US", ("+14155550132",)),  # the same number twice is one
    ("office 415 555 0132 & mobile: 212 555 0199", "US", ("+14155550132", "+12125550199")),
    ("55 9474 4977", "MX", ("+525594744977",)),
    ("55 9474 4977", "US", ("+15594744977",)),
    ("1-800-FLOWERS", "US", ()),  # letters are never read as vanity digits
    ("1-800-FLOWERS", "DE", ()),
    ("+1 800 FLOWERS", "US", ()),
    ("555-CALL-NOW", "US", ()),
    ("tel:1-800-FLOWERS", "US", ()),
    ("sip:alice@pbx.example.com", "US", ()),
    ("n/a", "US", ()),
    ("call reception", "US", ()),
    ("", "US", ()),
    ("415 555 0132 ask for Jo (rm 22)", "US", ("+14155550132",)),  # a comment after the number is a label
    ("415 555 0132 *22", "US", ()),  # digits after a number that are no extension: not guessed
]


@pytest.mark.parametrize(("cell", "region", "numbers"), STORED_FORMS)
def test_stored_cells_read_to_their_numbers(cell: str, region: str, numbers: tuple[str, ...]) -> None:
    """Labels, extensions and separators are read as people mean them, letters never as digits."""
    assert stored_numbers(cell, region) == numbers


def test_overlong_cell_is_refused_without_reading() -> None:
    """A cell longer than any phone column's value gives no number (bounded work per row)."""
    assert stored_numbers("415 555 0132 / " * 40, "US") == ()


# --- properties --------------------------------------------------------------------

REGIONS = ["US", "CA", "MX", "GB", "DE", "FR", "IT", "ES", "BR", "AR", "AU", "IN", "JP", "NL", "CH", "ZA"]
TYPES = [PhoneNumberType.FIXED_LINE, PhoneNumberType.MOBILE, PhoneNumberType.TOLL_FREE]
LABELS_BEFORE = ["", "", "Tel. ", "mobile: ", "Fax: ", "Work - ", "(home) ", "Phone 2: ", "cell "]
LABELS_AFTER = ["", "", " (work)", " - office", " (cell)", " [home]", " mobile", " \u2013 main line"]
EXTENSIONS = ["", "", " x12", " ext. 12", " Ext 7", " extension 345", "#12"]


@st.composite
def valid_numbers(draw: st.DrawFn, region: str | None = None) -> PhoneNumber:
    """A valid number of ``region`` (else any of ``REGIONS``): an example with its last digits redrawn."""
    region = region or draw(st.sampled_from(REGIONS))
    example = phonenumbers.example_number_for_type(region, draw(st.sampled_from(TYPES)))
    assume(example is not None)
    assert example is not None
    nsn = str(example.national_number)
    tail = draw(st.integers(0, 999))
    candidate = phonenumbers.parse(f"+{example.country_code}{nsn[:-3]}{tail:03d}")
    candidate.italian_leading_zero = example.italian_leading_zero
    assume(phonenumbers.is_valid_number(candidate))
    return candidate


@st.composite
def written(draw: st.DrawFn, number: PhoneNumber, at_home: bool = False) -> tuple[str, str]:
    """``number`` written one of the ways a person stores it, and the region its row is in.

    ``at_home``: the row is in the number's own country (so two numbers of one row share it).
    """
    home = phonenumbers.region_code_for_number(number)
    styles = ["e164", "international", "national", "punctuated"] + ([] if at_home else ["dialled_from"])
    style = draw(st.sampled_from(styles))
    if style == "e164":
        text, region = e164_of(number), draw(st.sampled_from(REGIONS))
    elif style == "international":
        text, region = phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL), home
        region = draw(st.sampled_from([home, *REGIONS]))
    elif style == "national":
        text, region = phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL), home
    elif style == "punctuated":
        national = phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL)
        text, region = national.replace(" ", draw(st.sampled_from([".", "-", " "]))), home
    else:
        dialler = draw(st.sampled_from([r for r in REGIONS if r != home]))
        text, region = phonenumbers.format_out_of_country_calling_number(number, dialler), dialler
    return text, home if at_home else region


@st.composite
def stored_cells(draw: st.DrawFn, region: str | None = None) -> tuple[str, str, str]:
    """(E.164, the cell a person typed for it, the row's region); ``region``: a number of that country."""
    number = draw(valid_numbers(region))
    text, region = draw(written(number, at_home=region is not None))
    before, after = draw(st.sampled_from(LABELS_BEFORE)), draw(st.sampled_from(LABELS_AFTER))
    extension = draw(st.sampled_from(EXTENSIONS))
    return e164_of(number), before + text + extension + after, region


@PROPERTY
@given(cell=stored_cells())
def test_any_valid_number_in_any_supported_format_is_found_by_its_e164(cell: tuple[str, str, str]) -> None:
    """A valid number with a label before or after and an extension reads to its E.164, and only it."""
    e164, text, region = cell
    assert stored_numbers(text, region) == (e164,)


@st.composite
def two_in_one_cell(draw: st.DrawFn) -> tuple[str, str, str, str]:
    """(first E.164, second E.164, one cell holding both, the row's region)."""
    region = draw(st.sampled_from(REGIONS))
    first, second = draw(stored_cells(region)), draw(stored_cells(region))
    assume(first[0] != second[0])
    separator = draw(st.sampled_from([" / ", "; ", ", ", " or ", "\n", " | "]))
    return first[0], second[0], first[1] + separator + second[1], region


@PROPERTY
@given(case=two_in_one_cell())
def test_two_numbers_in_one_cell_are_both_found(case: tuple[str, str, str, str]) -> None:
    """Two numbers in one cell are both indexed, in order, and nothing else is."""
    first, second, cell, region = case
    assert stored_numbers(cell, region) == (first, second)


@PROPERTY
@given(
    text=st.text(alphabet="0123456789 +-.()", max_size=30),
    region=st.sampled_from(REGIONS),
)
def test_text_without_letters_or_separators_reads_as_normalize(text: str, region: str) -> None:
    """A plain number is read exactly as an incoming caller's is: the label rules add nothing."""
    single = normalize(text, region)
    assert stored_numbers(text, region) == ((single,) if single else ())


# --- the fast path ------------------------------------------------------------------


@st.composite
def common_formats(draw: st.DrawFn) -> tuple[str, str]:
    """The formats the fast path is for: NANP with punctuation, E.164 with or without spaces."""
    number = draw(valid_numbers())
    region = draw(st.sampled_from(REGIONS))
    if number.country_code == 1 and draw(st.booleans()):
        nsn = str(number.national_number)
        area, exchange, line = nsn[:3], nsn[3:6], nsn[6:]
        shape = draw(
            st.sampled_from(["({}) {}-{}", "{}-{}-{}", "{}.{}.{}", "{} {} {}", "1-{}-{}-{}", "{}{}{}"])
        )
        return shape.format(area, exchange, line), "US"
    spaced = phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)
    return draw(st.sampled_from([e164_of(number), spaced.replace("-", " "), spaced])), region


@PROPERTY
@given(case=common_formats())
def test_fast_path_takes_the_common_formats_and_agrees_with_phonenumbers(case: tuple[str, str]) -> None:
    """The common formats skip phonenumbers.parse, with the answer phonenumbers gives."""
    text, region = case
    handled, e164 = fast_e164(text, region)
    slow = parse_number(text, region)
    assert handled
    assert slow is not None and e164 == e164_of(slow)


@st.composite
def digit_groups(draw: st.DrawFn) -> str:
    """Digits in groups joined by the punctuation people type, with or without a leading + or (…)."""
    groups = draw(st.lists(st.text(alphabet="0123456789", min_size=1, max_size=5), min_size=1, max_size=5))
    joiners = draw(
        st.lists(st.sampled_from([" ", "-", ".", "", ") ", "-"]), min_size=len(groups), max_size=len(groups))
    )
    text = "".join(g + j for g, j in zip(groups, joiners, strict=True)).strip()
    return draw(st.sampled_from(["", "+", "(", "+1 ", "1-"])) + text


@PROPERTY
@given(
    text=st.one_of(st.text(alphabet="0123456789 +-.()x", max_size=24), digit_groups()),
    region=st.sampled_from(REGIONS),
)
def test_fast_path_never_disagrees_with_phonenumbers(text: str, region: str) -> None:
    """Whenever the fast path answers, phonenumbers answers the same (possible numbers only).

    Shapes near the common formats are drawn on purpose (``digit_groups``): random
    text alone rarely takes the fast path, and an ``assume`` on it starved the test.
    """
    handled, e164 = fast_e164(text, region)
    if not handled:  # phonenumbers itself reads it: nothing to compare
        return
    slow = parse_number(text, region)
    expected = e164_of(slow) if slow is not None and phonenumbers.is_possible_number(slow) else None
    assert e164 == expected


@PROPERTY
@given(
    cell=st.one_of(st.text(max_size=120), st.text(alphabet="0123456789 +-.()/;,x#:abcTel", max_size=120)),
    region=st.sampled_from([*REGIONS, "", "ZZ", "uk"]),
)
def test_any_cell_reads_to_distinct_e164_numbers_without_raising(cell: str, region: str) -> None:
    """Whatever a cell holds, it reads to distinct E.164 numbers (or none), never to an error."""
    numbers = stored_numbers(cell, region)
    assert len(set(numbers)) == len(numbers)
    assert all(n.startswith("+") and n[1:].isdigit() for n in numbers)
