"""An index on ``sink_outbox.call_id``: a note's version is counted across every provider.

Revision ID: 0007_outbox_call_id
Revises: 0006_lookup_indexes
Create Date: 2026-12-05

The idempotency key ``<call_id>:<version>`` names no provider, so a note's
version must follow the last one any provider's call of that id got
(``store.outbox.enqueue``); the unique (sink, provider, call_id, version)
cannot find that without a scan of a sink's whole outbox.
"""

from __future__ import annotations

from alembic import op

revision = "0007_outbox_call_id"
down_revision: str | None = "0006_lookup_indexes"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Create the index (on a big outbox this takes a while, once, at the first start)."""
    op.create_index("ix_sink_outbox_call_id", "sink_outbox", ["call_id"])


def downgrade() -> None:
    op.drop_index("ix_sink_outbox_call_id", table_name="sink_outbox")
