"""The fast way for plain digit strings: phonenumbers' answer re-derived from its metadata.

``normalize`` builds the index of ``match: normalized`` connectors and runs
over every row of a table, so plain digit strings skip ``phonenumbers.parse``
(~10-25 µs a number where ``phonenumbers.parse`` alone takes 35-60 µs);
anything this module is not sure of goes the slow way (``parsing``).
``tests/test_phone.py`` checks that both ways agree.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import phonenumbers
from phonenumbers import PhoneMetadata, PhoneNumber

from screenpop.phone.classify import TWILIO_WITHHELD_DIGITS

_SEPARATORS = str.maketrans("", "", " ().-")
_FAST_SHAPE = re.compile(
    r"[ \t\r\n]*(\+?[0-9(][0-9 ().\-]{2,40})(?: *(?:ext\.?|x) *[0-9]{1,6})?[ \t\r\n]*", re.IGNORECASE
)


@dataclass(frozen=True, slots=True)
class _Plan:
    """What ``phonenumbers.parse`` consults about one region, compiled once."""

    country_code: int
    idd: re.Pattern[str] | None
    national_prefix: re.Pattern[str] | None
    transforms: bool
    general: re.Pattern[str] | None
    lengths: tuple[int, ...]
    local_lengths: frozenset[int]


def _plan_from(metadata: PhoneMetadata) -> _Plan:
    desc = metadata.general_desc
    pattern = desc.national_number_pattern if desc is not None else None
    return _Plan(
        country_code=metadata.country_code or 0,
        idd=re.compile(metadata.international_prefix) if metadata.international_prefix else None,
        national_prefix=(
            re.compile(metadata.national_prefix_for_parsing) if metadata.national_prefix_for_parsing else None
        ),
        transforms=bool(metadata.national_prefix_transform_rule),
        general=re.compile(pattern) if pattern else None,
        lengths=tuple(desc.possible_length) if desc is not None else (),
        local_lengths=frozenset(desc.possible_length_local_only if desc is not None else ()),
    )


# Derived from phonenumbers' immutable metadata and bounded by the number of
# regions (~250) and country codes (~215): a constant table built lazily, not state.
@functools.cache
def _region_plan(region: str) -> _Plan | None:
    metadata = PhoneMetadata.metadata_for_region(region, None)
    return _plan_from(metadata) if metadata is not None else None


@functools.cache
def _country_plan(country_code: int) -> _Plan | None:
    region = phonenumbers.region_code_for_country_code(country_code)
    metadata = PhoneMetadata.metadata_for_region_or_calling_code(country_code, region)
    return _plan_from(metadata) if metadata is not None else None


def fast_e164(text: str, region: str) -> tuple[bool, str | None]:
    """``(True, answer)`` when the text is plain digits we can read exactly as phonenumbers does.

    ``(False, None)`` sends the caller the slow way: anything with letters or
    URIs, withheld markers, ``00`` where the region does not dial it, and
    national prefixes that rewrite digits (Argentina, Brazil, ...).
    """
    shape = _FAST_SHAPE.fullmatch(text) if len(text) <= 64 else None
    if shape is None or "+" in shape.group(1)[1:]:
        return False, None
    digits = shape.group(1).translate(_SEPARATORS)
    international = digits.startswith("+")
    digits = digits.lstrip("+")
    if len(digits) < 3 or digits in TWILIO_WITHHELD_DIGITS or not digits.strip("0"):
        return False, None
    if digits.startswith("00") and not shape.group(1).startswith("00"):
        return False, None
    if international:
        split = _split_international(digits)
    else:
        split = _split_national(digits, region.upper() if isinstance(region, str) else "")
    return (False, None) if split is None else (True, _possible_e164(*split))


def _split_international(digits: str) -> tuple[int, str] | None:
    """Country code and NSN of the digits after a ``+`` or IDD, as phonenumbers splits them."""
    if len(digits) <= 2 or digits[0] == "0":
        return None
    for size in (1, 2, 3):
        code = int(digits[:size])
        if code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            plan = _country_plan(code)
            nsn = None if plan is None else _strip_national_prefix(digits[size:], plan)
            return None if nsn is None else (code, nsn)
    return None


def _split_national(digits: str, region: str) -> tuple[int, str] | None:
    """Country code and NSN of a number dialled from ``region`` (IDD, own code or national)."""
    plan = _region_plan(region) if region in phonenumbers.SUPPORTED_REGIONS else None
    if plan is None:
        return None
    idd = plan.idd.match(digits) if plan.idd is not None else None
    if idd is not None and digits[idd.end() : idd.end() + 1] != "0":
        if digits.startswith("00") and idd.end() != 2:
            return None
        return _split_international(digits[idd.end() :])
    if digits.startswith("00"):
        return _split_double_zero(digits, plan)
    if digits.startswith(str(plan.country_code)):
        return _split_own_code(digits, plan)
    nsn = _strip_national_prefix(digits, plan)
    return None if nsn is None else (plan.country_code, nsn)


def _split_double_zero(digits: str, plan: _Plan) -> tuple[int, str] | None:
    """``00`` in a region that dials abroad otherwise: the same choice as ``parse_number`` makes."""
    nsn = _strip_national_prefix(digits, plan)
    if nsn is None:
        return None
    national = (plan.country_code, nsn)
    abroad = _split_international(digits[2:])
    if _possible_e164(*national) is None:  # an impossible number is never valid
        return abroad
    if _is_valid(*national):
        return national
    if abroad is None:
        return None
    return abroad if _is_valid(*abroad) else national


def _is_valid(country_code: int, nsn: str) -> bool:
    """phonenumbers' validity of a split number, leading zeros (Italy) included."""
    number = PhoneNumber(country_code=country_code, national_number=int(nsn))
    zeros = min(len(nsn) - len(nsn.lstrip("0")), len(nsn) - 1)
    if zeros:
        number.italian_leading_zero = True
        if zeros != 1:
            number.number_of_leading_zeros = zeros
    return bool(phonenumbers.is_valid_number(number))


