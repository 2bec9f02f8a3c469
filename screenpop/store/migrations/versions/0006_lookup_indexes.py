"""Indexes for erasure, ``screenpop audit --number`` and retention, which scanned whole tables.

Revision ID: 0006_lookup_indexes
Revises: 0005_erasure
Create Date: 2026-12-05

- ``ix_audit_number``: ``screenpop erase --number`` deletes, and
  ``screenpop audit --number`` reads, the lookups of one number; the audit
  keeps every card shown for ``audit_days`` (millions of rows), and each
  was a full scan, the erasure's under the write lock.  Partial: only
  lookup rows have a number, so writing a card's row costs nothing more.
- ``ix_sink_outbox_created_at``: retention blanks the sink copies older
  than their note, found by age like ``ix_notes_created_at`` finds notes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_lookup_indexes"
down_revision: str | None = "0005_erasure"
branch_labels: str | None = None
depends_on: str | None = None

HAS_NUMBER = "number IS NOT NULL"
"""Only lookup rows name a number: the cards, most of the audit's writes, add nothing to the index."""


def upgrade() -> None:
    """Create both indexes (on a big store this takes a while, once, at the first start)."""
    op.create_index(
        "ix_audit_number",
        "audit",
        ["number"],
        sqlite_where=sa.text(HAS_NUMBER),
        postgresql_where=sa.text(HAS_NUMBER),
    )
    op.create_index("ix_sink_outbox_created_at", "sink_outbox", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_sink_outbox_created_at", table_name="sink_outbox")
    op.drop_index("ix_audit_number", table_name="audit")
