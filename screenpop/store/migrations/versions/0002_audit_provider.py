"""The audit trail names the provider of the call a row is about.

Revision ID: 0002_audit_provider
Revises: 0001
Create Date: 2026-12-03

A provider's call id is unique only within that provider; an audit row that
names the call id alone cannot say which of two providers' ``c-1`` an agent
saw (``screenpop audit`` showed both calls' numbers).  Rows written before
this revision keep no provider and are matched by call id, as before.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_audit_provider"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Add the nullable ``audit.provider`` column."""
    with op.batch_alter_table("audit") as batch:
        batch.add_column(sa.Column("provider", sa.Text))


def downgrade() -> None:
    with op.batch_alter_table("audit") as batch:
        batch.drop_column("provider")
