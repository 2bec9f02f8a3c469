"""The ways in: a caller's number as a phone system sent it, a stored number, a region."""

from __future__ import annotations

import functools

import phonenumbers

from screenpop.model import CallerNumber
from screenpop.phone.classify import MAX_RAW, as_text, classify
from screenpop.phone.describe import described, unparsed, withheld
from screenpop.phone.fast_path import fast_e164
from screenpop.phone.parsing import e164_of, parse_number


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
    text = as_text(raw)
    shown = text[:MAX_RAW]
    kind, candidate = classify(text)
    if kind == "withheld":
        return withheld(shown)
    number = parse_number(candidate, default_region) if kind == "number" else None
    if number is None or not phonenumbers.is_possible_number(number):
        return unparsed(shown, candidate if kind == "number" else text)
    return described(shown, number)


def normalize(raw: str, default_region: str) -> str | None:
    """The E.164 form of a free-form stored number, or None when it has none.

    Equal to ``parse_caller(raw, default_region).e164`` for every input; plain
    digit strings skip ``phonenumbers.parse`` (see ``fast_path``).
    """
    text = as_text(raw)
    handled, e164 = fast_e164(text, default_region)
    if handled:
        return e164
    kind, candidate = classify(text)
    if kind != "number":
        return None
    number = parse_number(candidate, default_region)
    if number is None or not phonenumbers.is_possible_number(number):
        return None
    return e164_of(number)


def is_region(code: str) -> bool:
    """Whether ``code`` is a region phonenumbers knows (for validating ``numbers.default_region``)."""
    return isinstance(code, str) and code.upper() in phonenumbers.SUPPORTED_REGIONS


def warm(default_region: str) -> CallerNumber:
    """Load the geocoder and the region's metadata now, so the first call is not the slow one.

    The geocoder's import alone takes ~0.4 s (more on a busy machine); the
    app calls this at startup. Returns the region's example number, read.
    """
    example = phonenumbers.example_number(default_region.upper()) if is_region(default_region) else None
    text = e164_of(example) if example is not None else ""
    return parse_caller(text, default_region)
