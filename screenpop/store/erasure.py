"""Erasure (``screenpop erase``): every row of one caller leaves the store, and the audit says so.

A caller is named by number (their E.164) or by a customer id of one
connector.  Their calls are those from that number, or those whose stored
card summary names that id for that connector (``card.card_summaries``
keeps ``customer.ids`` in every role's view).  What goes:

- those calls and every row hanging off a call by foreign key (events,
  recipients, notes, feedback; found from ``schema.metadata``, as retention
  does, so a future child table cannot be forgotten);
- audit rows naming those calls, and lookup rows naming the number;
- sink outbox entries of those calls, of that number, or naming that
  customer id, pending ones included (an erased caller's note must not
  reach a sink afterwards).

Calls are deleted in batches of at most ``BATCH_ROWS`` per transaction, so
an erasure is safe while the service runs: the service's writes wait for
one short batch at most.  The audit row written at the end (action
``erase``) names who asked and the counts per place, never the number or
the id, so that the audit trail itself does not keep what was erased.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple, TypeVar

import sqlalchemy as sa

import screenpop.store.rows as shape
from screenpop.phone import parse_caller
from screenpop.store.connections import Database
from screenpop.store.retention import PURGED_TABLES, RetentionSQL
from screenpop.store.schema import audit, calls, sink_outbox

BATCH_ROWS = 1000
SCAN_ROWS = 5000
"""Calls read per transaction while looking for summaries that name a customer id."""


@dataclass(frozen=True, slots=True)
class ErasureTarget:
    """Whose data goes: an E.164 number (or an invalid number's digits), or one connector's customer id.

    ``default_region`` reads the raw numbers of calls stored without an
    E.164 (see ``ErasureSQL.calls_of_raw_page``) as the service read them.
    """

    number: str | None = None
    connector: str | None = None
    customer_id: str | None = None
    default_region: str = "US"

    def __post_init__(self) -> None:
        by_number = self.number is not None
        by_customer = self.connector is not None and self.customer_id is not None
        if by_number == by_customer:
            raise ValueError("an erasure names either a number or a connector's customer id")

    def is_number(self, raw: str | None) -> bool:
        """True when a number as a phone system sent it reads as this target's number."""
        if self.number is None or not raw:
            return False
        parsed = parse_caller(raw, self.default_region)
        return not parsed.withheld and (parsed.e164 or parsed.digits) == self.number

    def names_customer(self, ids: Mapping[str, Any] | None) -> bool:
        """True when a ``customer.ids`` (or a sink entry's ``customer_ids``) map names this customer."""
        return (
            self.connector is not None
            and isinstance(ids, Mapping)
            and str(ids.get(self.connector, "")) == self.customer_id
        )


CallRef = tuple[int, str, str]
"""A call's primary key, provider and provider's call id."""


class Erased(NamedTuple):
    """What an erasure removed (rows per table), the calls it removed, and what it left of their numbers.

    ``left`` is filled for ``--customer`` only: the calls (whose card did not
    name the customer) and the lookups of the numbers the customer called
    from that remain.  A number can be shared (a switchboard, a family
    phone), so those are not the customer's by themselves; the counts tell
    IT to run ``--number`` when the number is the customer's own.
    """

    counts: dict[str, int]
    calls: list[CallRef]
    left: dict[str, int]


def summary_customer_ids(summary: Any) -> Iterator[Mapping[str, Any]]:
    """Every ``customer.ids`` map a stored summary holds (one per role's view, or a legacy one)."""
    if not isinstance(summary, Mapping):
        return
    views = summary.get("views")
    found = (
        [v.get("summary") for v in views if isinstance(v, Mapping)] if isinstance(views, list) else [summary]
    )
    for view in found:
        customer = view.get("customer") if isinstance(view, Mapping) else None
        if isinstance(customer, Mapping) and isinstance(customer.get("ids"), Mapping):
            yield customer["ids"]


class ErasureSQL:
    """The erasure's transactions, each a synchronous function of one connection."""

    def __init__(self, dialect: str) -> None:
        self._retention = RetentionSQL(dialect)

    def calls_of_number(self, conn: sa.Connection, number: str) -> list[CallRef]:
        found = sa.select(calls.c.id, calls.c.provider, calls.c.call_id).where(calls.c.caller_e164 == number)
        return [(r.id, r.provider, r.call_id) for r in conn.execute(found)]

    def calls_of_raw_page(
        self, conn: sa.Connection, target: ErasureTarget, after: int
    ) -> tuple[list[CallRef], int | None]:
        """Calls after ``after`` stored with no E.164 whose raw number reads as the target's number.

        The service stores no E.164 for a call whose first event was not a
        ring (a lost ring webhook, a restart, a late ``ended``) nor for a
        number the phone library cannot read; the caller's number is then
        only in ``caller_raw`` (or, for a call an agent dialled, in
        ``to_number``), in whatever format the phone system sent it.
        """
        rows = _calls_page(conn, after, calls.c.caller_e164.is_(None), calls.c.caller_raw, calls.c.to_number)
        found = [
            (r.id, r.provider, r.call_id)
            for r in rows
            if target.is_number(r.caller_raw) or target.is_number(r.to_number)
        ]
        return found, _next_page(rows)

    def calls_of_customer_page(
        self, conn: sa.Connection, target: ErasureTarget, after: int
    ) -> tuple[list[CallRef], int | None]:
        """Calls after primary key ``after`` whose summary names the customer; the next page's start."""
        rows = _calls_page(conn, after, calls.c.summary.is_not(None), calls.c.summary)
        found = [
            (r.id, r.provider, r.call_id)
            for r in rows
            if any(target.names_customer(ids) for ids in summary_customer_ids(r.summary))
        ]
        return found, _next_page(rows)

    def delete_calls(self, conn: sa.Connection, refs: list[CallRef]) -> dict[str, int]:
        """These calls, their child rows, their audit rows and their sink entries; counts per table."""
        pks = [pk for pk, _, _ in refs]
        counts = {
            audit.name: conn.execute(audit.delete().where(_audit_of(refs))).rowcount,
            sink_outbox.name: conn.execute(
                sink_outbox.delete().where(sink_outbox.c.call_pk.in_(pks))
            ).rowcount,
        }
        counts.update(self._retention.delete_calls(conn, pks))
        return counts

    def delete_rest(self, conn: sa.Connection, target: ErasureTarget) -> dict[str, int]:
        """Rows that name the number without naming one of its calls: lookups, orphaned sink entries."""
        if target.number is None:
            return {}
        lookups = audit.delete().where(audit.c.number == target.number)
        entries = sink_outbox.delete().where(sink_outbox.c.caller_e164 == target.number)
        return {audit.name: conn.execute(lookups).rowcount, sink_outbox.name: conn.execute(entries).rowcount}

    def entries_of_customer_page(
        self, conn: sa.Connection, target: ErasureTarget, after: int
    ) -> tuple[list[int], int | None]:
        """Sink entries after id ``after`` whose ``customer_ids`` name the customer; the next page's start."""
        page = (
            sa.select(sink_outbox.c.id, sink_outbox.c.customer_ids)
            .where(sink_outbox.c.id > after)
            .order_by(sink_outbox.c.id)
            .limit(SCAN_ROWS)
        )
        rows = conn.execute(page).all()
        found = [r.id for r in rows if target.names_customer(r.customer_ids)]
        return found, _next_page(rows)

    @staticmethod
    def numbers_of(conn: sa.Connection, pks: list[int]) -> set[str]:
        """The numbers these calls came from."""
        query = sa.select(calls.c.caller_e164).where(calls.c.id.in_(pks), calls.c.caller_e164.is_not(None))
        return {str(n) for n in conn.execute(query.distinct()).scalars()}

    @staticmethod
    def left_of_numbers(conn: sa.Connection, numbers: list[str]) -> dict[str, int]:
        """How many calls and lookups of these numbers the store still holds."""
        left = {"calls": 0, "lookups": 0}
        for start in range(0, len(numbers), BATCH_ROWS):
            some = numbers[start : start + BATCH_ROWS]
            in_calls = sa.select(sa.func.count()).where(calls.c.caller_e164.in_(some))
            lookups = sa.select(sa.func.count()).where(audit.c.number.in_(some))
            left["calls"] += conn.execute(in_calls).scalar_one()
            left["lookups"] += conn.execute(lookups).scalar_one()
        return left

    @staticmethod
    def delete_entries(conn: sa.Connection, ids: list[int]) -> dict[str, int]:
        return {
            sink_outbox.name: conn.execute(sink_outbox.delete().where(sink_outbox.c.id.in_(ids))).rowcount
        }

    @staticmethod
    def audit_erasure(conn: sa.Connection, by: str, counts: Mapping[str, int], now: datetime) -> None:
        """The one row that says an erasure happened: who, when, how many per place; never whom."""
        row = {
            "at": now,
            "agent_id": shape.clip(by),
            "action": "erase",
            "provider": None,
            "call_id": None,
            "number": None,
            "version": None,
            "sections": dict(counts),
        }
        conn.execute(audit.insert(), [row])


def _audit_of(refs: list[CallRef]) -> sa.ColumnElement[bool]:
    """Audit rows about these calls: by provider and call id, or by call id alone in rows from before 0002.

    ``call_id IN`` comes first so that the index on ``audit.call_id`` finds
    the rows: written as an ``OR`` of the two cases, SQLite scanned the whole
    audit table (every card shown for ``audit_days``) under the write lock.
    """
    by_provider = sa.tuple_(audit.c.provider, audit.c.call_id).in_([(p, c) for _, p, c in refs])
    return sa.and_(
        audit.c.call_id.in_(sorted({c for _, _, c in refs})),
        sa.or_(audit.c.provider.is_(None), by_provider),
    )


def _calls_page(
    conn: sa.Connection, after: int, where: sa.ColumnElement[bool], *columns: sa.ColumnElement[Any]
) -> Sequence[sa.Row[Any]]:
    """One page of calls after primary key ``after`` meeting ``where``: their refs and ``columns``.

    The scans that must read each call's own text (a raw number, a summary)
    go a page per read transaction, never holding one long scan open.
    """
    page = (
        sa.select(calls.c.id, calls.c.provider, calls.c.call_id, *columns)
        .where(calls.c.id > after, where)
        .order_by(calls.c.id)
        .limit(SCAN_ROWS)
    )
    return conn.execute(page).all()


def _next_page(rows: Sequence[Any]) -> int | None:
    """Where the next page starts; None when this one was the last."""
    return rows[-1].id if len(rows) == SCAN_ROWS else None


T = TypeVar("T")


class Eraser:
    """Removes every row of one caller: a batch of calls per transaction, and scans read page by page.

    Each step is a transaction of its own, so an erasure of a caller with
    thousands of calls never holds a long lock (as ``retention.Purger``).
    """

    def __init__(self, database: Database, sql: ErasureSQL) -> None:
        self._db = database
        self._sql = sql

    async def run(self, target: ErasureTarget) -> Erased:
        """The caller's calls, their rows, then what else names the caller; what is left of the numbers."""
        found = await self._calls_of(target)
        counts = dict.fromkeys(PURGED_TABLES, 0)  # every table is named, 0 included
        numbers: set[str] = set()
        for start in range(0, len(found), BATCH_ROWS):
            chunk = found[start : start + BATCH_ROWS]
            if target.customer_id is not None:
                numbers |= await self._db.read(self._sql.numbers_of, [pk for pk, _, _ in chunk])
            _add_counts(counts, await self._db.write(self._sql.delete_calls, chunk))
        _add_counts(counts, await self._db.write(self._sql.delete_rest, target))
        if target.customer_id is None:
            return Erased(counts, found, {})
        entries = await self._paged(self._sql.entries_of_customer_page, target)
        for start in range(0, len(entries), BATCH_ROWS):
            ids = entries[start : start + BATCH_ROWS]
            _add_counts(counts, await self._db.write(self._sql.delete_entries, ids))
        return Erased(counts, found, await self._db.read(self._sql.left_of_numbers, sorted(numbers)))

    async def _calls_of(self, target: ErasureTarget) -> list[CallRef]:
        if target.number is not None:
            found = await self._db.read(self._sql.calls_of_number, target.number)
            return found + await self._paged(self._sql.calls_of_raw_page, target)
        return await self._paged(self._sql.calls_of_customer_page, target)

    async def _paged(
        self,
        page: Callable[[sa.Connection, ErasureTarget, int], tuple[list[T], int | None]],
        target: ErasureTarget,
    ) -> list[T]:
        """Every match of a scan that reads one page per read transaction (never one long scan)."""
        found: list[T] = []
        after: int | None = 0
        while after is not None:
            more, after = await self._db.read(page, target, after)
            found += more
        return found


def _add_counts(total: dict[str, int], more: Mapping[str, int]) -> None:
    for table, count in more.items():
        total[table] = total.get(table, 0) + count