def _split_own_code(digits: str, plan: _Plan) -> tuple[int, str] | None:
    """A national number that starts with the region's own country code ("1 415 555 0132").

    phonenumbers takes the code off when that turns an unviable number into
    a viable one, or when the number is too long with it.
    """
    code = plan.country_code
    rest = _strip_prefix(digits[len(str(code)) :], plan)
    if rest is None:
        return None
    if (not _viable(digits, plan) and _viable(rest, plan)) or (_length_verdict(digits, plan) == "too_long"):
        country = _country_plan(code)
        nsn = None if country is None else _strip_national_prefix(rest, country)
    else:
        nsn = _strip_national_prefix(digits, plan)
    return None if nsn is None else (code, nsn)


def _strip_prefix(number: str, plan: _Plan) -> str | None:
    """``number`` without its trunk prefix (``0``, ``1``), unless that makes it unviable.

    None where the prefix rewrites digits: the slow way decides those.
    """
    match = plan.national_prefix.match(number) if number and plan.national_prefix else None
    if match is None:
        return number
    if plan.transforms and match.groups() and match.groups()[-1] is not None:
        return None
    stripped = number[match.end() :]
    if _viable(number, plan) and not _viable(stripped, plan):
        return number
    return stripped


def _strip_national_prefix(number: str, plan: _Plan) -> str | None:
    """The NSN as phonenumbers settles it: the prefix stays off only if enough digits remain."""
    if len(number) < 2:
        return None
    stripped = _strip_prefix(number, plan)
    if stripped is None:
        return None
    if _length_verdict(stripped, plan) in ("too_short", "local_only", "invalid_length"):
        stripped = number
    return _checked_length(stripped)


def _checked_length(nsn: str) -> str | None:
    """phonenumbers rejects NSNs shorter than 2 or longer than 17 digits; let it say so."""
    return nsn if 2 <= len(nsn) <= 17 else None


def _viable(number: str, plan: _Plan) -> bool:
    return plan.general is not None and plan.general.fullmatch(number) is not None


def _length_verdict(nsn: str, plan: _Plan) -> str:
    """phonenumbers' length test for an unknown number type, verdict by verdict."""
    size = len(nsn)
    if size in plan.local_lengths:
        return "local_only"
    if not plan.lengths or plan.lengths[-1] < size:
        return "too_long"
    if plan.lengths[0] > size:
        return "too_short"
    return "possible" if size in plan.lengths else "invalid_length"


