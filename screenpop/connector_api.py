"""The contract between screenpop and a connector kind.

A connector kind is a class registered under the entry-point group
``screenpop.connectors`` (our own ``sql`` and ``http`` kinds are registered
the same way in pyproject.toml), so a contact center can add a kind for its
own system without touching screenpop.  The class declares an ``Options``
pydantic model for its own config keys; screenpop validates the connector's
block against it, so a typo in a kind-specific key is refused like any other.

A connector may also say what it did when a lookup is traced (``screenpop
lookup --trace``, the console's test lookup): ``current_trace()`` is None
on every ordinary lookup (one context-variable read, nothing else) and a
``ConnectorTrace`` while a traced one runs; see ``ConnectorTrace``.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections.abc import Awaitable, Callable, Collection, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable
from urllib.parse import unquote, urlsplit, urlunsplit

import aiohttp
from pydantic import BaseModel, ConfigDict

# SQL kinds reach these through the contract, as connectors import nothing else of screenpop's
from screenpop.sqlite_sources import legacy_text as legacy_text
from screenpop.sqlite_sources import missing_sqlite_file as missing_sqlite_file
from screenpop.sqlite_sources import source_engine as source_engine

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "screenpop.connectors"


class ConnectorOptions(BaseModel):
    """Base of a kind's own options: frozen, and unknown keys are refused."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    def parameters(self) -> Iterator[tuple[tuple[int | str, ...], str]]:
        """Each call parameter these options name, with the key path (under the block) naming it.

        screenpop refuses the config when one of them is a parameter that no
        connector or call can bind (see ``screenpop.model.is_call_parameter``);
        a kind that names parameters in its own keys overrides this.
        """
        return iter(())

    def answers_a_list(self) -> bool:
        """Whether the section's data is ``{"items": [...]}`` (SPEC 3 ``rows: many``, an http ``items``).

        Such data has no field of its own for another connector's `needs` to
        bind, so screenpop refuses a `needs` naming one (it would never run).
        """
        return False

    def needs_its_attributes(self) -> bool:
        """Whether a missing value skips the connector (SPEC 3): an ``attr_KEY`` these options
        name that the call lacks, or a `needs` field that is NULL in its source's answer.

        A query or a URL cannot run without a value, so by default it is
        skipped with ``no attribute KEY`` or ``needs X``; a kind that reads a
        missing value as a condition that does not hold (``rules``) answers
        False and runs (a source that did not answer at all still skips it).
        """
        return True


@dataclass(frozen=True, slots=True)
class ConnectorContext:
    """What screenpop lends every connector.

    ``http`` is the one shared client session (never open one per lookup);
    ``normalize`` turns a free-form stored number into E.164 (or None) with
    the configured default region, for kinds that index legacy data;
    ``read_numbers`` reads a legacy table's cell the way people fill one in
    (labels, extensions, several numbers; SPEC 3), in the row's own country
    when it is given and known. Use it through ``stored_numbers``.
    """

    default_region: str
    normalize: Callable[[str], str | None]
    http: aiohttp.ClientSession | None = None
    config_dir: Path = Path(".")
    read_numbers: Callable[[str, object], tuple[str, ...]] | None = None
    shared_redis: Callable[..., Any] | None = None
    """Makes a client of the Redis broker when there is one (keyword arguments as for
    ``redis.asyncio.Redis``): built state (an index) may be shared through it. A factory rather
    than a URL, so that ``redis+sentinel://`` and whatever else the broker accepts work here too."""
    forget_numbers: Callable[[str, Collection[str]], Awaitable[None]] | None = None
    """Drops the answers cached for these E.164 numbers of the named connector: a kind that keeps its
    own picture of a source (an index) calls it when a refresh finds that those numbers changed, so
    a cached ``not_found`` does not hide a new customer until it expires (memory and Redis caches)."""

    def stored_numbers(self, raw: str, row_region: object = None) -> tuple[str, ...]:
        """Every E.164 number a stored cell holds; ``row_region`` is the row's ISO country code, if any.

        A context built without ``read_numbers`` (a kind's own unit tests)
        reads the cell as one number with ``normalize``.
        """
        if self.read_numbers is not None:
            return self.read_numbers(raw, row_region)
        e164 = self.normalize(raw)
        return (e164,) if e164 else ()


