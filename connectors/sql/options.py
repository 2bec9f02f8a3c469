"""What a ``kind: sql`` connector's config may say, checked before anything connects.

Kept apart from the connector (its pool, its index, its guarded queries)
because the keys are read on their own: by the config loader, by
``screenpop check``, by the documentation test.  The engine's keyword
arguments live here too, as they follow from the keys alone.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator
from sqlalchemy import bindparam, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError
from sqlalchemy.sql.elements import TextClause

from screenpop.connector_api import ConnectorOptions, refuse_parameter_cast

#: How long opening one database connection may take (the drivers wait a minute): a hung server fails fast.
CONNECT_TIMEOUT_S = 5.0

ASYNC_DRIVERS = {"postgresql": "asyncpg", "sqlite": "aiosqlite", "mysql": "aiomysql"}


#: Keys that only an index (``match: normalized``) reads, and what each says.
INDEX_KEYS = {
    "index_query": "the rows the index is built from",
    "index_region": "it says where the index's rows are",
    "index_refresh_s": "how often the index is rebuilt",
    "index_full_every": "how often the index is read in full",
}


class SqlOptions(ConnectorOptions):
    """Keys of a ``kind: sql`` connector (SPEC section 3)."""

    url: str = Field(min_length=1)
    query: str = Field(min_length=1)
    rows: Literal["one", "many"] = "one"
    limit: int = Field(20, ge=1, le=1000)
    match: Literal["exact", "normalized"] = "exact"
    index_query: str | None = None
    index_refresh_s: float = Field(300, gt=0)
    index_region: str | None = Field(None, min_length=1, max_length=128)
    index_full_every: int = Field(12, ge=1, le=100_000)
    pool_size: int = Field(5, ge=1, le=100)
    statement_timeout_ms: int = Field(5000, ge=1, le=600_000)

    @field_validator("query", "index_query")
    @classmethod
    def _no_parameter_cast(cls, value: str | None, info: ValidationInfo) -> str | None:
        return None if value is None else refuse_parameter_cast(value, str(info.field_name))

    @field_validator("url")
    @classmethod
    def _async_url(cls, value: str) -> str:
        check_async_url(value)
        return value

    def parameters(self) -> Iterator[tuple[tuple[int | str, ...], str]]:
        """Every parameter the query names but ``:keys`` (``:e164``, ``:attr_account_id``, a `needs` field).

        The config loader refuses a name that neither the call nor a `needs`
        binds: a misspelt ``:phone`` would otherwise load and make every
        call's section an error. A normalized match looks the number up in
        its index, so it names ``e164`` too.
        """
        if self.match == "normalized":
            yield ("match",), "e164"
        for name in sorted(bind_names(self.query)):
            if name != "keys" or self.match == "exact":
                yield ("query",), name

    def answers_a_list(self) -> bool:
        return self.rows == "many"

    @model_validator(mode="after")
    def _normalized_needs_index(self) -> SqlOptions:
        if self.match == "exact":
            given = [key for key in INDEX_KEYS if key in self.model_fields_set]
            if given:  # `match: normalized` forgotten: the index would silently never be built
                raise ValueError(f"`{given[0]}` is for `match: normalized` ({INDEX_KEYS[given[0]]})")
            return self
        if not self.index_query:
            raise ValueError(
                "`match: normalized` needs `index_query` (the row key first, then the phone columns)"
            )
        if "keys" not in bind_names(self.query):
            raise ValueError("with `match: normalized` the query must use `:keys`, e.g. WHERE id IN :keys")
        if bind_names(self.index_query) - {"since"}:
            raise ValueError(
                "`index_query` takes no parameters but `:since` (rows changed since the previous read)"
            )
        return self


def check_async_url(value: str) -> URL:
    """Refuse what create_async_engine cannot use, without echoing the URL (it may hold a password)."""
    try:
        url = make_url(value)
        dialect = url.get_dialect()
    except (ArgumentError, ValueError) as exc:
        raise ValueError("not a database URL (e.g. sqlite+aiosqlite:///customers.db)") from exc
    except NoSuchModuleError as exc:
        raise ValueError(f"unknown database kind {url.drivername!r}") from exc
    if "+" not in url.drivername or not dialect.get_async_dialect_cls(url).is_async:
        backend = url.get_backend_name()
        hint = ASYNC_DRIVERS.get(backend, "an async driver")
        raise ValueError(
            f"{url.drivername!r} is a synchronous driver; name an async one, e.g. {backend}+{hint}://…"
        )
    _require_driver(url)
    return url


def _require_driver(url: URL) -> None:
    """Say at start-up, with the fix, when the URL's driver package is not installed."""
    driver = url.get_driver_name()
    try:
        url.get_dialect().import_dbapi()
    except ImportError as exc:
        raise ValueError(
            f"the database driver {driver!r} is not installed; install it beside screenpop "
            f"(e.g. `pip install {driver}`)"
        ) from exc


def bind_names(query: str) -> set[str]:
    """The ``:name`` parameters a query uses, as SQLAlchemy itself reads them (``::cast`` is not one)."""
    return set(text(query).compile().params)


def in_memory(url: URL) -> bool:
    """An in-memory SQLite database: one connection of this process, which no worker can open."""
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


def engine_kwargs(url: URL, options: SqlOptions) -> dict[str, Any]:
    """Pool sizing and a server-side statement timeout where the driver supports one."""
    # hide_parameters: a failed query's text then never carries the caller's number it looked up
    kwargs: dict[str, Any] = {"pool_recycle": 1800, "hide_parameters": True}
    if not in_memory(url):  # an in-memory SQLite database is one shared connection (StaticPool)
        kwargs |= {
            "pool_size": options.pool_size,
            "max_overflow": 0,
            "pool_timeout": max(1.0, options.statement_timeout_ms / 1000),
        }
    ms = str(options.statement_timeout_ms)
    driver = url.get_driver_name()
    # a connect timeout: a server that accepts and never answers held start-up for the driver's minute
    if driver == "asyncpg":
        kwargs["connect_args"] = {"server_settings": {"statement_timeout": ms}, "timeout": CONNECT_TIMEOUT_S}
    elif driver == "psycopg":
        kwargs["connect_args"] = {
            "options": f"-c statement_timeout={ms}",
            "connect_timeout": max(1, round(CONNECT_TIMEOUT_S)),
        }
    elif driver == "aiomysql":
        kwargs["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT_S}
    return kwargs


def secrets_of(url: URL, given: str) -> tuple[str, ...]:
    """Texts that must never appear in an error: the URL as written and its password."""
    found = [given, url.render_as_string(hide_password=False)]
    if url.password:
        found.append(str(url.password))
    return tuple(s for s in found if s)


PARAMETER_LOGGERS = ("aiosqlite",)
"""Drivers whose DEBUG lines quote every statement with its parameters (a caller's number, a PIN)."""


def quiet_driver_logs() -> None:
    """Keep those drivers' DEBUG lines out of every log, whatever level the root logger has.

    ``hide_parameters=True`` keeps SQLAlchemy's own messages clean, but
    aiosqlite logs each call it runs, arguments included; a ``secret_``
    attribute bound into a query must never reach a log (SPEC 3).
    """
    for name in PARAMETER_LOGGERS:
        driver = logging.getLogger(name)
        if driver.level < logging.INFO:
            driver.setLevel(logging.INFO)


def lookup_statement(options: SqlOptions) -> TextClause:
    """``query`` as run: with ``match: normalized``, ``:keys`` expands to one parameter per key."""
    statement = text(options.query)
    if options.match == "normalized":
        statement = statement.bindparams(bindparam("keys", expanding=True))
    return statement