def _possible_e164(country_code: int, nsn: str) -> str | None:
    plan = _country_plan(country_code)
    if plan is None or _length_verdict(nsn, plan) not in ("possible", "local_only"):
        return None
    return f"+{country_code}{nsn}"


#: A stored cell of digits, spaces and ``( ) . -`` only (an optional leading ``+``): no label, no
#: extension, no second number, so ``stored_numbers`` reads it exactly as ``fast_e164`` does.
_PLAIN_CELL = re.compile(r" *\+?[0-9(][0-9 ().\-]{2,40} *")
#: A prefix pattern is decided on a number's first digits only when it reads at most this many.
_MAX_PREFIX_WIDTH = 8


def fast_cell_e164(text: str, region: str) -> tuple[bool, str | None]:
    """``fast_e164`` for a plain stored cell, with its prefix decisions remembered per leading digits.

    A table of 10^7 rows holds 10^7 different numbers but only a few hundred
    different first digits; whether the IDD, a trunk prefix or the region's
    own code applies depends only on those (``_prefix_width``), so the regexes
    run once per distinct head instead of once per row. ``(False, None)``
    sends the cell the ordinary way; the answer is otherwise ``fast_e164``'s.
    """
    if _PLAIN_CELL.fullmatch(text) is None:
        return False, None
    body = text.strip(" ")
    digits = body.translate(_SEPARATORS)
    if digits.startswith("+"):
        return _fast_international(digits[1:])
    if len(digits) < 3 or digits in TWILIO_WITHHELD_DIGITS or not digits.strip("0"):
        return False, None
    if digits.startswith("00") and not body.startswith("00"):
        return False, None
    rule = _national_rule(region)
    head = _national_head(rule.region, digits[: rule.width]) if rule is not None else ""
    if rule is not None and head == "plain" and 2 <= len(digits) <= 17:
        return True, (f"+{rule.code}{digits}" if len(digits) in rule.accepted else None)
    if rule is not None and head == "own code":
        rest = digits[len(str(rule.code)) :]
        if _own_code_is_plain(rule, digits, rest):
            return True, (f"+{rule.code}{rest}" if len(rest) in rule.accepted else None)
    region = region.upper() if isinstance(region, str) else ""
    split = _split_national(digits, region)  # what fast_e164 does after the same checks
    return (False, None) if split is None else (True, _possible_e164(*split))


def _fast_international(digits: str) -> tuple[bool, str | None]:
    """After a ``+``: the country code by its first digits, the NSN untouched when no trunk prefix applies."""
    if len(digits) < 3 or digits in TWILIO_WITHHELD_DIGITS or not digits.strip("0"):
        return False, None
    found = None if digits[0] == "0" else _code_of(digits[:3])
    if found is None:
        return False, None
    size, code = found
    rest = digits[size:]
    width = _country_width(code)
    if width is not None and _country_is_plain(code, rest[:width]) and 2 <= len(rest) <= 17:
        return True, (f"+{code}{rest}" if len(rest) in _accepted_lengths(code) else None)
    split = _split_international(digits)
    return (False, None) if split is None else (True, _possible_e164(*split))


def _pattern_width(pattern: re.Pattern[str] | None) -> int | None:
    """The most characters an anchored match can read; None when it may look further (or anywhere)."""
    if pattern is None:
        return 0
    source = pattern.pattern
    if any(mark in source for mark in ("$", "^", "\\b", "\\B", "\\A", "\\Z")) or "(?" in source.replace(
        "(?:", ""
    ):
        return None  # an assertion looks past what the match consumes
    high = re._parser.parse(source).getwidth()[1]  # type: ignore[attr-defined]
    return int(high) if high <= _MAX_PREFIX_WIDTH else None


@functools.cache
def _national_width(region: str) -> int | None:
    """How many leading digits decide whether a national number of ``region`` is read untouched."""
    plan = _region_plan(region)
    if plan is None:
        return None
    widths = (_pattern_width(plan.idd), _pattern_width(plan.national_prefix))
    if None in widths:
        return None
    return max(2, len(str(plan.country_code)), *(w for w in widths if w is not None))


