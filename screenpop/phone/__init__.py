"""Caller numbers: whatever a phone system or a legacy column holds -> E.164 and its facts.

Everything here is pure and total: a phone system may send any text in its
``From`` field, and a customer table may hold anything in its phone column,
so no input makes these functions raise. The reading of a number is
phonenumbers' own (``parse``), wrapped with what phone systems add around it:
withheld markers, SIP and tel URIs, control characters.

``normalize`` builds the index of ``match: normalized`` connectors and runs
over every row of a table, so it has a fast path for plain digit strings
that re-derives phonenumbers' answer from its metadata (~10-25 µs a number
where ``phonenumbers.parse`` alone takes 35-60 µs); anything it is not sure
of goes the slow way. ``tests/test_phone.py`` checks that both ways agree.
"""

from __future__ import annotations

import functools
import importlib
import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import unquote

import phonenumbers
from phonenumbers import NumberParseException, PhoneMetadata, PhoneNumber, PhoneNumberFormat

from screenpop.model import CallerNumber

__all__ = ["is_region", "mask", "normalize", "parse_caller", "warm"]

#: What phone systems put in the caller field when the caller hides the number.
_WITHHELD_WORDS = frozenset(
    {
        "",
        "anonymous",
        "restricted",
        "private",
        "privatenumber",
        "unknown",
        "unavailable",
        "withheld",
        "blocked",
        "outofarea",
        "notavailable",
    }
)
#: Twilio presents withheld callers as these words spelt on a keypad:
#: ANONYMOUS, RESTRICTED, BLOCKED, UNKNOWN, UNAVAILABLE.
_TWILIO_WITHHELD_DIGITS = frozenset(
    {
        "266696687",
        "7378742833",
        "2562533",
        "8656696",
        "86282452253",
    }
)
_MAX_DIGITS = 32
_MAX_RAW = 256
#: phonenumbers refuses longer input anyway; refusing it here keeps regexes bounded.
_MAX_PARSE_INPUT = 250

_SEPARATORS = str.maketrans("", "", " ().-")
_FAST_SHAPE = re.compile(
    r"[ \t\r\n]*(\+?[0-9(][0-9 ().\-]{2,40})(?: *(?:ext\.?|x) *[0-9]{1,6})?[ \t\r\n]*", re.IGNORECASE
)
_FORMAT_CHARS = re.compile("[\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]")
_CONTROL_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_WHITESPACE_CONTROLS = str.maketrans("\t\n\r", "   ")
_ANGLE_URI = re.compile(r"<([^<>]*)>")
_DOUBLE_ZERO = re.compile(r"^[^0-9]*0[^0-9]*0(.*)$", re.DOTALL)
_NON_GEO = frozenset({"001", "ZZ"})


# --- public API ------------------------------------------------------------


@functools.lru_cache(maxsize=4096)
def parse_caller(raw: str | None, default_region: str) -> CallerNumber:
    """Read a caller's number as a phone system sent it; never raises.

    Withheld callers get ``withheld=True`` and no E.164 (no connector should
    run); text that is no possible number gets ``valid=False`` and keeps its
    digits so connectors can still try them; a possible but invalid number
    (fictional ranges, new allocations the metadata does not know yet) keeps
    its E.164 so lookups still work, with ``valid=False``.

    Results are frozen and cached (the same customers call again and again,
    and a full parse with the geocoder costs ~0.4 ms on the card's hot path).
    """
    text = _as_text(raw)
    shown = text[:_MAX_RAW]
    kind, candidate = _classify(text)
    if kind == "withheld":
        return _withheld(shown)
    number = _parse(candidate, default_region) if kind == "number" else None
    if number is None or not phonenumbers.is_possible_number(number):
        return _unparsed(shown, candidate if kind == "number" else text)
    return _described(shown, number)


