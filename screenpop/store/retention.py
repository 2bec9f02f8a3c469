"""Retention: screenpop forgets its own data once it is older than ``retention:`` allows.

What goes, by age (``docs/retention.md``):

- calls received more than ``calls_days`` ago, with every row that hangs
  off a call by foreign key (events, recipients, card summaries, feedback,
  notes), found from ``schema.metadata`` so that a future child table is
  purged with its call without anyone remembering to add it here;
- notes saved more than ``notes_days`` ago;
- audit rows written more than ``audit_days`` ago;
- the sink outbox's *delivered* entries older than the longest of those
  ages.  A pending entry is never purged: it is a note a sink has not taken
  yet, and losing it would break "never lost".

Each step deletes in batches of at most ``batch_rows`` rows, one short
transaction each (the ids are selected first, then deleted by id), so a
purge of a million rows never holds a lock for long and the calls being
recorded meanwhile only wait for one batch.  One instance purges at a time:
a lease row in ``store_leases`` (the same path on SQLite and PostgreSQL),
renewed after every batch; a crashed holder's lease runs out by itself.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from screenpop.store.connections import Database
from screenpop.store.schema import audit, calls, metadata, notes, sink_outbox, store_leases

LEASE_NAME = "retention"
LEASE_S = 300.0
"""How long a purger's lease lasts without renewal (renewed after every batch)."""
BATCH_ROWS = 1000

PURGED_TABLES = tuple(t.name for t in metadata.sorted_tables if t.name != store_leases.name)
"""Every table a purge or an erasure may count rows of (the metric's label values)."""


def call_children() -> tuple[sa.Table, ...]:
    """Tables whose rows belong to a call by a foreign key to ``calls.id`` (deleted with it)."""
    return tuple(t for t in metadata.sorted_tables if any(fk.column is calls.c.id for fk in t.foreign_keys))


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """Ages in days; 0 keeps that kind of row forever."""

    calls_days: int = 0
    notes_days: int = 0
    audit_days: int = 0

    @property
    def enabled(self) -> bool:
        return any((self.calls_days, self.notes_days, self.audit_days))

    @property
    def outbox_days(self) -> int:
        """Delivered sink entries go after the longest configured age (0: none configured, kept)."""
        return max(self.calls_days, self.notes_days, self.audit_days)

    @property
    def note_copy_days(self) -> int:
        """A sink entry is a copy of a note (its text, the caller's number): it ages as the note does.

        A note goes after ``notes_days`` or with its call after ``calls_days``,
        whichever comes first; 0 when neither is configured (notes kept).
        """
        return min((d for d in (self.calls_days, self.notes_days) if d), default=0)


@dataclass(slots=True)
class PurgeReport:
    """What one purge removed, per table, and what its transactions cost."""

    counts: dict[str, int] = field(default_factory=dict)
    batches: int = 0
    max_batch_rows: int = 0
    """The most rows of one kind (calls, notes, …) one transaction deleted: at most the batch size."""
    max_batch_s: float = 0.0
    batch_s: list[float] = field(default_factory=list)
    """Each transaction's time, in order (a few thousand floats for a purge of millions of rows)."""
    elapsed_s: float = 0.0

    def add(self, counts: dict[str, int], rows: int, batch_s: float) -> None:
        for table, count in counts.items():
            self.counts[table] = self.counts.get(table, 0) + count
        self.batches += 1
        self.max_batch_rows = max(self.max_batch_rows, rows)
        self.max_batch_s = max(self.max_batch_s, batch_s)
        self.batch_s.append(batch_s)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


