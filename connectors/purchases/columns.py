"""Order lines as columns: integer codes for customers and products, microseconds for times.

A history of 10^6 order lines must not cost 10^6 Python objects, nor a
Python loop per line on the event loop: the connector reads the history in
chunks and turns each chunk into arrays here (C-level maps over the chunk's
column lists), so what is kept between refreshes is a few flat arrays and one
vocabulary entry per distinct customer and product.

Keys are matched as text (``key_text``), so a customer id that one database
returns as an integer is found when the call binds it as text, and the
reverse; ``42.0`` and ``Decimal("42.00")`` are ``"42"``, and the padding of a
``CHAR(n)`` column is not part of a key.

A line that is not a sale the model can count is left out and counted in
``History.skipped`` by why (the connector logs those counts): no customer, no
product, an ``at`` that is NULL or not a readable time, or a quantity of 0 or
less (a return or a credit note: counting it as a purchase made "bought 3
times" of one purchase and two returns).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import numpy as np
import numpy.typing as npt

from .names import Names

I32 = npt.NDArray[np.int32]
I64 = npt.NDArray[np.int64]
F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]

MICROS = timedelta(microseconds=1)
DAY_US = 86_400 * 1_000_000
_EPOCH = datetime(1970, 1, 1)
_EPOCH_UTC = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_DAY = date(1970, 1, 1)
UNREADABLE = np.iinfo(np.int64).min  # an ``at`` that is NULL or not a time (numpy's NaT is this too)
SKIP_REASONS = ("no customer", "no product", "no readable time", "a quantity of 0 or less")


def key_text(value: Any) -> str | None:
    """A customer or product key as the text it is matched by; None for NULL or blank.

    A whole number is its digits however the driver typed it (``42``,
    ``42.0``, ``Decimal("42.00")``); text loses the spaces around it (a
    ``CHAR(10)`` column pads "A" to "A         ").
    """
    if value is None:
        return None
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
        return str(int(value))
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def as_utc(value: Any) -> datetime:
    """A database's date, datetime or ISO text as an aware UTC datetime (naive means UTC)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if isinstance(value, date) and not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    if not isinstance(value, datetime):
        raise TypeError(f"not a date or time: {type(value).__name__}")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def to_micros(value: Any) -> int:
    """One date, datetime or ISO text as UTC microseconds since 1970."""
    return (as_utc(value) - _EPOCH_UTC) // MICROS


def from_micros(value: int) -> datetime:
    """UTC microseconds since 1970 as an aware datetime."""
    return _EPOCH_UTC + timedelta(microseconds=int(value))


def micros_or_unreadable(value: Any) -> int:
    """One time as UTC microseconds, or ``UNREADABLE`` for NULL or what is not a time."""
    try:
        return to_micros(value)
    except (TypeError, ValueError, OverflowError):
        return int(UNREADABLE)


def micros_column(values: Sequence[Any]) -> I64:
    """A column of times as UTC microseconds, without a Python call per value where avoidable.

    Drivers return one type per column: naive or aware datetimes (PostgreSQL),
    ISO text (SQLite) or dates; the first value picks the fast path and any
    surprise (a NULL, a text in another format) falls back to converting
    value by value, where what is not a time becomes ``UNREADABLE``.  So do
    the ends of the calendar: PostgreSQL's ``-infinity`` and ``infinity``
    arrive as ``datetime.min`` and ``datetime.max``, and a ``-infinity``
    counted as an order in year 1 ("about every 369868 days").
    """
    column = _micros(values)
    column[np.isin(column, _CALENDAR_ENDS)] = UNREADABLE
    return column


