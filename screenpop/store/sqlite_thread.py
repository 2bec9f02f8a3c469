"""A thread that owns one SQLite connection and runs the store's transactions on it, in order.

Why not ``loop.run_in_executor``: the thread hop is most of what a small
SQLite transaction costs, and the executor's hop (a ``concurrent.futures``
future chained to an asyncio one, each with its callbacks and locks) costs
about twice this one, which is a queue put on the way in and one
``call_soon_threadsafe`` on the way back; measured here, ~60 µs of CPU
against ~125 µs.  One thread per connection also keeps the connection on
the thread that opened it and makes every job on it sequential, which is
what serialises the store's writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import sqlalchemy as sa

from screenpop.errors import Unavailable

T = TypeVar("T")
Job = tuple[asyncio.AbstractEventLoop, "asyncio.Future[Any]", Callable[[], Any]]


class ConnectionThread:
    """Runs ``fn(connection)`` as one transaction on a dedicated thread, one job at a time.

    The connection is opened on first use, so a database that cannot be
    reached fails the first job, not the constructor.  A job still running
    when its caller is cancelled finishes (and commits) on the thread;
    ``close`` runs after every job already submitted.
    """

    def __init__(self, engine: sa.Engine, name: str, *, begin: str) -> None:
        self._engine = engine
        self._begin = begin
        self._conn: sa.Connection | None = None  # touched only on the thread
        self._jobs: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._closed = False
        # a daemon, so that a store nobody closed cannot keep the process alive
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    async def run(self, fn: Callable[[sa.Connection], T]) -> T:
        """``fn``'s result, or its exception, once its transaction has committed or rolled back."""
        if self._closed:
            raise Unavailable("store: closed")
        return await self._submit(functools.partial(self._transaction, fn))

    async def close(self, then: Callable[[], None] | None = None) -> None:
        """Close the connection on its thread (then run ``then`` there) and end the thread."""
        if self._closed:
            return
        try:
            await self._submit(functools.partial(self._release, then))
        finally:
            self._closed = True
            self._jobs.put(None)
            self._thread.join()  # the thread has nothing left to do: this only waits for it to exit

    def _submit(self, job: Callable[[], T]) -> asyncio.Future[T]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._jobs.put((loop, future, job))
        return future

    def _transaction(self, fn: Callable[[sa.Connection], T]) -> T:
        if self._conn is None:
            self._conn = self._engine.connect()
        conn = self._conn
        with conn.begin():
            # SQLAlchemy's begin is a no-op for sqlite3; the driver's commit or rollback ends this
            conn.connection.driver_connection.execute(self._begin)  # type: ignore[union-attr]
            return fn(conn)

    def _serve(self) -> None:
        while (job := self._jobs.get()) is not None:
            loop, future, fn = job
            result: Any = None
            error: BaseException | None = None
            try:
                result = fn()
            except BaseException as exc:  # handed to the caller, who decides
                error = exc
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits for this any more
                loop.call_soon_threadsafe(_settle, future, result, error)

    def _release(self, then: Callable[[], None] | None) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if then is not None:
            then()


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.cancelled():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