def client_session() -> aiohttp.ClientSession:
    """The client session screenpop shares among its connectors and sinks (and a connector used alone).

    Tuned for many small requests to a few APIs:

    - connections are kept alive and reused (aiohttp's 15 s idle limit, below
      the usual server's, so a connection the server is closing is not reused);
    - no pool limit, total or per host: each connector's ``max_concurrency``
      already bounds what it has in flight, and a pool cap below it would be a
      second queue, invisible to IT, inside the connector's ``timeout_ms``;
    - a host name is resolved (getaddrinfo, in a thread) only when a new
      connection is opened, and then cached for aiohttp's 10 s; an IP address
      is never resolved;
    - no cookie jar: an API's cookies must not follow one caller's lookup into
      the next one's, and filtering cookies costs every request.

    Responses are decompressed only when the server sent them compressed
    (aiohttp asks for gzip); a plain answer costs nothing for it.
    """
    connector = aiohttp.TCPConnector(limit=0, limit_per_host=0)
    return aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar())


@dataclass(frozen=True, slots=True)
class SourceState:
    """What a connector that answers from its own copy of its source (an index) says about that copy.

    ``details`` are listed per connector in ``/api/admin/status``; ``problem``
    (None when the copy is current) is added to the connector's health in
    ``/readyz`` and the status: a copy that could not be refreshed still
    answers calls, from older data, and IT should know since when and why.
    ``reason`` is the source's own error text: screenpop redacts it (secrets,
    numbers) before showing it after ``problem`` and as ``refresh_error``.
    """

    details: Mapping[str, Any]
    problem: str | None = None
    reason: str | None = None


@runtime_checkable
class KeepsSourceState(Protocol):
    def source_state(self) -> SourceState | None: ...


def source_state(connector: object) -> SourceState | None:
    """The connector's own ``source_state()`` when its kind keeps one, else None; never raises."""
    if not isinstance(connector, KeepsSourceState):
        return None
    try:
        return connector.source_state()
    except Exception:  # a kind's report must never break /readyz or the status; its calls still say
        log.exception("connector %r could not report its source state", getattr(connector, "name", "?"))
        return None


@dataclass(frozen=True, slots=True)
class LookupResult:
    """A connector's answer for one number.

    ``data`` None means nothing matched (the section is ``not_found``);
    ``rows`` is how many records matched, so that several rows for one
    number can be shown as a possible duplicate.
    """

    data: dict[str, Any] | None
    rows: int = 0
    extra_rows: tuple[dict[str, Any], ...] = ()


@runtime_checkable
class Connector(Protocol):
    """One configured source of caller data."""

    name: str

    async def start(self) -> None:
        """Open pools or indexes once, before the first lookup."""

    async def lookup(self, params: Mapping[str, Any]) -> LookupResult:
        """Answer for one caller; raise ConnectorError with a safe message on failure.

        ``params`` holds the number forms (strings) and, for each `needs`
        field, `<connector>_<field>` with the value as the other connector
        returned it (an integer id stays an integer, so strict drivers bind it).
        """

    async def check(self) -> str | None:
        """Prove the source can be reached (``screenpop check``).

        It may return one line IT should read beside "reachable" (a normalized
        index's size and how many stored numbers it could not read).
        """

    async def close(self) -> None:
        """Release everything ``start`` opened."""


