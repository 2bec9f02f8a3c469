"""What anyone may send, made safe to parse and to show.

JSON that cannot become a 500: ``json.loads`` raises more than ``JSONDecodeError`` on hostile input:
``RecursionError`` for deeply nested arrays, a plain ``ValueError`` for an
integer of more than 4,300 digits (CPython's conversion limit). Every body a
client sends is read through ``loads`` so that all of them are a 400 naming
what is wrong, and none is a 500 with a traceback in the log.

Text that cannot steer an agent's screen: a caller name, a connector's data
or a note may hold NUL, ESC or a right-to-left override (U+202E) that
reverses what the agent reads ("Trojan Source", CVE-2021-42574). Before text
reaches a card it loses C0/C1 controls, the bidi embeddings, overrides and
isolates, and lone surrogates; multi-line text (notes, a database's text
columns) keeps its newlines and tabs.

JSON every reader can parse: ``json.loads`` reads ``NaN`` (what a CRM written
in Python sends) and ``1e999`` (valid JSON, too big for a double) as floats,
and ``json.dumps`` writes them back as ``NaN`` and ``Infinity``, which a
browser's ``JSON.parse`` refuses: the widget would drop every later version of
that card.  A number that is not finite becomes ``null`` wherever it leaves
screenpop, as the SQL connector already makes a database's NaN.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from json.scanner import make_scanner
from typing import Any

from screenpop.errors import BadRequest

_DECODER = json.JSONDecoder()
# what JSONDecoder makes for itself (typeshed types the argument as a scanner, json passes its decoder)
_SCAN: Callable[[str, int], tuple[Any, int]] = make_scanner(_DECODER)  # type: ignore[arg-type]
"""The decoder's C scanner: what ``decode`` runs after two regular-expression passes for whitespace."""
_JSON_WHITESPACE = " \t\n\r"


def loads(raw: bytes | str, what: str = "the body") -> Any:
    """``raw`` parsed as JSON, or ``BadRequest`` saying why it cannot be."""
    try:
        if type(raw) is bytes and raw[:1] == b"{" and raw[1:2] != b"\x00":
            # what json.loads decodes such bytes as (UTF-8), without its encoding sniffer's frames,
            # nor the decoder's whitespace passes: nothing precedes the "{", and only whitespace may follow
            return _object_text(raw.decode("utf-8", "surrogatepass"))
        return json.loads(raw)
    except RecursionError as exc:
        raise BadRequest(f"{what} is nested too deeply") from exc
    except json.JSONDecodeError as exc:
        raise BadRequest(f"{what} is not valid JSON: {exc}") from exc
    except ValueError as exc:  # UnicodeDecodeError, and integers too long to convert
        raise BadRequest(f"{what} is not valid JSON: {str(exc)[:80]}") from exc


def _object_text(text: str) -> Any:
    """``json.loads(text)`` for text that starts with ``{``, with its errors."""
    try:
        value, end = _SCAN(text, 0)
    except StopIteration as exc:  # as ``raw_decode``: the scanner's way of saying no value starts there
        raise json.JSONDecodeError("Expecting value", text, exc.value) from None
    if end != len(text):
        rest = text[end:]
        after = rest.lstrip(_JSON_WHITESPACE)
        if after:
            raise json.JSONDecodeError("Extra data", text, end + len(rest) - len(after))
    return value


def loads_object(raw: bytes | str, what: str = "the body") -> dict[str, Any]:
    """``raw`` as a JSON object, or ``BadRequest``."""
    data = loads(raw, what)
    if not isinstance(data, dict):
        raise BadRequest(f"{what} must be a JSON object")
    return data


_BIDI_CONTROLS = "\u202a-\u202e\u2066-\u2069"
_UNSAFE_IN_TEXT = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{_BIDI_CONTROLS}\ud800-\udfff]")
_UNSAFE_IN_LINE = re.compile(f"[\x00-\x1f\x7f-\x9f{_BIDI_CONTROLS}\u2028\u2029\ud800-\udfff]")
_LINE_BREAKS = str.maketrans("\t\n\r\u2028\u2029", "     ")


