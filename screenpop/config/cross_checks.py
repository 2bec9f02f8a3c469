"""Checks that span several keys of the config: names, references, the needs graph.

pydantic checks each block alone; what is wrong *between* blocks (a `needs`
naming a connector that does not exist, a cycle, a role hiding a section
nobody configured) is found here, with the same one-sentence errors.
"""

from __future__ import annotations

import difflib
from graphlib import CycleError, TopologicalSorter

from pydantic import ValidationError

from screenpop.config.errors import describe_validation_error, key_path, known_keys
from screenpop.config.schema import ConnectorSettings, Settings, SinkSettings
from screenpop.errors import ConfigError
from screenpop.model import CALL_PARAMETERS, is_attribute_key, is_call_parameter
from screenpop.plugins import load_kind, load_sink_kind

#: Keys every connector block has, whatever its kind (``options`` is computed, not written).
COMMON_CONNECTOR_KEYS = tuple(known_keys(ConnectorSettings, ()))
#: The same for a sink block.
COMMON_SINK_KEYS = tuple(known_keys(SinkSettings, ()))


def cross_check(settings: Settings, dropped: frozenset[str] = frozenset()) -> Settings:
    """Validate references between blocks and each connector's own options.

    ``dropped`` names top-level blocks the running command left out (see
    ``settings_from_mapping``): a reference into one cannot be checked.
    """
    src = settings.source
    _unique(src, "connectors", [c.name for c in settings.connectors])
    _unique(src, "providers", [p.name for p in settings.providers])
    _unique_line_numbers(settings)
    _check_needs(settings)
    _check_roles(settings, check_hidden="connectors" not in dropped)
    _check_agent_references(settings)
    _unique(src, "sinks", [s.name for s in settings.sinks])
    connectors = tuple(_with_options(src, index, c) for index, c in enumerate(settings.connectors))
    _check_needs_fields(src, connectors)
    sinks = tuple(_sink_with_options(src, index, s) for index, s in enumerate(settings.sinks))
    return settings.model_copy(update={"connectors": connectors, "sinks": sinks})


def connector_order(settings: Settings) -> list[str]:
    """Connectors in an order where every connector comes after what it needs."""
    graph = {c.name: set(c.needed_connectors()) for c in settings.connectors}
    return list(TopologicalSorter(graph).static_order())


def item(block: str, index: int, name: str) -> str:
    """``connectors[2] (account)``: a block's item by index and by the name IT gave it."""
    return f"{block}[{index}] ({name})"


def _unique(source: str, block: str, names: list[str]) -> None:
    seen: set[str] = set()
    for index, name in enumerate(names):
        if name in seen:
            raise ConfigError(
                f"{source}: {item(block, index, name)}.name: {name!r} is used twice; names must be unique"
            )
        seen.add(name)


def _unique_line_numbers(settings: Settings) -> None:
    """A call to a number is on one line: a second entry's name and queue would never be used."""
    first: dict[str, int] = {}
    for index, line in enumerate(settings.lines):
        if line.number in first:
            earlier = settings.lines[first[line.number]]
            raise ConfigError(
                f"{settings.source}: {item('lines', index, line.name)}.number: {line.number} is also "
                f"{item('lines', first[line.number], earlier.name)}; a call to it can be on one line only"
            )
        first[line.number] = index


def _check_needs(settings: Settings) -> None:
    names = [c.name for c in settings.connectors]
    for index, connector in enumerate(settings.connectors):
        for need in connector.needed_connectors():
            where = f"{settings.source}: {item('connectors', index, connector.name)}.needs"
            if need == connector.name:
                raise ConfigError(f"{where}: {connector.name!r} cannot need itself")
            if need not in names:
                raise ConfigError(f"{where}: no connector is named {need!r} (known: {', '.join(names)})")
    try:
        connector_order(settings)
    except CycleError as exc:
        cycle = " -> ".join(str(n) for n in exc.args[1])
        raise ConfigError(
            f"{settings.source}: connectors: `needs` forms a cycle ({cycle}); "
            "a connector can only use what is found before it"
        ) from exc


