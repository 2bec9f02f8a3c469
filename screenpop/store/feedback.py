"""Agents' answers to suggestions (``POST /api/calls/{call_id}/feedback``), as store transactions.

Apart from ``sql.py`` because it is a table of its own with two statements:
an upsert (a later answer for the same call, agent, section and product
replaces the earlier one, on both backends) and the counts per section for
the admin status page.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

import screenpop.store.rows as shape
from screenpop.model import JSON
from screenpop.store.rows import FeedbackWrite
from screenpop.store.schema import FEEDBACK_OUTCOMES, suggestion_feedback
from screenpop.store.sql import call_received_by


class FeedbackSQL:
    """The feedback statements for one dialect."""

    def __init__(self, dialect: str) -> None:
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        statement = insert(suggestion_feedback)
        self._upsert = statement.on_conflict_do_update(
            index_elements=["call_pk", "agent_id", "section", "product"],
            set_={"outcome": statement.excluded.outcome, "answered_at": statement.excluded.answered_at},
        )
        table = suggestion_feedback
        self._counts = sa.select(table.c.section, table.c.outcome, sa.func.count()).group_by(
            table.c.section, table.c.outcome
        )

    def save(
        self, conn: sa.Connection, call_id: str, agent_id: str, answer: FeedbackWrite, now: datetime
    ) -> JSON:
        """Keep an agent's answer on a call they received or answered; a later answer replaces it."""
        call = call_received_by(conn, call_id, agent_id)
        conn.execute(
            self._upsert, {"call_pk": call.id, "agent_id": agent_id, **answer.columns(), "answered_at": now}
        )
        saved = {"call_id": call_id, "provider": call.provider, **answer.columns()}
        return {**saved, "answered_at": shape.iso(now)}

    def counts(self, conn: sa.Connection) -> dict[str, dict[str, int]]:
        """Answers kept per section, ``{section: {"accepted": n, "declined": n}}``."""
        counts: dict[str, dict[str, int]] = {}
        for section, outcome, count in conn.execute(self._counts).all():
            counts.setdefault(section, dict.fromkeys(FEEDBACK_OUTCOMES, 0))[outcome] = count
        return counts
