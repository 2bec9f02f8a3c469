"""Connector kinds found through the entry-point group, and instances built from settings.

Our own ``sql`` and ``http`` kinds are found exactly as a third party's would
be, so the plugin path is the one that is tested every day.  The service
(``create_app``) and the CLI's one-off commands build connectors with the
same ``connector_context``.

This module needs nothing from ``screenpop.config``: config uses ``load_kind``
to check each connector's options, and ``build_connectors`` takes anything
shaped like a connector block (``ConnectorSpec``), so the two never import
each other in a circle.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Awaitable, Callable, Collection, Iterable
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Protocol, cast

import aiohttp

from screenpop.connector_api import ENTRY_POINT_GROUP, Connector, ConnectorContext, ConnectorKind
from screenpop.errors import ConfigError
from screenpop.phone import normalize, stored_numbers_in_row
from screenpop.sink_api import SINK_ENTRY_POINT_GROUP, Sink, SinkContext, SinkKind


class ConnectorSpec(Protocol):
    """What building a connector or a sink reads from its block (``ConnectorSettings``, ``SinkSettings``)."""

    @property
    def name(self) -> str: ...

    @property
    def kind(self) -> str: ...

    @property
    def options(self) -> Any: ...


def known_kinds() -> list[str]:
    return sorted(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP))


def load_kind(kind: str, where: str) -> ConnectorKind:
    """The class registered for ``kind``; ``where`` prefixes the error for a config file.

    ``kind`` may also be ``package.module:Class``, so a contact center can try
    its own connector class before packaging it with an entry point.
    """
    if ":" in kind:
        return _load_dotted(kind, where)
    found = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == kind]
    if not found:
        raise ConfigError(
            f"{where}: unknown connector kind {kind!r} (known: {', '.join(known_kinds())}; "
            f"others are added by installing a package with a `{ENTRY_POINT_GROUP}` entry point)"
        )
    try:
        return cast(ConnectorKind, found[0].load())
    except Exception as exc:  # a broken plugin must not take screenpop down with a traceback
        raise ConfigError(f"{where}: connector kind {kind!r} failed to load: {exc}") from exc


def _load_dotted(kind: str, where: str) -> ConnectorKind:
    module_name, _, attribute = kind.partition(":")
    try:
        loaded = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"{where}: cannot load connector class {kind!r}: {exc}") from exc
    if not hasattr(loaded, "Options"):
        raise ConfigError(f"{where}: {kind!r} has no `Options` model, so it is not a connector kind")
    return cast(ConnectorKind, loaded)


def build_connectors(connectors: Iterable[ConnectorSpec], context: ConnectorContext) -> dict[str, Connector]:
    """One instance per configured connector, in config order."""
    return {c.name: load_kind(c.kind, c.name)(c.name, c.options, context) for c in connectors}


def connector_context(
    default_region: str,
    config_dir: Path,
    http: aiohttp.ClientSession | None,
    shared_redis: Callable[..., Any] | None = None,
    forget_numbers: Callable[[str, Collection[str]], Awaitable[None]] | None = None,
) -> ConnectorContext:
    """What every connector is built with, in the service and in the CLI's one-off commands."""
    return ConnectorContext(
        default_region=default_region,
        normalize=functools.partial(normalize, default_region=default_region),
        read_numbers=functools.partial(stored_numbers_in_row, default_region=default_region),
        http=http,
        config_dir=config_dir,
        shared_redis=shared_redis,
        forget_numbers=forget_numbers,
    )


def known_sink_kinds() -> list[str]:
    return sorted(ep.name for ep in entry_points(group=SINK_ENTRY_POINT_GROUP))


def load_sink_kind(kind: str, where: str) -> SinkKind:
    """The class registered for a sink ``kind`` (or ``package.module:Class``); ``ConfigError`` if none."""
    if ":" in kind:
        return cast(SinkKind, _load_dotted(kind, where))
    found = [ep for ep in entry_points(group=SINK_ENTRY_POINT_GROUP) if ep.name == kind]
    if not found:
        raise ConfigError(
            f"{where}: unknown sink kind {kind!r} (known: {', '.join(known_sink_kinds())}; "
            f"others are added by installing a package with a `{SINK_ENTRY_POINT_GROUP}` entry point)"
        )
    try:
        return cast(SinkKind, found[0].load())
    except Exception as exc:  # a broken plugin must not take screenpop down with a traceback
        raise ConfigError(f"{where}: sink kind {kind!r} failed to load: {exc}") from exc


def build_sinks(sinks: Iterable[ConnectorSpec], context: SinkContext) -> dict[str, Sink]:
    """One instance per configured sink, in config order."""
    return {s.name: load_sink_kind(s.kind, s.name)(s.name, s.options, context) for s in sinks}