def _check_needs_fields(source: str, connectors: tuple[ConnectorSettings, ...]) -> None:
    """Refuse a `needs` on a connector whose data is a list: there is no field to bind, so it never runs."""
    lists = {c.name for c in connectors if _answers_a_list(c)}
    for index, connector in enumerate(connectors):
        for need in connector.needs:
            if need.split(".")[0] in lists:
                raise ConfigError(
                    f"{source}: {item('connectors', index, connector.name)}.needs: {need!r} names a field "
                    f"of a connector that answers a list (its rows are under `items`), so "
                    f"{connector.name!r} would never run; need a connector with `rows: one` instead"
                )


def _answers_a_list(connector: ConnectorSettings) -> bool:
    answers = getattr(connector.options, "answers_a_list", None)
    return bool(answers()) if callable(answers) else False


def _check_roles(settings: Settings, check_hidden: bool) -> None:
    names = {c.name for c in settings.connectors}
    for role, rules in settings.roles.items() if check_hidden else ():
        for hidden in rules.hide:
            if hidden not in names:
                raise ConfigError(
                    f"{settings.source}: roles.{role}.hide: no connector is named {hidden!r}; "
                    f"a misspelt section would be shown to this role (known: {', '.join(sorted(names))})"
                )
    if not settings.roles:
        return
    for index, agent in enumerate(settings.agents.directory):
        if agent.role not in settings.roles:
            raise ConfigError(
                f"{settings.source}: {item('agents.directory', index, agent.id)}.role: "
                f"role {agent.role!r} is not defined under `roles:` (defined: {', '.join(settings.roles)})"
            )


def _check_agent_references(settings: Settings) -> None:
    ids = {a.id for a in settings.agents.directory}
    target = settings.routing.unrouted
    if target.startswith("agent:") and target.removeprefix("agent:") not in ids:
        raise ConfigError(f"{settings.source}: routing.unrouted: no agent {target[6:]!r} in agents.directory")
    for index, provider in enumerate(settings.providers):
        for external, agent_id in provider.agents.items():
            if agent_id not in ids:
                raise ConfigError(
                    f"{settings.source}: {item('providers', index, provider.name)}.agents.{external}: "
                    f"no agent {agent_id!r} in agents.directory"
                )


