"""``screenpop check``: prove each part works, so IT sees at a glance what does not.

Every failure becomes one line with a reason a person can act on
("cannot reach database (connection refused)"), and never a password: the
passwords of every configured URL are blanked out of whatever a driver said.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import aiohttp

from screenpop.broker import make_broker
from screenpop.broker.redis import RedisBroker
from screenpop.call_context import ATTR_PREFIX, CallContext
from screenpop.card import attribute_keys
from screenpop.cli.bootstrap import open_connectors
from screenpop.cli.listen_check import LISTENING, listen_row_parts
from screenpop.config import ConnectorSettings, Settings
from screenpop.config.cross_checks import unserved_queues
from screenpop.config.exposure import hidden_exposures
from screenpop.connector_api import Connector
from screenpop.errors import ConfigError, ConnectorError, ScreenpopError
from screenpop.lookup import LookupEngine
from screenpop.model import CallerNumber, Section, SectionStatus
from screenpop.phone import parse_caller
from screenpop.plugins import build_sinks
from screenpop.providers import LISTENER_KINDS, make_provider
from screenpop.sink_api import Sink, SinkContext
from screenpop.store import Store

CHECK_TIMEOUT_S = 10.0
#: A connector's probe may read a whole table into its number index: a minute or two for 10^7 rows
#: (docs/matching.md); its own limits (connect 5 s, the index read's 10 min) end it sooner if stuck.
CONNECTOR_CHECK_TIMEOUT_S = 660.0
PROBE_NUMBER = "+12025550100"
MAX_DETAIL = 160
MAX_CHAIN = 20
# The user:password@ part of any URL, wherever a driver echoes one.
URL_PASSWORD = re.compile(r"://([^/:@\s]*):([^@\s]+)@")
# A userinfo without a colon: a user name to one library, the password to another (``redis://secret@h``).
URL_LONE_USERINFO = re.compile(r"://([^/:@\s]+)@")
#: A ``{field}`` in a display ``link`` template, as the widget's ``linkFor`` fills it (web_widget/format.js).
LINK_FIELD = re.compile(r"\{([A-Za-z0-9_.-]+)\}")


@dataclass(frozen=True, slots=True)
class CheckRow:
    part: str
    ok: bool
    detail: str
    elapsed_ms: float
    skipped: bool = False
    """Not run, and why (in ``detail``); does not fail the check."""
    warning: bool = False
    """Works, but IT should know (``detail``); does not fail the check."""


async def _timed(
    part: str, work: Callable[[], Awaitable[str]], secrets: tuple[str, ...], limit_s: float | None = None
) -> CheckRow:
    started = time.perf_counter()
    limit_s = CHECK_TIMEOUT_S if limit_s is None else limit_s
    try:
        async with asyncio.timeout(limit_s):
            detail = await work()
        ok = True
    except TimeoutError:
        ok, detail = False, f"no answer in {limit_s:.0f} s"
    except Exception as exc:
        ok, detail = False, failure_text(exc, secrets)
    return CheckRow(part, ok, detail, (time.perf_counter() - started) * 1000)


def failure_text(exc: BaseException, secrets: Iterable[str] = ()) -> str:
    """One line: the error's own words, why underneath (``connection refused``), no secrets."""
    lines = str(exc).strip().splitlines()
    text = lines[0] if lines else ""
    if not isinstance(exc, ScreenpopError):
        text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    cause = root_cause(exc)
    if cause and cause not in text:
        text = f"{text} ({cause})" if text else cause
    text = URL_LONE_USERINFO.sub("://***@", URL_PASSWORD.sub(r"://\1:***@", text))
    for secret in sorted(set(secrets), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text if len(text) <= MAX_DETAIL else text[: MAX_DETAIL - 1] + "…"


def root_cause(exc: BaseException) -> str | None:
    """The network reason deepest in the exception chain, in the words of ``os.strerror``."""
    for link in _chain(exc):
        if isinstance(link, socket.gaierror):
            return "host name not found"
        if isinstance(link, TimeoutError):
            return "timed out"
        if isinstance(link, OSError) and link.errno:
            return os.strerror(link.errno).lower()
    return None


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo and len(seen) < MAX_CHAIN:
        link = todo.pop(0)
        if link is None or id(link) in seen:
            continue
        seen.add(id(link))
        yield link
        orig = getattr(link, "orig", None)
        todo += [link.__cause__, link.__context__, orig if isinstance(orig, BaseException) else None]


def configured_secrets(settings: Settings) -> tuple[str, ...]:
    """Passwords of every URL in the config, header values, the token and webhook secrets: never printed."""
    found: list[str] = [settings.agents.token_secret]
    for provider in settings.providers:
        found += [*provider.signing_secrets(), *filter(None, [provider.auth_token])]
    texts = [settings.store.url, settings.broker.url]
    blocks = [c.kind_keys() for c in settings.connectors] + [s.kind_keys() for s in settings.sinks]
    for keys in blocks:
        texts += _strings(keys.get("url"))
        found += _strings(keys.get("headers"))
    for text in texts:
        # as written and as meant: the config keeps a Redis URL's password percent-encoded
        found += [p for m in URL_PASSWORD.finditer(text) for p in (m.group(2), unquote(m.group(2)))]
        found += [p for m in URL_LONE_USERINFO.finditer(text) for p in (m.group(1), unquote(m.group(1)))]
    return tuple(s for s in found if len(s) >= 3)


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [v for v in value.values() if isinstance(v, str)]
    return []


async def run_checks(settings: Settings, number: str | None) -> list[CheckRow]:
    secrets = configured_secrets(settings)
    rows = [config_row(settings), listen_row(settings), *exposure_rows(settings), *queue_rows(settings)]
    rows.append(await _timed("store", lambda: _check_store(settings), secrets))
    rows.append(await _timed("broker", lambda: _check_broker(settings), secrets))
    async with open_connectors(settings) as connectors:
        configs = {c.name: c for c in settings.connectors}
        probes = [
            _timed(
                f"connector {name}",
                _prober(c, configs[name], needed_fields(settings, name)),
                secrets,
                CONNECTOR_CHECK_TIMEOUT_S,
            )
            for name, c in connectors.items()
        ]
        rows += await asyncio.gather(*probes)
        rows += await _test_lookup(settings, connectors, number or PROBE_NUMBER, secrets)
    rows += await _check_sinks(settings, secrets)
    return rows


def config_row(settings: Settings) -> CheckRow:
    """The config line, failing on what only building a provider reads (a Telnyx key's length).

    Without it ``check`` passed a file that ``serve`` then refused to start with.
    """
    for provider in settings.providers:
        if provider.kind in LISTENER_KINDS:
            continue
        try:
            make_provider(provider, settings.server)
        except ConfigError as exc:
            return CheckRow("config", False, f"{settings.source}: {exc}", 0.0)
    return CheckRow("config", True, f"{settings.source}: {len(settings.connectors)} connectors", 0.0)


def listen_row(settings: Settings) -> CheckRow:
    """Whether ``serve`` could listen on ``server.host``:``server.port`` here (in use: a warning)."""
    ok, warning, detail = listen_row_parts(settings)
    return CheckRow(LISTENING, ok, detail, 0.0, warning=warning)


def exposure_rows(settings: Settings) -> list[CheckRow]:
    """One warning per visible section that shows a role something of a section it hides.

    The config is allowed (the SPEC's own `offer` does it), so the check
    passes; but the officer who wrote `hide: [credit]` reads here that
    tier1 still sees `credit.available` through `offer`.
    """
    return [
        CheckRow(f"role {e.role}", True, e.sentence(), 0.0, warning=True) for e in hidden_exposures(settings)
    ]


def queue_rows(settings: Settings) -> list[CheckRow]:
    """One warning per queue written in the config that no directory agent is in (calls ring nobody)."""
    return [CheckRow("routing", True, sentence, 0.0, warning=True) for sentence in unserved_queues(settings)]


async def _check_sinks(settings: Settings, secrets: tuple[str, ...]) -> list[CheckRow]:
    """One row per sink; each kind tries its sink without writing (sql: EXPLAIN; http: OPTIONS)."""
    if not settings.sinks:
        return []
    async with aiohttp.ClientSession() as http:
        sinks = build_sinks(settings.sinks, SinkContext(http))
        try:
            return list(
                await asyncio.gather(
                    *(_timed(f"sink {n}", _sink_prober(s), secrets) for n, s in sinks.items())
                )
            )
        finally:
            await asyncio.gather(*(s.close() for s in sinks.values()), return_exceptions=True)


def _sink_prober(sink: Sink) -> Callable[[], Awaitable[str]]:
    async def probe() -> str:
        await sink.start()
        return await sink.check()

    return probe


def needed_fields(settings: Settings, source: str) -> list[tuple[str, str]]:
    """``(needed by offer, rating)`` for each field another connector ``needs`` of ``source``."""
    return [
        (f"needed by {other.name}", field)
        for other in settings.connectors
        for need in other.needs
        for name, _, field in [need.partition(".")]
        if name == source
    ]


def _prober(
    connector: Connector, config: ConnectorSettings, needed: list[tuple[str, str]]
) -> Callable[[], Awaitable[str]]:
    async def probe() -> str:
        await connector.start()
        detail = await connector.check()
        columns = getattr(connector, "columns", None)  # a kind that knows what its query returns
        if columns is not None and (unreturned := unreturned_fields(config, columns, needed)):
            raise ConnectorError(unreturned)
        return f"reachable; {detail}" if detail else "reachable"

    return probe


def unreturned_fields(
    config: ConnectorSettings, columns: Iterable[str], needed: Iterable[tuple[str, str]] = ()
) -> str | None:
    """The identity, display, badge and needed fields that name no column the query returns, or None.

    Such a field is silently empty on every card: no customer name, a blank
    display field, a badge never shown, a connector that needs it never run
    or a rule on it never holding. PostgreSQL folds an unquoted alias
    to lower case (``AS CustomerID`` returns ``customerid``), the usual cause.
    """
    named = [(f"identity.{key}", field) for key, field in config.identity.items()]
    named += list(needed)
    if config.display is not None:
        named += [("display.fields", field) for field in config.display.fields]
        named += [("display.badges", badge.field) for badge in config.display.badges]
        named += [
            (f"display.fields.{name}.link", field)
            for name, hint in config.display.fields.items()
            for field in LINK_FIELD.findall(hint.link or "")
        ]
    returned = tuple(columns)
    missing = [(where, field) for where, field in named if field not in returned]
    if not missing:
        return None
    folded = {c.casefold() for c in returned}
    hint = "; quote a name to keep its case" if any(f.casefold() in folded for _, f in missing) else ""
    grouped: dict[str, list[str]] = {}
    for where, field in missing:
        grouped.setdefault(where, []).append(repr(field))
    listed = ", ".join(f"{where} {', '.join(fields)}" for where, fields in grouped.items())
    return f"{listed}: query returns only {', '.join(returned)}{hint}"


async def _check_store(settings: Settings) -> str:
    store = await Store.open(settings.store.url)
    try:
        await store.ping()
    finally:
        await store.close()
    return "migrated, answering"


async def _check_broker(settings: Settings) -> str:
    broker = make_broker(settings.broker.url, settings.broker.replay_s)
    await broker.start()
    try:
        for _ in range(20):
            health = await broker.health()
            if health == "ok":
                shown = URL_PASSWORD.sub(r"://\1:***@", settings.broker.url)
                risk = broker.eviction_risk if isinstance(broker, RedisBroker) else None
                return shown if risk is None else f"{shown}; warning: {risk}"
            await asyncio.sleep(0.1)
        raise ConnectionError(health)
    finally:
        await broker.close()


async def _test_lookup(
    settings: Settings, connectors: dict[str, Connector], raw: str, secrets: tuple[str, ...]
) -> list[CheckRow]:
    """The fan-out once; a connector whose `needs` found nothing is run on its own (see below)."""
    engine = LookupEngine(settings, connectors)
    number = parse_caller(raw, settings.numbers.default_region)
    try:
        sections = await engine.lookup(number)
    finally:
        await engine.close()
    configs = {c.name: c for c in settings.connectors}
    rows: list[CheckRow] = []
    for name, section in sections.items():
        if section.status is SectionStatus.SKIPPED and not number.withheld:
            rows.append(await _lookup_without_needs(configs[name], connectors[name], number, secrets))
        else:
            rows.append(_lookup_row(name, section, number.e164 or raw))
    return rows


def _lookup_row(name: str, section: Section, shown: str) -> CheckRow:
    bad = section.status in (SectionStatus.ERROR, SectionStatus.TIMEOUT)
    detail = section.status.value + (f": {section.error}" if section.error else "") + f" for {shown}"
    return CheckRow(f"lookup {name}", not bad, detail, float(section.elapsed_ms or 0))


async def _lookup_without_needs(
    config: ConnectorSettings, connector: Connector, number: CallerNumber, secrets: tuple[str, ...]
) -> CheckRow:
    """Run a skipped SQL query with its `needs` and call attributes as NULL: its text and tables are tested.

    The probe number rarely belongs to a customer, so `credit` (needing
    `accounting.account_id`) would otherwise never run, and the probe has
    no call attributes, so a connector naming `attr_KEY` would never run
    either.  NULL matches no row in any SQL database; other kinds could
    refuse an empty input, so they are reported as skipped with a hint
    instead of a false failure.
    """
    part = f"lookup {config.name}"
    attributes = [ATTR_PREFIX + key for key in attribute_keys(config)]
    missing = ", ".join([*config.needs, *attributes])
    if config.kind != "sql":
        hint = "the probe lookup has no call attributes" if attributes else "try --number of a known customer"
        return CheckRow(part, True, f"not run: {missing} not found; {hint}", 0.0, True)
    nulls = dict.fromkeys([need.replace(".", "_") for need in config.needs] + attributes)
    params = {**number.params(), **CallContext().params(), **nulls}
    why = "the probe lookup has none" if attributes else "the probe number found none"

    async def run() -> str:
        try:
            async with asyncio.timeout(config.timeout_ms / 1000):
                result = await connector.lookup(params)
        except TimeoutError:
            raise ConnectorError(f"no answer within {config.timeout_ms} ms") from None
        found = "ok" if result.data is not None else "not_found"
        return f"{found} with {missing} = NULL ({why})"

    return await _timed(part, run, secrets)