def _micros(values: Sequence[Any]) -> I64:
    count = len(values)
    if count == 0:
        return np.empty(0, np.int64)
    first = values[0]
    try:
        if isinstance(first, datetime):
            epoch = _EPOCH if first.tzinfo is None else _EPOCH_UTC
            return np.fromiter(((v - epoch) // MICROS for v in values), np.int64, count)
        if isinstance(first, date):
            return np.fromiter(((v - _EPOCH_DAY).days * DAY_US for v in values), np.int64, count)
        if isinstance(first, str) and all(map(_PLAIN_ISO.fullmatch, values)):
            return np.array(values, dtype="datetime64[us]").astype(np.int64)
    except (TypeError, ValueError, AttributeError):
        pass
    return np.fromiter(map(micros_or_unreadable, values), np.int64, count)


_CALENDAR_ENDS = np.array([to_micros(datetime.min), to_micros(datetime.max), to_micros(date.max)], np.int64)


_PLAIN_ISO = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?)?")
"""ISO text numpy reads as Python does: no zone (numpy warns and misreads one), nothing else.

numpy reads more than that, and wrongly for order lines: an ERP's compact
date ``20260502`` is year -219091 to it, ``12345`` is year 12345, and
``now`` or ``today`` is the moment of the refresh.  Any other text goes
value by value through ``datetime.fromisoformat`` (which reads ``20260502``
as 2 May 2026) or is no readable time.
"""


_ZONE_SUFFIX = re.compile(r"\s*(?:Z|[+-]\d{2}(?::?\d{2})?)$")  # PostgreSQL's text writes "-05"


@dataclass(frozen=True, slots=True)
class TextZone:
    """How a text ``at`` column writes its times with a zone (``2026-05-01 23:00:00-05:00``).

    SQLite compares such text as text, so ``:since`` is written the same
    way (separator, offset and its spelling): as UTC wall time it sorted
    after the lines of the next hours west of UTC, which were never read.
    """

    separator: str
    suffix: str
    offset_s: int

    @classmethod
    def of(cls, text: str) -> TextZone | None:
        """The style of one ISO text with a zone, or None (no zone, no time, not ISO)."""
        text = text.strip()
        suffix = _ZONE_SUFFIX.search(text)
        if suffix is None or len(text) < 11 or text[10] not in "T ":
            return None
        try:
            offset = datetime.fromisoformat(text).utcoffset()
        except ValueError:
            return None
        return None if offset is None else cls(text[10], suffix.group(0), int(offset.total_seconds()))

    def render(self, moment: datetime) -> str:
        """An aware moment as this column writes it, to the microsecond."""
        local = moment.astimezone(timezone(timedelta(seconds=self.offset_s)))
        return f"{local:%Y-%m-%d}{self.separator}{local:%H:%M:%S.%f}{self.suffix}"


def quantity_column(values: Sequence[Any] | None, count: int) -> F32:
    """Quantities as floats; a missing column, NULL or what is not a number counts as 1.

    A quantity of 0 or less stays as it is: ``History.add`` leaves the line out.
    """
    if values is None:
        return np.ones(count, np.float32)
    column = np.fromiter(map(_quantity, values), np.float32, count)
    column[np.isnan(column)] = 1.0
    return column


def _quantity(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")  # NULL or text: an unknown quantity, counted as 1


class Vocabulary:
    """Distinct keys (as text) and their integer codes, in the order first seen.

    It pickles as two numpy arrays (the keys, and their sorted order), not as
    a dict of one entry per key: a model built in a worker process is unpickled
    with a couple of memory copies, so the event loop does not stall on it.
    Where it was unpickled it finds a key by binary search; the dict used to
    add keys is rebuilt only when keys are added again.
    """

    __slots__ = ("_array", "_index", "_keys", "_order")

    def __init__(self) -> None:
        self._keys: list[str] = []
        self._index: dict[str, int] | None = {}
        self._array: npt.NDArray[np.str_] | None = None
        self._order: npt.NDArray[np.intp] | None = None

    def __len__(self) -> int:
        return len(self._keys) if self._array is None else len(self._array)

    def keys(self) -> list[str]:
        """Every key, by code."""
        return self._keys if self._array is None else self._array.tolist()

    def key(self, code: int) -> str:
        """The key of one code."""
        return self._keys[code] if self._array is None else str(self._array[code])

    def __contains__(self, key: object) -> bool:
        return self.code(key) is not None

    def code(self, key: Any) -> int | None:
        """The code of one key as a call binds it (any type), or None if never seen or blank."""
        text = key_text(key)
        if text is None:
            return None
        if self._index is not None or self._array is None or self._order is None:
            return (self._index or {}).get(text)
        at = int(np.searchsorted(self._array, text, sorter=self._order))
        if at < len(self._order) and self._array[self._order[at]] == text:
            return int(self._order[at])
        return None

    def encode(self, values: Sequence[Any]) -> I32:
        """Codes for a column (-1 for NULL or blank), adding keys never seen; a step per distinct value."""
        index = self._writable()
        raw_codes: dict[Any, int] = dict.fromkeys(values, -1)
        for raw in raw_codes:
            key = key_text(raw)
            if key is None:
                continue
            code = index.get(key)
            if code is None:
                code = index[key] = len(self._keys)
                self._keys.append(key)
            raw_codes[raw] = code
        return np.fromiter(map(raw_codes.__getitem__, values), np.int32, len(values))

    def _writable(self) -> dict[str, int]:
        if self._index is None:
            self._keys = self.keys()
            self._index = {key: code for code, key in enumerate(self._keys)}
            self._array = self._order = None
        return self._index

    def copy(self) -> Vocabulary:
        copied = Vocabulary()
        copied._keys, copied._array, copied._order = list(self._keys), self._array, self._order
        copied._index = None if self._index is None else dict(self._index)
        return copied

    def __getstate__(self) -> tuple[npt.NDArray[np.str_], npt.NDArray[np.intp]]:
        if self._array is not None and self._order is not None:
            return self._array, self._order
        array = np.array(self._keys, dtype=np.str_)
        return array, np.argsort(array, kind="stable")

    def __setstate__(self, state: tuple[npt.NDArray[np.str_], npt.NDArray[np.intp]]) -> None:
        self._array, self._order = state
        self._keys, self._index = [], None


@dataclass
class History:
    """Order lines kept as arrays: the input of a model build, extended chunk by chunk.

    ``copy`` is cheap (arrays are never written after they are added), so a
    refresh extends a copy and the previous history survives a failure.
    """

    customers: Vocabulary = field(default_factory=Vocabulary)
    products: Vocabulary = field(default_factory=Vocabulary)
    names: Names = field(default_factory=Names)
    skipped: dict[str, int] = field(default_factory=dict)
    """Lines left out since this history began, by reason (``SKIP_REASONS``)."""
    _chunks: list[tuple[I32, I32, I64, F32]] = field(default_factory=list)

    def __len__(self) -> int:
        return sum(len(chunk[0]) for chunk in self._chunks)

    def add(
        self,
        customer: Sequence[Any],
        product: Sequence[Any],
        at: Sequence[Any] | I64,
        *,
        quantity: Sequence[Any] | None = None,
        product_name: Sequence[Any] | None = None,
    ) -> None:
        """Append one chunk of columns (``at`` as datetimes, dates, ISO text or int64 microseconds)."""
        count = len(customer)
        if not (len(product) == len(at) == count):
            raise ValueError("columns of one chunk must have the same length")
        if count == 0:
            return
        customers = self.customers.encode(customer)
        products = self.products.encode(product)
        times = (
            at.astype(np.int64)
            if isinstance(at, np.ndarray) and at.dtype.kind in "iu"
            else micros_column(list(at))
        )
        quantities = quantity_column(quantity, count)
        keep = self._countable(customers, products, times, quantities)
        if product_name is not None:
            self._name(products, times, product_name, keep)
        if not keep.all():
            customers, products, times, quantities = (
                customers[keep],
                products[keep],
                times[keep],
                quantities[keep],
            )
        if len(customers):
            self._chunks.append((customers, products, times, quantities))

    def _countable(self, customers: I32, products: I32, times: I64, quantities: F32) -> npt.NDArray[np.bool_]:
        """Which lines are sales the model can count; the others are tallied in ``skipped`` by reason."""
        bad = (customers < 0, products < 0, times == UNREADABLE, ~(quantities > 0))
        keep = np.ones(len(customers), bool)
        for reason, mask in zip(SKIP_REASONS, bad, strict=True):
            left_out = int(np.count_nonzero(mask & keep))  # a line is tallied under its first reason only
            if left_out:
                self.skipped[reason] = self.skipped.get(reason, 0) + left_out
                keep &= ~mask
        return keep

    def _name(self, products: I32, times: I64, names: Sequence[Any], keep: npt.NDArray[np.bool_]) -> None:
        """Each product's name as given on its latest line: a product renamed shows its new name.

        One Python step per distinct product of the chunk, not per line.
        """
        rows = np.flatnonzero(keep)
        rows = rows[np.lexsort((times[rows], products[rows]))]
        last = rows[np.append(products[rows][1:] != products[rows][:-1], True)]
        for i in last.tolist():
            code, moment, name = int(products[i]), int(times[i]), names[i]
            text = "" if name is None else str(name).strip()
            if text:
                self.names.offer(code, text, moment)

    def arrays(self) -> tuple[I32, I32, I64, F32]:
        """All lines as four flat arrays; the chunks are merged into one so later calls are free."""
        if not self._chunks:
            codes = np.empty(0, np.int32)
            return codes, codes, np.empty(0, np.int64), np.empty(0, np.float32)
        if len(self._chunks) > 1:
            merged = tuple(np.concatenate(parts) for parts in zip(*self._chunks, strict=True))
            self._chunks = [merged]  # type: ignore[list-item]
        return self._chunks[0]

    def copy(self) -> History:
        return History(
            self.customers.copy(),
            self.products.copy(),
            self.names.copy(),
            dict(self.skipped),
            list(self._chunks),
        )

    def mark(self) -> int:
        """Where the lines added from now on begin, for ``drop_overlap``."""
        return len(self._chunks)

    def drop_overlap(self, mark: int) -> None:
        """Drop the lines before ``mark`` that are at or after the earliest line added since.

        A ``:since`` read returns every line from some moment on; the lines
        kept from that moment on were read again, so they go (a line read
        twice counted its quantity twice, and the history grew each refresh).
        """
        fresh = [chunk[2] for chunk in self._chunks[mark:] if len(chunk[2])]
        if not fresh:
            return
        start = min(int(times.min()) for times in fresh)
        kept = []
        for chunk in self._chunks[:mark]:
            before = chunk[2] < start
            kept.append(chunk if before.all() else tuple(part[before] for part in chunk))
        self._chunks[:mark] = kept  # type: ignore[assignment]

    def newest(self, upto: int | None = None) -> int | None:
        """The largest ``at`` in microseconds (of those at or before ``upto``), or None if there is none."""
        times = [chunk[2] if upto is None else chunk[2][chunk[2] <= upto] for chunk in self._chunks]
        found = [int(t.max()) for t in times if len(t)]
        return max(found) if found else None
