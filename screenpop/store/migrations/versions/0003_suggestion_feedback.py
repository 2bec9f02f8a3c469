"""Agents' answers to insight suggestions: accepted or declined, one per call, agent, section and product.

Revision ID: 0003_suggestion_feedback
Revises: 0002_audit_provider
Create Date: 2026-12-03

``POST /api/calls/{call_id}/feedback`` keeps what an agent did with a
suggestion of an insight section, so that a company can see which advice
agents use.  A later answer for the same (call, agent, section, product)
replaces the earlier one, hence the composite primary key.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_suggestion_feedback"
down_revision: str | None = "0002_audit_provider"
branch_labels: str | None = None
depends_on: str | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create ``suggestion_feedback`` and its index on (section, outcome)."""
    op.create_table(
        "suggestion_feedback",
        sa.Column("call_pk", ID, nullable=False),
        sa.Column("agent_id", sa.Text, nullable=False),
        sa.Column("section", sa.Text, nullable=False),
        sa.Column("product", sa.Text, nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("outcome IN ('accepted', 'declined')", name="ck_suggestion_feedback_outcome"),
        sa.ForeignKeyConstraint(
            ["call_pk"],
            ["calls.id"],
            name="fk_suggestion_feedback_call_pk_calls",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("call_pk", "agent_id", "section", "product", name="pk_suggestion_feedback"),
    )
    op.create_index("ix_suggestion_feedback_section_outcome", "suggestion_feedback", ["section", "outcome"])


def downgrade() -> None:
    op.drop_index("ix_suggestion_feedback_section_outcome", table_name="suggestion_feedback")
    op.drop_table("suggestion_feedback")
