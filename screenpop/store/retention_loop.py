"""The service's retention loop: a purge when it starts, then one every hour, on the app's clock.

Started by ``app.create_app`` (its ``cleanup_ctx``) when ``retention:``
sets any age, and cancelled when the app stops.  Every instance runs the
loop; the purge lease (``store.retention``) lets one of them purge at a
time and the others skip that round.  The wait between rounds is a timer of
the app's ``Clock``, so a test moves a ``ManualClock`` an hour on instead of
sleeping.  What a purge removed is counted (``observe``: the app's metrics)
and logged as table names and counts only: nothing personal is in them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime

import sqlalchemy as sa

from screenpop.clock import Clock
from screenpop.errors import Unavailable
from screenpop.store.connections import failure_reason
from screenpop.store.facade import Store
from screenpop.store.retention import PurgeReport, RetentionPolicy

log = logging.getLogger(__name__)

INTERVAL_S = 3600.0
"""The SPEC's "at least hourly"."""


async def run_retention(
    store: Store,
    policy: Callable[[], RetentionPolicy],
    clock: Clock,
    holder: str,
    observe: Callable[[PurgeReport], None],
    interval_s: float = INTERVAL_S,
) -> None:
    """Purge now, then every ``interval_s`` of ``clock``, until cancelled.

    ``policy`` is read at each round, so a reload's new ages apply from the next one.
    """
    while True:
        current = policy()
        if current.enabled:
            await purge_once(store, current, clock, holder, observe)
        await wait_until(clock, clock.time() + interval_s)


async def purge_once(
    store: Store, policy: RetentionPolicy, clock: Clock, holder: str, observe: Callable[[PurgeReport], None]
) -> PurgeReport | None:
    """One purge at the clock's time; None when another instance purges or the store is away."""
    now = datetime.fromtimestamp(clock.time(), UTC)
    try:
        report = await store.purge_expired(policy, now, holder)
    except (OSError, TimeoutError, sa.exc.SQLAlchemyError, Unavailable) as exc:
        # Swallowed on purpose: the store may be restarting, and the next round
        # (an hour on) purges what this one could not; rows only wait longer.
        log.warning("retention: purge failed (%s); trying again next round", failure_reason(exc))
        return None
    if report is None:
        log.info("retention: another instance holds the purge lease; skipping this round")
        return None
    observe(report)
    if report.total:
        removed = ", ".join(f"{table}={count}" for table, count in sorted(report.counts.items()) if count)
        log.info(
            "retention: purged %d rows (%s) in %d transactions, longest %.3f s",
            report.total,
            removed,
            report.batches,
            report.max_batch_s,
        )
    return report


async def wait_until(clock: Clock, when: float) -> None:
    """Return once ``clock.time()`` has reached ``when`` (a timer, re-armed if it came early)."""
    while clock.time() < when:
        fired = asyncio.Event()
        timer = clock.call_at(when, fired.set)
        try:
            await fired.wait()
        finally:
            timer.cancel()
