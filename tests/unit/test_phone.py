"""Caller number reading: every form phone systems and legacy tables use, and its invariants."""

from __future__ import annotations

import re

import phonenumbers
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from phonenumbers import COUNTRY_CODES_FOR_NON_GEO_REGIONS, PhoneNumberFormat, PhoneNumberType

from screenpop.phone import is_region, mask, normalize, parse_caller, warm

SF = "+14155550132"
BERLIN = "+49301234567"
LONDON = "+442079460958"
E164 = re.compile(r"\+[1-9][0-9]{2,19}")  # phonenumbers allows NSNs of up to 17 digits


def fullwidth(digits: str) -> str:
    """Digits as an East Asian keyboard types them; phonenumbers reads any script's digits."""
    return "".join(chr(0xFF10 + int(d)) for d in digits)


PROPERTY = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])

NUMBER_FORMS = [
    # (raw, default region, e164, extension)
    ("+14155550132", "US", SF, None),
    ("(415) 555-0132", "US", SF, None),
    ("415.555.0132", "US", SF, None),
    ("415 555 0132", "US", SF, None),
    ("1-415-555-0132", "US", SF, None),
    ("+1 (415) 555-0132", "US", SF, None),
    ("+1 415 555 0132", "GB", SF, None),
    ("011 1 415 555 0132", "US", SF, None),
    ("00 1 415 555 0132", "GB", SF, None),
    ("415-555-0132 x12", "US", SF, "12"),
    ("415.555.0132 ext. 12", "US", SF, "12"),
    ("(415) 555-0132 ext 12", "US", SF, "12"),
    ("4155550132#12", "US", SF, "12"),
    ("+1-415-555-0132;ext=12", "US", SF, "12"),
    ("tel:+1-415-555-0132", "US", SF, None),
    ("tel:+1-415-555-0132;ext=7", "DE", SF, "7"),
    ("tel:4155550132;phone-context=+1", "DE", SF, None),
    ("tel:4155550132;phone-context=example.com", "US", SF, None),
    ("sip:+14155550132@pbx.example.com;user=phone", "US", SF, None),
    ("sips:+14155550132@pbx.example.com", "US", SF, None),
    ("SIP:4155550132@pbx.example.com", "US", SF, None),
    ('"Ada Lovelace" <sip:+14155550132@pbx.example.com>;tag=as6a1', "US", SF, None),
    ("<sip:%2B14155550132@pbx.example.com>", "US", SF, None),
    ("Ada <tel:+14155550132>", "US", SF, None),
    ("\u202a+1 415 555 0132\u202c", "US", SF, None),
    ("  +1 415 555 0132\n", "US", SF, None),
    (fullwidth("04155550132"), "US", None, None),  # a leading 0 is no US number
    (fullwidth("4155550132"), "US", SF, None),
    ("030 1234567", "DE", BERLIN, None),
    ("030/1234567", "DE", BERLIN, None),
    ("+49 30 1234567", "US", BERLIN, None),
    ("+49 (0)30 1234567", "US", BERLIN, None),
    ("0049 30 1234567", "DE", BERLIN, None),
    ("0049 30 1234567", "US", BERLIN, None),
    ("011 49 30 1234567", "US", BERLIN, None),
    ("00 49 30 1234567-12", "DE", BERLIN + "12", None),  # a German direct-dial suffix is part of the number
    ("020 7946 0958", "GB", LONDON, None),
    ("+44 (0)20 7946 0958", "US", LONDON, None),
    ("00 44 20 7946 0958", "US", LONDON, None),
    ("011 44 20 7946 0958", "US", LONDON, None),
    ("+44 20 7946 0958 x3", "GB", LONDON, "3"),
    ("07700 900123", "GB", "+447700900123", None),  # Ofcom drama range: possible, not valid
]


@pytest.mark.parametrize(("raw", "region", "e164", "extension"), NUMBER_FORMS)
def test_number_forms_read_to_e164(raw: str, region: str, e164: str | None, extension: str | None) -> None:
    """Every form a phone system or a person writes reads to the one E.164, extension apart."""
    caller = parse_caller(raw, region)
    assert (caller.e164, caller.extension, caller.withheld) == (e164, extension, False)