def normalize(raw: str, default_region: str) -> str | None:
    """The E.164 form of a free-form stored number, or None when it has none.

    Equal to ``parse_caller(raw, default_region).e164`` for every input; plain
    digit strings skip ``phonenumbers.parse`` (see the module docstring).
    """
    text = _as_text(raw)
    handled, e164 = _fast_e164(text, default_region)
    if handled:
        return e164
    kind, candidate = _classify(text)
    if kind != "number":
        return None
    number = _parse(candidate, default_region)
    if number is None or not phonenumbers.is_possible_number(number):
        return None
    return _e164(number)


def mask(number: str | None) -> str:
    """A number fit for a log line: only its last four digits stay readable.

    Numbers of four digits or fewer (internal extensions) are masked whole,
    since showing "the last four" would show all of it.
    """
    digits = _digits_of(_as_text(number), 64)
    if not digits:
        return "" if not number else "***"
    return "***" + digits[-4:] if len(digits) > 4 else "***"


def is_region(code: str) -> bool:
    """Whether ``code`` is a region phonenumbers knows (for validating ``numbers.default_region``)."""
    return isinstance(code, str) and code.upper() in phonenumbers.SUPPORTED_REGIONS


def warm(default_region: str) -> CallerNumber:
    """Load the geocoder and the region's metadata now, so the first call is not the slow one.

    The geocoder's import alone takes ~0.4 s (more on a busy machine); the
    app calls this at startup. Returns the region's example number, read.
    """
    example = phonenumbers.example_number(default_region.upper()) if is_region(default_region) else None
    text = _e164(example) if example is not None else ""
    return parse_caller(text, default_region)


# --- reading the text around a number -----------------------------------------


def _as_text(raw: object) -> str:
    """Any input as text: None is empty, a stray int from JSON is its digits."""
    if raw is None:
        return ""
    return raw if isinstance(raw, str) else str(raw)


def _classify(text: str) -> tuple[str, str]:
    """Sort input into withheld / junk / number, and unwrap a number from its URI.

    Returns the kind and the text phonenumbers should read.
    """
    spaced = _FORMAT_CHARS.sub("", text.translate(_WHITESPACE_CONTROLS))
    if _CONTROL_CHARS.search(spaced):
        return "junk", text
    cleaned = spaced.strip()
    if _is_withheld_word(cleaned):
        return "withheld", cleaned
    if len(cleaned) > _MAX_PARSE_INPUT:
        return "junk", cleaned
    candidate = _unwrap_uri(cleaned)
    if candidate is None or _is_withheld_word(candidate.removeprefix("tel:")):
        return "withheld", cleaned
    digits = _digits_of(candidate, _MAX_DIGITS + 1)
    if digits in _TWILIO_WITHHELD_DIGITS or (digits and not digits.strip("0")):
        # All zeros is how several PBXs (Kazoo, some SIP trunks) present a hidden caller.
        return "withheld", cleaned
    return "number", candidate


def _is_withheld_word(text: str) -> bool:
    squeezed = text.lower().replace(" ", "").replace("_", "").replace("-", "")
    return squeezed in _WITHHELD_WORDS


def _unwrap_uri(text: str) -> str | None:
    """The dialable part of a SIP/tel URI or Twilio identity; None for a client identity.

    ``"Ada" <sip:+14155550132@pbx;user=phone>`` -> ``tel:+14155550132``, which
    phonenumbers reads as RFC 3966 (``phone-context`` and ``ext`` included).
    """
    inside = _ANGLE_URI.search(text)
    if inside:
        text = inside.group(1).strip()
    scheme, sep, rest = text.partition(":")
    scheme = scheme.lower()
    if not sep or scheme not in ("sip", "sips", "tel", "client"):
        return text
    if scheme == "client":
        return None
    if scheme == "tel":
        return "tel:" + rest
    user = unquote(rest.split("@", 1)[0])
    return "tel:" + user if user else ""


