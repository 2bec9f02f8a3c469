"""The outbox of sinks as store transactions: enqueue with the note, lease, settle, count.

An entry is written by ``enqueue`` inside the note's own transaction, so a
note answered 201 is in the store with one entry per sink, whatever happens
to the process next.  The delivery worker (``screenpop.sinks.worker``) then
``claim``s due entries: only the *head* of each (sink, call) chain, the
undelivered entry with no earlier undelivered version, so a later edit never
overtakes an earlier one.  A claim sets ``leased_until``/``leased_by`` in the
same transaction that picked the rows; on PostgreSQL the pick is
``SELECT … FOR UPDATE SKIP LOCKED``, so instances sharing the store never
wait on each other and never take the same entry while its lease runs.  On
SQLite the writer's ``BEGIN IMMEDIATE`` serialises claims.  A lease that
runs out (its instance was killed) makes the entry due again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from screenpop.card import summary_for
from screenpop.model import JSON
from screenpop.sink_api import Delivery, iso_z
from screenpop.store.schema import calls, sink_outbox
from screenpop.store.schema import notes as note_table

if TYPE_CHECKING:
    from screenpop.store.rows import AnyRow

MAX_ERROR = 200
"""Longest ``last_error`` kept: a reason, not a stack trace."""

FURTHEST_ATTEMPT_S = 330.0
"""No attempt is ever set further ahead than the worker's 5-minute ceiling (plus a margin)."""

o = sink_outbox
P = sa.bindparam


@dataclass(frozen=True, slots=True)
class LeasedEntry:
    """An entry this instance holds the lease of, with what it delivers."""

    id: int
    attempts: int
    created_at: datetime
    delivery: Delivery


@dataclass(frozen=True, slots=True)
class SinkBacklog:
    """Undelivered entries of one sink: how many, how many whose last attempt failed, the oldest."""

    pending: int
    failing: int
    oldest: datetime | None
    last_error: str | None


def customer_ids(summary: JSON | None) -> dict[str, str]:
    """``{connector: id}`` of the customer the call's card found, from the view that hides nothing.

    A sink is the company's own system of record, so it gets every id the
    card found (not one role's view); a call whose card found no customer,
    or whose summary is not written yet, gives ``{}``.
    """
    view = summary_for(summary, frozenset())
    ids = ((view or {}).get("customer") or {}).get("ids") or {}
    return {str(name): str(value) for name, value in ids.items() if value is not None}


def enqueue(
    conn: sa.Connection, sinks: Sequence[str], call: AnyRow, call_id: str, note: AnyRow
) -> int | None:
    """One entry per sink for this note (``call`` locked by the caller); the note's version.

    The version is the note's ordinal among its call's notes, and never one
    these sinks already had for this call id: retention's ``notes_days`` may
    purge a kept call's earlier notes (and a purged call's id may come
    again), and counting alone would then give a version, so an idempotency
    key, a sink already took for another note (refused by the outbox's
    unique key, or dropped by a sink that honours the key).  The caller
    holds the call row's lock, so two notes saved on one call at once get
    versions 1 and 2, never 1 twice.  The versions are counted over every
    provider's entries of this call id, not only this provider's: the key
    names no provider, so two phone systems that both send ``c-1`` would
    otherwise both send ``c-1:1``, and a sink honouring the key would drop
    the second note as a repeat.
    """
    if not sinks:
        return None
    ordinal = conn.execute(
        sa.select(sa.func.count())
        .select_from(note_table)
        .where(note_table.c.call_pk == call.id, note_table.c.id <= note.id)
    ).scalar_one()
    last = conn.execute(
        sa.select(sa.func.max(o.c.version)).where(o.c.sink.in_(list(sinks)), o.c.call_id == call_id)
    ).scalar_one_or_none()
    version = max(int(ordinal), int(last or 0) + 1)
    ids = customer_ids(call.summary)
    payload = {
        "call_id": call_id,
        "e164": call.caller_e164,
        "agent": note.agent_id,
        "disposition": note.disposition,
        "notes": note.notes,
        "saved_at": iso_z(note.created_at),
        "customer_ids": ids,
    }
    common = {
        "call_pk": call.id,
        "provider": call.provider,
        "call_id": call_id,
        "version": version,
        "idempotency_key": f"{call_id}:{version}",
        "caller_e164": call.caller_e164,
        "customer_ids": ids,
        "payload": payload,
        "created_at": note.created_at,
        "attempts": 0,
        "next_attempt_at": note.created_at,
    }
    conn.execute(o.insert(), [{"sink": sink, **common} for sink in sinks])
    return int(version)


