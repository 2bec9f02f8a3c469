"""The ``purchases`` connector kind: a purchase model kept in memory, rebuilt in a thread.

``history_query`` returns order lines with the columns ``customer``,
``product``, ``at`` and optionally ``product_name`` and ``quantity``.  When it
binds ``:since`` it is re-read only for lines with ``at > :since`` (the
largest ``at`` already read, as the database returned it).  Each refresh
builds a whole new model off the event loop and swaps it in; a refresh that
fails keeps the previous model.  Until the first model exists a lookup fails
at once with "insight model not ready yet": a card never waits for it.

The connector ``needs`` exactly one field, the customer key: it is the one
parameter beside the caller's number forms.
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

from .model import Line, PurchaseModel, as_utc

log = logging.getLogger(__name__)

NUMBER_PARAMS = frozenset({"e164", "national", "digits", "country_code", "region", "as_of"})
NOT_READY = "insight model not ready yet"
SINCE_START = datetime(1, 1, 1)  # naive: compared with the database's own times


class PurchasesOptions(ConnectorOptions):
    """Keys of a ``kind: purchases`` connector (SPEC section 3, insight connectors)."""

    url: str = Field(min_length=1)
    history_query: str = Field(min_length=1)
    refresh_s: float = Field(3600, gt=0)
    likely_next: int = Field(5, ge=0, le=20)
    goes_with: int = Field(5, ge=0, le=20)
    min_customers: int = Field(5, ge=1)

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
        self._lines: list[Line] = []
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
        as_of = as_utc(params["as_of"]) if params.get("as_of") is not None else self._now()
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
            try:
                rows = await self._read()
                lines = (
                    [*self._lines, *(_line(row) for row in rows)]
                    if self._incremental
                    else [_line(row) for row in rows]
                )
                minimum = self.options.min_customers
                model = await asyncio.to_thread(PurchaseModel, lines, min_customers=minimum)
            except Exception as exc:
                self.error = _describe(exc)
                log.warning(
                    "connector %s: refresh failed, keeping the previous model: %s", self.name, self.error
                )
                return False
            if self._incremental and rows:
                newest = max((row["at"] for row in rows), key=as_utc)
                self._since = newest if isinstance(newest, datetime) else as_utc(newest).replace(tzinfo=None)
            self._lines = lines if self._incremental else []
            self.model = model
            self.error = None
            return True

    async def _read(self) -> list[Mapping[str, Any]]:
        if self._engine is None:
            raise ConnectorError("not started")
        statement = text(self.options.history_query)
        bound: dict[str, Any] = {}
        if self._incremental:
            statement = statement.bindparams(bindparam("since", type_=DateTime()))
            bound["since"] = self._since
        async with self._engine.connect() as conn:
            result = await conn.execute(statement, bound)
            return [dict(row) for row in result.mappings().fetchall()]

    async def _keep_fresh(self) -> None:
        while True:
            await self.refresh()
            await asyncio.sleep(self.options.refresh_s)


def _customer_key(params: Mapping[str, Any]) -> Any:
    """The one ``needs`` field: every call also binds its number forms, direction, line, id and attributes."""
    keys = [name for name in params if name not in NUMBER_PARAMS and not is_call_parameter(name)]
    if len(keys) != 1:
        raise ConnectorError("a purchases connector needs exactly one field, the customer key")
    return params[keys[0]]


def _line(row: Mapping[str, Any]) -> Line:
    try:
        return Line(
            customer=row["customer"],
            product=row["product"],
            at=as_utc(row["at"]),
            product_name=row.get("product_name"),
            quantity=row.get("quantity") or 1,
        )
    except KeyError as exc:
        raise ConnectorError(f"history_query returns no column {exc.args[0]!r}") from None


def _describe(exc: Exception) -> str:
    """A failure's kind without the database's text (it may carry the URL or data)."""
    if isinstance(exc, ConnectorError):
        return str(exc)
    return f"{type(exc).__name__} while reading the history"
