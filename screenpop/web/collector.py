"""CPython's cyclic collector in ``screenpop serve``: out of the start-up heap, and off the request path.

Two things about the collector cost a webhook time, and both are settled
once the server listens (``settle_heap``):

- **The start-up heap.** Config, schemas, phone metadata and SQLAlchemy
  live as long as the process, yet every full collection walked them all
  again: tens of milliseconds now and then. Frozen, they are never scanned.
- **Where a collection runs.** CPython collects in the middle of whatever
  allocates past its threshold. This service allocates nearly only while
  it handles calls, so each collection fell inside some call: once serving,
  a young collection (10,000 objects, cold) takes 1.3 to 1.5 ms here, every
  ten seconds at 20 calls/s, and that call's first frame and 202 waited for
  it. So ``collect_if_due`` runs the generation CPython's own trigger would
  have run, by the same counts and thresholds, where no request waits:
  after a webhook's answer is written, and once a second
  (``keep_collecting``) for the work no webhook follows (cards completing,
  agents' requests, an index refresh). CPython's own trigger stays as a
  backstop, ten times further out (``BACKSTOP_EVERY``): work that allocates
  that much between two of those moments (a thread's) is collected as it
  goes, not in one pause of a whole second's allocations.

Young collections come every 10,000 net allocations instead of CPython's
700: with dozens of calls in flight that default ran one for nearly every
call, and the older generations after them, so a burst of 3,000 calls spent
0.4 s in the collector, including four full collections of 25 to 47 ms.
Every 10,000, the same burst spends 0.05 to 0.1 s and runs no full
collection (docs/performance.md).

A process that hosts the application itself (the tests, an embedding
program) keeps its collector as it set it: only ``screenpop serve`` calls
``settle_heap``, and ``collect_if_due`` does nothing before it.
"""

from __future__ import annotations

import asyncio
import gc

YOUNG_COLLECTION_EVERY = 10_000
"""Net allocations between the collector's young-generation runs once serving (``settle_heap``)."""
BACKSTOP_EVERY = 10 * YOUNG_COLLECTION_EVERY
"""Net allocations after which CPython collects by itself all the same, once serving."""
SWEEP_EVERY_S = 1.0
"""How often ``keep_collecting`` looks, for allocations no webhook's answer is followed by."""

_settled = False
"""Whether ``settle_heap`` has run in this process: ``collect_if_due`` leaves a host's collector alone."""


def settle_heap() -> None:
    """Freeze what start-up built, and move the young collections out of the requests' way."""
    global _settled
    gc.collect()
    gc.freeze()
    gc.set_threshold(BACKSTOP_EVERY, *gc.get_threshold()[1:])
    _settled = True


def collect_if_due() -> int | None:
    """Run the generation CPython would collect now (its counts, its thresholds); the one run, or None.

    A generation is due when its count is over its threshold: the young
    one counts net allocations, each older one the collections of the
    generation below it since its own last run (CPython's rule; its extra
    condition before a full collection, a quarter of the long-lived objects
    being new, is not visible from Python, so a full collection runs every
    hundred and twenty or so young ones, and scans only what was made since
    the freeze).
    """
    if not _settled:  # a host process's collector is left as it is
        return None
    young, middle, old = gc.get_count()
    if young <= YOUNG_COLLECTION_EVERY:
        return None
    _, every_middle, every_old = gc.get_threshold()
    generation = 0 if middle <= every_middle else 1 if old <= every_old else 2
    gc.collect(generation)
    return generation


async def keep_collecting(every_s: float = SWEEP_EVERY_S) -> None:
    """``collect_if_due`` once every ``every_s``, until cancelled (``screenpop serve`` runs it)."""
    while True:
        await asyncio.sleep(every_s)
        collect_if_due()
