"""SQLite's worker threads (aiosqlite runs each connection on one), stopped when given up and ended on close.

aiosqlite answers through the event loop that asked.  Two things went
wrong with a statement cut off in the middle (a lookup's ``timeout_ms``, a
sink delivery's ``timeout_s``, a stop):

- cancelling the await does not stop SQLite: the transaction's rollback
  queued behind the statement, so a bounded wait ran for as long as the
  statement did (and held its pooled connection);
- cancelled again, or collected as garbage, SQLAlchemy stopped the
  connection without waiting for it: its thread ran on after the connector
  or sink said it was closed, then answered a loop that was gone
  ("RuntimeError: Event loop is closed", at shutdown and in whichever test
  ran next).

So a statement given up on can be interrupted until it stops
(``interruptible``), and ``DriverThreads`` keeps the threads an engine
starts and, on close, interrupts, stops and waits for each one still
running.  The SQL connector and the ``sql`` sink share it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Awaitable
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger(__name__)

T = TypeVar("T")

END_WAIT_S = 5.0
"""How long closing (or giving up a statement) waits: an interrupted statement stops within milliseconds."""
INTERRUPT_EVERY_S = 0.02
"""SQLite drops an interrupt that comes before a statement starts: one still queued is interrupted again."""


async def interruptible(work: Awaitable[T], driver: Any) -> T:
    """``work`` (a statement on ``driver``, an aiosqlite connection), interrupted if the caller gives up."""
    task = asyncio.ensure_future(work)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        await interrupt_until_done(task, driver)
        raise


async def interrupt_until_done(work: asyncio.Future[Any], driver: Any) -> None:
    """Interrupt ``driver``'s statement again and again until ``work`` ends, for at most ``END_WAIT_S``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + END_WAIT_S
    while not work.done() and loop.time() < deadline:
        with contextlib.suppress(Exception):  # no statement, or closed already: nothing to interrupt
            await driver.interrupt()
        await asyncio.wait({work}, timeout=INTERRUPT_EVERY_S)
    if not work.done():
        log.warning("an SQLite statement did not stop within %.0f s of being given up", END_WAIT_S)
        work.cancel()
    elif not work.cancelled():
        work.exception()  # retrieved: the caller gave up on it and raises its own error


class DriverThreads:
    """The worker threads of one engine's aiosqlite connections (nothing for other drivers)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._running: list[tuple[threading.Thread, Any]] = []
        if engine.dialect.driver == "aiosqlite":
            event.listen(engine.sync_engine, "connect", self._connected)

    def _connected(self, dbapi_connection: Any, _record: Any) -> None:
        driver = getattr(dbapi_connection, "driver_connection", None)
        thread = getattr(driver, "_thread", None)
        if isinstance(thread, threading.Thread):
            self._running = [(t, c) for t, c in self._running if t.is_alive()]
            self._running.append((thread, driver))

    async def end(self) -> None:
        """Stop every thread still running (its statement interrupted) and wait until each has ended."""
        alive = [(t, c) for t, c in self._running if t.is_alive()]
        self._running = []
        for _, driver in alive:
            with contextlib.suppress(Exception):  # stopped or closed already
                driver.stop()  # queued after what the thread runs now; its answer comes while we wait
        loop = asyncio.get_running_loop()
        deadline = loop.time() + END_WAIT_S
        while alive and loop.time() < deadline:
            for _, driver in alive:
                with contextlib.suppress(Exception):  # no statement, or closed already: nothing to interrupt
                    await driver.interrupt()
            await asyncio.sleep(INTERRUPT_EVERY_S)
            alive = [(t, c) for t, c in alive if t.is_alive()]
        if alive:
            log.warning("%d SQLite statements did not stop within %.0f s of closing", len(alive), END_WAIT_S)
