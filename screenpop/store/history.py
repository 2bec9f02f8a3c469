"""A caller's earlier calls, each with its latest note: the one read every card waits for.

One statement per card, run on the driver's cursor (``store.raw``): the
card's history is read once per call, and through ``Connection.execute``
the five rows' type processing cost more than the indexed lookup itself.

The statement walks ``calls (caller_e164, received_at)`` newest first and
stops after ``limit`` rows (SQLite's index ends in the rowid, so the ``id``
tie-break needs no sort; PostgreSQL sorts only the rows of equal
``received_at``, incrementally), then takes each of those calls' latest
note through ``notes (call_pk, created_at)``.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from screenpop.model import HistoryEntry
from screenpop.store.raw import RawStatement, dialect_named, read_time
from screenpop.store.rows import iso
from screenpop.store.schema import calls
from screenpop.store.schema import notes as note_table

P = sa.bindparam
NEWEST_CALL_FIRST = (calls.c.received_at.desc(), calls.c.id.desc())


def history_statement(*leave_out: sa.ColumnElement[bool]) -> sa.Select[Any]:
    """The ``w_limit`` newest calls of ``w_e164`` but those ``leave_out`` matches, with their latest note.

    The calls are limited before the notes are joined: joined first,
    PostgreSQL joined and sorted every call of the number (3 ms for a
    number with 800 calls) to keep five.
    """
    recent = (
        sa.select(calls.c.id, calls.c.call_id, calls.c.received_at, calls.c.answered_by)
        .where(calls.c.caller_e164 == P("w_e164"), *leave_out)
        .order_by(*NEWEST_CALL_FIRST)
        .limit(P("w_limit", type_=sa.Integer))
        .subquery("recent")
    )
    later = note_table.alias("later")
    latest_note = (
        sa.select(later.c.id)
        .where(later.c.call_pk == recent.c.id)
        .order_by(later.c.created_at.desc(), later.c.id.desc())
        .limit(1)
        .correlate(recent)
        .scalar_subquery()
    )
    return (
        sa.select(  # in the order ``entry`` unpacks
            recent.c.call_id,
            recent.c.received_at,
            recent.c.answered_by,
            note_table.c.agent_id.label("note_agent"),
            note_table.c.disposition,
            note_table.c.notes,
        )
        .select_from(recent.outerjoin(note_table, note_table.c.id == latest_note))
        .order_by(recent.c.received_at.desc(), recent.c.id.desc())
    )


class HistorySQL:
    """The history statements of one dialect: all calls, all but one call id, all but one provider's call."""

    def __init__(self, dialect: str) -> None:
        compile_for = dialect_named(dialect)
        self._all = RawStatement(history_statement(), compile_for)
        self._except = RawStatement(history_statement(calls.c.call_id != P("w_exclude")), compile_for)
        not_that_call = sa.not_(
            sa.and_(calls.c.call_id == P("w_exclude"), calls.c.provider == P("w_exclude_provider"))
        )
        self._except_of = RawStatement(history_statement(not_that_call), compile_for)

    def read(
        self, conn: sa.Connection, caller_e164: str, limit: int, exclude: tuple[str | None, str] | None
    ) -> tuple[HistoryEntry, ...]:
        """Earlier calls of a number; ``exclude`` is the (provider or None for any, call id) being shown."""
        params: dict[str, Any] = {"w_e164": caller_e164, "w_limit": limit}
        if exclude is None:
            rows = self._all.all(conn, params)
        elif exclude[0] is None:
            rows = self._except.all(conn, {**params, "w_exclude": exclude[1]})
        else:
            of = {**params, "w_exclude": exclude[1], "w_exclude_provider": exclude[0]}
            rows = self._except_of.all(conn, of)
        return tuple(entry(r) for r in rows)


def entry(row: tuple[Any, ...]) -> HistoryEntry:
    """An earlier call and its latest note (who answered, else who wrote the note)."""
    call_id, received_at, answered_by, note_agent, disposition, notes = row
    return HistoryEntry(
        call_id, iso(read_time(received_at)) or "", answered_by or note_agent, disposition, notes
    )
