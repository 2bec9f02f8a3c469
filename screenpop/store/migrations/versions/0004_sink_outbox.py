"""The outbox of sinks: every saved note waits here until each sink has taken it.

Revision ID: 0004_sink_outbox
Revises: 0003_suggestion_feedback
Create Date: 2026-12-03

An entry is written in the same transaction as its note (one per configured
sink), so a note answered 202 survives a restart or a SIGKILL and is still
delivered.  ``call_pk`` has no foreign key: an entry lives on its own (a
retention purge of the call must not lose an undelivered entry).
``caller_e164`` is kept beside the payload so that an erasure finds the
caller's pending entries by number.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004_sink_outbox"
down_revision: str | None = "0003_suggestion_feedback"
branch_labels: str | None = None
depends_on: str | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSONType = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    """Create ``sink_outbox`` with its unique (sink, provider, call_id, version) and indexes."""
    op.create_table(
        "sink_outbox",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("sink", sa.Text, nullable=False),
        sa.Column("call_pk", ID, nullable=False),
        sa.Column("provider", sa.Text, nullable=False),
        sa.Column("call_id", sa.Text, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("idempotency_key", sa.Text, nullable=False),
        sa.Column("caller_e164", sa.Text),
        sa.Column("customer_ids", JSONType),
        sa.Column("payload", JSONType, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("leased_until", sa.DateTime(timezone=True)),
        sa.Column("leased_by", sa.Text),
        sa.Column("delivered_at", sa.DateTime(timezone=True)),
        sa.Column("last_error", sa.Text),
        sa.PrimaryKeyConstraint("id", name="pk_sink_outbox"),
        sa.UniqueConstraint(
            "sink", "provider", "call_id", "version", name="uq_sink_outbox_sink_provider_call_id_version"
        ),
    )
    op.create_index("ix_sink_outbox_call_pk", "sink_outbox", ["call_pk"])
    op.create_index("ix_sink_outbox_caller_e164", "sink_outbox", ["caller_e164"])
    op.create_index("ix_sink_outbox_delivered_at", "sink_outbox", ["delivered_at"])
    op.create_index("ix_sink_outbox_sink_delivered_at_id", "sink_outbox", ["sink", "delivered_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_sink_outbox_sink_delivered_at_id", table_name="sink_outbox")
    op.drop_index("ix_sink_outbox_delivered_at", table_name="sink_outbox")
    op.drop_index("ix_sink_outbox_caller_e164", table_name="sink_outbox")
    op.drop_index("ix_sink_outbox_call_pk", table_name="sink_outbox")
    op.drop_table("sink_outbox")
