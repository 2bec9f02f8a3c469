"""Numbers as people type them into a customer table: labels, several to a cell, no vanity letters.

A phone column of a legacy table holds what an agent typed years ago:
``469-580-7231 - office``, ``mobile: 555 123 4567``, ``(780) 918-1406 (cell)``,
``030 1234567 / 0171 1234567``.  ``phonenumbers.parse`` reads the letters of a
label as a vanity number (``office`` -> ``633423``) and the number is lost, so
a stored cell is taken apart here first:

1. split into numbers at ``/``, ``;``, ``,``, ``|``, ``&``, a line break, the
   word ``or``/``and``, or a label between two numbers (``415-555-0132 (h)
   415-555-0133``, ``H: … W: …``) -- but only where each side holds a number of its own
   (at least ``MIN_DIGITS`` digits), so ``030/1234567`` (the German way of
   writing an area code) and ``+1 415 555 0132;ext=12`` stay one number;
2. in each number, a label before it (``Tel.``, ``mobile:``, ``Fax:``), a
   label after it (``- office``, ``(work)``, ``cell``) and an extension
   (``x12``, ``ext. 12``, ``#12``) are cut off;
3. what is left is read exactly as ``reading.normalize`` reads it (the fast
   path, or phonenumbers), in the row's region;
4. a later number of the cell that is not valid as written, but is with the
   area code (national destination code) of the valid number before it,
   takes that code: ``(415) 555-1234 / 555-9876`` holds +1 415 555 9876.

Letters are never read as digits: what remains of a vanity number
(``1-800-FLOWERS`` -> ``1-800-``) is too short to be a number and is dropped.
A number labelled ``Fax`` is indexed like any other: it is a line of that
customer, and a call from it is that customer calling (docs/matching.md).

Text without a letter and without a separator is passed through untouched,
so for such text ``stored_numbers(text, r) == (normalize(text, r),)`` (or
``()``), which the property tests check.
"""

from __future__ import annotations

import re

import phonenumbers
from phonenumbers import PhoneNumber

from screenpop.phone.classify import as_text
from screenpop.phone.fast_path import fast_cell_e164
from screenpop.phone.parsing import e164_of
from screenpop.phone.reading import is_region, normalize

#: A piece with fewer digits is part of its neighbour (an area code, an extension, a URI parameter).
MIN_DIGITS = 7
#: A cell longer than this is no phone column's value; refusing it keeps the regexes bounded.
MAX_CELL = 400

#: ``/``, ``;`` ..., the words ``or``/``and``, and a label between two numbers: `` (h) ``, `` W: ``.
_SEPARATOR = re.compile(
    r"(\s*[/;,|&\n]\s*|\s+(?:or|and)\s+"
    r"|\s+[(\[{][^\W\d_][^\W\d_ .'-]{0,15}[)\]}]\s+|\s+[^\W\d_][^\W\d_.'-]{0,15}:\s*)",
    re.IGNORECASE,
)
#: Finds at least the texts ``_SEPARATOR`` finds, without trying ``\s*`` at every position.
_ANY_SEPARATOR = re.compile(r"[/;,|&\n]|\s(?:or|and)\s|\s[(\[{][^\W\d_]|[^\W\d_]:", re.IGNORECASE)
#: One number ending in a digit, then `` - office``, `` (work)`` or `` x12``: what ``number_body`` cuts
#: off, taken here without splitting or the label regexes (``read_cell`` gives the same answer).
_LABELLED = re.compile(
    r" *(\+?[0-9(][0-9 ().\-]{0,40}?[0-9])(?: +- +[A-Za-z]{2,12}| +\([A-Za-z]{2,12}\)| +x[0-9]{1,6})"
)
_URI = re.compile(r"(?:\b(?:sips?|tel):|<)", re.IGNORECASE)
_LETTER = re.compile(r"[^\W\d_]")
_DIGIT = re.compile(r"\d")
#: ``(work)``, ``[cell]``, ``{main}``: a bracketed group with a letter and no digit is a label.
_BRACKETED_LABEL = re.compile(r"[(\[{][^\d()\[\]{}]*[^\W\d_][^\d()\[\]{}]*[)\]}]")
#: ``mobile:``, ``Tel 2:``, ``phone=``: a label that starts with a letter and ends with a colon.
_COLON_LABEL = re.compile(r"\s*[^\W\d_][\w .'-]{0,30}?[:=]\s*(?=[\d+(])")
_LEADING = re.compile(r"^[^\d+(]*")
_BODY = re.compile(r"[+(]?[\d\s().\-/\u2013]*\d\)?")
_GLUED_LETTERS = re.compile(r"[-./]?[^\W\d_]")
_EXTENSION = re.compile(
    r"\s*,?\s*(?:(?<![^\W\d_])(?:extension|extn|ext|x)\.?|#|;\s*ext\s*=)\s*[:.=]?\s*\d{1,7}(?!\d)",
    re.IGNORECASE,
)


