"""``calls.summary_version``: the card version a call's stored summary was made from.

Revision ID: 0008_summary_version
Revises: 0007_outbox_call_id
Create Date: 2026-12-06

Two instances can write a summary of one call: the one that built the card
when it completed, and one that ran a mid-call update (a newer version).
Each kept whichever write landed last, so a slow writer could put the
older summary back over the newer one in ``/api/calls``.  A summary now
replaces the stored one only when it is of the same card version or a
later one.  Existing rows have none: any summary replaces theirs.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_summary_version"
down_revision: str | None = "0007_outbox_call_id"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """A nullable column: no table rewrite on PostgreSQL, none of the rows touched."""
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("summary_version", sa.Integer()))


def downgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("summary_version")