def _digits_of(text: str, limit: int) -> str:
    """The decimal digits of ``text`` as ASCII (any script's digits), at most ``limit``."""
    out: list[str] = []
    for ch in text:
        if ch.isdecimal():
            out.append(str(unicodedata.decimal(ch, 0)))
            if len(out) >= limit:
                break
    return "".join(out)


# --- the slow, general way: phonenumbers.parse --------------------------------


def _parse(text: str, region: str) -> PhoneNumber | None:
    """phonenumbers' reading of ``text``, with ``00`` accepted as an international prefix.

    ``00`` is the IDD of most of the world, and legacy tables in a ``US``
    installation hold European numbers written that way; it is tried only
    when the region's own reading gives no valid number.
    """
    number = _try_parse(text, region)
    match = _DOUBLE_ZERO.match(text)
    if match is None or text.lstrip().startswith("+"):
        return number
    if number is not None and phonenumbers.is_valid_number(number):
        return number
    other = _try_parse("+" + match.group(1), region)
    if other is None:
        return number
    if phonenumbers.is_valid_number(other):
        return other
    if number is None or not phonenumbers.is_possible_number(number):
        return other
    return number


def _try_parse(text: str, region: str) -> PhoneNumber | None:
    try:
        number: PhoneNumber = phonenumbers.parse(text, region.upper() if isinstance(region, str) else None)
    except NumberParseException:
        return None
    except Exception:  # a phonenumbers bug on odd input must not become a 500
        return None
    return number


def _e164(number: PhoneNumber) -> str:
    return str(phonenumbers.format_number(number, PhoneNumberFormat.E164))


def _withheld(raw: str) -> CallerNumber:
    return CallerNumber(
        raw=raw,
        e164=None,
        national=None,
        international=None,
        digits="",
        country_code=None,
        region=None,
        valid=False,
        withheld=True,
    )


def _unparsed(raw: str, text: str) -> CallerNumber:
    return CallerNumber(
        raw=raw,
        e164=None,
        national=None,
        international=None,
        digits=_digits_of(text, _MAX_DIGITS),
        country_code=None,
        region=None,
        valid=False,
        withheld=False,
    )


def _described(raw: str, number: PhoneNumber) -> CallerNumber:
    valid = bool(phonenumbers.is_valid_number(number))
    return CallerNumber(
        raw=raw,
        e164=_e164(number),
        national=phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL),
        international=phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL),
        digits=phonenumbers.national_significant_number(number),
        country_code=number.country_code or None,
        region=_region_of(number),
        valid=valid,
        withheld=False,
        location=_location(number) if valid else None,
        type=_type_name(number),
        extension=number.extension or None,
    )


def _region_of(number: PhoneNumber) -> str | None:
    """The number's region; for a merely possible number, its country code's main region."""
    region = phonenumbers.region_code_for_number(number)
    if region is None:
        region = phonenumbers.region_code_for_country_code(number.country_code or 0)
    return None if region in _NON_GEO else str(region)


def _type_name(number: PhoneNumber) -> str:
    name = phonenumbers.PhoneNumberType.to_string(phonenumbers.number_type(number))
    return str(name).lower() if name else "unknown"


def _location(number: PhoneNumber) -> str | None:
    """Where the number is registered ("San Francisco, CA"), in English.

    The geocoder's data takes ~0.4 s to import, so it is imported on first
    use (``sys.modules`` keeps it) rather than by every CLI command; see ``warm``.
    """
    geocoder = importlib.import_module("phonenumbers.geocoder")
    try:
        description = geocoder.description_for_number(number, "en")
    except Exception:  # a geocoder bug must not lose the card
        return None
    return str(description) or None


# --- the fast way for plain digit strings -------------------------------------


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


def _fast_e164(text: str, region: str) -> tuple[bool, str | None]:
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
    if len(digits) < 3 or digits in _TWILIO_WITHHELD_DIGITS or not digits.strip("0"):
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
    """``00`` in a region that dials abroad otherwise: the same choice as ``_parse`` makes."""
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
