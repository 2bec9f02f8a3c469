"""The slow, general way: phonenumbers' own ``parse``, with ``00`` accepted as an international prefix."""

from __future__ import annotations

import re

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumber, PhoneNumberFormat

_DOUBLE_ZERO = re.compile(r"^[^0-9]*0[^0-9]*0(.*)$", re.DOTALL)


def parse_number(text: str, region: str) -> PhoneNumber | None:
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


def e164_of(number: PhoneNumber) -> str:
    return str(phonenumbers.format_number(number, PhoneNumberFormat.E164))
