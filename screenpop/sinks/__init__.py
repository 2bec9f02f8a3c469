"""Where a saved note is written back: the ``sql`` and ``http`` sink kinds and the outbox's delivery worker.

- ``sql``: ``SqlSink``, a bound statement against any SQLAlchemy async URL.
- ``http``: ``HttpSink``, a POST of the SPEC's JSON with an ``Idempotency-Key``.
- ``worker``: ``SinkWorker``, one per instance: leases due outbox entries,
  delivers them in order per (sink, call), retries with back-off, never gives up.
- ``reasons``: short, data-free words for why a delivery failed.
- ``driver_threads``: SQLite's per-connection threads under a ``sql`` sink, stopped with it.

The kinds are reached only through the entry-point group ``screenpop.sinks``
(``plugins.build_sinks``), like a third party's.
"""

from __future__ import annotations

from screenpop.sinks.worker import SinkObserver, SinkWorker, describe_backlog

__all__ = ["SinkObserver", "SinkWorker", "describe_backlog"]
