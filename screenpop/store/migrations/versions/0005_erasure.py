"""Erasure and retention: the audit action 'erase', a lease table, notes found by age.

Revision ID: 0005_erasure
Revises: 0004_sink_outbox
Create Date: 2026-12-04

- ``audit.action`` may be ``erase``: ``screenpop erase`` records that an
  erasure happened, by whom and how many rows (never the number or the id).
- ``store_leases``: one row per job only one instance may run at a time
  (the retention purge), the same way on SQLite and PostgreSQL.
- ``ix_notes_created_at``: the hourly purge finds notes past ``notes_days``
  without scanning the whole table.

SQLite cannot alter a CHECK constraint, so ``audit`` is copied into a new
table there (Alembic's batch mode, from the table as 0001/0002 built it).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005_erasure"
down_revision: str | None = "0004_sink_outbox"
branch_labels: str | None = None
depends_on: str | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSONType = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
OLD_ACTIONS = "action IN ('card', 'lookup', 'note')"
NEW_ACTIONS = "action IN ('card', 'lookup', 'note', 'erase')"
CHECK_NAME = "ck_audit_ck_audit_action"
"""The name 0001 ended up with (its name went through the naming convention once more)."""


def upgrade() -> None:
    """Allow action 'erase', create ``store_leases`` and index ``notes.created_at``."""
    _set_audit_actions(NEW_ACTIONS)
    op.create_table(
        "store_leases",
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("holder", sa.Text, nullable=False),
        sa.Column("until", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_store_leases"),
    )
    op.create_index("ix_notes_created_at", "notes", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_notes_created_at", table_name="notes")
    op.drop_table("store_leases")
    op.execute("DELETE FROM audit WHERE action = 'erase'")
    _set_audit_actions(OLD_ACTIONS)


def _set_audit_actions(condition: str) -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.drop_constraint(op.f(CHECK_NAME), "audit", type_="check")
        op.create_check_constraint(op.f(CHECK_NAME), "audit", condition)
        return
    with op.batch_alter_table("audit", copy_from=_audit_as_built(), recreate="always") as batch:
        batch.drop_constraint(op.f(CHECK_NAME), type_="check")
        batch.create_check_constraint(op.f(CHECK_NAME), condition)


def _audit_as_built() -> sa.Table:
    """``audit`` as revisions 0001 and 0002 left it (batch mode copies it from this)."""
    return sa.Table(
        "audit",
        sa.MetaData(),
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("agent_id", sa.Text, nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("call_id", sa.Text),
        sa.Column("number", sa.Text),
        sa.Column("version", sa.Integer),
        sa.Column("sections", JSONType, nullable=False),
        sa.Column("provider", sa.Text),
        sa.CheckConstraint(OLD_ACTIONS, name=CHECK_NAME),
        sa.PrimaryKeyConstraint("id", name="pk_audit"),
        sa.Index("ix_audit_at", "at"),
        sa.Index("ix_audit_agent_id_at", "agent_id", "at"),
        sa.Index("ix_audit_call_id", "call_id"),
    )
