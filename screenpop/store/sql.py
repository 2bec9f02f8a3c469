"""Every store operation, written once as a synchronous function of one SQLAlchemy ``Connection``.

Synchronous because that is what both backends can run in a single hop:
SQLite's worker thread calls these directly and PostgreSQL's async engine
runs them through ``AsyncConnection.run_sync``; an ``await`` per statement
would cost SQLite a thread round trip per statement instead of one per
transaction (``connections`` says more).

Every write that two webhooks could race on is an ``INSERT … ON CONFLICT
DO NOTHING`` followed by a row lock, so a repeated or concurrent event is a
no-op on both backends, and a call's status only moves forward whatever
order the phone system's events arrive in.

The hot statements are built once per store with named parameters: on
SQLite building a Core statement costs more than running it, and a
prebuilt statement keeps its memoised cache key, so each execute is a
lookup in SQLAlchemy's compiled cache.  Parameters in a WHERE clause are
prefixed ``w_`` because an UPDATE reserves column names for its SET clause.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

import screenpop.store.outbox as outbox
import screenpop.store.rows as shape
from screenpop.errors import Forbidden, NotFound
from screenpop.model import JSON, CallEvent, EventKind, HistoryEntry
from screenpop.retry import is_transient
from screenpop.store.history import NEWEST_CALL_FIRST, HistorySQL
from screenpop.store.hot_writes import SUMMARY_NOT_OLDER, HotWrites
from screenpop.store.rows import CallState, CallWrite, EventWrite, SummaryWrite
from screenpop.store.schema import STATUS_RANK, audit, call_events, call_recipients, calls
from screenpop.store.schema import notes as note_table
from screenpop.untrusted import quoted

if TYPE_CHECKING:
    from screenpop.store.rows import AnyRow

P = sa.bindparam
SAME_CALL = sa.and_(calls.c.provider == P("w_provider"), calls.c.call_id == P("w_call_id"))


class StoreSQL:
    """The store's statements for one dialect, and the transactions made of them."""

    def __init__(self, dialect: str) -> None:
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        self._insert_call = (
            insert(calls).on_conflict_do_nothing(index_elements=["provider", "call_id"]).returning(calls.c.id)
        )
        self._insert_event = (
            insert(call_events)
            .on_conflict_do_nothing(index_elements=["call_pk", "event"])
            .returning(call_events.c.event)
        )
        self._insert_recipients = insert(call_recipients).on_conflict_do_nothing(
            index_elements=["call_pk", "agent_id"]
        )
        self._lock_call = sa.select(calls).where(SAME_CALL).with_for_update()
        self._call_pk = sa.select(calls.c.id).where(SAME_CALL)
        self._update_call = calls.update().where(calls.c.id == P("w_pk")).returning(*calls.c)
        self._set_summary = calls.update().where(SAME_CALL, SUMMARY_NOT_OLDER)
        self._recipients = (
            sa.select(call_recipients.c.agent_id)
            .where(call_recipients.c.call_pk == P("w_call_pk"))
            .order_by(call_recipients.c.added_at, call_recipients.c.agent_id)
        )
        self._notes = (
            sa.select(note_table)
            .where(note_table.c.call_pk.in_(P("w_pks", expanding=True)))
            .order_by(note_table.c.created_at, note_table.c.id)
        )
        recent = sa.select(calls).order_by(*NEWEST_CALL_FIRST).limit(P("w_limit", type_=sa.Integer))
        self._recent_all = recent
        self._recent_of_agent = recent.join(call_recipients, call_recipients.c.call_pk == calls.c.id).where(
            call_recipients.c.agent_id == P("w_agent")
        )
        self._select_one = sa.select(1)
        self._history = HistorySQL(dialect)
        self._hot = HotWrites(dialect, insert)

    def ping(self, conn: sa.Connection) -> None:
        """The cheapest statement that proves the database answers."""
        conn.execute(self._select_one)

    # -- calls ---------------------------------------------------------------

    def record_event(
        self, conn: sa.Connection, event: CallEvent, caller_e164: str | None, now: datetime
    ) -> CallState:
        """Record one event of a call; the same event again changes nothing."""
        created = self._create_call(conn, event, caller_e164, now) is not None
        row = self._locked_call(conn, event.provider, event.call_id)
        fresh = self._add_event(conn, row.id, event, now)
        if fresh and not created:
            row = self._advance(conn, row, event, caller_e164, now)
        status = EventKind(row.status)
        return CallState(
            call_id=row.call_id,
            provider=row.provider,
            status=status,
            answered_by=row.answered_by,
            duplicate=not fresh,
            should_pop=fresh and event.event is EventKind.RINGING and status is EventKind.RINGING,
            recipients=self._recipients_of(conn, row.id),
        )

    def record_batch(
        self,
        conn: sa.Connection,
        writes: Sequence[CallWrite],
        now: datetime,
        audit_rows: Sequence[dict[str, Any]] = (),
    ) -> tuple[bool, list[SummaryWrite]]:
        """Events, recipient lists and summaries in one transaction; the summaries of no call come back.

        A summary may come before its call's row: an instance that ran a
        mid-call update writes it, while the one that took the ringing is
        still to write the call.  Such summaries are returned (with whether
        the audit rows were stored), for the caller to write again later.

        ``audit_rows`` go in the same transaction, within a savepoint: rows
        the database refuses are rolled back alone (False is returned, and
        the audit queue writes them its own way) and the records commit.

        The batch's recipients go in one executemany at the end, and its
        summaries in one per run: a summary waits only until an event of its
        own call comes along (which could create the call), so what is
        stored is what writing each in order would store, in fewer statements.
        """
        recipients: list[dict[str, Any]] = []
        summaries: list[dict[str, Any]] = []
        summarised: set[tuple[str, str]] = set()
        with_events: set[tuple[str, str]] = set()  # calls with an event so far: their row exists
        # per call, its last summary written when no event of the batch had come before it
        unsure: dict[tuple[str, str], SummaryWrite] = {}
        for write in writes:
            if isinstance(write, SummaryWrite):
                key = (write.provider, write.call_id)
                summaries.append(self._summary_params(write))
                summarised.add(key)
                if key in with_events:
                    unsure.pop(key, None)  # a later summary, surely placed, supersedes it
                else:
                    unsure[key] = write
                continue
            key = (write.event.provider, write.event.call_id)
            with_events.add(key)
            if key in summarised:
                self._hot.summaries.many(conn, summaries)
                summaries, summarised = [], set()
            call_pk = self._apply_event(conn, write, now)
            recipients += self._recipient_rows(call_pk, shape.agents_of(write.recipients), now)
        self._hot.summaries.many(conn, summaries)
        self._hot.recipients.many(conn, recipients)
        return self._audit_within(conn, audit_rows), self._unplaced(conn, unsure, with_events)

    def _unplaced(
        self,
        conn: sa.Connection,
        unsure: dict[tuple[str, str], SummaryWrite],
        with_events: set[tuple[str, str]],
    ) -> list[SummaryWrite]:
        """Of the summaries written before any event of their call, those that may have found no row.

        One whose call had an event later in the batch was written before
        that event could create the row: it is handed back (writing it again
        is harmless, the version decides).  Of the others, those whose call
        has no row: a query per provider.
        """
        found: set[tuple[str, str]] = set()
        alone = [key for key in unsure if key not in with_events]
        for provider in {p for p, _ in alone}:
            ids = {call_id for p, call_id in alone if p == provider}
            query = sa.select(calls.c.call_id).where(calls.c.provider == provider, calls.c.call_id.in_(ids))
            found |= {(provider, call_id) for call_id in conn.execute(query).scalars()}
        return [write for key, write in unsure.items() if key not in found]

    def _audit_within(self, conn: sa.Connection, rows: Sequence[dict[str, Any]]) -> bool:
        """Audit rows under a savepoint of the caller's transaction; False when the database refused them."""
        if not rows:
            return True
        try:
            with conn.begin_nested():
                self._hot.audit.many(conn, rows)
        except sa.exc.DBAPIError as exc:
            if is_transient(exc):
                raise  # the database is away or locked: the whole transaction is retried
            return False  # refused data: the audit queue finds the row at fault, row by row
        return True

    def add_recipients(
        self, conn: sa.Connection, provider: str, call_id: str, agents: list[str], now: datetime
    ) -> None:
        pk = self._required_call_pk(conn, provider, call_id)
        self._insert_recipient_rows(conn, pk, agents, now)

    def recipients(self, conn: sa.Connection, provider: str, call_id: str) -> tuple[str, ...]:
        pk = conn.execute(self._call_pk, {"w_provider": provider, "w_call_id": call_id}).scalar_one_or_none()
        return () if pk is None else self._recipients_of(conn, pk)

    def call_notes(self, conn: sa.Connection, provider: str, call_id: str) -> list[JSON]:
        pk = conn.execute(self._call_pk, {"w_provider": provider, "w_call_id": call_id}).scalar_one_or_none()
        return [] if pk is None else self._notes_of(conn, [pk]).get(pk, [])

    def save_summary(self, conn: sa.Connection, write: SummaryWrite) -> None:
        """Keep the summary unless a later version's is kept already; ``NotFound`` when there is no call."""
        stmt = self._set_summary.returning(calls.c.id)
        if conn.execute(stmt, self._summary_params(write)).first() is not None:
            return
        the_call = {"w_provider": write.provider, "w_call_id": write.call_id}
        if conn.execute(self._call_pk, the_call).first() is None:
            raise NotFound(f"no call {quoted(write.call_id)} from {write.provider!r}")

    def recent_calls(self, conn: sa.Connection, agent_id: str | None, limit: int) -> list[JSON]:
        if agent_id is None:
            rows = conn.execute(self._recent_all, {"w_limit": limit}).all()
        else:
            rows = conn.execute(self._recent_of_agent, {"w_limit": limit, "w_agent": agent_id}).all()
        by_call = self._notes_of(conn, [r.id for r in rows])
        return [shape.call_json(r, by_call.get(r.id, [])) for r in rows]

    def history(
        self, conn: sa.Connection, caller_e164: str, limit: int, exclude: tuple[str | None, str] | None
    ) -> tuple[HistoryEntry, ...]:
        """Earlier calls of a number; ``exclude`` is the (provider or None for any, call id) being shown."""
        return self._history.read(conn, caller_e164, limit, exclude)

    # -- notes and audit -------------------------------------------------------

    @staticmethod
    def save_note(
        conn: sa.Connection,
        call_id: str,
        agent_id: str,
        disposition: str | None,
        notes: str | None,
        may_annotate_any: bool,
        now: datetime,
        sinks: Sequence[str] = (),
    ) -> JSON:
        """Add a note to the call of this id that the agent received, if the agent may annotate it.

        With ``sinks``, one outbox entry per sink is written in this same
        transaction (``store.outbox``), under the call row's lock so that the
        note's version (its ordinal on the call) is counted once.

        A provider's call id is unique only within that provider: two phone
        systems may both send ``c-1``.  The note goes to the newest such call
        the agent received or answered; one who may annotate any call and
        received none of them annotates the newest.
        """
        call = _call_of_agent(conn, call_id, agent_id)
        if call is None and may_annotate_any:
            call = conn.execute(
                sa.select(calls.c.id, calls.c.provider)
                .where(calls.c.call_id == call_id)
                .order_by(*NEWEST_CALL_FIRST)
                .limit(1)
            ).first()
        if call is None:
            call = call_received_by(conn, call_id, agent_id)  # raises NotFound or Forbidden
        if sinks:
            call = outbox.locked_call(conn, call.id, call_id)
        note = conn.execute(
            note_table.insert().returning(*note_table.c),
            {
                "call_pk": call.id,
                "agent_id": agent_id,
                "disposition": disposition,
                "notes": notes,
                "created_at": now,
            },
        ).one()
        conn.execute(
            audit.insert(),
            {
                "at": now,
                "agent_id": agent_id,
                "action": "note",
                "provider": call.provider,
                "call_id": call_id,
                "sections": [],
            },
        )
        outbox.enqueue(conn, sinks, call, call_id, note)
        return {"call_id": call_id, "provider": call.provider, **shape.note_json(note)}

    def insert_audit(self, conn: sa.Connection, rows: list[dict[str, Any]]) -> None:
        self._hot.audit.many(conn, rows)

    @staticmethod
    def audit_rows(conn: sa.Connection, limit: int) -> list[JSON]:
        query = sa.select(audit).order_by(audit.c.id.desc()).limit(max(0, limit))
        return [{**r._asdict(), "at": shape.iso(r.at)} for r in conn.execute(query).all()]

    @staticmethod
    def who_saw(conn: sa.Connection, number: str | None, agent_id: str | None, scan: int) -> list[JSON]:
        """Audit rows, newest first, with the caller's number of the call a card row names."""
        query = (
            sa.select(audit, calls.c.caller_e164)
            .select_from(audit.outerjoin(calls, _same_call_as_audit_row()))
            .order_by(audit.c.id.desc())
            .limit(max(1, scan))
        )
        if number is not None:
            query = query.where(
                audit.c.id.in_(_audit_ids_of_number(number)),
                sa.or_(calls.c.caller_e164 == number, audit.c.number == number),
            )
        if agent_id is not None:
            query = query.where(audit.c.agent_id == agent_id)
        return [
            {
                "at": shape.iso(r.at),
                "agent": r.agent_id,
                "action": r.action,
                "call_id": r.call_id,
                "number": r.number or r.caller_e164,
                "version": r.version,
                # an erasure's are its counts per place (``store.erasure.audit_erasure``)
                "sections": dict(r.sections) if isinstance(r.sections, dict) else list(r.sections or []),
            }
            for r in conn.execute(query).all()
        ]

    # -- helpers -------------------------------------------------------------

    def _apply_event(self, conn: sa.Connection, write: EventWrite, now: datetime) -> int:
        """One event of a batch: the call row (created, or advanced) and the timeline; the call's key."""
        event = write.event
        shape.check_id("provider", event.provider)
        shape.check_id("call_id", event.call_id)
        created = self._hot.call.first(conn, shape.new_call(event, write.caller_e164, now))
        if created is not None:
            call_pk: int = created[0]
            self._hot.event.many(conn, [shape.new_event(call_pk, event, now)])
        else:
            row = self._locked_call(conn, event.provider, event.call_id)
            call_pk = row.id
            if self._add_event(conn, call_pk, event, now):
                self._advance(conn, row, event, write.caller_e164, now)
        return call_pk

    def _create_call(
        self, conn: sa.Connection, event: CallEvent, e164: str | None, now: datetime
    ) -> int | None:
        """The new call's key, or None when the call was already there."""
        created: int | None = conn.execute(
            self._insert_call, shape.new_call(event, e164, now)
        ).scalar_one_or_none()
        return created

    def _locked_call(self, conn: sa.Connection, provider: str, call_id: str) -> AnyRow:
        return conn.execute(self._lock_call, {"w_provider": provider, "w_call_id": call_id}).one()

    def _add_event(self, conn: sa.Connection, call_pk: int, event: CallEvent, now: datetime) -> bool:
        result = conn.execute(self._insert_event, shape.new_event(call_pk, event, now))
        return result.first() is not None

    def _advance(
        self, conn: sa.Connection, row: AnyRow, event: CallEvent, e164: str | None, now: datetime
    ) -> AnyRow:
        """Apply a new event to an existing call: status forward only, blanks filled."""
        current = row._mapping
        changes: dict[str, Any] = {}
        if STATUS_RANK[event.event.value] > STATUS_RANK[row.status]:
            changes["status"] = event.event.value
        for column, value in {**shape.caller_fields(event, e164), **shape.outcome(event, now)}.items():
            if value is not None and current[column] is None:
                changes[column] = value
        if not changes:
            return row
        return conn.execute(self._update_call, {**changes, "w_pk": row.id}).one()

    def _required_call_pk(self, conn: sa.Connection, provider: str, call_id: str) -> int:
        pk: int | None = conn.execute(
            self._call_pk, {"w_provider": provider, "w_call_id": call_id}
        ).scalar_one_or_none()
        if pk is None:
            raise NotFound(f"no call {quoted(call_id)} from {provider!r}")
        return pk

    def _insert_recipient_rows(
        self, conn: sa.Connection, call_pk: int, agents: list[str], now: datetime
    ) -> None:
        if agents:
            conn.execute(self._insert_recipients, self._recipient_rows(call_pk, agents, now))

    @staticmethod
    def _recipient_rows(call_pk: int, agents: list[str], now: datetime) -> list[dict[str, Any]]:
        return [{"call_pk": call_pk, "agent_id": a, "added_at": now} for a in agents]

    def _recipients_of(self, conn: sa.Connection, call_pk: int) -> tuple[str, ...]:
        return tuple(conn.execute(self._recipients, {"w_call_pk": call_pk}).scalars())

    @staticmethod
    def _summary_params(write: SummaryWrite) -> dict[str, Any]:
        return {
            "summary": write.summary,
            "summary_version": write.version,
            "w_provider": write.provider,
            "w_call_id": write.call_id,
            "w_version": write.version,
        }

    def _notes_of(self, conn: sa.Connection, call_pks: list[int]) -> dict[int, list[JSON]]:
        """Every note of these calls, oldest first per call."""
        if not call_pks:
            return {}
        by_call: dict[int, list[JSON]] = {}
        for note in conn.execute(self._notes, {"w_pks": call_pks}).all():
            by_call.setdefault(note.call_pk, []).append(shape.note_json(note))
        return by_call