@pytest.mark.parametrize(("raw", "region", "e164", "extension"), NUMBER_FORMS)
def test_normalize_agrees_with_parse_caller_on_every_form(
    raw: str, region: str, e164: str | None, extension: str | None
) -> None:
    """The index of stored numbers reads each form exactly as an incoming call is read."""
    assert normalize(raw, region) == e164


def test_fields_of_a_us_number() -> None:
    """A valid US number carries every connector parameter and its place and kind."""
    caller = parse_caller("+1 (415) 555-0132 x12", "US")
    assert caller.e164 == SF
    assert caller.national == "(415) 555-0132 ext. 12"
    assert caller.international == "+1 415-555-0132 ext. 12"
    assert (caller.digits, caller.country_code, caller.region) == ("4155550132", 1, "US")
    assert (caller.valid, caller.withheld) == (True, False)
    assert caller.location == "San Francisco, CA"
    assert caller.type == "fixed_line_or_mobile"
    assert caller.params() == {
        "e164": SF,
        "national": "(415) 555-0132 ext. 12",
        "digits": "4155550132",
        "country_code": "1",
        "region": "US",
    }


def test_fields_of_a_german_number() -> None:
    """A Berlin number dialled from the US keeps Germany's own national form."""
    caller = parse_caller("011 49 30 1234567", "US")
    assert (caller.national, caller.international) == ("030 1234567", "+49 30 1234567")
    assert (caller.digits, caller.country_code, caller.region) == ("301234567", 49, "DE")
    assert (caller.location, caller.type, caller.valid) == ("Berlin", "fixed_line", True)


@pytest.mark.parametrize(
    ("raw", "region", "kind"),
    [
        ("+44 7400 123456", "US", "mobile"),
        ("0800 123 4567", "DE", "toll_free"),
        ("+1 800 555 0199", "US", "toll_free"),
        ("+44 20 7946 0958", "US", "fixed_line"),
    ],
)
def test_number_type_names(raw: str, region: str, kind: str) -> None:
    """The number's type is phonenumbers' type in lower snake case."""
    assert parse_caller(raw, region).type == kind


def test_possible_but_invalid_number_keeps_its_e164() -> None:
    """A possible number outside any allocated range is still looked up, marked not valid."""
    caller = parse_caller("+1 123 456 7890", "US")
    assert (caller.e164, caller.valid, caller.withheld) == ("+11234567890", False, False)
    assert (caller.country_code, caller.region, caller.location) == (1, "US", None)
    assert caller.type == "unknown"


@pytest.mark.parametrize(
    "raw",
    [
        None,
        "",
        "   ",
        "\t",
        "anonymous",
        "Anonymous",
        "ANONYMOUS",
        "restricted",
        "Private",
        "private number",
        "unknown",
        "Unavailable",
        "withheld",
        "blocked",
        "+266696687",
        "266696687",
        "+7378742833",
        "+2562533",
        "+8656696",
        "+86282452253",
        "client:alice",
        "client:agent_7",
        "sip:anonymous@anonymous.invalid",
        '"Anonymous" <sip:anonymous@anonymous.invalid>;tag=1',
        "0000000000",
        "+0000",
    ],
)
def test_withheld_callers(raw: str | None) -> None:
    """Withheld markers of every phone system mean a withheld caller, with nothing to look up."""
    caller = parse_caller(raw, "US")
    assert (caller.withheld, caller.e164, caller.valid, caller.digits) == (True, None, False, "")
    assert normalize(raw or "", "US") is None