class ConnectorKind(Protocol):
    """The class an entry point names: it builds connectors from options.

    A kind whose answers must never be cached (they are computed in
    microseconds from what the call already holds) sets a class attribute
    ``cacheable = False``; a ``cache_ttl_s`` on its block is then a config error.

    A kind that accepts only some shapes of ``needs`` (``purchases`` answers
    for exactly one customer key) defines a classmethod
    ``check_needs(needs: tuple[str, ...]) -> str | None`` returning one
    sentence on what is wrong, or None; screenpop refuses the config with it
    at load time, so the mistake never waits for the first call.
    """

    Options: ClassVar[type[ConnectorOptions]]

    def __call__(self, name: str, options: Any, context: ConnectorContext) -> Connector: ...


TRACE_ROWS = 5
"""Rows (or list items) of a traced answer that are shown; the rest are counted."""
TRACE_VALUE_CHARS = 200
"""A longer text value in a trace is clipped to this many characters."""
STATEMENT_CHARS = 4000
"""A statement is the config's own text, shown whole up to this length."""
TRACE_DEPTH = 6
MASKED = "***"
SHOWN_HEADERS = frozenset({"accept", "accept-language", "content-type", "user-agent"})
"""Request headers whose values a trace shows; every other header's value is masked."""
_SECRET_NAME = re.compile(
    r"secret|token|passw|pwd|api[_-]?key|^key$|[_-]key$|auth|signature|^sig$|credential|cookie|session",
    re.IGNORECASE,
)


@dataclass(slots=True)
class TraceStep:
    """One thing a connector did for a traced lookup: a statement, a request, an index look-up.

    ``shown`` holds what it ran (already masked and clipped); ``answered``
    adds what came back and the time it took.  A step left unanswered (the
    statement failed, or the lookup was cut off) gets the section's error
    from the engine.
    """

    what: str
    shown: dict[str, Any]
    started: float = field(default_factory=time.perf_counter)
    elapsed_ms: float | None = None
    error: str | None = None

    def answered(self, **result: Any) -> None:
        """What came back (rows, a status, a document), clipped; the step's time ends here."""
        self.elapsed_ms = round((time.perf_counter() - self.started) * 1000, 1)
        self.shown.update({k: clip(v) for k, v in result.items()})

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"what": self.what, **self.shown, "elapsed_ms": self.elapsed_ms}
        if self.error is not None:
            out["error"] = self.error
        return out


class ConnectorTrace:
    """What one connector did for one traced lookup, for IT (never logged, never on an agent's card).

    A connector asks ``current_trace()`` and, when it is not None, adds a
    step before it runs something (``step("query", statement=…,
    params=shown_params(bound))``) and calls ``answered(rows=…)`` on it
    afterwards, or adds a ``note`` (why nothing matched).  Everything given
    is clipped (``clip``); masking what may be secret is the connector's
    part, with ``shown_url``, ``shown_headers`` and ``shown_params``.
    """

    def __init__(self) -> None:
        self.steps: list[TraceStep] = []
        self.notes: list[str] = []

    def step(self, what: str, **shown: Any) -> TraceStep:
        added = TraceStep(
            what,
            {
                k: clip(v, chars=STATEMENT_CHARS if k == "statement" else TRACE_VALUE_CHARS)
                for k, v in shown.items()
            },
        )
        self.steps.append(added)
        return added

    def note(self, text: str) -> None:
        """One sentence on what the connector decided (``no row matched``, ``rule 2 holds``)."""
        self.notes.append(str(clip(text)))


_TRACE: ContextVar[ConnectorTrace | None] = ContextVar("screenpop_connector_trace", default=None)


def current_trace() -> ConnectorTrace | None:
    """The trace of the lookup running now, or None (every untraced lookup)."""
    return _TRACE.get()


@contextlib.contextmanager
def tracing(trace: ConnectorTrace) -> Iterator[ConnectorTrace]:
    """Trace what runs inside (and the tasks it starts, which copy the context)."""
    token = _TRACE.set(trace)
    try:
        yield trace
    finally:
        _TRACE.reset(token)


