"""The tables of screenpop's own store, in SQLAlchemy Core.

Core rather than the ORM because every store operation is a handful of
single statements on the webhook's hot path, and because the same ``Table``
objects let a test check that the Alembic migrations build exactly this
schema.  The migrations themselves never import this module's tables: a
migration is frozen history, this module is the present.

Free-text columns (numbers, names, agent and call ids) are ``Text`` rather
than ``VARCHAR(n)``: PostgreSQL would refuse an over-long value a phone
system sent with an error, SQLite would not, and the store must behave the
same on both.  The store clips what it writes instead (``MAX_TEXT``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect

from screenpop.model import EventKind

VERSION_TABLE = "screenpop_alembic_version"
"""Alembic's bookkeeping table, named so that screenpop can share a database."""

MAX_TEXT = 255
"""Longest id, number or name kept; longer values from a phone system are clipped."""

MAX_DISPOSITION = 100
MAX_NOTES = 10_000

STATUS_RANK: Mapping[str, int] = MappingProxyType(
    {
        EventKind.RINGING.value: 0,
        EventKind.ANSWERED.value: 1,
        EventKind.ENDED.value: 2,
        EventKind.MISSED.value: 2,
        EventKind.TRANSFERRED.value: -1,  # a transfer moves the call, not its status
    }
)
"""A call's status only moves to a higher rank, so late or repeated events cannot undo it."""

AUDIT_ACTIONS = ("card", "lookup", "note", "erase")
"""What an audit row records; ``erase`` is ``screenpop erase`` (its counts in ``sections``, never whom)."""

FEEDBACK_OUTCOMES = ("accepted", "declined")
MAX_PRODUCT = 128
"""Longest product key an agent's feedback may name."""


