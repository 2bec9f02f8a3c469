"""The ``purchases`` connector kind: a purchase model kept in memory, rebuilt in a thread.

``history_query`` returns order lines with the columns ``customer``,
``product``, ``at`` and optionally ``product_name`` and ``quantity``.  When it
binds ``:since`` it is re-read only for lines with ``at > :since`` (the
largest ``at`` already read), and the lines read before are kept as arrays
(``columns.History``), never as a Python object per line.

The history is streamed in chunks of ``CHUNK_ROWS`` rows; each chunk becomes
arrays and the loop is yielded to before the next, so the other cards' lookups
go on while 10^6 rows are read.  The model is then built in a worker thread
(numpy and scipy do the counting) and swapped in whole; a refresh that fails
keeps the previous model.  Until the first model exists a lookup fails at
once with "insight model not ready yet": a card never waits for it.

The connector ``needs`` exactly one field, the customer key: ``check_needs``
refuses anything else when the config is loaded.  Advice is as of the call's
time (the lookup starts when the call rings), or as of the ``as_of`` option,
in which case the model itself is built from the lines up to it only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

from pydantic import Field, field_validator
from sqlalchemy import DateTime, bindparam, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from screenpop.connector_api import ConnectorContext, ConnectorOptions, LookupResult
from screenpop.errors import ConnectorError
from screenpop.model import is_call_parameter

from .columns import History, as_utc, from_micros
from .model import PurchaseModel

log = logging.getLogger(__name__)

NOT_READY = "insight model not ready yet"
SINCE_START = datetime(1, 1, 1)  # naive: compared with the database's own times
CHUNK_ROWS = 1000  # rows turned into arrays between two yields to the event loop (about a millisecond)
REQUIRED = ("customer", "product", "at")


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
        self._engine: AsyncEngine | None = None
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._history = History()
        self._since: datetime = SINCE_START
        self.model: PurchaseModel | None = None
        self.error: str | None = None

    async def start(self) -> None:
        """Open the pool and start refreshing in the background; the first model is not awaited."""
        if self._engine is None:
            self._engine = create_async_engine(self.options.url, pool_pre_ping=True)
        if self._task is None:
            self._task = asyncio.create_task(self._keep_fresh(), name=f"purchases:{self.name}")

    async def lookup(self, params: Mapping[str, Any]) -> LookupResult:
        model = self.model
        if model is None:
            raise ConnectorError(NOT_READY if self.error is None else f"{NOT_READY}: {self.error}")
        key = _customer_key(params)
        as_of = self.options.as_of or self._now()
        data = model.advise(key, as_of, self.options.likely_next, self.options.goes_with)
        return LookupResult(data, 1 if data else 0)

    async def check(self) -> None:
        """Read the history once and build a model from it."""
        await self.start()
        if not await self.refresh():
            raise ConnectorError(f"history query failed: {self.error}")

    async def close(self) -> None:
        if self._task is not None:
            async with self._lock:  # a read in flight finishes first: its driver thread must not outlive us
                self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None

    async def refresh(self) -> bool:
        """Read the history (only new lines when incremental), build a model in a thread, swap it in."""
        async with self._lock:
            history = self._history.copy() if self._incremental else History()
            try:
                read = await self._read(history)
                model = await asyncio.to_thread(
                    PurchaseModel, history, min_customers=self.options.min_customers, as_of=self.options.as_of
                )
            except Exception as exc:
                self.error = _describe(exc)
                log.warning(
                    "connector %s: refresh failed, keeping the previous model: %s", self.name, self.error
                )
                return False
            newest = history.newest()
            if self._incremental and read and newest is not None:
                self._since = from_micros(newest).replace(tzinfo=None)
            self._history = history if self._incremental else History()
            self.model = model
            self.error = None
            return True

    async def _read(self, history: History) -> int:
        """Stream the history into ``history`` chunk by chunk, yielding to the loop between chunks."""
        if self._engine is None:
            raise ConnectorError("not started")
        statement = text(self.options.history_query)
        bound: dict[str, Any] = {}
        if self._incremental:
            statement = statement.bindparams(bindparam("since", type_=DateTime()))
            bound["since"] = self._since
        read = 0
        async with self._engine.connect() as conn:
            result = await conn.stream(statement, bound)
            where = _column_positions(list(result.keys()))
            async for rows in result.partitions(CHUNK_ROWS):
                columns = list(zip(*rows, strict=True))
                name, quantity = where.get("product_name"), where.get("quantity")
                history.add(
                    columns[where["customer"]],
                    columns[where["product"]],
                    columns[where["at"]],
                    quantity=None if quantity is None else columns[quantity],
                    product_name=None if name is None else columns[name],
                )
                read += len(rows)
                await asyncio.sleep(0)
        return read

    async def _keep_fresh(self) -> None:
        while True:
            await self.refresh()
            await asyncio.sleep(self.options.refresh_s)


def _customer_key(params: Mapping[str, Any]) -> Any:
    """The one bound parameter that is not the call's own: the `needs` field (checked at load)."""
    keys = [name for name in params if not is_call_parameter(name)]
    if len(keys) != 1:
        raise ConnectorError("a purchases connector needs exactly one field, the customer key")
    return params[keys[0]]


def _column_positions(names: list[str]) -> dict[str, int]:
    """Where each known column is in the query's rows; a missing required one is a clear error."""
    where = {str(name): index for index, name in enumerate(names)}
    for column in REQUIRED:
        if column not in where:
            raise ConnectorError(f"history_query returns no column {column!r}")
    return where


def _describe(exc: Exception) -> str:
    """A failure's kind without the database's text (it may carry the URL or data)."""
    if isinstance(exc, ConnectorError):
        return str(exc)
    return f"{type(exc).__name__} while reading the history"
