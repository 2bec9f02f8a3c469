"""The writes behind every card, compiled once per dialect and run on the driver's cursor.

Every call adds a call row, its first event, its recipients, its summary
and an audit row per card version sent: about six rows a call, written by
the call recorder and the audit queue in batches.  Through
``Connection.execute`` each statement cost ~30 µs of CPU before SQLite saw
it; here it costs what the driver costs (``store.raw`` says how the values
are kept identical).  The rarer paths (a later event of a known call, a
note) stay in ``store.sql`` as Core statements.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa

from screenpop.store.raw import RawStatement, dialect_named
from screenpop.store.schema import audit, call_events, call_recipients, calls

CALL_COLUMNS = (
    "provider",
    "call_id",
    "status",
    "received_at",
    "answered_by",
    "answered_at",
    "ended_at",
    "caller_raw",
    "caller_e164",
    "caller_name",
    "to_number",
    "queue",
)
"""The columns of a new call row, as ``rows.new_call`` fills them."""
SUMMARY_NOT_OLDER = sa.or_(
    calls.c.summary_version.is_(None), calls.c.summary_version <= sa.bindparam("w_version")
)
"""A summary replaces the stored one of the same card version or an earlier one, never a later one.

Two instances may each write one of a call (the card's builder when it
completed, an instance that ran a mid-call update); their writes land in
either order.
"""
AUDIT_COLUMNS = ("at", "agent_id", "action", "provider", "call_id", "number", "version", "sections")


class HotWrites:
    """The recorder's and the audit queue's statements for one dialect."""

    def __init__(self, dialect: str, insert: Callable[[sa.Table], sa.Insert]) -> None:
        compile_for = dialect_named(dialect)
        new_call = insert(calls).on_conflict_do_nothing(index_elements=["provider", "call_id"])  # type: ignore[attr-defined]
        self.call = RawStatement(
            new_call.returning(calls.c.id),
            compile_for,
            columns=CALL_COLUMNS,
            times=("received_at", "answered_at", "ended_at"),
        )
        # the first event of a call this transaction created: nothing can conflict with it
        self.event = RawStatement(
            call_events.insert(),
            compile_for,
            columns=("call_pk", "event", "at", "received_at", "agent"),
            times=("at", "received_at"),
        )
        self.recipients = RawStatement(
            insert(call_recipients).on_conflict_do_nothing(index_elements=["call_pk", "agent_id"]),  # type: ignore[attr-defined]
            compile_for,
            columns=("call_pk", "agent_id", "added_at"),
            times=("added_at",),
        )
        same_call = sa.and_(
            calls.c.provider == sa.bindparam("w_provider"), calls.c.call_id == sa.bindparam("w_call_id")
        )
        self.summaries = RawStatement(
            calls.update().where(same_call, SUMMARY_NOT_OLDER),
            compile_for,
            columns=("summary", "summary_version"),
            jsons=("summary",),
        )
        self.audit = RawStatement(
            audit.insert().inline(), compile_for, columns=AUDIT_COLUMNS, times=("at",), jsons=("sections",)
        )