def locked_call(conn: sa.Connection, call_pk: int, call_id: str) -> AnyRow:
    """The call's row, locked until the transaction ends (its notes' versions are counted under it).

    Versions are counted across every provider's calls of this id
    (``enqueue``), so two notes saved at once on two systems' ``c-1`` must
    not both count the same last version: on PostgreSQL a transaction lock
    on the call id serialises them (SQLite's single writer does already).
    It is an advisory lock rather than the other calls' rows, which the
    write-behind batches lock in their own order: a note holding two rows
    could deadlock with such a batch.
    """
    if conn.dialect.name == "postgresql":
        key = sa.func.hashtextextended(f"screenpop note version {call_id}", 0)
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(key)))
    query = sa.select(calls.c.id, calls.c.provider, calls.c.caller_e164, calls.c.summary)
    return conn.execute(query.where(calls.c.id == call_pk).with_for_update()).one()


class OutboxSQL:
    """The worker's statements, built once per store."""

    def __init__(self) -> None:
        earlier = o.alias("earlier")
        blocked = sa.exists().where(
            earlier.c.sink == o.c.sink,
            earlier.c.provider == o.c.provider,
            earlier.c.call_id == o.c.call_id,
            earlier.c.version < o.c.version,
            earlier.c.delivered_at.is_(None),
        )
        self._due = (
            sa.select(o.c.id)
            .where(
                o.c.delivered_at.is_(None),
                o.c.sink.in_(P("w_sinks", expanding=True)),
                o.c.next_attempt_at <= P("w_now"),
                sa.or_(o.c.leased_until.is_(None), o.c.leased_until <= P("w_now")),
                ~blocked,
            )
            .order_by(o.c.id)
            .limit(P("w_limit", type_=sa.Integer))
            .with_for_update(skip_locked=True, of=o)
        )
        self._lease = (
            o.update()
            .where(
                o.c.id.in_(P("w_ids", expanding=True)),
                o.c.delivered_at.is_(None),
                sa.or_(o.c.leased_until.is_(None), o.c.leased_until <= P("w_now")),
            )
            .values(leased_until=P("w_until"), leased_by=P("w_owner"))
            .returning(
                o.c.id,
                o.c.sink,
                o.c.provider,
                o.c.call_id,
                o.c.version,
                o.c.idempotency_key,
                o.c.payload,
                o.c.attempts,
                o.c.created_at,
            )
        )
        self._backlog = (
            sa.select(
                o.c.sink,
                sa.func.count(),
                sa.func.count(o.c.last_error),
                sa.func.min(o.c.created_at),
            )
            .where(o.c.delivered_at.is_(None))
            .group_by(o.c.sink)
        )

    def claim(
        self,
        conn: sa.Connection,
        owner: str,
        now: datetime,
        lease_s: float,
        limit: int,
        sinks: Sequence[str],
    ) -> list[LeasedEntry]:
        """Lease up to ``limit`` due heads of the (sink, call) chains of these sinks, oldest first.

        Entries of a sink no longer configured stay (shown in ``/readyz``)
        until it is configured again: they are never dropped.
        """
        params = {"w_now": now, "w_limit": limit, "w_sinks": list(sinks)}
        ids = list(conn.execute(self._due, params).scalars())
        if not ids:
            return []
        until = now + timedelta(seconds=lease_s)
        params = {"w_ids": ids, "w_now": now, "w_until": until, "w_owner": owner}
        rows = conn.execute(self._lease, params).all()
        return sorted((_leased(r) for r in rows), key=lambda e: e.id)

    @staticmethod
    def delivered(conn: sa.Connection, entry_id: int, now: datetime) -> None:
        """Settle an entry as taken by its sink (whoever holds the lease now: it was delivered)."""
        conn.execute(
            o.update()
            .where(o.c.id == entry_id, o.c.delivered_at.is_(None))
            .values(
                delivered_at=now,
                attempts=o.c.attempts + 1,
                leased_until=None,
                leased_by=None,
                last_error=None,
            )
        )

    @staticmethod
    def failed(conn: sa.Connection, entry_id: int, owner: str, next_at: datetime, error: str) -> None:
        """Record a failed attempt and when to try again; only while this instance holds the lease."""
        conn.execute(
            o.update()
            .where(o.c.id == entry_id, o.c.leased_by == owner, o.c.delivered_at.is_(None))
            .values(
                attempts=o.c.attempts + 1,
                next_attempt_at=next_at,
                leased_until=None,
                leased_by=None,
                last_error=error[:MAX_ERROR],
            )
        )

    @staticmethod
    def due_again(conn: sa.Connection, now: datetime) -> int:
        """Entries due further off than any attempt is ever set are due ``now``; how many.

        Only after this instance's wall clock went back (an NTP step, a
        restored VM): the times set before the step read that much later,
        and the notes would wait for the clock to catch up.  Not a rule of
        every claim: between hosts whose clocks disagree by more than the
        ceiling, it would let each retry the other's entries at once.
        """
        furthest = now + timedelta(seconds=FURTHEST_ATTEMPT_S)
        due = o.update().where(o.c.delivered_at.is_(None), o.c.next_attempt_at > furthest)
        return int(conn.execute(due.values(next_attempt_at=now)).rowcount)

    @staticmethod
    def released(conn: sa.Connection, entry_ids: Sequence[int], owner: str) -> None:
        """Give back leases this instance holds without an attempt counted: due again for anyone, now."""
        conn.execute(
            o.update()
            .where(o.c.id.in_(list(entry_ids)), o.c.leased_by == owner, o.c.delivered_at.is_(None))
            .values(leased_until=None, leased_by=None)
        )

    def backlog(self, conn: sa.Connection) -> dict[str, SinkBacklog]:
        """Undelivered entries per sink, with the reason of the oldest failing one."""
        found: dict[str, SinkBacklog] = {}
        for sink, pending, failing, oldest in conn.execute(self._backlog).all():
            reason = None
            if failing:
                reason = conn.execute(
                    sa.select(o.c.last_error)
                    .where(o.c.sink == sink, o.c.delivered_at.is_(None), o.c.last_error.is_not(None))
                    .order_by(o.c.id)
                    .limit(1)
                ).scalar_one_or_none()
            found[sink] = SinkBacklog(int(pending), int(failing), oldest, reason)
        return found


def _leased(row: AnyRow) -> LeasedEntry:
    payload: dict[str, Any] = dict(row.payload)
    delivery = Delivery(
        sink=row.sink,
        provider=row.provider,
        call_id=row.call_id,
        version=row.version,
        idempotency_key=row.idempotency_key,
        e164=payload.get("e164"),
        agent=payload.get("agent") or "",
        disposition=payload.get("disposition"),
        notes=payload.get("notes"),
        saved_at=datetime.fromisoformat(payload["saved_at"]),
        customer_ids=dict(payload.get("customer_ids") or {}),
    )
    return LeasedEntry(row.id, row.attempts, row.created_at, delivery)