def is_unicode_text(text: str) -> bool:
    """False for a string holding a lone UTF-16 surrogate (what ``\\udXXX`` in JSON can make)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


QUOTED_CHARS = 40


def quoted(text: str, limit: int = QUOTED_CHARS) -> str:
    """``text`` as an error answer or a log line may quote it: its start, escaped, marked when clipped.

    An id or a name a client made up may be kilobytes long and hold any
    character; quoting all of it would send it back (and log it) whole.
    ``repr`` escapes the controls and the bidi overrides.
    """
    clipped = text[:limit]
    return repr(clipped) + ("…" if len(text) > limit else "")


def clean_text(text: str) -> str:
    """``text`` without controls (newlines and tabs kept), bidi controls and surrogates."""
    if text.isprintable() or not _UNSAFE_IN_TEXT.search(text):  # isprintable: the cheap common case
        return text
    return _UNSAFE_IN_TEXT.sub("", text)


def clean_line(text: str | None) -> str | None:
    """One line of ``text`` (line breaks become spaces) without any control character."""
    if text is None or text.isprintable() or not _UNSAFE_IN_LINE.search(text):
        return text
    return _UNSAFE_IN_LINE.sub("", text.translate(_LINE_BREAKS))


def clean_json(value: Any) -> Any:
    """``value`` with ``clean_text`` applied to every string in it, keys included.

    A number a browser cannot read back as sent is made safe too: NaN and
    infinities become ``None``, an integer beyond ``MAX_SAFE_INTEGER`` its digits.

    It runs on every section a card shows, so the common case (nothing to
    clean) costs an exact type check and an ``isprintable`` per string; the
    abstract ``Mapping`` check, slow, is only reached by what is not a plain
    JSON type.
    """
    kind = type(value)
    if kind is str:
        return value if value.isprintable() else clean_text(value)
    if kind is dict:
        return _clean_mapping(value)
    if kind is list or kind is tuple:
        return [clean_json(v) for v in value]
    if kind is int:
        return value if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER else str(value)
    if kind in _PLAIN_SCALARS:
        return value
    if kind is float:
        return value if math.isfinite(value) else None
    return _clean_other(value)


def _clean_other(value: Any) -> Any:
    """``clean_json`` of what is not a plain JSON type: subclasses (an enum member, numpy's float64)."""
    if isinstance(value, str):  # a str subclass (an enum member)
        return clean_text(value)
    if isinstance(value, float):  # a float subclass (numpy's float64)
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return _clean_mapping(value)
    if isinstance(value, list | tuple):
        return [clean_json(v) for v in value]
    return value


_PLAIN_SCALARS = frozenset({bool, type(None)})
MAX_SAFE_INTEGER = 2**53 - 1
"""JavaScript's ``Number.MAX_SAFE_INTEGER``: ``JSON.parse`` rounds a larger integer (a 19-digit
account number, a BIGINT id), or makes it ``Infinity``; such a value leaves as its digits in text."""


def _clean_mapping(value: Mapping[Any, Any]) -> dict[Any, Any]:
    return {
        (clean_text(k) if isinstance(k, str) and not k.isprintable() else k): clean_json(v)
        for k, v in value.items()
    }


_URL_CREDENTIALS = re.compile(r"(\b[a-zA-Z][\w+.-]*://[^:/@\s]*):[^@\s/]*@")
# Between two digits of one number: up to 3 of space, ( ) . - / _ , and the Unicode dashes, the ways
# people and phone systems write numbers ("415 - 555 - 0132", "415/555/0132", "415_555_0132").
_DIGIT_RUN = re.compile(r"\+?\d(?:[\s().\-/_,\u2010-\u2015\u2212]{0,3}\d){5,}")
MASKED = "***"
DIGITS_MASKED = "[digits]"
MIN_SECRET_CHARS = 4


def redact(text: str, secrets: tuple[str, ...] = (), limit: int = 200) -> str:
    """``text`` fit for an admin page or a log: one line, no password, no phone number.

    An error sentence from a driver or a provider may quote what it was
    given: a URL with its password, a token, the number it looked up.  The
    password of any ``scheme://user:password@`` is masked, each of
    ``secrets`` (values from the config) is masked, and every run of six
    digits or more (a phone number, a card number, written with spaces,
    dashes, dots, slashes, underscores or commas between its digits) becomes
    ``[digits]``; shorter runs (a port, a timeout in ms, an HTTP status) stay
    readable.
    """
    line = clean_line(text) or ""
    line = _URL_CREDENTIALS.sub(rf"\1:{MASKED}@", line)
    for secret in sorted(secrets, key=len, reverse=True):
        if len(secret) >= MIN_SECRET_CHARS:
            line = line.replace(secret, MASKED)
    line = _DIGIT_RUN.sub(DIGITS_MASKED, line)
    return line if len(line) <= limit else line[: limit - 1] + "…"


_STANDARD = json.JSONEncoder(allow_nan=False).encode


def standard_json(value: Any) -> str:
    """``value`` as JSON any parser reads: a NaN or infinite number is ``null`` (every HTTP answer).

    The common case, every number finite, is one encoding; the walk that
    replaces the others runs only when the strict encoder refused one.
    """
    try:
        return _STANDARD(value)
    except ValueError:
        return _STANDARD(finite_values(value))


def finite_values(value: Any) -> Any:
    """``value`` with every NaN or infinite number in it (at any depth) made ``None``."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {k: finite_values(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite_values(v) for v in value]
    return value