def stored_numbers(raw: object, region: str) -> tuple[str, ...]:
    """Every E.164 number a stored cell holds, in the order written, each once; never raises.

    ``region`` is the country a number written without an international
    prefix is read in (the row's own, or ``numbers.default_region``).
    """
    if type(raw) is str:  # most cells of a big table take one of the two quick ways
        quick = _quick(raw, region)
        if quick is not None:
            return quick
    return read_cell(raw, region)


def _quick(text: str, region: str) -> tuple[str, ...] | None:
    """A plain number, or one with a simple label after it (``_LABELLED``); None for the general way."""
    handled, e164 = fast_cell_e164(text, region)
    if not handled:
        labelled = _LABELLED.fullmatch(text)
        if labelled is None:
            return None
        e164 = _normalized(labelled.group(1), region)
    return () if e164 is None else (e164,)


def read_cell(raw: object, region: str) -> tuple[str, ...]:
    """``stored_numbers`` the general way: split, labels cut, each piece read (the property tests' oracle)."""
    text = as_text(raw)
    if not text.strip() or len(text) > MAX_CELL:
        return ()
    found: dict[str, None] = {}
    pieces = split_cell(text)
    before: PhoneNumber | None = (
        None  # the last valid number of the cell, whose area code a later one may need
    )
    for piece in pieces:
        e164 = read_one(piece, region)
        if e164 is None:
            e164 = _before_short_tail(piece, region)
        if len(pieces) > 1:
            e164, before = with_area_code(piece, e164, before)
        if e164 is not None:
            found.setdefault(e164, None)
    return tuple(found)


def _before_short_tail(piece: str, region: str) -> str | None:
    """``415 555 0132 / 0133``: the whole number before a separator whose other side is too short.

    ``split_cell`` keeps such a piece whole (``030/1234567`` is one number),
    and read whole it is no number at all, so the customer's one certain
    number was lost. The tail (a sibling line, a room) is not guessed at.
    """
    cut = _SEPARATOR.search(piece)
    if cut is None or _digit_count(piece[: cut.start()]) < MIN_DIGITS:
        return None
    return read_one(piece[: cut.start()], region)


def with_area_code(
    piece: str, e164: str | None, before: PhoneNumber | None
) -> tuple[str | None, PhoneNumber | None]:
    """``piece`` (read as ``e164``) with the area code of ``before`` when only that makes it a valid number.

    Old CRMs hold ``(415) 555-1234 / 555-9876``: one customer's two lines, the
    second without the area code both share. A piece valid as written is never
    changed (that would invent a match), nor one written with ``+`` or an
    international prefix. Returns the reading and the valid number a later
    piece may take its code from.
    """
    number = _valid(e164)
    if number is not None:
        return e164, number
    if before is None:
        return e164, None
    body = number_body(piece) if _LETTER.search(piece) else piece.strip()
    digits = "".join(_DIGIT.findall(body))
    nsn = phonenumbers.national_significant_number(before)
    code = phonenumbers.length_of_national_destination_code(before)
    if body.startswith("+") or digits.startswith("00") or not code or len(digits) >= len(nsn):
        return e164, before
    whole = _valid(f"+{before.country_code}{nsn[:code]}{digits}")
    return (e164, before) if whole is None else (e164_of(whole), before)


