"""SQLite's worker threads (aiosqlite runs each connection on a thread of its own), ended on close.

Every aiosqlite connection answers through the event loop that asked.  A
connection SQLAlchemy gives up on in the middle of a statement (a lookup
cancelled while its connection was checked out or in, or one collected as
garbage) is stopped without anyone waiting for it: its thread runs the
statement to its end, then answers a loop that may be gone.  That was a
"RuntimeError: Event loop is closed" in a thread after the connector had
said it was closed (at shutdown, and in whichever test ran next), and a
statement that went on reading the database after the service stopped
asking.  So the connector keeps the threads its engine starts and, when it
closes, interrupts, stops and waits for each one still running.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger(__name__)

END_WAIT_S = 5.0
"""How long closing waits for the threads: an interrupted statement stops within milliseconds."""
INTERRUPT_EVERY_S = 0.02
"""SQLite drops an interrupt that comes before a statement starts: one still queued is interrupted again."""


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