@pytest.mark.parametrize(
    ("raw", "digits"),
    [
        ("hello", ""),
        ("☎️📞😀", ""),
        ("4" * 200, "4" * 32),
        ("+1415\x00555\x070132", "14155550132"),
        ("\x00+14155550132", "14155550132"),
        ("\x1c4155550132", "4155550132"),
        ("4155550132\x1fx12", "415555013212"),
        ("'; DROP TABLE calls;--", ""),
        ("+14155550132'; DROP TABLE calls;--", "14155550132"),
        ("1001", "1001"),
        ("12", "12"),
        ("+999 123 456", "999123456"),
        ("sip:alice@example.com", ""),
        ("x" * 10_000 + "4155550132", "4155550132"),
    ],
)
def test_junk_is_invalid_and_keeps_its_digits(raw: str, digits: str) -> None:
    """Text that is no possible number pops as not valid, with the digits as given for connectors."""
    caller = parse_caller(raw, "US")
    assert (caller.valid, caller.withheld, caller.e164, caller.digits) == (False, False, None, digits)
    assert (caller.national, caller.country_code, caller.region) == (None, None, None)
    assert normalize(raw, "US") is None


def test_raw_is_kept_but_bounded() -> None:
    """The raw text is shown as sent, cut so a hostile sender cannot bloat every card."""
    assert parse_caller(" (415) 555-0132 ", "US").raw == " (415) 555-0132 "
    assert len(parse_caller("9" * 5000, "US").raw) == 256


@pytest.mark.parametrize(
    ("region", "national"),
    [("us", SF), ("De", "+494155550132"), ("XX", None), ("", None), ("001", None)],
)
def test_odd_default_regions_never_raise(region: str, national: str | None) -> None:
    """Any case of a region works; an unknown region still reads + numbers but no national one."""
    assert parse_caller("+14155550132", region).e164 == SF
    assert normalize("+14155550132", region) == SF
    assert parse_caller("(415) 555-0132", region).e164 == national
    assert normalize("(415) 555-0132", region) == national


def test_warm_loads_the_geocoder_with_the_regions_example() -> None:
    """Warming up reads the region's example number with its place, so the first call is quick."""
    caller = warm("DE")
    assert (caller.valid, caller.region, caller.location) == (True, "DE", "Berlin")
    assert warm("XX").withheld


def test_is_region() -> None:
    """Only regions phonenumbers knows are accepted as a default region."""
    assert is_region("US") and is_region("de")
    assert not is_region("XX") and not is_region("")


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        ("+14155550132", "***0132"),
        ("(415) 555-0132 x12", "***3212"),
        ("4155550132", "***0132"),
        ("1001", "***"),
        ("anonymous", "***"),
        ("", ""),
        (None, ""),
    ],
)
def test_mask_shows_only_the_last_four_digits(number: str | None, masked: str) -> None:
    """Logs see at most the last four digits of a number."""
    assert mask(number) == masked


# --- properties ----------------------------------------------------------------

REGIONS = sorted(phonenumbers.SUPPORTED_REGIONS)
# Regions whose national prefixes rewrite digits or keep leading zeros: the fast path's hard cases.
TRICKY = ["US", "CA", "GB", "DE", "FR", "IT", "AR", "BR", "MX", "AU", "RU", "JP", "IN", "AG", "CN"]
regions = st.one_of(st.sampled_from(TRICKY), st.sampled_from(REGIONS))


@st.composite
def phone_like(draw: st.DrawFn) -> str:
    """Digit strings written the ways people and PBXs write them."""
    prefix = draw(
        st.sampled_from(
            [
                "",
                "",
                "+",
                "00",
                "011",
                "0",
                "1",
                "(",
                "+1 ",
                "+44 ",
                "+49 ",
                "0049 ",
                "0039 0",
                "00 1 ",
            ]
        )
    )
    groups = draw(st.lists(st.text("0123456789", min_size=1, max_size=5), min_size=1, max_size=5))
    seps = draw(st.lists(st.sampled_from([" ", "-", ".", "", ") ", " ("]), min_size=len(groups)))
    body = "".join(g + s for g, s in zip(groups, seps, strict=False)).strip()
    ext = draw(st.sampled_from(["", "", "", " x12", " ext. 7", "#3", ";ext=99", " X 123456"]))
    return prefix + body + ext


any_text = st.one_of(st.text(max_size=80), phone_like())


