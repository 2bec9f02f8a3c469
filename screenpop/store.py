"""screenpop's own store: calls, their event timeline, recipients, notes, audit.

One code path for SQLite (the default, one instance) and PostgreSQL
(production, several instances): every write that two webhooks could race on
is an ``INSERT … ON CONFLICT DO NOTHING`` followed by a row lock, so a
repeated or concurrent event is a no-op on both backends, and a call's
status only moves forward whatever order the phone system's events arrive
in.  The schema is created and upgraded by the Alembic migrations shipped in
``screenpop/migrations`` when the store opens.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from screenpop import store_rows as shape
from screenpop.errors import Forbidden, NotFound, Unavailable
from screenpop.model import JSON, CallEvent, EventKind, HistoryEntry
from screenpop.store_audit import AuditQueue
from screenpop.store_engine import create_store_engine, failure_reason, migrate, writer_of
from screenpop.store_schema import STATUS_RANK, audit, call_events, call_recipients, calls
from screenpop.store_schema import notes as note_table

if TYPE_CHECKING:
    from screenpop.store_rows import AnyRow


@dataclass(frozen=True, slots=True)
class CallState:
    """Where a call stands after an event, and whether this event should pop a card.

    ``should_pop`` is true only for the first ``ringing`` of a call that is
    still ringing: a repeated webhook, or a ringing that arrives after the
    call was answered or ended, pops nothing.
    """

    call_id: str
    provider: str
    status: EventKind
    answered_by: str | None
    duplicate: bool
    should_pop: bool
    recipients: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class EventWrite:
    """A call event to record, with the agents that got the card because of it."""

    event: CallEvent
    caller_e164: str | None
    recipients: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SummaryWrite:
    provider: str
    call_id: str
    summary: JSON


CallWrite = EventWrite | SummaryWrite


class Store:
    """The calls, notes and audit trail of one screenpop deployment."""

    def __init__(self, engine: AsyncEngine, audit_queue: AuditQueue) -> None:
        self._engine = engine
        self._writer = writer_of(engine)
        self._audit = audit_queue
        self._postgres = engine.dialect.name == "postgresql"
        self._closed = False

    @classmethod
    async def open(cls, url: str, *, audit_interval_s: float = 0.05, audit_batch_rows: int = 200) -> Store:
        """Connect, migrate the schema to head, and start the audit writer.

        Raises ``ConfigError`` for a URL the store cannot use and
        ``Unavailable`` when the database cannot be reached.
        """
        engine = create_store_engine(url)
        try:
            await migrate(engine)
        except BaseException as exc:
            await engine.dispose()
            if isinstance(exc, OSError | TimeoutError | sa.exc.SQLAlchemyError):
                raise Unavailable(f"store: {failure_reason(exc)}") from exc
            raise
        queue = AuditQueue(writer_of(engine), interval_s=audit_interval_s, batch_rows=audit_batch_rows)
        queue.start()
        return cls(engine, queue)

    async def close(self) -> None:
        """Write the queued audit rows, then release every connection."""
        if self._closed:
            return
        self._closed = True
        await self._audit.close()
        await self._engine.dispose()

    async def ping(self, timeout_s: float = 2.0) -> None:
        """Raise ``Unavailable`` (with a short reason) unless the database answers."""
        try:
            async with asyncio.timeout(timeout_s), self._engine.connect() as conn:
                await conn.execute(sa.select(1))
        except (OSError, TimeoutError, sa.exc.SQLAlchemyError) as exc:
            raise Unavailable(failure_reason(exc)) from exc

    # -- calls ---------------------------------------------------------------

    async def record_event(self, event: CallEvent, caller_e164: str | None) -> CallState:
        """Record one event of a call; the same event again changes nothing."""
        shape.check_id("provider", event.provider)
        shape.check_id("call_id", event.call_id)
        now = shape.now()
        async with self._write() as conn:
            created = await self._create_call(conn, event, caller_e164, now)
            row = await self._lock_call(conn, event.provider, event.call_id)
            fresh = await self._add_event(conn, row.id, event, now)
            if fresh and not created:
                row = await self._advance(conn, row, event, caller_e164, now)
            recipients = await self._recipients_of(conn, row.id)
        status = EventKind(row.status)
        return CallState(
            call_id=row.call_id,
            provider=row.provider,
            status=status,
            answered_by=row.answered_by,
            duplicate=not fresh,
            should_pop=fresh and event.event is EventKind.RINGING and status is EventKind.RINGING,
            recipients=recipients,
        )

    async def record_batch(self, writes: Sequence[CallWrite]) -> None:
        """Several events, recipient lists and summaries in one transaction (the write-behind path).

        Same rules as ``record_event``/``add_recipients``/``save_summary``, but
        one BEGIN/COMMIT for the lot: at 50 calls a second that is most of
        the store's cost.  A summary for a call that is not there is skipped.
        """
        now = shape.now()
        async with self._write() as conn:
            for write in writes:
                if isinstance(write, SummaryWrite):
                    await conn.execute(
                        calls.update()
                        .where(calls.c.provider == write.provider, calls.c.call_id == write.call_id)
                        .values(summary=write.summary)
                    )
                    continue
                await self._apply_event(conn, write, now)

    async def _apply_event(self, conn: AsyncConnection, write: EventWrite, now: datetime) -> None:
        """One event of a batch: the call row (created, or advanced), the timeline, the recipients."""
        shape.check_id("provider", write.event.provider)
        shape.check_id("call_id", write.event.call_id)
        call_pk = await self._insert_call(conn, write.event, write.caller_e164, now)
        if call_pk is not None:
            await self._add_event(conn, call_pk, write.event, now)
        else:
            row = await self._lock_call(conn, write.event.provider, write.event.call_id)
            call_pk = row.id
            if await self._add_event(conn, call_pk, write.event, now):
                await self._advance(conn, row, write.event, write.caller_e164, now)
        agents = [shape.clip(a) for a in dict.fromkeys(write.recipients) if a]
        if agents:
            stmt = self._insert(call_recipients).on_conflict_do_nothing(
                index_elements=["call_pk", "agent_id"]
            )
            await conn.execute(stmt, [{"call_pk": call_pk, "agent_id": a, "added_at": now} for a in agents])

    async def add_recipients(self, provider: str, call_id: str, agent_ids: Iterable[str]) -> None:
        """Remember that these agents got the call's card (each agent once)."""
        agents = [shape.clip(a) for a in dict.fromkeys(agent_ids) if a]
        if not agents:
            return
        now = shape.now()
        async with self._write() as conn:
            pk = await self._call_pk(conn, provider, call_id)
            stmt = self._insert(call_recipients).on_conflict_do_nothing(
                index_elements=["call_pk", "agent_id"]
            )
            await conn.execute(stmt, [{"call_pk": pk, "agent_id": a, "added_at": now} for a in agents])

    async def recipients(self, provider: str, call_id: str) -> tuple[str, ...]:
        """The agents that got the call's card, in the order they got it."""
        async with self._engine.connect() as conn:
            pk = await self._call_pk(conn, provider, call_id, required=False)
            return () if pk is None else await self._recipients_of(conn, pk)

    async def save_summary(self, provider: str, call_id: str, summary: JSON) -> None:
        """Keep the final card's short summary for ``/api/calls``."""
        async with self._write() as conn:
            result = await conn.execute(
                calls.update()
                .where(calls.c.provider == provider, calls.c.call_id == call_id)
                .values(summary=summary)
                .returning(calls.c.id)
            )
            if result.first() is None:
                raise NotFound(f"no call {call_id!r} from {provider!r}")

    async def recent_calls(self, agent_id: str | None, limit: int) -> list[JSON]:
        """The calls an agent received (all calls when ``agent_id`` is None), newest first."""
        query = sa.select(calls).order_by(calls.c.received_at.desc(), calls.c.id.desc())
        if agent_id is not None:
            query = query.join(call_recipients, call_recipients.c.call_pk == calls.c.id).where(
                call_recipients.c.agent_id == agent_id
            )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query.limit(shape.bounded(limit)))).all()
            by_call = await self._notes_of(conn, [r.id for r in rows])
        return [shape.call_json(r, by_call.get(r.id, [])) for r in rows]

    async def history(
        self, caller_e164: str | None, limit: int, exclude_call_id: str | None = None
    ) -> tuple[HistoryEntry, ...]:
        """Previous calls from this number, newest first, with their latest note."""
        if not caller_e164 or limit <= 0:
            return ()
        query = (
            sa.select(calls.c.id, calls.c.call_id, calls.c.received_at, calls.c.answered_by)
            .where(calls.c.caller_e164 == caller_e164)
            .order_by(calls.c.received_at.desc(), calls.c.id.desc())
            .limit(shape.bounded(limit))
        )
        if exclude_call_id is not None:
            query = query.where(calls.c.call_id != exclude_call_id)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
            by_call = await self._notes_of(conn, [r.id for r in rows])
        return tuple(shape.history_entry(r, by_call.get(r.id, [])) for r in rows)

    # -- notes ---------------------------------------------------------------

    async def save_note(
        self,
        call_id: str,
        agent_id: str,
        disposition: str | None,
        notes: str | None,
        may_annotate_any: bool,
    ) -> JSON:
        """Add a note to the most recent call with this id; every note is kept.

        Only an agent who received the card (or answered the call) may
        annotate it, unless ``may_annotate_any`` (supervisors).
        """
        shape.check_note(disposition, notes)
        now = shape.now()
        async with self._write() as conn:
            call = (
                await conn.execute(
                    sa.select(calls.c.id, calls.c.provider, calls.c.answered_by)
                    .where(calls.c.call_id == call_id)
                    .order_by(calls.c.received_at.desc(), calls.c.id.desc())
                    .limit(1)
                )
            ).first()
            if call is None:
                raise NotFound(f"no call {call_id!r}")
            if not may_annotate_any and not await self._took_part(conn, call, agent_id):
                raise Forbidden(f"agent {agent_id!r} did not receive call {call_id!r}")
            note = (
                await conn.execute(
                    note_table.insert()
                    .values(
                        call_pk=call.id,
                        agent_id=agent_id,
                        disposition=disposition,
                        notes=notes,
                        created_at=now,
                    )
                    .returning(*note_table.c)
                )
            ).one()
            await conn.execute(
                audit.insert().values(at=now, agent_id=agent_id, action="note", call_id=call_id, sections=[])
            )
        return {"call_id": call_id, "provider": call.provider, **shape.note_json(note)}

    # -- audit ---------------------------------------------------------------

    def audit_card(self, agent_id: str, call_id: str, version: int, sections: Sequence[str]) -> None:
        """Record that an agent was sent this card version; queued, never awaits the DB."""
        self._audit.put(
            {
                "at": shape.now(),
                "agent_id": agent_id,
                "action": "card",
                "call_id": call_id,
                "number": None,
                "version": version,
                "sections": list(sections),
            }
        )

    async def audit_lookup(self, agent_id: str, number: str, sections: Sequence[str]) -> None:
        """Record a supervisor's ``/api/lookup`` of a number, written at once."""
        async with self._write() as conn:
            await conn.execute(
                audit.insert().values(
                    at=shape.now(),
                    agent_id=agent_id,
                    action="lookup",
                    number=shape.clip(number),
                    sections=list(sections),
                )
            )

    @property
    def audit_stats(self) -> dict[str, int]:
        """Rows waiting, batches written and rows dropped by the audit writer (for metrics)."""
        return {
            "pending": self._audit.pending,
            "batches": self._audit.batches,
            "dropped": self._audit.dropped,
        }

    async def flush_audit(self) -> None:
        """Write every queued audit row now."""
        await self._audit.flush()

    async def audit_rows(self, limit: int) -> list[JSON]:
        """The newest audit rows that are written (queued ones are not), newest first."""
        query = sa.select(audit).order_by(audit.c.id.desc()).limit(max(0, limit))
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [{**r._asdict(), "at": shape.iso(r.at)} for r in rows]

    async def who_saw(
        self, number: str | None = None, agent_id: str | None = None, scan: int = 10_000
    ) -> list[JSON]:
        """Audit rows (newest first) for a caller's number and/or an agent, with the caller's number.

        Card rows carry the call id; the number comes from the call they
        belong to.  Lookup rows carry the number themselves.
        """
        query = (
            sa.select(audit, calls.c.caller_e164)
            .select_from(audit.outerjoin(calls, calls.c.call_id == audit.c.call_id))
            .order_by(audit.c.id.desc())
            .limit(max(1, scan))
        )
        if number is not None:
            query = query.where(sa.or_(calls.c.caller_e164 == number, audit.c.number == number))
        if agent_id is not None:
            query = query.where(audit.c.agent_id == agent_id)
        await self.flush_audit()
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [
            {
                "at": shape.iso(r.at),
                "agent": r.agent_id,
                "action": r.action,
                "call_id": r.call_id,
                "number": r.number or r.caller_e164,
                "version": r.version,
                "sections": list(r.sections or []),
            }
            for r in rows
        ]

    # -- helpers -------------------------------------------------------------

    def _write(self) -> AbstractAsyncContextManager[AsyncConnection]:
        """A write transaction (``BEGIN IMMEDIATE`` on SQLite, so writers queue, not fail)."""
        return self._writer.begin()

    def _insert(self, table: sa.Table) -> postgresql.Insert | sqlite.Insert:
        return postgresql.insert(table) if self._postgres else sqlite.insert(table)

    async def _create_call(
        self, conn: AsyncConnection, event: CallEvent, e164: str | None, now: datetime
    ) -> bool:
        return await self._insert_call(conn, event, e164, now) is not None

    async def _insert_call(
        self, conn: AsyncConnection, event: CallEvent, e164: str | None, now: datetime
    ) -> int | None:
        """The new call's key, or None when the call was already there."""
        values = {
            "provider": event.provider,
            "call_id": event.call_id,
            "status": event.event.value,
            "received_at": now,
            **shape.caller_fields(event, e164),
            **shape.outcome(event, now),
        }
        stmt = (
            self._insert(calls)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["provider", "call_id"])
        )
        created: int | None = (await conn.execute(stmt.returning(calls.c.id))).scalar_one_or_none()
        return created

    @staticmethod
    async def _lock_call(conn: AsyncConnection, provider: str, call_id: str) -> AnyRow:
        query = sa.select(calls).where(calls.c.provider == provider, calls.c.call_id == call_id)
        return (await conn.execute(query.with_for_update())).one()

    async def _add_event(self, conn: AsyncConnection, call_pk: int, event: CallEvent, now: datetime) -> bool:
        stmt = (
            self._insert(call_events)
            .values(
                call_pk=call_pk,
                event=event.event.value,
                at=shape.aware(event.at),
                received_at=now,
                agent=shape.clip(event.agent),
            )
            .on_conflict_do_nothing(index_elements=["call_pk", "event"])
        )
        return (await conn.execute(stmt.returning(call_events.c.event))).first() is not None

    @staticmethod
    async def _advance(
        conn: AsyncConnection,
        row: AnyRow,
        event: CallEvent,
        e164: str | None,
        now: datetime,
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
        stmt = calls.update().where(calls.c.id == row.id).values(**changes).returning(*calls.c)
        return (await conn.execute(stmt)).one()

    @staticmethod
    async def _call_pk(
        conn: AsyncConnection, provider: str, call_id: str, *, required: bool = True
    ) -> int | None:
        query = sa.select(calls.c.id).where(calls.c.provider == provider, calls.c.call_id == call_id)
        pk = (await conn.execute(query)).scalar_one_or_none()
        if pk is None and required:
            raise NotFound(f"no call {call_id!r} from {provider!r}")
        return pk

    @staticmethod
    async def _recipients_of(conn: AsyncConnection, call_pk: int) -> tuple[str, ...]:
        query = (
            sa.select(call_recipients.c.agent_id)
            .where(call_recipients.c.call_pk == call_pk)
            .order_by(call_recipients.c.added_at, call_recipients.c.agent_id)
        )
        return tuple((await conn.execute(query)).scalars())

    @staticmethod
    async def _took_part(conn: AsyncConnection, call: AnyRow, agent_id: str) -> bool:
        if call.answered_by == agent_id:
            return True
        query = sa.select(call_recipients.c.agent_id).where(
            call_recipients.c.call_pk == call.id, call_recipients.c.agent_id == agent_id
        )
        return (await conn.execute(query)).first() is not None

    @staticmethod
    async def _notes_of(conn: AsyncConnection, call_pks: list[int]) -> dict[int, list[JSON]]:
        """Every note of these calls, oldest first per call."""
        if not call_pks:
            return {}
        query = (
            sa.select(note_table)
            .where(note_table.c.call_pk.in_(call_pks))
            .order_by(note_table.c.created_at, note_table.c.id)
        )
        by_call: dict[int, list[JSON]] = {}
        for note in (await conn.execute(query)).all():
            by_call.setdefault(note.call_pk, []).append(shape.note_json(note))
        return by_call