def clip(value: Any, depth: int = 0, chars: int = TRACE_VALUE_CHARS) -> Any:
    """``value`` bounded for a trace: long texts cut, lists to ``TRACE_ROWS`` items, nesting limited."""
    if isinstance(value, str):
        if len(value) <= chars:
            return value
        return f"{value[:chars]}… ({len(value)} characters)"
    if isinstance(value, bool | int | float) or value is None:
        return value
    if depth >= TRACE_DEPTH:
        return "…"
    if isinstance(value, Mapping):
        items = list(value.items())
        shown = {str(k): clip(v, depth + 1) for k, v in items[:50]}
        if len(items) > 50:
            shown["…"] = f"{len(items) - 50} more keys"
        return shown
    if isinstance(value, list | tuple):
        out = [clip(v, depth + 1) for v in value[:TRACE_ROWS]]
        if len(value) > TRACE_ROWS:
            out.append(f"… {len(value) - TRACE_ROWS} more")
        return out
    return clip(str(value), depth)


def is_secret_name(name: str) -> bool:
    """Whether a parameter, header or query key's value may be a credential (``api_key``, ``sig``)."""
    return bool(_SECRET_NAME.search(name))


def shown_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Bound parameters for a trace: a ``secret_`` attribute (a PIN) is masked, the rest shown."""
    return {k: MASKED if k.startswith("attr_secret_") else v for k, v in params.items()}


PARAMETER_CAST = re.compile(r"(?<![:\w]):(\w+)::(\w+)")
"""PostgreSQL's ``:name::type``: SQLAlchemy's ``text()`` reads no parameter there, only text."""


def refuse_parameter_cast(sql: str, key: str) -> str:
    """``sql`` as given; ValueError for a ``:name::type``, naming the ``CAST`` to write instead.

    SQLAlchemy reads ``:name`` as a parameter only when no ``:`` follows, so
    ``WHERE phone = :e164::text`` binds nothing: the text ``:e164::text``
    reached the database, which answered a syntax error on every call (or
    every note, for a sink), while the config loaded without a word.
    """
    if cast := PARAMETER_CAST.search(sql):
        name, to = cast.group(1), cast.group(2)
        raise ValueError(
            f"`{key}` writes :{name}::{to}, which is not read as the parameter :{name} "
            f"(the text would reach the database as it is); write CAST(:{name} AS {to})"
        )
    return sql


def credentials_clash(url: str, headers: Mapping[str, str]) -> bool:
    """A user in ``url`` beside an ``Authorization`` header: aiohttp refuses every such request.

    It sends the URL's user and password as Basic auth and will not choose
    between that and the header (``ValueError`` at each request), so a
    connector or sink configured so failed every call instead of at load.
    """
    has_header = any(name.lower() == "authorization" for name in headers)
    return has_header and urlsplit(url).username is not None


def shown_url(url: str, secrets: tuple[str, ...] = ()) -> str:
    """``url`` for a trace: its password, every secret-named query value and each of ``secrets`` masked."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        netloc = netloc.replace(f":{parts.password}@", f":{MASKED}@", 1)
    query = "&".join(_shown_pair(pair) for pair in parts.query.split("&")) if parts.query else ""
    shown = urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    for secret in sorted(secrets, key=len, reverse=True):
        if len(secret) >= 4:
            shown = shown.replace(secret, MASKED)
    return shown


def _shown_pair(pair: str) -> str:
    """One ``name=value`` of a query string as sent, its value masked when the name says secret."""
    name, sep, _ = pair.partition("=")
    return f"{name}={MASKED}" if sep and is_secret_name(unquote(name)) else pair


def shown_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Request headers for a trace: only harmless ones (``Accept``, ``Content-Type``) keep their value."""
    return {k: v if k.lower() in SHOWN_HEADERS else MASKED for k, v in headers.items()}


def shown_body(body: Any) -> Any:
    """A JSON request body for a trace: values under secret-named keys masked, at any depth."""
    if isinstance(body, Mapping):
        return {k: MASKED if is_secret_name(str(k)) else shown_body(v) for k, v in body.items()}
    if isinstance(body, list):
        return [shown_body(v) for v in body]
    return body
