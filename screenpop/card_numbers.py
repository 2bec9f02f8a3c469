"""Payment card numbers (PANs) in text an agent types, masked to their last four digits.

PCI DSS forbids keeping a full card number, and agents do type them into a
call's notes ("customer paid with 4111 1111 1111 1111").  A note is masked
once, before it is stored: whatever later shows, audits, hands off or sends
it to a sink reads the stored text and so never sees the full number.

What counts as a card number (SPEC section 4): 13 to 19 digits that pass
the Luhn check, possibly split into groups by spaces or dashes.  Read as a
security officer reads it, "spaces or dashes" is whatever a person or a
paste puts between the groups of a number that still reads as one: any
*run* of spaces, tabs, line breaks, dashes or dots (``4111  1111``,
``4111 - 1111``, ``4111.1111``, a number wrapped onto the next line), with
Unicode's spaces and dashes counted (a web page's no-break space, an
autocorrected en dash) and invisible characters (a zero-width space) counting
for nothing.  Any script's decimal digits count (full-width digits, Arabic-Indic ones).
Slashes, commas and colons end a number: they write dates, amounts and times.

What is not a card even when it passes the check: a window that starts with
``0`` (no payment card number does; ``0044 20 7946 0105`` is a phone number
dialled from abroad), one that starts right after ``+`` (``+86 138 0013
8002``, a phone number in international form), and one that takes in any
part of a date of 1900-2099 (``2026-12-05 - 2026-12-09``,
``05.12.2026 415 555 0132``): no card number is typed in a date's groups.

Each digit but the last four becomes ``*``; the separators stay where they
were, so ``4111 1111 1111 1111`` reads ``**** **** **** 1111`` and the
agent still recognises the shape of what they typed.  ``*`` rather than a
bullet: systems of record behind a sink may store text in a legacy
single-byte encoding.

Where to look: a *run* is a stretch of digit groups joined by separators.
Inside a run, every window of whole groups is tried (so
``ref 12 4111 1111 1111 1111`` masks the card and keeps ``12`` unless
``12`` happens to start a number that passes too); a run of digits with no
separator is a candidate only as a whole.
That is how a person types a card number, and it leaves order numbers and
phone numbers alone unless they themselves pass the check: a 30-digit
reference typed without spaces is not cut into windows, each of which would
pass the Luhn check one time in ten.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import accumulate

MIN_DIGITS = 13
MAX_DIGITS = 19
KEEP = 4
MASK_CHAR = "*"

_GAP = (
    "\\s\u1680\u2000-\u200a\u202f\u205f\u3000"  # any space, tab or line break
    "\\-\u2010-\u2015\u2212\ufe58\ufe63\uff0d"  # any dash: an autocorrected en dash, a minus sign
    ".\u2024\uff0e"  # a dot, a one-dot leader, a full-width full stop
    "\u00ad\u180e\u200b-\u200d\u2060-\u2064\ufeff"  # invisible: zero-width space, word joiner, soft hyphen
)
"""What may stand between the digit groups of one number, in runs of any length."""
_SEPARATOR_CHAR = re.compile(f"[{_GAP}]")

# A run: digit groups joined by separators (\d: any script's decimal digits).
_RUN = re.compile(rf"\d+(?:[{_GAP}]+\d+)*")
_GROUP = re.compile(r"\d+")
_DATE_SHAPES = ((4, 2, 2), (2, 2, 4), (1, 2, 4), (2, 1, 4), (1, 1, 4))
"""Group lengths of a date: year first (ISO) or last (day and month either way round)."""


@dataclass(frozen=True)
class Masked:
    """Text with its card numbers masked, and how many there were."""

    text: str
    card_numbers: int


def may_hold_card_number(text: str) -> bool:
    """False for text too short to hold a card number (most caller names): nothing to search."""
    return len(text) >= MIN_DIGITS


def mask_card_numbers(text: str) -> Masked:
    """``text`` with every card number in it masked to its last four digits."""
    if not may_hold_card_number(text):  # no pattern run at all
        return Masked(text, 0)
    hidden: set[int] = set()
    for run in _RUN.finditer(text):
        hidden.update(_hidden_in_run(run))
    if not hidden:
        return Masked(text, 0)
    out = [MASK_CHAR if index in hidden else char for index, char in enumerate(text)]
    return Masked("".join(out), _stretches(text, hidden))


def _hidden_in_run(run: re.Match[str]) -> set[int]:
    """Positions (in the text) of the digits to hide in one run: all but the last four of each card.

    Every whole-group window of 13 to 19 digits that passes the check is a
    card; where two such windows overlap both are hidden, so a digit stays
    readable only if it is among the last four of a card and in no other.
    That over-masks a digit or two in a rare coincidence, and never shows
    more of a card than its last four.
    """
    text = run.group()
    if sum(char.isdecimal() for char in text) < MIN_DIGITS:
        return set()  # an amount, a date, a phone number: too short to be a card (most runs)
    positions = [run.start() + m.start() for m in re.finditer(r"\d", text)]
    values = [int(run.string[i]) for i in positions]
    sums = _LuhnSums(values)
    groups = [len(group.group()) for group in _GROUP.finditer(text)]
    ends = list(accumulate(groups))  # the index (into positions) just past each group
    in_dates = list(accumulate(_date_groups(values, groups), initial=0))  # date groups before each group
    after_plus = run.start() > 0 and run.string[run.start() - 1] == "+"
    hidden: set[int] = set()
    for first, start in enumerate([0, *ends[:-1]]):
        if values[start] == 0 or (first == 0 and after_plus):
            continue  # a phone number (international, or dialled from abroad): no card starts so
        for last, end in enumerate(ends[first:], start=first):
            if end - start > MAX_DIGITS or in_dates[last + 1] > in_dates[first]:
                break  # too long, or it takes in part of a date: no card number does
            if end - start >= MIN_DIGITS and sums.passes(start, end):
                hidden.update(positions[start : end - KEEP])
    return hidden


def _date_groups(values: list[int], groups: list[int]) -> list[int]:
    """1 for each group that is part of a date (three groups, read left to right), else 0.

    A date range (``05.12.2026 12.12.2026``) or a date beside a phone number
    gave windows of 13 to 19 digits, one in ten of which passes the check.
    """
    numbers, at = [], 0
    for length in groups:
        numbers.append(int("".join(map(str, values[at : at + length]))))
        at += length
    marks = [0] * len(groups)
    index = 0
    while index + 3 <= len(groups):
        if _is_date(numbers[index : index + 3], groups[index : index + 3]):
            marks[index : index + 3] = [1, 1, 1]
            index += 3
        else:
            index += 1
    return marks


def _is_date(numbers: list[int], groups: list[int]) -> bool:
    """True when three groups read as a calendar date of 1900-2099, year first or last."""
    if tuple(groups) not in _DATE_SHAPES:
        return False
    if groups[0] == 4:
        year, month, day = numbers
        return 1900 <= year <= 2099 and 1 <= month <= 12 and 1 <= day <= 31
    first, second, year = numbers
    low, high = sorted((first, second))
    return 1900 <= year <= 2099 and 1 <= low <= 12 and high <= 31


class _LuhnSums:
    """The Luhn check of any slice of a digit sequence in constant time (prefix sums by parity).

    A note of 10,000 characters of single digits and spaces holds some
    95,000 windows to try: checked one by one that is half a second of one
    request, with these sums about 40 ms.  Written here rather than
    taken from a package: python-stdnum is not among screenpop's
    dependencies, and its ``luhn.is_valid`` checks one string at a time.
    """

    def __init__(self, values: list[int]) -> None:
        self._plain = [[0], [0]]  # per parity of the index: running sums of the digits as they are
        self._doubled = [[0], [0]]  # ... and of the digits doubled as Luhn doubles them
        for index, value in enumerate(values):
            for parity in (0, 1):
                on = index % 2 == parity
                self._plain[parity].append(self._plain[parity][-1] + (value if on else 0))
                doubled = value * 2 - 9 if value > 4 else value * 2
                self._doubled[parity].append(self._doubled[parity][-1] + (doubled if on else 0))

    def passes(self, start: int, end: int) -> bool:
        """True when ``values[start:end]`` pass the Luhn check (the last digit is never doubled)."""
        kept = (end - 1) % 2
        plain = self._plain[kept][end] - self._plain[kept][start]
        doubled = self._doubled[1 - kept][end] - self._doubled[1 - kept][start]
        return (plain + doubled) % 10 == 0


def _stretches(text: str, hidden: set[int]) -> int:
    """How many card numbers were masked: stretches of hidden digits, each ended by a readable digit."""
    count = 0
    inside = False
    for index, char in enumerate(text):
        if index in hidden:
            count += not inside
            inside = True
        elif char.isdecimal() or not _SEPARATOR_CHAR.match(char):
            inside = False
    return count
