"""Exceptions with the stable error codes of the HTTP interface.

Every error a client can cause maps to one code of SPEC section 4, so the one
error middleware and the CLI never have to guess a status.  This module
imports nothing from screenpop so that every other module may use it.
"""

from __future__ import annotations

import sqlite3

DATA_EXCEPTION_CLASS = "22"
"""PostgreSQL's SQLSTATE class whose sentences quote the values they refused."""


class ScreenpopError(Exception):
    """Base of all errors screenpop raises on purpose."""

    code = "internal"
    status = 500


class ConfigError(ScreenpopError):
    """The configuration cannot be used; the message names file, key and fix."""

    code = "config"
    status = 500


class BadRequest(ScreenpopError):
    code = "bad_request"
    status = 400


class BadSignature(ScreenpopError):
    code = "bad_signature"
    status = 401


class Unauthorized(ScreenpopError):
    code = "unauthorized"
    status = 401


class Forbidden(ScreenpopError):
    code = "forbidden"
    status = 403


class NotFound(ScreenpopError):
    code = "not_found"
    status = 404


class TooLarge(ScreenpopError):
    code = "too_large"
    status = 413


class UnsupportedMediaType(ScreenpopError):
    code = "unsupported_media_type"
    status = 415


class InvalidNumber(ScreenpopError):
    code = "invalid_number"
    status = 422


class RateLimited(ScreenpopError):
    code = "rate_limited"
    status = 429


class Unavailable(ScreenpopError):
    code = "unavailable"
    status = 503


class ConnectorError(ScreenpopError):
    """A connector failed; the message is short and safe to show an agent.

    It must never contain a password, a header value or a stack trace: it is
    sent to browsers as the section's ``error`` text.
    """

    code = "connector"
    status = 502


class ConnectorNotReady(ConnectorError):
    """The connector is up but has nothing to answer from yet (a model still being built).

    Its section is an ``error`` with this text, but the source has not
    failed: the circuit breaker does not count it, so the first cards after
    start-up cannot open the circuit and keep the section off once it is ready.
    """


def may_quote_values(orig: BaseException, state: object) -> bool:
    """True for a database error whose sentence may quote a bound value rather than name an object.

    PostgreSQL quotes values in its data exceptions (SQLSTATE class 22); its
    other classes name objects (``database "x" does not exist``), and
    SQLite's sentences never quote a value.  A driver's own error without a
    SQLSTATE (asyncpg's argument encoding, MySQL's ``Incorrect integer
    value: '...'``) quotes the argument.  The store's logs and ``/readyz``
    and a connector's section error (sent to agents' browsers) both follow
    it: a bound value may be a caller's number or a section a role must not see.
    """
    if isinstance(state, str) and state:
        return state.startswith(DATA_EXCEPTION_CLASS)
    return not isinstance(orig, sqlite3.Error | OSError | TimeoutError)
