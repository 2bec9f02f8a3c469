"""The outbox's delivery worker: one per instance, started and stopped with the service.

It leases due entries (``Store.claim_deliveries``: the head of each (sink,
call) chain, oldest first, so a later edit never overtakes an earlier one),
delivers each in a task of its own (at most one in flight per chain, at most
``BATCH`` per sink) and settles it: delivered, or failed with the time of its
next attempt.  The loop goes on claiming while deliveries are in flight, so
a sink that hangs until its ``timeout_s`` holds back only its own chains,
never another sink's or another call's: each sink has slots of its own, so
even a backlog of hung deliveries longer than ``BATCH`` cannot starve another
sink.  Nothing is
given up: a sink that is away is retried with exponential back-off and
jitter (1 s doubling to 5 min), or after the sink's own ``Retry-After`` when
it said one (``SinkBusy``); an entry the sink refused (``SinkRefused``)
is retried at the 5-minute ceiling, and both stay visible as ``failing``
in ``/readyz`` and ``/metrics`` until delivered.

A note saved on this instance ``wake``s the worker, so its sinks hear of it
at once; entries saved on other instances, and retries that come due, are
found by polling every ``poll_s`` (1 s).  A lease outlives the slowest
delivery (the sinks' timeouts plus a margin); one held by an instance that
was killed runs out and the entry is delivered by whoever claims it next.
Closing the worker waits for the deliveries in flight, and gives back the
leases of those still hanging at the end of its grace, so a graceful stop
leaves no entry leased.

Time is read from a ``Clock``: tests move a ``ManualClock`` past a back-off
instead of sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from screenpop.clock import Clock
from screenpop.retry import Backoff
from screenpop.sink_api import Sink, SinkBusy, SinkRefused
from screenpop.sinks.reasons import failure_reason
from screenpop.store import LeasedEntry, SinkBacklog, Store

log = logging.getLogger(__name__)

RETRY_FIRST_S = 1.0
RETRY_MAX_S = 300.0
LEASE_MARGIN_S = 30.0
BATCH = 64
STEP_BACK_S = 10.0
"""A wall clock that went back more than this (against the monotonic one) was stepped, not slewed."""
GIVE_BACK_S = 2.0
"""How long a stop waits for the store to take back the leases of the deliveries it cut off."""


class SinkObserver(Protocol):
    """Told about every delivery and every failed attempt (the app's ``Metrics``)."""

    def sink_delivered(self, sink: str, seconds_since_saved: float) -> None: ...

    def sink_failed(self, sink: str, refused: bool) -> None: ...


class SinkWorker:
    """Delivers the outbox of one store to its configured sinks, for as long as the service runs."""

    def __init__(
        self,
        store: Store,
        sinks: Mapping[str, Sink],
        clock: Clock,
        observer: SinkObserver | None = None,
        *,
        poll_s: float = 1.0,
        lease_s: float = 60.0,
        backoff: Backoff | None = None,
    ) -> None:
        self._store = store
        self._sinks = dict(sinks)
        self.settings: tuple[Any, ...] = ()
        """The config blocks the sinks were built from (``config.SinkSettings``), for a reload to compare."""
        self._clock = clock
        self._observer = observer
        self._poll_s = poll_s
        self._lease_s = lease_s
        self._backoff = backoff or Backoff(initial_s=RETRY_FIRST_S, max_s=RETRY_MAX_S)
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._inflight: dict[str, set[asyncio.Task[None]]] = {}
        """The deliveries running now, per sink (each sink has ``BATCH`` slots)."""
        self._cut_off: list[int] = []
        """Entries whose delivery a stop cancelled: their leases are given back."""
        self._stopping = False
        self.backlog: dict[str, SinkBacklog] = {}
        self._wall_offset = clock.time() - clock.monotonic()

    async def open(self) -> None:
        """Read the backlog once, then start: notes waiting for a sink no longer configured show at once.

        Without sinks no loop runs, and ``/readyz`` and ``/metrics`` list
        only the backlog read so far: an instance restarted with a sink
        taken out of its config would otherwise say nothing of the notes
        still waiting for it.  A store that is away leaves it to the loop.
        """
        try:
            await self.refresh_backlog()
        except Exception as exc:  # the store is away: readiness says so; the loop reads it later
            log.warning("sinks: cannot read the outbox (%s)", failure_reason(exc))
        self.start()

    def start(self) -> None:
        """Run the delivery loop in a task of its own (nothing to do without sinks)."""
        if self._sinks and self._task is None:
            self._task = asyncio.create_task(self._run(), name="screenpop-sinks")

    @property
    def sinks(self) -> Mapping[str, Sink]:
        """The sinks this worker delivers to now, by name."""
        return self._sinks

    def reconfigure(self, sinks: Mapping[str, Sink], settings: tuple[Any, ...], lease_s: float) -> list[Sink]:
        """A reload's sinks from the next claim on; answers those no longer used, for the caller to close.

        An entry already claimed for a removed sink fails once with a reason
        and waits in the outbox, like any entry of a sink that is not configured.
        """
        retired = [sink for name, sink in self._sinks.items() if sinks.get(name) is not sink]
        self._sinks = dict(sinks)
        self.settings = settings
        self._lease_s = lease_s
        if self._task is None and not self._stopping:
            self.start()
        self._wake.set()
        return retired

    def wake(self) -> None:
        """A note was saved here: look for due entries now rather than at the next poll."""
        self._wake.set()

    async def close(self, grace_s: float = 10.0) -> None:
        """Stop once the deliveries in flight are settled (no lease is left behind by a clean stop).

        A delivery still hanging after ``grace_s`` is cancelled and its lease
        given back: the entry is delivered again by whichever instance claims
        it next (at least once; the sink's idempotency key tells the copies apart).
        """
        if self._task is None:
            return
        self._stopping = True
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), grace_s)
        except TimeoutError:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._task = None

    async def run_once(self) -> int:
        """Claim one batch of due entries and deliver it; how many entries were claimed."""
        await self._after_a_step_back()
        entries = await self._claim(BATCH)
        if entries:
            await asyncio.gather(*(self._deliver(e) for e in entries))
        return len(entries)

    async def refresh_backlog(self) -> dict[str, SinkBacklog]:
        """Read the undelivered entries per sink (kept for ``/metrics``, which cannot await)."""
        self.backlog = await self._store.sink_backlog()
        return self.backlog

    async def _claim(self, limit: int) -> list[LeasedEntry]:
        return await self._store.claim_deliveries(
            self.owner, self._now(), self._lease_s, limit, tuple(self._sinks)
        )

    async def _run(self) -> None:
        try:
            await self._loop()
            if running := self._running():  # a clean stop settles what is in flight (close() bounds it)
                await asyncio.gather(*running)
        finally:
            pending = self._running()
            for task in pending:  # cut off by close()'s grace: delivered again, by whoever claims them next
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            await self._give_back(self._cut_off)

    async def _give_back(self, entry_ids: list[int]) -> None:
        """Release the leases of deliveries cut off by a stop, so another instance need not wait them out.

        A rolling restart stops instances one by one: a delivery hanging on
        a slow sink would otherwise stay leased for ``lease_s`` (a minute)
        after its instance is gone.  Only entries still leased by this
        instance are released; one settled meanwhile is left as it is.  A
        store that cannot be reached leaves the leases to run out.
        """
        if not entry_ids:
            return
        try:
            async with asyncio.timeout(GIVE_BACK_S):
                await self._store.release_deliveries(entry_ids, self.owner)
        except Exception as exc:  # the leases run out instead: delivered later, never lost
            log.warning("sinks: cannot give back %d leases (%s)", len(entry_ids), failure_reason(exc))

    async def _loop(self) -> None:
        failures = 0
        last_stats = float("-inf")
        while not self._stopping:
            try:
                started = await self._start_more()
                if self._clock.monotonic() - last_stats >= self._poll_s:
                    await self.refresh_backlog()
                    last_stats = self._clock.monotonic()
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the store is away: keep the loop alive, try again later
                failures += 1
                log.warning("sinks: cannot read the outbox (%s); retrying", failure_reason(exc))
                await self._pause(self._backoff.delay(failures))
                continue
            if started == 0:  # else look again now: more may be due than one claim's limit
                await self._idle()

    async def _start_more(self) -> int:
        """Claim, per sink, as many due entries as it has free slots, and start delivering each on its own."""
        await self._after_a_step_back()
        started = 0
        for name in tuple(self._sinks):
            running = self._inflight.setdefault(name, set())
            free = BATCH - len(running)
            if free <= 0:
                continue
            now = self._now()
            entries = await self._store.claim_deliveries(self.owner, now, self._lease_s, free, (name,))
            for entry in entries:
                task = asyncio.create_task(self._deliver_and_wake(entry), name=f"screenpop-sink-{entry.id}")
                running.add(task)
                task.add_done_callback(running.discard)
            started += len(entries)
        return started

    async def _after_a_step_back(self) -> None:
        """Once the wall clock went back, make due what was set before the step beyond any retry.

        A retry is set at most 5 minutes ahead; stepped back an hour, those
        times read an hour and five minutes off, and every waiting note
        (and every note saved before the step) would sit out the hour.
        """
        offset = self._clock.time() - self._clock.monotonic()
        stepped_s = self._wall_offset - offset
        if stepped_s > STEP_BACK_S:  # a store that is away raises: the next round tries again
            moved = await self._store.deliveries_due_again(self._now())
            log.warning(
                "sinks: the wall clock went back %.0f s; %d waiting entries due now", stepped_s, moved
            )
        self._wall_offset = offset

    def _running(self) -> list[asyncio.Task[None]]:
        return [task for tasks in self._inflight.values() for task in tasks]

    async def _deliver_and_wake(self, entry: LeasedEntry) -> None:
        """Deliver; then wake the loop, since the next note of this chain (or a free slot) may be due."""
        try:
            await self._deliver(entry)
        except asyncio.CancelledError:
            self._cut_off.append(entry.id)
            raise
        except Exception as exc:  # the store failed to settle it: the lease runs out and it is tried again
            log.warning(
                "sinks: cannot settle delivery %s (%s); it will be retried", entry.id, failure_reason(exc)
            )
        finally:
            self._wake.set()

    async def _idle(self) -> None:
        """Wait for a wake-up or the next poll, whichever comes first."""
        await self._pause(self._poll_s)

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._wake.wait()
        self._wake.clear()

    async def _deliver(self, entry: LeasedEntry) -> None:
        delivery = entry.delivery
        try:
            sink = self._sinks.get(delivery.sink)
            if sink is None:
                raise SinkRefused("the sink was removed from the config by a reload")
            async with asyncio.timeout(self._delivery_bound_s()):
                await sink.deliver(delivery)
        except Exception as exc:  # every failure is settled below: retried later, never dropped
            await self._failed(entry, exc)
            return
        done = self._now()
        await self._store.delivery_done(entry.id, done)
        if self._observer is not None:
            self._observer.sink_delivered(delivery.sink, (done - entry.created_at).total_seconds())

    async def _failed(self, entry: LeasedEntry, exc: Exception) -> None:
        refused = isinstance(exc, SinkRefused)
        delay = self._backoff.max_s if refused else self._backoff.delay(entry.attempts)
        if isinstance(exc, SinkBusy) and exc.retry_after_s is not None:
            delay = min(self._backoff.max_s, max(delay, exc.retry_after_s))
        reason = failure_reason(exc)
        next_at = self._now() + timedelta(seconds=delay)
        await self._store.delivery_failed(entry.id, self.owner, next_at, reason)
        if self._observer is not None:
            self._observer.sink_failed(entry.delivery.sink, refused)
        if entry.attempts == 0 or refused:
            log.warning(
                "sink %s: note %s (outbox entry %s) failed (%s); retrying in %.0f s",
                entry.delivery.sink,
                entry.delivery.idempotency_key,
                entry.id,
                reason,
                delay,
            )

    def _delivery_bound_s(self) -> float:
        """How long one ``deliver`` may take: half the margin short of the lease.

        Our own kinds stop at their ``timeout_s``; a third party's that does
        not would outlive its lease, and another instance would deliver the
        same entry meanwhile, while this one held a slot for ever.
        """
        return max(1.0, self._lease_s - LEASE_MARGIN_S / 2)

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock.time(), UTC)


def describe_backlog(backlog: SinkBacklog | None, now: float) -> str:
    """``ok``, ``backlog: 12, oldest 40 s`` or ``failing: 3 of 12, oldest 40 s: HTTP 503``."""
    if backlog is None or backlog.pending == 0:
        return "ok"
    age = max(0, round(now - backlog.oldest.timestamp())) if backlog.oldest else 0
    if backlog.failing:
        return f"failing: {backlog.failing} of {backlog.pending}, oldest {age} s: {backlog.last_error}"
    return f"backlog: {backlog.pending}, oldest {age} s"
