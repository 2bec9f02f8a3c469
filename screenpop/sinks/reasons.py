"""Why a delivery failed, in a few words that carry no secret and none of the entry's data.

The reason is stored as the entry's ``last_error`` and shown in ``/readyz``
and the log, so it names the kind of failure (an errno's text, an HTTP
status, a database error's class and SQLSTATE) and never an exception's
full text, which may quote a URL with its password, a header or a value.
"""

from __future__ import annotations

import os

import aiohttp
import sqlalchemy as sa

from screenpop.errors import ScreenpopError


def failure_reason(exc: BaseException) -> str:
    """``connection refused``, ``timed out``, ``HTTP 503``, ``UniqueViolationError (23505)`` …

    A screenpop error raised by a sink kind says it already (``HTTP 503``,
    ``refused: …``) unless it wraps a lower cause, which then says more.
    """
    if isinstance(exc, ScreenpopError) and exc.__cause__ is None and str(exc):
        return str(exc)[:120]
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, TimeoutError):
            return "timed out"
        if isinstance(seen, OSError) and seen.errno:
            return os.strerror(seen.errno).lower()
        if isinstance(seen, aiohttp.ClientResponseError):
            return f"HTTP {seen.status}"
        if isinstance(seen, sa.exc.DBAPIError):
            return _database_reason(seen)
        seen = seen.__cause__ or seen.__context__
    if isinstance(exc, ScreenpopError) and str(exc):
        return str(exc)[:120]  # e.g. "unreachable" over a disconnect that has no errno
    return type(exc).__name__


def _database_reason(exc: sa.exc.DBAPIError) -> str:
    orig = exc.orig
    state = getattr(orig, "sqlstate", None) or getattr(orig, "sqlite_errorname", None)
    name = type(orig).__name__ if orig is not None else type(exc).__name__
    return f"{name} ({state})" if state else name
