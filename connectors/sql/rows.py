"""Which columns of an ``index_query`` row hold numbers, and in which country they are written.

``index_query`` returns the row key first, then phone columns; with
``index_region: COLUMN`` one further column holds the row's ISO 3166-1
alpha-2 country, so that ``55 9474 4977`` stored for a Mexican customer is
+52 55 9474 4977 and not the US number +1 559 474 4977 (SPEC 3). The
reading itself (labels, extensions, several numbers in a cell, the country
code falling back to ``numbers.default_region``) is screenpop's
(``ConnectorContext.stored_numbers``); this module only picks the columns.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from screenpop.connector_api import ConnectorContext
from screenpop.errors import ConnectorError

#: ``4155550132.0``: a spreadsheet's float column exported as text (a CSV import into a TEXT column).
_EXPORTED_FLOAT = re.compile(r"\+?\d{7,15}\.0{1,2}")
#: How many unreadable stored numbers `screenpop check` shows IT.
UNREADABLE_EXAMPLES = 3
#: Readings remembered at most: enough for repeated switchboard numbers, bounded for 10^7-row tables.
REMEMBERED_READINGS = 4096


class RowReader:
    """Reads the numbers of one ``index_query`` row; each distinct (text, country) is read once.

    Exported tables repeat the same switchboard number on many rows, so the
    readings are remembered for the one build this reader serves.
    """

    def __init__(self, columns: Sequence[str], region_column: str | None, context: ConnectorContext) -> None:
        self._region_at = region_position(columns, region_column)
        self._phones = tuple(i for i in range(1, len(columns)) if i != self._region_at)
        if columns and not self._phones:  # the index would hold nothing and every caller be not_found
            listed = ", ".join(str(c) for c in columns)
            raise ConnectorError(
                f"index_query returns no phone column ({listed}); name the row key first, then the phones"
            )
        self._numbers_of = context.read_numbers or context.stored_numbers
        self._read: dict[object, tuple[str, ...]] = {}
        self.unreadable = 0
        self.unreadable_examples: dict[str, None] = {}

    def __call__(self, row: Sequence[Any]) -> list[str]:
        """The row's numbers; the region cell is read as it is stored (screenpop cleans it)."""
        region = row[self._region_at] if self._region_at is not None else None
        region_text = region.strip().upper() if isinstance(region, str) else ""
        found: list[str] = []
        for position in self._phones:
            raw = row[position]
            if raw is None:
                continue
            if type(raw) is str:
                text = raw.strip()
                if ".0" in text[-3:] and _EXPORTED_FLOAT.fullmatch(text):
                    text = text[: text.index(".")]
            else:
                text = cell_text(raw)
            if not text:
                continue
            key = (text, region_text) if region_text else text
            numbers = self._read.get(key)
            if numbers is None:
                if len(self._read) >= REMEMBERED_READINGS:
                    self._read.clear()  # one Python object per distinct cell would undo the compact index
                numbers = self._read[key] = self._numbers_of(text, region_text or None)
            if not numbers:  # a caller with this number is never found: `screenpop check` says so
                self.unreadable += 1
                if len(self.unreadable_examples) < UNREADABLE_EXAMPLES:
                    self.unreadable_examples.setdefault(text)
            found += numbers
        return found


def cell_text(raw: object) -> str:
    """A number column's phone as its digits: ``4155550146.0`` (REAL) and ``Decimal('4155550146.00')`` too.

    Spreadsheet imports store phones in REAL or NUMERIC(p,2) columns; their
    text has a decimal point that no phone number has, and the row would
    never be found. A value with a real fraction stays as it is (unreadable).
    """
    if isinstance(raw, float) and raw.is_integer():
        return str(int(raw))
    if isinstance(raw, Decimal) and raw.is_finite() and raw == raw.to_integral_value():
        return str(int(raw))
    return str(raw).strip()


def region_position(columns: Sequence[str], region_column: str | None) -> int | None:
    """Where ``index_region`` is among the query's columns (names compared without case).

    PostgreSQL folds unquoted names to lower case, so ``Country`` in the
    config finds the column ``country``. The row key cannot be the region.
    """
    if region_column is None:
        return None
    wanted = region_column.casefold()
    found = [i for i, name in enumerate(columns) if str(name).casefold() == wanted]
    if not found:
        listed = ", ".join(str(c) for c in columns)
        raise ConnectorError(
            f"index_region column {region_column!r} is not among index_query's columns ({listed})"
        )
    if found[0] == 0:
        raise ConnectorError(
            f"index_region column {region_column!r} is the row key; name the key first, then phones"
        )
    return found[0]
