"""Reading ``index_query`` into a number index: streamed on the loop, or by workers for a big table.

With ``:since`` and a previous index, only the rows changed since the
previous read began (less ``since.OVERLAP``) are read and merged in;
otherwise every row is read (``:since`` = 1970-01-01).  ``:since`` is one
instant, bound as ``since.py`` says.  Every failure leaves as a
``ConnectorError`` whose text names no secret.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from sqlalchemy import URL, text
from sqlalchemy.ext.asyncio import AsyncEngine

from screenpop.connector_api import ConnectorContext
from screenpop.errors import ConnectorError

from .index import CHUNK_ROWS, FETCH_ROWS, IndexBuilder, PhoneIndex
from .options import SqlOptions, bind_names, engine_kwargs, in_memory
from .reading import LOCAL_ROWS, FullRead, read_in_workers
from .rows import RowReader
from .since import FULL_READ, index_statement, read_start, since_value
from .statements import sets_server_timeout
from .values import describe_db_error

#: Reading every row of a big table: 10^7 rows take 1-2 min on a busy two-core machine (issue 15).
INDEX_TIMEOUT_MS = 600_000


class IndexSource:
    """A connector's ``index_query``, and the instant its last read began (the next ``:since``)."""

    def __init__(self, url: URL, options: SqlOptions, context: ConnectorContext, secrets: tuple[str, ...]):
        self._url = url
        self._options = options
        self._context = context
        self._secrets = secrets
        self.incremental = options.index_query is not None and "since" in bind_names(options.index_query)
        self.since = FULL_READ

    async def read(self, engine: AsyncEngine | None, previous: PhoneIndex | None) -> PhoneIndex:
        """Stream ``index_query`` in partitions and normalise them chunk by chunk, yielding to the loop."""
        if engine is None:
            raise ConnectorError("not started")
        if not self.incremental:
            previous = None
        since = FULL_READ if previous is None else self.since
        started = read_start()
        limit = asyncio.timeout(INDEX_TIMEOUT_MS / 1000)
        try:
            async with limit:
                builder = await self._stream(engine, since)
        except TimeoutError as exc:
            if not limit.expired():  # the driver's connect timeout: "cannot reach database"
                raise ConnectorError(describe_db_error(exc, self._secrets)) from exc
            raise ConnectorError(f"index query ran longer than {INDEX_TIMEOUT_MS} ms") from None
        except ConnectorError:
            raise
        except Exception as exc:
            raise ConnectorError(describe_db_error(exc, self._secrets)) from exc
        changed = await asyncio.to_thread(builder.finish)  # NumPy sorts release the GIL
        index = changed if previous is None else await asyncio.to_thread(previous.updated, changed)
        self.since = started
        return index

    async def _stream(self, engine: AsyncEngine, since: datetime) -> IndexBuilder:
        """Read on the loop in small chunks; a full read that turns out big goes to worker processes."""
        assert self._options.index_query is not None
        in_workers = since == FULL_READ and not in_memory(self._url)
        async with engine.connect() as conn:
            if sets_server_timeout(self._url):
                await conn.execute(text(f"SET LOCAL statement_timeout = {INDEX_TIMEOUT_MS}"))
            statement = index_statement(self._options.index_query, engine.dialect.name)
            result = await conn.stream(statement, self._since_bound(since))
            columns = tuple(result.keys())
            builder = IndexBuilder(RowReader(columns, self._options.index_region, self._context))
            async for part in result.partitions(FETCH_ROWS):
                if in_workers and builder.rows >= LOCAL_ROWS:
                    break  # a big table: the workers read it again, every row, on their own connections
                for start in range(0, len(part), CHUNK_ROWS):
                    builder.add(part[start : start + CHUNK_ROWS])
                    await asyncio.sleep(0)  # let calls in between two chunks
            else:
                return builder
            await result.close()
        return await read_in_workers(self._full_read(), self._context)

    def _since_bound(self, since: datetime) -> dict[str, Any]:
        return {"since": since_value(since, self._url.get_backend_name())} if self.incremental else {}

    def _full_read(self) -> FullRead:
        assert self._options.index_query is not None
        return FullRead(
            url=self._url.render_as_string(hide_password=False),
            query=self._options.index_query,
            bound=self._since_bound(FULL_READ),
            region_column=self._options.index_region,
            timeout_ms=INDEX_TIMEOUT_MS,
            connect_args=engine_kwargs(self._url, self._options).get("connect_args", {}),
            server_timeout=sets_server_timeout(self._url),
            secrets=self._secrets,
            sqlite_path=self._url.database if self._url.get_backend_name() == "sqlite" else None,
        )