class UTCDateTime(sa.TypeDecorator[datetime]):
    """A timestamp that is always timezone-aware UTC in Python, on every backend.

    PostgreSQL stores ``timestamptz``; SQLite has no time zones, so the value
    is stored as naive UTC text (which also sorts correctly) and the zone is
    put back when read.  A naive datetime is refused: guessing its zone would
    silently shift a call's time.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("screenpop stores only timezone-aware datetimes")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
"""64-bit keys on PostgreSQL; SQLite only auto-increments ``INTEGER PRIMARY KEY``."""

JSONType = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

calls = sa.Table(
    "calls",
    metadata,
    sa.Column("id", ID, primary_key=True, autoincrement=True),
    sa.Column("provider", sa.Text, nullable=False),
    sa.Column("call_id", sa.Text, nullable=False),
    sa.Column("caller_raw", sa.Text),
    sa.Column("caller_e164", sa.Text),
    sa.Column("caller_name", sa.Text),
    sa.Column("to_number", sa.Text),
    sa.Column("queue", sa.Text),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("answered_by", sa.Text),
    sa.Column("received_at", UTCDateTime(), nullable=False),
    sa.Column("answered_at", UTCDateTime()),
    sa.Column("ended_at", UTCDateTime()),
    sa.Column("summary", JSONType),
    # the card version ``summary`` was made from: an older one never replaces it
    sa.Column("summary_version", sa.Integer),
    sa.UniqueConstraint("provider", "call_id"),
    sa.CheckConstraint("status IN ('ringing', 'answered', 'ended', 'missed')", name="status"),
    # history: previous calls of one number, newest first
    sa.Index(None, "caller_e164", "received_at"),
    # supervisors' recent calls, newest first
    sa.Index(None, "received_at"),
    # notes name a call by the provider's id alone
    sa.Index(None, "call_id"),
)

call_events = sa.Table(
    "call_events",
    metadata,
    # (call_pk, event) is the timeline's key and, since a call row is unique
    # per (provider, call_id), the same as unique (provider, call_id, event):
    # it is what makes a repeated webhook a no-op.
    sa.Column("call_pk", ID, sa.ForeignKey("calls.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("event", sa.String(16), primary_key=True),
    sa.Column("at", UTCDateTime()),
    sa.Column("received_at", UTCDateTime(), nullable=False),
    sa.Column("agent", sa.Text),
)

call_recipients = sa.Table(
    "call_recipients",
    metadata,
    sa.Column("call_pk", ID, sa.ForeignKey("calls.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("agent_id", sa.Text, primary_key=True),
    sa.Column("added_at", UTCDateTime(), nullable=False),
    # an agent's recent calls
    sa.Index(None, "agent_id", "call_pk"),
)

notes = sa.Table(
    "notes",
    metadata,
    sa.Column("id", ID, primary_key=True, autoincrement=True),
    sa.Column("call_pk", ID, sa.ForeignKey("calls.id", ondelete="CASCADE"), nullable=False),
    sa.Column("agent_id", sa.Text, nullable=False),
    sa.Column("disposition", sa.Text),
    sa.Column("notes", sa.Text),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Index(None, "call_pk", "created_at"),
    # retention: notes past notes_days, found without scanning the table
    sa.Index(None, "created_at"),
)

audit = sa.Table(
    "audit",
    metadata,
    sa.Column("id", ID, primary_key=True, autoincrement=True),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("agent_id", sa.Text, nullable=False),
    sa.Column("action", sa.String(16), nullable=False),
    # the provider's call id; no foreign key, so the audit outlives any cleanup of calls
    sa.Column("call_id", sa.Text),
    # whose call id it is (a call id is unique only per provider); None in rows written before 0002
    sa.Column("provider", sa.Text),
    # the number a supervisor looked up (action 'lookup')
    sa.Column("number", sa.Text),
    sa.Column("version", sa.Integer),
    sa.Column("sections", JSONType, nullable=False),
    sa.CheckConstraint("action IN ('card', 'lookup', 'note', 'erase')", name="action"),
    sa.Index(None, "at"),
    sa.Index(None, "agent_id", "at"),
    sa.Index(None, "call_id"),
    # erasure, ``screenpop audit --number``: the lookups of one number (only lookup rows have
    # a number: the cards, most of the audit's writes, add nothing to this index)
    sa.Index(
        None,
        "number",
        sqlite_where=sa.text("number IS NOT NULL"),
        postgresql_where=sa.text("number IS NOT NULL"),
    ),
)

suggestion_feedback = sa.Table(
    "suggestion_feedback",
    metadata,
    # one answer per (call, agent, section, product): a later answer replaces it
    sa.Column("call_pk", ID, sa.ForeignKey("calls.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("agent_id", sa.Text, primary_key=True),
    sa.Column("section", sa.Text, primary_key=True),
    sa.Column("product", sa.Text, primary_key=True),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("answered_at", UTCDateTime(), nullable=False),
    sa.CheckConstraint("outcome IN ('accepted', 'declined')", name="outcome"),
    # the admin status page's counts per section
    sa.Index(None, "section", "outcome"),
)

sink_outbox = sa.Table(
    "sink_outbox",
    metadata,
    # One entry per (sink, saved note), written in the note's own transaction,
    # so a note that was answered 202 is always on its way to every sink.
    sa.Column("id", ID, primary_key=True, autoincrement=True),
    sa.Column("sink", sa.Text, nullable=False),
    # no foreign key: an entry outlives a purge of its call and is delivered anyway
    sa.Column("call_pk", ID, nullable=False),
    sa.Column("provider", sa.Text, nullable=False),
    sa.Column("call_id", sa.Text, nullable=False),
    # the note's 1-based ordinal among its call's notes (every edit is a new version)
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("idempotency_key", sa.Text, nullable=False),
    # kept apart from the payload so that `screenpop erase --number` finds the entries
    sa.Column("caller_e164", sa.Text),
    sa.Column("customer_ids", JSONType),
    # what the sink receives (the SPEC's http body)
    sa.Column("payload", JSONType, nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
    sa.Column("leased_until", UTCDateTime()),
    sa.Column("leased_by", sa.Text),
    sa.Column("delivered_at", UTCDateTime()),
    sa.Column("last_error", sa.Text),
    sa.UniqueConstraint("sink", "provider", "call_id", "version"),
    sa.Index(None, "call_pk"),
    sa.Index(None, "caller_e164"),
    sa.Index(None, "delivered_at"),
    # the worker's scan: undelivered entries of a sink, in id order
    sa.Index(None, "sink", "delivered_at", "id"),
    # retention: copies older than the note they carry, found without scanning the table
    sa.Index(None, "created_at"),
    # a note's version: the last one of this call id across every provider (outbox.enqueue)
    sa.Index(None, "call_id"),
)

store_leases = sa.Table(
    "store_leases",
    metadata,
    # One row per job that only one instance may run at a time (the retention
    # purge): whoever holds an unexpired lease runs it; a crashed holder's
    # lease simply runs out.  A row rather than an advisory lock so that
    # SQLite and PostgreSQL take the same path.
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("holder", sa.Text, nullable=False),
    sa.Column("until", UTCDateTime(), nullable=False),
)