def _valid(e164: str | None) -> PhoneNumber | None:
    """The number ``e164`` names when phonenumbers finds it valid (not merely possible)."""
    if e164 is None:
        return None
    try:
        number = phonenumbers.parse(e164)
    except phonenumbers.NumberParseException:
        return None
    return number if phonenumbers.is_valid_number(number) else None


def stored_numbers_in_row(raw: object, row_region: object, default_region: str) -> tuple[str, ...]:
    """``stored_numbers`` in the row's own country (``index_region``), else in ``default_region``."""
    if row_region is None:  # no ``index_region``: every row of a big table comes this way
        return stored_numbers(raw, default_region)
    return stored_numbers(raw, region_or_default(row_region, default_region))


#: Not ISO 3166-1, but what British tables hold; every other code is taken as ISO writes it.
_REGION_ALIASES = {"UK": "GB"}


def region_or_default(value: object, default_region: str) -> str:
    """A row's country code as phonenumbers names it; empty, unknown or not a code -> ``default_region``."""
    code = value.strip().upper() if isinstance(value, str) else ""
    code = _REGION_ALIASES.get(code, code)
    return code if len(code) == 2 and is_region(code) else default_region


def split_cell(text: str) -> list[str]:
    """The cell cut at separators that stand between two whole numbers (see the module's step 1)."""
    if not _ANY_SEPARATOR.search(text) or _URI.search(text):
        return [text]
    parts = _SEPARATOR.split(text)
    pieces = [parts[0]]
    for separator, piece in zip(parts[1::2], parts[2::2], strict=True):
        if _digit_count(pieces[-1]) >= MIN_DIGITS and _digit_count(piece) >= MIN_DIGITS:
            pieces.append(piece)
        else:  # one side is no number by itself: keep the separator and read the two together
            pieces[-1] += separator + piece
    return pieces


def read_one(piece: str, region: str) -> str | None:
    """One written number, its labels and extension cut off, read in ``region``."""
    if _URI.search(piece):
        return _read_uri(piece, region)
    if not _LETTER.search(piece):
        return _normalized(piece, region)
    body = number_body(piece)
    return _normalized(body, region) if body else None


def _normalized(text: str, region: str) -> str | None:
    """``normalize``, through the remembered prefix decisions when the text is plain (``fast_cell_e164``)."""
    handled, e164 = fast_cell_e164(text, region)
    return e164 if handled else normalize(text, region)


def number_body(piece: str) -> str:
    """The number without the labels around it or its extension ("" when no number is left)."""
    text = _BRACKETED_LABEL.sub(" ", piece)
    label = _COLON_LABEL.match(text)
    if label is not None:
        text = text[label.end() :]
    text = _LEADING.sub("", text, count=1)
    body = _BODY.match(text)
    if body is None:
        return ""
    rest = text[body.end() :]
    extension = _EXTENSION.match(rest)
    if extension is not None:
        rest = rest[extension.end() :]
    elif _GLUED_LETTERS.match(rest):
        return ""  # ``1-800-FLOWERS``, ``555-CALL``: a vanity number, whose letters are never digits here
    if _DIGIT.search(rest) and not _LETTER.search(rest):
        return ""  # digits after the number that are neither an extension nor a label: not ours to guess
    return body.group(0).strip()


def _read_uri(piece: str, region: str) -> str | None:
    """A ``tel:``/``sip:`` value: read as a phone system's would be, unless its user part has letters."""
    user = re.split(r"(?i)(?:sips?|tel):", piece, maxsplit=1)[-1]
    user = re.split(r"[@;>]", user, maxsplit=1)[0]
    if _LETTER.search(user):
        return None  # ``sip:alice@pbx`` or a vanity ``tel:1-800-FLOWERS``: no number to index
    return normalize(piece, region)


def _digit_count(text: str) -> int:
    return len(_DIGIT.findall(text))
