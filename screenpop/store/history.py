"""A caller's earlier calls, each with its latest note: the one read every card waits for.

One statement per card, run on the driver's cursor (``store.raw``): the
card's history is read once per call, and through ``Connection.execute``
the five rows' type processing cost more than the indexed lookup itself.

The statement walks ``calls (caller_e164, received_at, id)`` newest first
and stops after ``limit`` rows, taking each row's latest note through the
``notes (call_pk, created_at)`` index; the index ends in ``id`` so that the
tie-break of two calls received in the same microsecond needs no sort on
PostgreSQL either (SQLite's indexes end in the rowid by themselves).
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


def history_statement() -> sa.Select[Any]:
    """Earlier calls of ``w_e164``, newest first, each outer-joined to its latest note."""
    later = note_table.alias("later")
    latest_note = (
        sa.select(later.c.id)
        .where(later.c.call_pk == calls.c.id)
        .order_by(later.c.created_at.desc(), later.c.id.desc())
        .limit(1)
        .correlate(calls)
        .scalar_subquery()
    )
    return (
        sa.select(  # in the order ``entry`` unpacks
            calls.c.call_id,
            calls.c.received_at,
            calls.c.answered_by,
            note_table.c.agent_id.label("note_agent"),
            note_table.c.disposition,
            note_table.c.notes,
        )
        .select_from(calls.outerjoin(note_table, note_table.c.id == latest_note))
        .where(calls.c.caller_e164 == P("w_e164"))
        .order_by(*NEWEST_CALL_FIRST)
        .limit(P("w_limit", type_=sa.Integer))
    )


class HistorySQL:
    """The history statements of one dialect: all calls, all but one call id, all but one provider's call."""

    def __init__(self, dialect: str) -> None:
        compile_for = dialect_named(dialect)
        history = history_statement()
        self._all = RawStatement(history, compile_for)
        self._except = RawStatement(history.where(calls.c.call_id != P("w_exclude")), compile_for)
        self._except_of = RawStatement(
            history.where(
                sa.not_(
                    sa.and_(calls.c.call_id == P("w_exclude"), calls.c.provider == P("w_exclude_provider"))
                )
            ),
            compile_for,
        )

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
