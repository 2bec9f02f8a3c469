"""A task whose cancel is swallowed inside it (Python 3.11's ``asyncio.wait_for``) still ends.

redis-py sends every command through ``wait_for`` when ``socket_timeout``
is set; on 3.11 a cancel that lands as the inner work finishes is lost
(python/cpython#86296).  A plain ``task.cancel(); await task`` then waited
forever for a loop that went round again: the service's shutdown hung in
``AdminBoard.close`` (about one start-and-stop in three with Redis).
"""

from __future__ import annotations

import asyncio
import contextlib

from screenpop.stopping import cancel_and_wait


async def _swallows_the_first_cancel() -> None:
    """A loop whose first cancel is lost inside a library call, as 3.11's wait_for loses it."""
    with contextlib.suppress(asyncio.CancelledError):  # wait_for returning its work's result instead
        await asyncio.sleep(10)
    rounds = 0
    while rounds < 1000:  # the next rounds, as the admin board's or the broker supervisor's loop
        await asyncio.sleep(0.01)
        rounds += 1


async def test_a_plain_cancel_leaves_such_a_loop_running() -> None:
    """What the closers did: the task is still running long after its cancel."""
    task = asyncio.create_task(_swallows_the_first_cancel())
    await asyncio.sleep(0)
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=0.3)
    assert not done
    await cancel_and_wait(task)


async def test_cancel_and_wait_ends_it() -> None:
    task = asyncio.create_task(_swallows_the_first_cancel())
    await asyncio.sleep(0)
    async with asyncio.timeout(5):
        await cancel_and_wait(task)
    assert task.cancelled()


async def test_cancel_and_wait_takes_what_an_ended_task_raised() -> None:
    async def fails() -> None:
        raise RuntimeError("already broken")

    task = asyncio.create_task(fails())
    await asyncio.sleep(0)
    await cancel_and_wait(task)  # nothing raised, and no "exception was never retrieved" left behind
    await cancel_and_wait(None)


async def test_a_task_that_never_stops_is_left_with_a_warning_after_the_limit() -> None:
    released = asyncio.Event()

    async def stubborn() -> None:
        while not released.is_set():
            try:
                await asyncio.sleep(0.01)
            except asyncio.CancelledError:
                continue

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    async with asyncio.timeout(5):
        await cancel_and_wait(task, give_up_s=0.2)
    assert not task.done()
    released.set()
    await task
