"""The text around a number: withheld markers, SIP and tel URIs, control characters.

A phone system may send any text in its ``From`` field and a customer table
may hold anything in its phone column; ``classify`` sorts it into withheld,
junk or a number and unwraps the number from its URI, never raising.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import unquote

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
TWILIO_WITHHELD_DIGITS = frozenset(
    {
        "266696687",
        "7378742833",
        "2562533",
        "8656696",
        "86282452253",
    }
)
MAX_DIGITS = 32
MAX_RAW = 256
#: phonenumbers refuses longer input anyway; refusing it here keeps regexes bounded.
_MAX_PARSE_INPUT = 250

_FORMAT_CHARS = re.compile("[\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]")
_CONTROL_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_WHITESPACE_CONTROLS = str.maketrans("\t\n\r", "   ")
_ANGLE_URI = re.compile(r"<([^<>]*)>")


def as_text(raw: object) -> str:
    """Any input as text: None is empty, a stray int from JSON is its digits."""
    if raw is None:
        return ""
    return raw if isinstance(raw, str) else str(raw)


def classify(text: str) -> tuple[str, str]:
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
    digits = digits_of(candidate, MAX_DIGITS + 1)
    if digits in TWILIO_WITHHELD_DIGITS or (digits and not digits.strip("0")):
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


def digits_of(text: str, limit: int) -> str:
    """The decimal digits of ``text`` as ASCII (any script's digits), at most ``limit``."""
    out: list[str] = []
    for ch in text:
        if ch.isdecimal():
            out.append(str(unicodedata.decimal(ch, 0)))
            if len(out) >= limit:
                break
    return "".join(out)