@dataclass(frozen=True, slots=True)
class _Rule:
    """What decides a national number of one region on its leading digits (``fast_cell_e164``)."""

    region: str
    width: int
    """How many leading digits decide the IDD, ``00``, own code and trunk prefix."""
    code: int
    accepted: frozenset[int]
    """The NSN lengths ``_possible_e164`` accepts for ``code``."""
    too_long_from: int
    """From this length on (unless a local-only length), the region calls a number too long."""
    local_lengths: frozenset[int]
    rest_width: int | None
    """Leading digits after the own code that decide both trunk prefixes; None: undecidable."""


@functools.lru_cache(maxsize=1024)
def _national_rule(given: str) -> _Rule | None:
    """The rule of a region as given (any case); None when prefixes cannot be decided on leading digits."""
    region = given.upper() if isinstance(given, str) else ""
    width = _national_width(region) if region in phonenumbers.SUPPORTED_REGIONS else None
    plan = _region_plan(region) if width is not None else None
    if width is None or plan is None:
        return None
    country = _country_plan(plan.country_code)
    widths = (_pattern_width(plan.national_prefix), _country_width(plan.country_code))
    return _Rule(
        region,
        width,
        plan.country_code,
        _accepted_lengths(plan.country_code),
        plan.lengths[-1] + 1 if plan.lengths else 0,
        plan.local_lengths,
        None if country is None or None in widths else max(w or 0 for w in widths),
    )


@functools.lru_cache(maxsize=1 << 16)
def _national_head(region: str, head: str) -> str:
    """``plain`` (no IDD, ``00``, own code or trunk prefix), ``own code``, or "" (the full way)."""
    plan = _region_plan(region)
    if plan is None or head.startswith("00"):
        return ""
    if plan.idd is not None and plan.idd.match(head) is not None:
        return ""
    if head.startswith(str(plan.country_code)):
        return "own code"
    trunk = plan.national_prefix is not None and plan.national_prefix.match(head) is not None
    return "" if trunk else "plain"


def _own_code_is_plain(rule: _Rule, digits: str, rest: str) -> bool:
    """``1 415 555 0132``: too long with the code, so ``_split_own_code`` takes it off; no trunk prefix."""
    if rule.rest_width is None or not 2 <= len(rest) <= 17 or len(digits) in rule.local_lengths:
        return False
    return len(digits) >= rule.too_long_from and _after_own_code_is_plain(
        rule.region, rest[: rule.rest_width]
    )


@functools.lru_cache(maxsize=1 << 16)
def _after_own_code_is_plain(region: str, head: str) -> bool:
    """Neither the region's nor the code's main region's trunk prefix starts ``head``."""
    plan = _region_plan(region)
    country = _country_plan(plan.country_code) if plan is not None else None
    if plan is None or country is None:
        return False
    return not any(
        p is not None and p.match(head) is not None for p in (plan.national_prefix, country.national_prefix)
    )


@functools.lru_cache(maxsize=1024)
def _code_of(head: str) -> tuple[int, int] | None:
    """The country code at the start of three digits, as ``_split_international`` finds it."""
    for size in (1, 2, 3):
        code = int(head[:size])
        if code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            return (size, code) if _country_plan(code) is not None else None
    return None


@functools.cache
def _country_width(code: int) -> int | None:
    plan = _country_plan(code)
    return None if plan is None else _pattern_width(plan.national_prefix)


@functools.cache
def _accepted_lengths(code: int) -> frozenset[int]:
    """The NSN lengths ``_possible_e164`` accepts for ``code`` (possible, or possible locally)."""
    plan = _country_plan(code)
    return frozenset() if plan is None else frozenset(plan.lengths) | plan.local_lengths


@functools.lru_cache(maxsize=1 << 16)
def _country_is_plain(code: int, head: str) -> bool:
    """No trunk prefix at the start of the NSN's first digits (``+44 0 20 ...`` is not plain)."""
    plan = _country_plan(code)
    return plan is not None and not (plan.national_prefix is not None and plan.national_prefix.match(head))
