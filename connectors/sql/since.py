"""What ``:since`` is bound to: one instant, the same whatever time zone screenpop's host is in.

screenpop keeps the instant as an aware UTC ``datetime``. PostgreSQL gets it
typed as ``timestamptz`` (SQLAlchemy renders ``$1::TIMESTAMP WITH TIME
ZONE``), so a ``timestamptz`` column compares exactly, and a ``timestamp``
column is compared by PostgreSQL's own rule: as wall time in the session's
``TimeZone``, which is what ``now()`` and ``CURRENT_TIMESTAMP`` write into it
(docs/matching.md). Left untyped, the parameter took the column's type, and
asyncpg read a naive ``datetime`` bound to a ``timestamptz`` as the host's
local time (``:since`` 8 h in the future in Los Angeles: incremental reads
found nothing), while it refuses an aware one for a ``timestamp``. Other
databases get naive UTC: SQLite's ``CURRENT_TIMESTAMP`` text is UTC, and
MySQL's ``DATETIME`` has no zone.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import DateTime, bindparam, text
from sqlalchemy.sql.elements import TextClause

from .options import bind_names

#: ``:since`` on a full read: before any row was written.
FULL_READ = datetime(1970, 1, 1, tzinfo=UTC)
#: An incremental read starts this long before the previous read began (clock skew, open transactions).
OVERLAP = timedelta(seconds=60)


def read_start() -> datetime:
    """The ``:since`` of the read after one that begins now."""
    return datetime.now(UTC) - OVERLAP


def index_statement(query: str, dialect: str) -> TextClause:
    """``index_query`` with ``:since`` typed ``timestamptz`` on PostgreSQL (as is elsewhere)."""
    statement = text(query)
    if dialect == "postgresql" and "since" in bind_names(query):
        statement = statement.bindparams(bindparam("since", type_=DateTime(timezone=True)))
    return statement


def since_value(instant: datetime, dialect: str) -> datetime:
    """The instant as ``index_statement`` binds it: aware for PostgreSQL, naive UTC for the others."""
    if dialect == "postgresql":
        return instant.astimezone(UTC)
    return instant.astimezone(UTC).replace(tzinfo=None)


def as_instant(stored: datetime) -> datetime:
    """A ``:since`` read back (the shared index's metadata): naive ones were written as UTC."""
    return stored if stored.tzinfo is not None else stored.replace(tzinfo=UTC)
