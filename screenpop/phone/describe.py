"""What a read number is: its formats, region, location and type, as a CallerNumber."""

from __future__ import annotations

import importlib

import phonenumbers
from phonenumbers import PhoneNumber, PhoneNumberFormat

from screenpop.model import CallerNumber
from screenpop.phone.classify import MAX_DIGITS, digits_of
from screenpop.phone.parsing import e164_of

_NON_GEO = frozenset({"001", "ZZ"})


def withheld(raw: str) -> CallerNumber:
    """A caller who hides the number: no E.164 and no digits, so no connector runs."""
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


def unparsed(raw: str, text: str) -> CallerNumber:
    """Text that is no possible number; its digits stay so connectors can still try them."""
    return CallerNumber(
        raw=raw,
        e164=None,
        national=None,
        international=None,
        digits=digits_of(text, MAX_DIGITS),
        country_code=None,
        region=None,
        valid=False,
        withheld=False,
    )


def described(raw: str, number: PhoneNumber) -> CallerNumber:
    """A possible number with what phonenumbers knows of it; location only for a valid one."""
    valid = bool(phonenumbers.is_valid_number(number))
    return CallerNumber(
        raw=raw,
        e164=e164_of(number),
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
    use (``sys.modules`` keeps it) rather than by every CLI command; see ``reading.warm``.
    """
    geocoder = importlib.import_module("phonenumbers.geocoder")
    try:
        description = geocoder.description_for_number(number, "en")
    except Exception:  # a geocoder bug must not lose the card
        return None
    return str(description) or None
