"""The ``sql`` connector kind: one parameterised query against any async SQLAlchemy URL.

The caller's number only ever reaches the database as a bound parameter, so a
number like ``'; DROP TABLE accounts; --`` is just a string that matches no
row.  Every lookup is bounded twice: screenpop's own timeout cancels it, and
the query carries its own ``statement_timeout_ms`` (set on the server for
PostgreSQL, enforced by interrupting the connection for SQLite), so a
cancelled lookup never leaves a query running or a pooled connection busy.

URLs are used exactly as given: a relative SQLite path is relative to the
directory screenpop runs in, not to the config file.

Running one statement, bounded, is ``statements.py``; reading the number
index for ``match: normalized`` is ``index_source.py``, kept fresh by
``keeper.py`` and shared between instances by ``shared.py``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.sql.elements import TextClause

from screenpop.connector_api import (
    ConnectorContext,
    ConnectorTrace,
    LookupResult,
    SourceState,
    current_trace,
    shown_params,
    source_engine,
)
from screenpop.driver_threads import DriverThreads
from screenpop.errors import ConnectorError

from .index import PhoneIndex
from .index_source import INDEX_TIMEOUT_MS, IndexSource
from .keeper import IndexKeeper, iso_time
from .options import (
    SqlOptions,
    bind_names,
    check_async_url,
    engine_kwargs,
    lookup_statement,
    quiet_driver_logs,
    secrets_of,
)
from .shared import SharedIndex
from .statements import Query, Statements

EXTRA_ROWS_KEPT = 5
#: At most this many matched keys go into ``:keys`` (the first, in key order). A client's switchboard
#: number on 40,000 contacts passed the drivers' parameter limits (32,767) and every call from it failed.
MAX_QUERY_KEYS = 1000


class SqlConnector:
    """One configured SQL source: a pool opened in ``start`` and a fixed statement."""

    Options: ClassVar[type[SqlOptions]] = SqlOptions

    def __init__(self, name: str, options: SqlOptions | Mapping[str, Any], context: ConnectorContext):
        self.name = name
        self.options = options if isinstance(options, SqlOptions) else SqlOptions.model_validate(options)
        self._context = context
        self._url = check_async_url(self.options.url)
        quiet_driver_logs()
        self._statement = lookup_statement(self.options)
        self._needs = bind_names(self.options.query) - {"keys"}
        self._engine: AsyncEngine | None = None
        self._threads: DriverThreads | None = None
        self._keeper: IndexKeeper | None = None
        self._shared: SharedIndex | None = None
        self._secrets = secrets_of(self._url, self.options.url)
        self._source = IndexSource(self._url, self.options, context, self._secrets)
        self._statements = Statements(name, self._url, self.options.statement_timeout_ms, self._secrets)
        self._shown_url = self._url.render_as_string(hide_password=True)
        self.columns: tuple[str, ...] | None = None
        """What ``query`` returned in the last ``check`` (identity and display must name these)."""

    async def start(self) -> None:
        """Open the pool; for ``match: normalized`` build the first index and keep it fresh.

        A database that is down at start-up does not stop screenpop: lookups
        answer with the reason, and the index is retried in the background.
        """
        if self._engine is None:
            self._engine = source_engine(
                create_async_engine(self._url, **engine_kwargs(self._url, self.options))
            )
            self._threads = DriverThreads(self._engine)
        if self.options.match == "normalized" and self._keeper is None:
            if self._context.shared_redis is not None and self._shared is None:
                # everything the numbers are read with: the default region too (an MX instance must
                # not load the index a US one read: ``55 9474 4977`` is another number there)
                source = "\n".join(
                    str(part)
                    for part in (
                        self.options.url,
                        self.options.index_query,
                        self.options.index_region,
                        self._context.default_region,
                    )
                )
                self._shared = SharedIndex(
                    self._context.shared_redis,
                    self.name,
                    source,
                    fresh_s=self.options.index_refresh_s / 2,
                    build_timeout_s=INDEX_TIMEOUT_MS / 1000,
                    since=lambda: self._source.since,
                )
            self._keeper = IndexKeeper(
                self.name,
                self._load_index,
                self.options.index_refresh_s,
                self.options.index_full_every if self._source.incremental else 1,
                self._forget_cached if self._context.forget_numbers is not None else None,
            )
            await self._keeper.start()

    def source_state(self) -> SourceState | None:
        """The number index's size and freshness (``match: normalized`` only), for /readyz and the status."""
        keeper = self._keeper
        if keeper is None:
            return None
        index = keeper.index
        details = {
            "numbers": keeper.distinct_numbers if index else None,
            "rows": index.rows if index else None,
            "refreshed_at": iso_time(keeper.refreshed_at),
            "refresh_failing_since": iso_time(keeper.failing_since),
        }
        return SourceState(details, keeper.problem(), keeper.error)

    async def _forget_cached(self, numbers: list[str]) -> None:
        """A refresh changed these numbers: screenpop drops their cached answers (``changes.py``)."""
        if self._context.forget_numbers is not None:
            await self._context.forget_numbers(self.name, numbers)

    async def lookup(self, params: Mapping[str, Any]) -> LookupResult:
        bound = self._bound(params)
        trace = current_trace()
        if self._keeper is not None:
            keys = self._matched_keys(str(params.get("e164", "")))
            if trace is not None:
                self._trace_index(trace, keys)
            if not keys:
                return LookupResult(None, 0)
            bound["keys"] = list(keys[:MAX_QUERY_KEYS])
        limit = self.options.limit if self.options.rows == "many" else self.options.limit + 1
        if trace is None:
            return _result(await self._fetch(self._statement, bound, limit), self.options)
        step = trace.step(
            "query", database=self._shown_url, statement=self.options.query, params=shown_params(bound)
        )
        rows = await self._fetch(self._statement, bound, limit)
        step.answered(rows_read=len(rows), rows=rows)
        if not rows:
            trace.note("the query returned no row")
        return _result(rows, self.options)

    def _trace_index(self, trace: ConnectorTrace, keys: tuple[Any, ...]) -> None:
        """What the number index said: how big it is and which row keys the number found."""
        index = self._keeper.index if self._keeper is not None else None
        if index is None:  # _matched_keys has raised already in that case
            return
        step = trace.step(
            "index",
            numbers=index.distinct_numbers,
            rows_indexed=index.rows,
            refresh_s=self.options.index_refresh_s,
        )
        step.answered(matched_keys=list(keys[:MAX_QUERY_KEYS]))
        if len(keys) > MAX_QUERY_KEYS:
            trace.note(f"{len(keys)} rows hold this number; the query gets the first {MAX_QUERY_KEYS} keys")
        if not keys:
            trace.note(
                f"the number is not in the index ({index.distinct_numbers} numbers from {index.rows} rows,"
                f" refreshed every {self.options.index_refresh_s:g} s)"
            )

    async def check(self) -> str | None:
        """``SELECT 1`` proves the pool can connect; a normalized source also reads its index once.

        For a normalized source the answer is the index's size and the stored
        numbers it could not read: those callers will never be found. Then
        ``query`` runs once, and ``columns`` says what it returns.
        """
        await self.start()
        await self._fetch(text("SELECT 1"), {}, 1)
        index = None
        if self._keeper is not None:
            just_read = self._keeper.last_kind == "full" and self._keeper.error is None  # by start()
            if not just_read and not await self._keeper.refresh(full=True):
                raise ConnectorError(f"index query failed: {self._keeper.error}")
            index = self._keeper.index
        await self._try_query(index)
        return index.summary() if index else None

    async def _try_query(self, index: PhoneIndex | None) -> None:
        """Run ``query`` once (for one indexed row), so that a wrong column fails `check`, not every call.

        `check`'s probe number is rarely in the index, so its test lookup
        never reaches ``query``. The other parameters are bound to NULL, which
        matches no row in any SQL database but still needs the text to be right.
        """
        bound: dict[str, Any] = dict.fromkeys(self._needs)
        if self._keeper is not None:
            bound["keys"] = [index.first_key()] if index is not None and len(index.keys) else []
        try:
            header, *_ = await self._fetch(self._statement, bound, 1, as_tuples=True)
        except ConnectorError as exc:
            raise ConnectorError(f"query failed: {exc}") from exc
        self.columns = tuple(str(name) for name in header)

    async def close(self) -> None:
        if self._keeper is not None:
            await self._keeper.close()
            self._keeper = None
        if self._shared is not None:
            await self._shared.close()
            self._shared = None
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None
        if self._threads is not None:
            await self._threads.end()
            self._threads = None

    def _bound(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Only the parameters the query names, so drivers never see one they do not expect."""
        missing = sorted(self._needs - params.keys())
        if missing:
            raise ConnectorError(f"query needs :{missing[0]}, which this lookup does not have")
        return {name: params[name] for name in self._needs}

    def _matched_keys(self, e164: str) -> tuple[Any, ...]:
        assert self._keeper is not None
        if self._keeper.index is None:
            raise ConnectorError(f"number index not loaded yet: {self._keeper.error or 'starting'}")
        return self._keeper.index.keys_for(e164)

    async def _load_index(self, previous: PhoneIndex | None) -> PhoneIndex:
        """A full index comes from the shared copy when there is one (``shared.py``), else the table."""
        if previous is None and self._shared is not None:
            index = await self._shared.full(lambda: self._source.read(self._engine, None))
            if self._shared.loaded_since is not None:
                self._source.since = self._shared.loaded_since
            return index
        return await self._source.read(self._engine, previous)

    async def _fetch(
        self,
        statement: TextClause,
        bound: dict[str, Any],
        limit: int | None,
        *,
        as_tuples: bool = False,
        timeout_ms: int | None = None,
    ) -> list[Any]:
        """Run one statement on a pooled connection; every failure becomes a safe ConnectorError.

        ``as_tuples`` gives plain tuples, the first of them the column names.
        """
        if self._engine is None:
            raise ConnectorError("not started")
        query = Query(statement, bound, limit, as_tuples, timeout_ms or self.options.statement_timeout_ms)
        return await self._statements.fetch(self._engine, query)


def _result(rows: Sequence[dict[str, Any]], options: SqlOptions) -> LookupResult:
    if not rows:
        return LookupResult(None, 0)
    if options.rows == "many":
        return LookupResult({"items": list(rows)}, len(rows))
    return LookupResult(rows[0], len(rows), tuple(rows[1 : 1 + EXTRA_ROWS_KEPT]))