def _same_call_as_audit_row() -> sa.ColumnElement[bool]:
    """An audit row's call: its provider's call of that id (any provider's for rows older than 0002)."""
    return sa.and_(
        calls.c.call_id == audit.c.call_id,
        sa.or_(audit.c.provider.is_(None), calls.c.provider == audit.c.provider),
    )


def _audit_ids_of_number(number: str) -> sa.CompoundSelect[tuple[int]]:
    """The audit rows naming a number: its lookups, and the cards of its calls, each found by an index.

    Written as one ``OR`` over the outer join, the condition could use no
    index: ``screenpop audit --number`` read the whole audit table.
    """
    of_calls = (
        sa.select(audit.c.id)
        .select_from(audit.join(calls, _same_call_as_audit_row()))
        .where(calls.c.caller_e164 == number)
    )
    return sa.union(sa.select(audit.c.id).where(audit.c.number == number), of_calls)


def _call_of_agent(conn: sa.Connection, call_id: str, agent_id: str) -> AnyRow | None:
    """The newest call of this id (any provider) that the agent received or answered."""
    received = sa.exists().where(
        call_recipients.c.call_pk == calls.c.id, call_recipients.c.agent_id == agent_id
    )
    query = (
        sa.select(calls.c.id, calls.c.provider)
        .where(calls.c.call_id == call_id, sa.or_(calls.c.answered_by == agent_id, received))
        .order_by(*NEWEST_CALL_FIRST)
        .limit(1)
    )
    return conn.execute(query).first()


def call_received_by(conn: sa.Connection, call_id: str, agent_id: str) -> AnyRow:
    """The newest call of this id the agent received or answered; ``NotFound``/``Forbidden`` otherwise."""
    call = _call_of_agent(conn, call_id, agent_id)
    if call is not None:
        return call
    if conn.execute(sa.select(calls.c.id).where(calls.c.call_id == call_id).limit(1)).first() is None:
        raise NotFound(f"no call {quoted(call_id)}")
    raise Forbidden(f"agent {agent_id!r} did not receive call {quoted(call_id)}")
