"""The ``purchases`` connector kind: a purchase model kept in memory, rebuilt in a worker process.

``history_query`` returns order lines with the columns ``customer``,
``product``, ``at`` and optionally ``product_name`` and ``quantity``.  When it
binds ``:since`` it is re-read only for lines with ``at > :since`` (the
largest ``at`` already read), and the lines read before are kept as arrays
(``columns.History``), never as a Python object per line.

Each refresh runs in a worker process (``worker.py`` says why: reading 10^6
rows in the server's process stalled other cards for 100+ ms at a time): it
streams the history in chunks of ``CHUNK_ROWS`` rows into arrays, builds the
model with numpy and scipy, and sends back the model and the history as
arrays.  The model is swapped in whole; a refresh that fails keeps the
previous model.  Until the first model exists a lookup fails at once with
"insight model not ready yet": a card never waits for it.

The connector ``needs`` exactly one field, the customer key: ``check_needs``
refuses anything else when the config is loaded.  Advice is as of the call's
time (the lookup starts when the call rings), or as of the ``as_of`` option,
in which case the model itself is built from the lines up to it only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import multiprocessing.connection
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import UTC, datetime
from typing import Any, ClassVar

from pydantic import Field, field_validator
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from screenpop.connector_api import (
    ConnectorContext,
    ConnectorOptions,
    LookupResult,
    current_trace,
    refuse_parameter_cast,
)
from screenpop.errors import ConnectorError, ConnectorNotReady
from screenpop.model import is_call_parameter

from .columns import History, as_utc, from_micros, to_micros
from .model import PurchaseModel
from .worker import Job, Outcome, describe, lower_priority, rebuild

log = logging.getLogger(__name__)

NOT_READY = "insight model not ready yet"
SINCE_START = datetime(1, 1, 1)  # naive: before any line; later ones as the column gives its times
STOP_WAIT_S = 10.0  # how long a terminated worker may take to exit before it is killed
CHUNK_ROWS = 5000  # rows fetched and turned into arrays at a time, in the worker process


class PurchasesOptions(ConnectorOptions):
    """Keys of a ``kind: purchases`` connector (SPEC section 3, insight connectors)."""

    url: str = Field(min_length=1)
    history_query: str = Field(min_length=1)
    refresh_s: float = Field(3600, gt=0)
    likely_next: int = Field(5, ge=0, le=20)
    goes_with: int = Field(5, ge=0, le=20)
    min_customers: int = Field(5, ge=1)
    as_of: datetime | None = None

    @field_validator("as_of", mode="before")
    @classmethod
    def _iso_moment(cls, value: Any) -> datetime | None:
        """An ISO date-time (YAML may already have parsed it); a moment without a zone is UTC."""
        if value is None:
            return None
        try:
            return as_utc(value)
        except (TypeError, ValueError):
            raise ValueError('`as_of` should be an ISO date-time such as "2017-12-01T00:00:00Z"') from None

    @field_validator("url")
    @classmethod
    def _async_url(cls, value: str) -> str:
        try:
            url = make_url(value)
            dialect = url.get_dialect()
        except (ArgumentError, ValueError, NoSuchModuleError) as exc:
            raise ValueError("not a database URL (e.g. sqlite+aiosqlite:///sales.db)") from exc
        if "+" not in url.drivername or not dialect.get_async_dialect_cls(url).is_async:
            raise ValueError(f"{url.drivername!r} is a synchronous driver; name an async one")
        return value

    @field_validator("history_query")
    @classmethod
    def _only_since(cls, value: str) -> str:
        refuse_parameter_cast(value, "history_query")
        extra = set(text(value).compile().params) - {"since"}
        if extra:
            raise ValueError(f"`history_query` binds only :since, not :{sorted(extra)[0]}")
        return value


class PurchasesConnector:
    """One order history, one model in memory, refreshed every ``refresh_s``."""

    Options: ClassVar[type[PurchasesOptions]] = PurchasesOptions

    @classmethod
    def check_needs(cls, needs: tuple[str, ...]) -> str | None:
        """Refused at config load: the model answers for one customer key, so exactly one `needs`."""
        if len(needs) == 1:
            return None
        named = f" ({', '.join(needs)})" if needs else ""
        return (
            "a `purchases` connector needs exactly one field, the caller's customer key "
            f"(e.g. needs: [crm.customer_id]); this one names {len(needs)}{named}"
        )

    def __init__(
        self,
        name: str,
        options: PurchasesOptions | Mapping[str, Any],
        context: ConnectorContext,
        *,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.name = name
        self.options = (
            options if isinstance(options, PurchasesOptions) else PurchasesOptions.model_validate(options)
        )
        self._context = context
        self._now = now or (lambda: datetime.now(UTC))
        self._incremental = "since" in text(self.options.history_query).compile().params
        self._pool: ProcessPoolExecutor | None = None
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._history = History()
        self._since: datetime | str = SINCE_START
        self.model: PurchaseModel | None = None
        self.error: str | None = None
        self.skipped: dict[str, int] = {}  # lines the last refresh left out, by reason
        self._first_refresh = asyncio.Event()  # set once the first refresh has ended, well or not

    async def start(self) -> None:
        """Start refreshing in the background; the first model is not awaited.

        The worker process is spawned (not forked: this process has threads
        and an event loop) once and kept for the next refreshes: spawning
        imports SQLAlchemy, numpy and scipy anew, seconds on a busy machine.
        A build's big arrays are freed (given back to the system) when it ends.
        """
        if self._pool is None:
            self._pool = _worker_pool()
        if self._task is None:
            self._task = asyncio.create_task(self._keep_fresh(), name=f"purchases:{self.name}")

    async def lookup(self, params: Mapping[str, Any]) -> LookupResult:
        model = self.model
        if model is None:
            raise ConnectorNotReady(NOT_READY if self.error is None else f"{NOT_READY}: {self.error}")
        key = _customer_key(params)
        as_of = self.options.as_of or self._now()
        data = model.advise(key, as_of, self.options.likely_next, self.options.goes_with)
        trace = current_trace()
        if trace is not None:
            trace.note(
                f"advice for customer key {key!r} as of {as_of.isoformat()}"
                + ("" if data else ": the history has nothing to advise for this customer")
            )
            if not data and self.skipped:  # the customer's lines may be among them
                trace.note(f"the last read left out {_left_out(self.skipped)}")
        return LookupResult(data, 1 if data else 0)

    async def check(self) -> None:
        """Prove the history can be read and counted: the first refresh's outcome, waited for.

        ``start`` has begun that refresh already; building a second model
        for the check would double its time (and the source's load).
        """
        await self.start()
        await self._first_refresh.wait()
        if self.model is None:
            raise ConnectorError(f"history query failed: {self.error}")

    async def close(self) -> None:
        """Stop refreshing, and the worker with it, even in the middle of a read.

        Waiting for a refresh in flight made shutdown wait as long as the
        history read did: behind a table lock or a stalled connection that
        was without end. The worker is stopped instead (the database rolls
        its read back); its process never outlives the connector.
        """
        pool, self._pool = self._pool, None  # a refresh waiting for the lock then finds no worker
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if pool is not None:
            await asyncio.to_thread(_stop_worker, pool)

    async def refresh(self) -> bool:
        """Read the history (only new lines when incremental) and build a model in a worker; swap it in."""
        async with self._lock:
            try:
                if self._pool is None:
                    raise ConnectorError("not started")
                job = Job(
                    url=self.options.url,
                    query=self.options.history_query,
                    since=self._since if self._incremental else None,
                    history=self._history if self._incremental else History(),
                    min_customers=self.options.min_customers,
                    # lines dated after now (a typo, a scheduled order) count in no rate, as in no advice
                    as_of=self.options.as_of or self._now(),
                    chunk_rows=CHUNK_ROWS,
                )
                outcome: Outcome = await asyncio.get_running_loop().run_in_executor(self._pool, rebuild, job)
            except Exception as exc:
                if isinstance(exc, BrokenProcessPool) and self._pool is not None:
                    self._pool.shutdown(wait=False)
                    self._pool = _worker_pool()  # the worker died (e.g. out of memory): the next try gets one
                    exc = ConnectorError("the refresh worker stopped unexpectedly")
                self.error = describe(exc)
                log.warning(
                    "connector %s: refresh failed, keeping the previous model: %s", self.name, self.error
                )
                return False
            self._log_skipped(outcome.skipped)
            if self._incremental and outcome.read:
                self._since = self._next_since(outcome)
            self._history = outcome.history if self._incremental else History()
            self.model = outcome.model
            self.error = None
            return True

    def _next_since(self, outcome: Outcome) -> datetime | str:
        """Where the next ``:since`` read starts: just before the newest line read, and never after now.

        The newest line's own moment is read again (and replaces what was
        kept, ``History.drop_overlap``): with a DATE column, or several lines
        of one second, lines written after this read with that same ``at``
        were never read by ``at > :since``.  Lines dated after now do not
        count (they are read again each time): one line dated years ahead (a
        typo) moved the start there, and every line entered after it was missed.
        """
        newest = outcome.history.newest(upto=to_micros(self._now()))
        if newest is None:
            return self._since
        start = from_micros(newest - 1)  # aware UTC
        if outcome.text_zone is not None:  # text compared as text: written as the column writes it
            return outcome.text_zone.render(start)
        return start if outcome.aware else start.replace(tzinfo=None)

    def _log_skipped(self, skipped: Mapping[str, int]) -> None:
        """Lines left out are never dropped silently: how many, and why, once per refresh (and in a trace)."""
        self.skipped = dict(skipped)
        if skipped:
            log.warning("connector %s: left out %s", self.name, _left_out(skipped))

    async def _keep_fresh(self) -> None:
        while True:
            try:
                await self.refresh()
            finally:
                self._first_refresh.set()
            await asyncio.sleep(self.options.refresh_s)


def _worker_pool() -> ProcessPoolExecutor:
    """One spawned worker (not forked: this process has threads and an event loop), at low priority."""
    context = multiprocessing.get_context("spawn")
    return ProcessPoolExecutor(max_workers=1, mp_context=context, initializer=lower_priority)


def _stop_worker(pool: ProcessPoolExecutor) -> None:
    """Stop the worker now, busy or not (the executor has no public way to end a running call).

    Only the executor's own thread waits for the worker's exit status: it
    joins a worker that dies under it, and a second waiter raced it, the
    loser reading the process as still alive for a moment after ``close``.
    Here the worker's exit is watched on its sentinel, and the executor's
    thread is waited for, so that it has reaped the worker before this
    returns (``shutdown`` forgets the thread when told not to wait, and
    waiting at once would wait for the job).
    """
    processes = list(pool._processes.values())  # private, see the docstring
    # private as well (and typed wrong in typeshed, as the wake-up channel)
    manager: threading.Thread | None = getattr(pool, "_executor_manager_thread", None)
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.terminate()
    deadline = time.monotonic() + STOP_WAIT_S
    for process in processes:
        if not multiprocessing.connection.wait([process.sentinel], max(0.0, deadline - time.monotonic())):
            process.kill()  # still running after STOP_WAIT_S: SIGTERM was not enough
    if manager is not None:
        manager.join(STOP_WAIT_S)  # the workers are gone: it only has its queues to close


def _left_out(skipped: Mapping[str, int]) -> str:
    """``3 order lines (2 with no customer, 1 with a quantity of 0 or less)``."""
    total = sum(skipped.values())
    why = ", ".join(f"{count} with {reason}" for reason, count in skipped.items())
    return f"{total} order line{'' if total == 1 else 's'} ({why})"


def _customer_key(params: Mapping[str, Any]) -> Any:
    """The one bound parameter that is not the call's own: the `needs` field (checked at load)."""
    keys = [name for name in params if not is_call_parameter(name)]
    if len(keys) != 1:
        raise ConnectorError("a purchases connector needs exactly one field, the customer key")
    return params[keys[0]]
