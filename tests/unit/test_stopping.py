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


async def _swallows_the_first_cancel(started: asyncio.Event, rounds: asyncio.Queue[int]) -> None:
    """A loop whose first cancel is lost inside a library call, as 3.11's wait_for loses it."""
    started.set()
    with contextlib.suppress(asyncio.CancelledError):  # wait_for returning its work's result instead
        await asyncio.Event().wait()
    for n in range(1000):  # the next rounds, as the admin board's or the broker supervisor's loop
        await rounds.put(n)
        await rounds.join()  # a round's work, which the next cancel interrupts


async def _started() -> tuple[asyncio.Task[None], asyncio.Queue[int]]:
    started, rounds = asyncio.Event(), asyncio.Queue[int]()
    task = asyncio.create_task(_swallows_the_first_cancel(started, rounds))
    await started.wait()
    return task, rounds


async def test_a_plain_cancel_leaves_such_a_loop_running() -> None:
    """What the closers did: after its cancel the task goes on to its next round."""
    task, rounds = await _started()
    task.cancel()
    async with asyncio.timeout(5):
        assert await rounds.get() == 0  # a round after the cancel: the task runs on
    assert not task.done()
    await cancel_and_wait(task)


async def test_cancel_and_wait_ends_it() -> None:
    task, _ = await _started()
    async with asyncio.timeout(5):
        await cancel_and_wait(task)
    assert task.cancelled()


async def test_cancel_and_wait_takes_what_an_ended_task_raised() -> None:
    async def fails() -> None:
        raise RuntimeError("already broken")

    task = asyncio.create_task(fails())
    await asyncio.wait({task})
    await cancel_and_wait(task)  # nothing raised, and no "exception was never retrieved" left behind
    await cancel_and_wait(None)


async def test_a_task_that_never_stops_is_left_with_a_warning_after_the_limit() -> None:
    began, released = asyncio.Event(), asyncio.Event()

    async def stubborn() -> None:
        began.set()
        while not released.is_set():
            with contextlib.suppress(asyncio.CancelledError):
                await released.wait()

    task = asyncio.create_task(stubborn())
    await began.wait()
    async with asyncio.timeout(5):
        await cancel_and_wait(task, give_up_s=0.2)
    assert not task.done()
    released.set()
    await task
