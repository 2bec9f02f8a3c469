"""screenpop's own data: calls, their event timeline, recipients, notes, suggestion feedback, audit.

- ``facade``: ``Store``, the one object the rest of screenpop talks to.
- ``call_records``: ``CallRecorder``, the write-behind queue for call records.
- ``audit_queue``: the write-behind queue for "who saw what".
- ``sql``: every transaction, as a synchronous function of one connection.
- ``outbox``: the sinks' outbox: entries written with a note, leased, settled, counted.
- ``feedback``: the transactions of agents' answers to suggestions.
- ``retention``: the purge of rows past their age, in batches, one instance at a time.
- ``erasure``: every row of one caller removed (``screenpop erase``), and audited.
- ``rows``: checked shapes of what is written and read.
- ``schema``: the tables (the migrations build exactly these).
- ``connections``: where transactions run (SQLite threads, PostgreSQL), and migrating to head.
- ``sqlite_thread``: one SQLite connection owned by one worker thread.
- ``migrations/``: the Alembic scripts, run to head by ``Store.open``.
"""

from __future__ import annotations

from screenpop.store.call_records import CallRecorder
from screenpop.store.erasure import ErasureTarget
from screenpop.store.facade import Store
from screenpop.store.outbox import LeasedEntry, SinkBacklog
from screenpop.store.retention import PURGED_TABLES, PurgeReport, RetentionPolicy
from screenpop.store.rows import CallState, CallWrite, EventWrite, FeedbackWrite, SummaryWrite

__all__ = [
    "PURGED_TABLES",
    "CallRecorder",
    "CallState",
    "CallWrite",
    "ErasureTarget",
    "EventWrite",
    "FeedbackWrite",
    "LeasedEntry",
    "PurgeReport",
    "RetentionPolicy",
    "SinkBacklog",
    "Store",
    "SummaryWrite",
]
