"""Initial schema: calls, their event timeline, recipients, notes and the audit trail.

Revision ID: 0001
Revises:
Create Date: 2026-11-22

Types are spelled out here rather than imported from ``screenpop.store.schema``
so that this revision keeps meaning what it meant when it shipped.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSONType = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    """Create every table with its keys and the indexes its queries use."""
    _create_calls()
    _create_call_children()
    _create_audit()


def _create_calls() -> None:
    op.create_table(
        "calls",
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
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True)),
        sa.Column("ended_at", sa.DateTime(timezone=True)),
        sa.Column("summary", JSONType),
        sa.PrimaryKeyConstraint("id", name="pk_calls"),
        sa.UniqueConstraint("provider", "call_id", name="uq_calls_provider_call_id"),
        sa.CheckConstraint("status IN ('ringing', 'answered', 'ended', 'missed')", name="ck_calls_status"),
    )
    op.create_index("ix_calls_caller_e164_received_at", "calls", ["caller_e164", "received_at"])
    op.create_index("ix_calls_received_at", "calls", ["received_at"])
    op.create_index("ix_calls_call_id", "calls", ["call_id"])


def _call_fk() -> sa.Column[int]:
    return sa.Column("call_pk", ID, nullable=False)


def _create_call_children() -> None:
    op.create_table(
        "call_events",
        _call_fk(),
        sa.Column("event", sa.String(16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True)),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("agent", sa.Text),
        sa.PrimaryKeyConstraint("call_pk", "event", name="pk_call_events"),
        sa.ForeignKeyConstraint(
            ["call_pk"], ["calls.id"], name="fk_call_events_call_pk_calls", ondelete="CASCADE"
        ),
    )
    op.create_table(
        "call_recipients",
        _call_fk(),
        sa.Column("agent_id", sa.Text, nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("call_pk", "agent_id", name="pk_call_recipients"),
        sa.ForeignKeyConstraint(
            ["call_pk"], ["calls.id"], name="fk_call_recipients_call_pk_calls", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_call_recipients_agent_id_call_pk", "call_recipients", ["agent_id", "call_pk"])
    op.create_table(
        "notes",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        _call_fk(),
        sa.Column("agent_id", sa.Text, nullable=False),
        sa.Column("disposition", sa.Text),
        sa.Column("notes", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_notes"),
        sa.ForeignKeyConstraint(["call_pk"], ["calls.id"], name="fk_notes_call_pk_calls", ondelete="CASCADE"),
    )
    op.create_index("ix_notes_call_pk_created_at", "notes", ["call_pk", "created_at"])


def _create_audit() -> None:
    op.create_table(
        "audit",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("agent_id", sa.Text, nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("call_id", sa.Text),
        sa.Column("number", sa.Text),
        sa.Column("version", sa.Integer),
        sa.Column("sections", JSONType, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit"),
        sa.CheckConstraint("action IN ('card', 'lookup', 'note')", name="ck_audit_action"),
    )
    op.create_index("ix_audit_at", "audit", ["at"])
    op.create_index("ix_audit_agent_id_at", "audit", ["agent_id", "at"])
    op.create_index("ix_audit_call_id", "audit", ["call_id"])


def downgrade() -> None:
    """Drop everything, children first; the audit trail goes too, so think twice."""
    for table in ("audit", "notes", "call_recipients", "call_events", "calls"):
        op.drop_table(table)
