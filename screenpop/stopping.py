"""Ending a background task for good, even when something inside it swallowed the cancel.

On Python 3.11, ``asyncio.wait_for`` returns the inner result instead of
raising ``CancelledError`` when the cancel arrives just as the inner work
finishes (python/cpython#86296, fixed in 3.12).  redis-py wraps every
command's send in ``wait_for`` when ``socket_timeout`` is set, so a cancel
landing during a Redis command is lost about half the time.  A loop that
then goes round again (the admin board's rounds, the broker's supervisor)
never ends, and whatever awaited it (the service's shutdown) waited
forever.  ``cancel_and_wait`` cancels again until the task has ended.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

log = logging.getLogger(__name__)

AGAIN_EVERY_S = 0.05
"""A swallowed cancel shows as a task still running this long after it: it is cancelled again."""
GIVE_UP_S = 10.0


async def cancel_and_wait(task: asyncio.Task[Any] | None, give_up_s: float = GIVE_UP_S) -> None:
    """Cancel ``task`` and wait until it has ended, cancelling again while it runs on.

    What it raised is dropped (it was being stopped).  A task still running
    after ``give_up_s`` of cancels is left, with a warning: the caller's own
    shutdown must not hang on it.
    """
    if task is None or task.done():
        return
    loop = asyncio.get_running_loop()
    deadline = loop.time() + give_up_s
    while not task.done() and loop.time() < deadline:
        task.cancel()
        await asyncio.wait({task}, timeout=AGAIN_EVERY_S)
    if not task.done():
        log.warning("task %s did not stop within %.0f s of being cancelled", task.get_name(), give_up_s)
        return
    if not task.cancelled():
        task.exception()  # retrieved: the task is being stopped, what it raised is of no use now
