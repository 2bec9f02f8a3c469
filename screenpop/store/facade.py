"""screenpop's own store: calls, their event timeline, recipients, notes, audit.

One code path for SQLite (the default, one instance) and PostgreSQL
(production, several instances): each method below checks its input and
runs one synchronous transaction of ``store.sql`` in a single hop through
``store.connections`` (a worker thread on SQLite, ``run_sync`` on PostgreSQL).
The schema is created and upgraded by the Alembic migrations shipped in
``screenpop/store/migrations`` when the store opens.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

import screenpop.store.rows as shape
from screenpop.card_numbers import mask_card_numbers
from screenpop.errors import Unavailable
from screenpop.model import JSON, CallEvent, HistoryEntry
from screenpop.retry import DropObserver, is_transient
from screenpop.store.audit_queue import AuditQueue
from screenpop.store.connections import Database, failure_reason, open_database, upgrade_to_head
from screenpop.store.erasure import Erased, Eraser, ErasureSQL, ErasureTarget
from screenpop.store.feedback import FeedbackSQL
from screenpop.store.history_reads import HistoryReads, Request, read_all
from screenpop.store.outbox import LeasedEntry, OutboxSQL, SinkBacklog
from screenpop.store.retention import BATCH_ROWS, Purger, PurgeReport, RetentionPolicy
from screenpop.store.rows import CallState, CallWrite, EventWrite, FeedbackWrite, SummaryWrite
from screenpop.store.sql import StoreSQL

AUDIT_INTERVAL_S = 0.25
"""How long card audit rows wait for a call-record batch to carry them before being written alone."""

__all__ = ["CallState", "CallWrite", "EventWrite", "FeedbackWrite", "Store", "SummaryWrite"]


class Store:
    """The calls, notes and audit trail of one screenpop deployment."""

    def __init__(
        self,
        database: Database,
        *,
        audit_interval_s: float,
        audit_batch_rows: int,
        observer: DropObserver | None = None,
        sinks: Sequence[str] = (),
    ) -> None:
        self._db = database
        self._sinks = tuple(sinks)
        self._outbox = OutboxSQL()
        self._sql = StoreSQL(database.dialect)
        self._feedback = FeedbackSQL(database.dialect)
        self._erasure = ErasureSQL(database.dialect)
        self._audit = AuditQueue(
            self._write_audit, interval_s=audit_interval_s, batch_rows=audit_batch_rows, observer=observer
        )
        self._audit.start()
        self._histories = HistoryReads(self._read_histories)
        self._read_all = read_all(self._sql.history)
        self._closed = False

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        audit_interval_s: float = AUDIT_INTERVAL_S,
        audit_batch_rows: int = 200,
        observer: DropObserver | None = None,
        sinks: Sequence[str] = (),
    ) -> Store:
        """Connect, migrate the schema to head, and start the audit writer.

        ``sinks`` names the configured sinks: every note saved gets one
        outbox entry per sink, in the note's own transaction.

        ``observer`` counts the audit writer's retries and the rows it has
        to give up (the app's ``Metrics``, so they show in ``/metrics``).

        Raises ``ConfigError`` for a URL the store cannot use and
        ``Unavailable`` when the database cannot be reached.
        """
        database = open_database(url)
        try:
            await database.write(upgrade_to_head)
        except BaseException as exc:
            await database.close()
            if isinstance(exc, OSError | TimeoutError | sa.exc.SQLAlchemyError):
                raise Unavailable(f"store: {failure_reason(exc)}") from exc
            raise
        return cls(
            database,
            audit_interval_s=audit_interval_s,
            audit_batch_rows=audit_batch_rows,
            observer=observer,
            sinks=sinks,
        )

    def set_sinks(self, sinks: Sequence[str]) -> None:
        """The sinks a note saved from now on is queued for (a reload changed them)."""
        self._sinks = tuple(sinks)

    async def close(self) -> None:
        """Write the queued audit rows, then release every connection and thread."""
        if self._closed:
            return
        self._closed = True
        await self._histories.close()
        await self._audit.close()
        await self._db.close()

    async def ping(self, timeout_s: float = 2.0) -> None:
        """Raise ``Unavailable`` (with a short reason) unless the database answers."""
        try:
            async with asyncio.timeout(timeout_s):
                await self._db.read(self._sql.ping)
        except (OSError, TimeoutError, sa.exc.SQLAlchemyError) as exc:
            raise Unavailable(failure_reason(exc)) from exc

    # -- calls ---------------------------------------------------------------

    async def record_event(self, event: CallEvent, caller_e164: str | None) -> CallState:
        """Record one event of a call; the same event again changes nothing."""
        shape.check_id("provider", event.provider)
        shape.check_id("call_id", event.call_id)
        return await self._db.write(self._sql.record_event, event, caller_e164, shape.now())

    async def record_batch(self, writes: Sequence[CallWrite]) -> list[SummaryWrite]:
        """Several events, recipient lists and summaries in one transaction (the write-behind path).

        Same rules as ``record_event``/``add_recipients``/``save_summary``, but
        one BEGIN/COMMIT for the lot: at 50 calls a second that is most of
        the store's cost.  A summary for a call that is not there yet is not
        stored: it is returned, for the caller to write again once the call
        is (another instance may be about to write it).  The audit rows
        queued meanwhile are written in the same transaction (one transaction
        instead of two); any it does not store go back to the audit queue,
        which writes them on its own.
        """
        rows = self._audit.take()
        try:
            stored, unplaced = await self._db.write(self._sql.record_batch, writes, shape.now(), rows)
        except BaseException:
            self._audit.give_back(rows)
            raise
        if stored:
            self._audit.written(rows)
        else:
            self._audit.give_back(rows)
        return unplaced

    async def add_recipients(self, provider: str, call_id: str, agent_ids: Iterable[str]) -> None:
        """Remember that these agents got the call's card (each agent once)."""
        agents = shape.agents_of(agent_ids)
        if agents:
            await self._db.write(self._sql.add_recipients, provider, call_id, agents, shape.now())

    async def recipients(self, provider: str, call_id: str) -> tuple[str, ...]:
        """The agents that got the call's card, in the order they got it."""
        return await self._db.read(self._sql.recipients, provider, call_id)

    async def call_notes(self, provider: str, call_id: str) -> list[JSON]:
        """Every note saved on this call, oldest first (a transferred card's hand-off)."""
        return await self._db.read(self._sql.call_notes, provider, call_id)

    async def save_summary(self, provider: str, call_id: str, summary: JSON, version: int) -> None:
        """Keep a complete card's short summary for ``/api/calls`` (card ``version``; a later one's stays)."""
        await self._db.write(self._sql.save_summary, SummaryWrite(provider, call_id, summary, version))

    async def recent_calls(self, agent_id: str | None, limit: int) -> list[JSON]:
        """The calls an agent received (all calls when ``agent_id`` is None), newest first."""
        return await self._db.read(self._sql.recent_calls, agent_id, shape.bounded(limit))

    async def history(
        self,
        caller_e164: str | None,
        limit: int,
        exclude_call_id: str | None = None,
        exclude_provider: str | None = None,
    ) -> tuple[HistoryEntry, ...]:
        """Previous calls from this number, newest first, with their latest note.

        The call being shown is left out: ``exclude_call_id`` of
        ``exclude_provider`` (of any provider when that is None).  Reads
        asked for close together share one transaction (``store.history_reads``).
        """
        if not caller_e164 or limit <= 0:
            return ()
        exclude = None if exclude_call_id is None else (exclude_provider, exclude_call_id)
        return await self._histories.read((caller_e164, shape.bounded(limit), exclude))

    async def _read_histories(self, requests: Sequence[Request]) -> list[tuple[HistoryEntry, ...]]:
        """A batch of ``history`` reads in one read transaction (``store.history_reads``)."""
        return await self._db.read(self._read_all, requests)

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
        annotate it, unless ``may_annotate_any`` (supervisors).  Each
        configured sink gets an outbox entry in the same transaction.  Card
        numbers in the disposition or the notes are masked here, before
        anything is written: every reader (history, hand-off, audit, the
        sinks' outbox) reads the stored text.  The answer's ``masked`` says
        how many were.
        """
        shape.check_note(disposition, notes)
        disposition, in_disposition = _masked(disposition)
        notes, in_notes = _masked(notes)
        saved = await self._db.write(
            self._sql.save_note,
            call_id,
            agent_id,
            disposition,
            notes,
            may_annotate_any,
            shape.now(),
            self._sinks,
        )
        return {**saved, "masked": {"card_numbers": in_disposition + in_notes}}

    # -- the sinks' outbox ---------------------------------------------------

    async def claim_deliveries(
        self, owner: str, now: datetime, lease_s: float, limit: int, sinks: Sequence[str]
    ) -> list[LeasedEntry]:
        """Lease due outbox entries of ``sinks`` for ``owner``: heads of their (sink, call) chains."""
        return await self._db.write(self._outbox.claim, owner, now, lease_s, limit, sinks)

    async def deliveries_due_again(self, now: datetime) -> int:
        """After the wall clock went back: entries set due beyond any retry are due ``now``."""
        return int(await self._db.write(self._outbox.due_again, now))

    async def delivery_done(self, entry_id: int, now: datetime) -> None:
        """The sink took the entry: it is never delivered again."""
        await self._db.write(self._outbox.delivered, entry_id, now)

    async def delivery_failed(self, entry_id: int, owner: str, next_at: datetime, error: str) -> None:
        """An attempt failed: the entry is due again at ``next_at`` (its chain waits for it)."""
        await self._db.write(self._outbox.failed, entry_id, owner, next_at, error)

    async def release_deliveries(self, entry_ids: Sequence[int], owner: str) -> None:
        """Deliveries a clean stop cut off: another instance may deliver them now, not after the lease."""
        await self._db.write(self._outbox.released, entry_ids, owner)

    async def sink_backlog(self) -> dict[str, SinkBacklog]:
        """Undelivered entries per sink (sinks with none are absent)."""
        return await self._db.read(self._outbox.backlog)

    # -- suggestion feedback -------------------------------------------------

    async def save_feedback(self, call_id: str, agent_id: str, answer: FeedbackWrite) -> JSON:
        """Keep an agent's answer to a suggestion on a call they received or answered.

        A later answer for the same (call, agent, section, product) replaces
        the earlier one: the agent changed their mind.  ``NotFound`` for an
        unknown call, ``Forbidden`` for an agent who never received it.
        """
        shape.check_id("call_id", call_id)
        shape.check_feedback(answer)
        return await self._db.write(self._feedback.save, call_id, agent_id, answer, shape.now())

    async def feedback_counts(self) -> dict[str, dict[str, int]]:
        """Answers kept per section: ``{section: {"accepted": n, "declined": n}}``."""
        return await self._db.read(self._feedback.counts)

    # -- audit ---------------------------------------------------------------

    def audit_card(
        self,
        agent_id: str,
        call_id: str,
        version: int | None,
        sections: Sequence[str],
        provider: str | None = None,
    ) -> None:
        """Record that an agent was sent this card version; queued, never awaits the DB.

        ``provider`` names whose ``call_id`` it is (ids are unique per provider only).
        ``version`` is None for a card's summary listed by ``/api/calls``.
        """
        self._audit.put(
            {
                "at": shape.now(),
                "agent_id": agent_id,
                "action": "card",
                "provider": provider,
                "call_id": call_id,
                "number": None,
                "version": version,
                "sections": list(sections),
            }
        )

    async def audit_lookup(self, agent_id: str, number: str, sections: Sequence[str]) -> None:
        """Record a supervisor's ``/api/lookup`` of a number, written at once while the store answers.

        While it cannot be reached the row joins the audit queue, which writes
        it once the store is back (as a card's rows): the lookup still answers
        with what the connectors found, as a card still pops, and its audit
        is delayed, not lost.
        """
        row = {
            "at": shape.now(),
            "agent_id": agent_id,
            "action": "lookup",
            "provider": None,
            "call_id": None,
            "number": shape.clip(number),
            "version": None,
            "sections": list(sections),
        }
        try:
            await self._db.write(self._sql.insert_audit, [row])
        except Exception as exc:
            if not is_transient(exc):
                raise
            self._audit.put(row)  # retried with back-off by the queue, counted if ever given up

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
        return await self._db.read(self._sql.audit_rows, limit)

    async def who_saw(
        self, number: str | None = None, agent_id: str | None = None, scan: int = 10_000
    ) -> list[JSON]:
        """Audit rows (newest first) for a caller's number and/or an agent, with the caller's number.

        Card rows carry the call id; the number comes from the call they
        belong to.  Lookup rows carry the number themselves.
        """
        await self.flush_audit()
        return await self._db.read(self._sql.who_saw, number, agent_id, scan)

    # -- retention and erasure -------------------------------------------------

    async def purge_expired(
        self, policy: RetentionPolicy, now: datetime, holder: str, batch_rows: int = BATCH_ROWS
    ) -> PurgeReport | None:
        """Delete what is older than ``policy`` allows at ``now``; None when another instance is purging.

        ``holder`` names this instance in the purge lease (``store.retention``).
        """
        return await Purger(self._db, holder, batch_rows=batch_rows).run(policy, now)

    async def erase(self, target: ErasureTarget) -> Erased:
        """Remove every row of one caller (``erasure.Eraser``); ``audit_erasure`` records it.

        Queued audit rows are written first, so that none of the caller's
        is written after the erasure.
        """
        await self.flush_audit()
        return await Eraser(self._db, self._erasure).run(target)

    async def audit_erasure(self, by: str, counts: dict[str, int]) -> None:
        """One audit row (action ``erase``): who asked and how many rows per place went, never whose."""
        await self._db.write(self._erasure.audit_erasure, by, counts, shape.now())

    async def _write_audit(self, rows: list[dict[str, Any]]) -> None:
        await self._db.write(self._sql.insert_audit, rows)


def _masked(text: str | None) -> tuple[str | None, int]:
    """``text`` with its card numbers masked, and how many there were."""
    if text is None:
        return None, 0
    masked = mask_card_numbers(text)
    return masked.text, masked.card_numbers
