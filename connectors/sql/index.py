"""The number index behind ``match: normalized``.

Legacy tables store numbers as people typed them ("(415) 555-0132",
"415.555.0132 x12"), so no ``WHERE phone = :e164`` can find them. Instead the
whole phone column set is read once, normalised to E.164 in Python, and kept
as a map from E.164 to row keys; a lookup is then a dict access plus a query
by primary key.  The index is rebuilt in the background and swapped in whole,
so a lookup never sees a half-built index and a failed refresh keeps serving
the previous one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

log = logging.getLogger(__name__)

RETRY_AFTER_FAILURE_S = 30.0


class RowNumbers(Protocol):
    """Reads a row's numbers, and counts the non-blank cells it could not read (``rows.RowReader``)."""

    unreadable: int
    unreadable_examples: dict[str, None]
    """The first few unreadable cells as stored (an insertion-ordered set)."""

    def __call__(self, row: Sequence[Any]) -> Iterable[str]: ...


@dataclass(frozen=True, slots=True)
class PhoneIndex:
    """E.164 -> the keys of the rows that carry that number, keys in their DB type."""

    keys_by_number: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)
    rows: int = 0
    unreadable: int = 0
    """Stored numbers (non-blank cells) that could not be read as a phone number: callers never found."""
    unreadable_examples: tuple[str, ...] = ()
    """A few of them as stored, for `screenpop check` (the company's own data for its IT; never logged)."""

    def keys_for(self, e164: str) -> tuple[Any, ...]:
        return self.keys_by_number.get(e164, ())

    def summary(self) -> str:
        """One line for `screenpop check`: the index's size and what it could not read, with examples."""
        text = f"index of {len(self.keys_by_number)} numbers from {self.rows} rows"
        if not self.unreadable:
            return f"{text}; every stored number read"
        examples = ", ".join(repr(e) for e in self.unreadable_examples)
        return f"{text}; {self.unreadable} stored numbers could not be read, e.g. {examples}"

    @classmethod
    def build(cls, rows: Iterable[Sequence[Any]], numbers_of: RowNumbers) -> PhoneIndex:
        """Index rows whose key is their first column; ``numbers_of`` reads a row's numbers.

        ``numbers_of`` (a ``RowReader``) knows which columns hold numbers and
        in which country each row's numbers are written; blank or unreadable
        numbers give nothing.
        """
        found: dict[str, list[Any]] = {}
        count = 0
        for row in rows:
            count += 1
            key = row[0]
            for e164 in numbers_of(row):
                _add_key(found.setdefault(e164, []), key)
        numbers = {number: tuple(keys) for number, keys in found.items()}
        return cls(numbers, count, numbers_of.unreadable, tuple(numbers_of.unreadable_examples))


def _add_key(keys: list[Any], key: Any) -> None:
    """Keep one entry per row even when its phone and mobile columns hold the same number."""
    if key not in keys:
        keys.append(key)


class IndexKeeper:
    """Holds the current index and rebuilds it every ``every_s`` in one background task.

    ``load`` builds a complete new index (query + normalisation); the keeper
    only decides when, swaps the result in, and logs failures without the
    database URL.  A failure is retried sooner than a normal refresh.
    """

    def __init__(self, name: str, load: Callable[[], Awaitable[PhoneIndex]], every_s: float) -> None:
        self._name = name
        self._load = load
        self._every_s = every_s
        self.index: PhoneIndex | None = None
        self.error: str | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Build the first index now, then keep refreshing in the background."""
        await self.refresh()
        self._task = asyncio.create_task(self._refresh_forever(), name=f"sql-index-{self._name}")

    async def refresh(self) -> bool:
        """Build a new index and swap it in; on failure keep the old one and remember why."""
        try:
            index = await self._load()
        except Exception as exc:
            self.error = _short(exc)
            log.warning(
                "connector %s: index refresh failed, keeping the previous index: %s", self._name, self.error
            )
            return False
        self.index, self.error = index, None
        log.info(  # counts only: the unreadable numbers themselves are customer data
            "connector %s: index holds %d numbers from %d rows (%d stored numbers unreadable)",
            self._name,
            len(index.keys_by_number),
            index.rows,
            index.unreadable,
        )
        return True

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _refresh_forever(self) -> None:
        ok = self.error is None
        while True:  # ends when close() cancels the task
            await asyncio.sleep(self._every_s if ok else min(self._every_s, RETRY_AFTER_FAILURE_S))
            ok = await self.refresh()


def _short(exc: BaseException) -> str:
    """The loader already turns database errors into safe text; keep only its first line."""
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__