class RetentionSQL:
    """The purge's transactions, each a synchronous function of one connection."""

    def __init__(self, dialect: str) -> None:
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        self._new_lease = insert(store_leases).on_conflict_do_nothing(index_elements=["name"])
        self._children = call_children()

    def take_lease(self, conn: sa.Connection, holder: str, now: datetime, lease_s: float) -> bool:
        """True when ``holder`` now holds the purge lease (it was free, expired or its own)."""
        until = now + timedelta(seconds=lease_s)
        taken = conn.execute(
            store_leases.update()
            .where(store_leases.c.name == LEASE_NAME)
            .where(sa.or_(store_leases.c.until <= now, store_leases.c.holder == holder))
            .values(holder=holder, until=until)
        )
        if taken.rowcount:
            return True
        made = conn.execute(self._new_lease, {"name": LEASE_NAME, "holder": holder, "until": until})
        return bool(made.rowcount)

    def release_lease(self, conn: sa.Connection, holder: str, now: datetime) -> None:
        conn.execute(
            store_leases.update()
            .where(store_leases.c.name == LEASE_NAME, store_leases.c.holder == holder)
            .values(until=now)
        )

    def purge_calls(self, conn: sa.Connection, cutoff: datetime, limit: int) -> dict[str, int]:
        """Up to ``limit`` calls received before ``cutoff``, with their child rows."""
        pks = list(
            conn.execute(sa.select(calls.c.id).where(calls.c.received_at < cutoff).limit(limit)).scalars()
        )
        return self.delete_calls(conn, pks)

    def delete_calls(self, conn: sa.Connection, pks: list[int]) -> dict[str, int]:
        """These calls and every row of theirs in a child table; counts per table."""
        if not pks:
            return {}
        counts = {}
        for child in self._children:
            counts[child.name] = conn.execute(child.delete().where(child.c.call_pk.in_(pks))).rowcount
        counts[calls.name] = conn.execute(calls.delete().where(calls.c.id.in_(pks))).rowcount
        return counts

    @staticmethod
    def purge_older(
        conn: sa.Connection, *, table: sa.Table, condition: sa.ColumnElement[bool], limit: int
    ) -> dict[str, int]:
        """Up to ``limit`` rows of ``table`` that meet ``condition``, selected by id then deleted."""
        ids = list(conn.execute(sa.select(table.c.id).where(condition).limit(limit)).scalars())
        if not ids:
            return {}
        return {table.name: conn.execute(table.delete().where(table.c.id.in_(ids))).rowcount}

    @staticmethod
    def blank_older(
        conn: sa.Connection, *, condition: sa.ColumnElement[bool], now: datetime, limit: int
    ) -> dict[str, int]:
        """Up to ``limit`` sink copies meeting ``condition`` lose what they held of the note and the caller.

        The row stays (its sink, call id and version) until ``outbox_days``:
        any version a sink may have been sent, even by an attempt that seemed
        to fail, must never be given to another note on that call id, or a
        sink that honours the idempotency key would drop that note
        (``outbox.enqueue``).  A copy not delivered by then is given up, and
        says so: the note it would carry is gone.
        """
        o = sink_outbox
        kept = sa.cast(o.c.payload, sa.Text) != "{}"
        ids = list(conn.execute(sa.select(o.c.id).where(condition, kept).limit(limit)).scalars())
        if not ids:
            return {}
        blank = (
            o.update()
            .where(o.c.id.in_(ids))
            .values(
                payload={},
                caller_e164=None,
                customer_ids=None,
                delivered_at=sa.func.coalesce(o.c.delivered_at, now),
                last_error=sa.case((o.c.delivered_at.is_(None), GIVEN_UP), else_=o.c.last_error),
                leased_until=None,
                leased_by=None,
            )
        )
        return {o.name: conn.execute(blank).rowcount}


GIVEN_UP = "given up: not delivered while the note was kept (retention)"

Step = Callable[[sa.Connection], dict[str, int]]
"""One batch of one kind of row; answers the rows it deleted per table."""


class Purger:
    """Runs one purge of a store under the lease; ``run`` answers None when another instance holds it."""

    def __init__(
        self, database: Database, holder: str, *, batch_rows: int = BATCH_ROWS, lease_s: float = LEASE_S
    ) -> None:
        self._db = database
        self._sql = RetentionSQL(database.dialect)
        self._holder = holder
        self._batch_rows = batch_rows
        self._lease_s = lease_s

    async def run(self, policy: RetentionPolicy, now: datetime) -> PurgeReport | None:
        """Delete every row past its age at ``now``, batch by batch; None when the lease is taken.

        ``now`` (the app's clock) decides the ages; the lease is renewed at
        ``now`` plus the time the purge has taken so far, so a long purge
        keeps it however the clock was injected.
        """
        report = PurgeReport()
        if not policy.enabled:
            return report  # everything is kept forever: nothing to purge, no lease to take
        if not await self._db.write(self._sql.take_lease, self._holder, now, self._lease_s):
            return None
        started = time.perf_counter()
        try:
            for table, step in self._steps(policy, now):
                await self._drain(table, step, report, now, started)
        finally:
            await self._db.write(self._sql.release_lease, self._holder, now)
        report.elapsed_s = time.perf_counter() - started
        return report

    def _steps(self, policy: RetentionPolicy, now: datetime) -> list[tuple[str, Step]]:
        limit, sql = self._batch_rows, self._sql
        steps: list[tuple[str, Step]] = []
        if policy.calls_days:
            cutoff = now - timedelta(days=policy.calls_days)
            steps.append((calls.name, lambda conn: sql.purge_calls(conn, cutoff, limit)))
        delivered = sink_outbox.c.delivered_at
        for days, table, condition in (
            (policy.notes_days, notes, lambda c: notes.c.created_at < c),
            (policy.audit_days, audit, lambda c: audit.c.at < c),
            (policy.outbox_days, sink_outbox, lambda c: sa.and_(delivered.is_not(None), delivered < c)),
        ):
            if days:
                where = condition(now - timedelta(days=days))
                steps.append(
                    (
                        table.name,
                        functools.partial(sql.purge_older, table=table, condition=where, limit=limit),
                    )
                )
        if policy.note_copy_days:  # a copy keeps only its key (``blank_older``)
            aged = sink_outbox.c.created_at < now - timedelta(days=policy.note_copy_days)
            steps.append(
                (sink_outbox.name, functools.partial(sql.blank_older, condition=aged, now=now, limit=limit))
            )
        return steps

    async def _drain(
        self, table: str, step: Step, report: PurgeReport, now: datetime, started: float
    ) -> None:
        """Run one step's batches until a batch finds fewer of its rows than a full batch."""
        while True:
            lease_now = now + timedelta(seconds=time.perf_counter() - started)
            began = time.perf_counter()
            counts = await self._db.write(self._batch, step, lease_now)
            rows = counts.get(table, 0)
            report.add(counts, rows, time.perf_counter() - began)
            if rows < self._batch_rows:
                return

    def _batch(self, conn: sa.Connection, step: Step, lease_now: datetime) -> dict[str, int]:
        """One batch, renewing the lease in the same transaction (so it never lapses mid-purge)."""
        self._sql.take_lease(conn, self._holder, lease_now, self._lease_s)
        return step(conn)