def unserved_queues(settings: Settings) -> list[str]:
    """A sentence per queue written in the config that no agent of the directory is in.

    Only directory agents connect (SPEC 6), so calls to such a queue (a typo,
    ``suport``) pop on nobody's screen.  A warning, not an error: a queue
    staffed later, or a config copied from the SPEC before its agents are
    listed, must still load; ``check`` and the start-up log name each one.
    The unwritten default ``queue:support`` is not named.
    """
    found: list[tuple[str, str]] = []
    target = settings.routing.unrouted
    if target.startswith("queue:") and "unrouted" in settings.routing.model_fields_set:
        found.append(("routing.unrouted", target.removeprefix("queue:")))
    for index, line in enumerate(settings.lines):
        if line.queue is not None:
            found.append((f"{item('lines', index, line.name)}.queue", line.queue))
    queues = sorted({q for agent in settings.agents.directory for q in agent.queues})
    sentences = []
    for where, queue in found:
        if queue in queues:
            continue
        close = difflib.get_close_matches(queue, queues, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        sentences.append(
            f"{where}: no agent in agents.directory is in queue {queue!r}, so its calls "
            f"ring nobody ({hint}queues: {', '.join(queues) or 'none'})"
        )
    return sentences


def _with_options(source: str, index: int, connector: ConnectorSettings) -> ConnectorSettings:
    where = f"{source}: {item('connectors', index, connector.name)}"
    kind = load_kind(connector.kind, f"{where}.kind")
    try:
        options = kind.Options.model_validate(connector.kind_keys())
    except ValidationError as exc:
        # The kind's keys sit beside the common ones in one block, so a typo
        # there is matched against both (`identiy` -> `identity`).
        message = describe_validation_error(
            exc, source, kind.Options, connector.kind_keys(), siblings=COMMON_CONNECTOR_KEYS
        )
        raise ConfigError(f"{where}.{message.removeprefix(f'{source}: ')}") from exc
    _check_cache_keys(where, connector, cacheable=getattr(kind, "cacheable", True))
    check_needs = getattr(kind, "check_needs", None)
    problem = check_needs(connector.needs) if callable(check_needs) else None
    if problem:
        raise ConfigError(f"{where}.needs: connector {connector.name!r}: {problem}")
    _check_parameters(where, connector, options)
    return connector.model_copy(update={"options": options})


def _check_cache_keys(where: str, connector: ConnectorSettings, cacheable: bool) -> None:
    """A cache key that can never apply is refused rather than ignored (typos must not pass silently)."""
    for key in ("cache_ttl_s", "cache_stale_s") if not cacheable else ():
        if getattr(connector, key):
            raise ConfigError(
                f"{where}.{key}: a `{connector.kind}` connector is never cached "
                "(it answers in microseconds from what the call holds); remove the key"
            )
    if connector.cache_stale_s is not None and not connector.cache_ttl_s:
        raise ConfigError(
            f"{where}.cache_stale_s: serves a section older than `cache_ttl_s`, but without a "
            "`cache_ttl_s` nothing is cached; set `cache_ttl_s` too, or remove the key"
        )


def _sink_with_options(source: str, index: int, sink: SinkSettings) -> SinkSettings:
    """The sink block with its kind's options validated (``sinks[0] (crm_log).url`` named in the error)."""
    where = f"{source}: {item('sinks', index, sink.name)}"
    kind = load_sink_kind(sink.kind, f"{where}.kind")
    try:
        options = kind.Options.model_validate(sink.kind_keys())
    except ValidationError as exc:
        # As for connectors: the kind's keys sit beside `name` and `kind` in one block.
        message = describe_validation_error(
            exc, source, kind.Options, sink.kind_keys(), siblings=COMMON_SINK_KEYS
        )
        raise ConfigError(f"{where}.{message.removeprefix(f'{source}: ')}") from exc
    return sink.model_copy(update={"options": options})


def _check_parameters(where: str, connector: ConnectorSettings, options: object) -> None:
    """Refuse a parameter the kind's options name that neither the call nor a `needs` can bind."""
    parameters = getattr(options, "parameters", None)
    if parameters is None:
        return
    from_needs = [need.replace(".", "_", 1) for need in connector.needs]
    for path, name in parameters():
        if is_call_parameter(name) or name in from_needs:
            continue
        if name.startswith("attr_"):
            raise ConfigError(f"{where}.{key_path(path)}: {_unbindable_attribute(name)}")
        bindable = ", ".join([*CALL_PARAMETERS, "attr_<name>", *from_needs])
        close = difflib.get_close_matches(name, [*CALL_PARAMETERS, *from_needs], n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ConfigError(
            f"{where}.{key_path(path)}: no connector or call binds the parameter {name!r} "
            f"({hint}bindable here: {bindable}; add `connector.field` to `needs` to bind "
            "`connector_field`)"
        )


def _unbindable_attribute(name: str) -> str:
    """Why no call binds ``attr_KEY``: KEY breaks SPEC 3's pattern (provider keys are lower-cased to it)."""
    key = name.removeprefix("attr_")
    lowered = key.lower()
    hint = f"; did you mean 'attr_{lowered}'?" if is_attribute_key(lowered) and lowered != key else ""
    return (
        f"no call can carry the attribute in {name!r}: attribute keys match [a-z][a-z0-9_]{{0,39}} "
        f"(phone systems' keys are lower-cased to it){hint}"
    )