@PROPERTY
@given(raw=any_text, region=regions)
@example(raw="+80000000000", region="US")  # international freephone: valid, but no country
def test_parse_caller_is_total_and_consistent(raw: str, region: str) -> None:
    """Any text gives a caller number whose fields agree with each other."""
    caller = parse_caller(raw, region)
    if caller.withheld:
        assert caller.e164 is None and not caller.valid
    if caller.e164 is not None:
        assert E164.fullmatch(caller.e164)
        assert caller.e164 == f"+{caller.country_code}{caller.digits}"
    else:
        assert caller.national is None and caller.country_code is None
    if caller.valid:
        assert caller.e164 is not None
        # +800, +808, +870, +881 to +883, +888, +979 belong to no country (phonenumbers' "001")
        assert (caller.region is not None) != (caller.country_code in COUNTRY_CODES_FOR_NON_GEO_REGIONS)
    assert caller.digits == "" or (caller.digits.isascii() and caller.digits.isdigit())
    assert len(caller.digits) <= 32


@PROPERTY
@given(raw=any_text, region=regions)
def test_normalize_equals_parse_caller(raw: str, region: str) -> None:
    """The index and the incoming call read every text to the same E.164."""
    assert normalize(raw, region) == parse_caller(raw, region).e164


def _example_numbers() -> list[phonenumbers.PhoneNumber]:
    types = [
        PhoneNumberType.FIXED_LINE,
        PhoneNumberType.MOBILE,
        PhoneNumberType.TOLL_FREE,
        PhoneNumberType.PREMIUM_RATE,
        PhoneNumberType.VOIP,
        PhoneNumberType.PERSONAL_NUMBER,
        PhoneNumberType.UAN,
    ]
    found = [phonenumbers.example_number_for_type(r, t) for r in REGIONS for t in types]
    found += [
        phonenumbers.example_number_for_non_geo_entity(c)
        for c in phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS
    ]
    return [n for n in found if n is not None]


EXAMPLES = _example_numbers()
FORMATS = [
    PhoneNumberFormat.E164,
    PhoneNumberFormat.INTERNATIONAL,
    PhoneNumberFormat.RFC3966,
    PhoneNumberFormat.NATIONAL,
]


def _written(number: phonenumbers.PhoneNumber, fmt: int, dialler: str) -> tuple[str, str]:
    """The number as written in ``fmt``, and the region whose conventions it assumes."""
    home = phonenumbers.region_code_for_number(number)
    if fmt == PhoneNumberFormat.NATIONAL:
        return phonenumbers.format_number(number, fmt), home
    if fmt == -1:  # as dialled from another country, with that country's IDD
        return phonenumbers.format_out_of_country_calling_number(number, dialler), dialler
    return phonenumbers.format_number(number, fmt), dialler


# Not AG: it reads Canada's UAN example "1 310-1234" as an Antiguan number, an
# ambiguity of the numbering plans themselves (phonenumbers agrees with us).
DIALLERS = [r for r in TRICKY if r != "AG"]


@PROPERTY
@given(
    number=st.sampled_from(EXAMPLES),
    fmt=st.sampled_from([*FORMATS, -1]),
    dialler=st.sampled_from(DIALLERS),
)
def test_formatted_numbers_round_trip(number: phonenumbers.PhoneNumber, fmt: int, dialler: str) -> None:
    """A valid number written in any phonenumbers format reads back to the same E.164."""
    e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
    text, region = _written(number, fmt, dialler)
    if region == "001":  # non-geographic numbers have no national dialling of their own
        text, region = phonenumbers.format_number(number, PhoneNumberFormat.E164), dialler
    caller = parse_caller(text, region)
    assert (caller.e164, caller.valid) == (e164, True)
    assert normalize(text, region) == e164


def test_every_example_number_round_trips_through_normalize() -> None:
    """normalize reads every region's example numbers, in every format, as phonenumbers does."""
    wrong = []
    for number in EXAMPLES:
        e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
        for fmt in [*FORMATS, -1]:
            for dialler in ("US", "DE"):
                text, region = _written(number, fmt, dialler)
                if region != "001" and normalize(text, region) != e164:
                    wrong.append((text, region, e164, normalize(text, region)))
    assert wrong == []
