"""Where a section a role may see is built from a section that role hides.

A role's ``hide`` list keeps a section's own data away from its agents, but a
visible connector that ``needs`` a hidden field can carry that field (or
what follows from it) onto the card: the SPEC's own ``offer`` rules copy
``credit.available`` into ``max_order`` while tier1 hides ``credit``.  That
is the config author's choice, so it is not refused; it is named, once, by
``screenpop check`` and in the start-up log, so that a security officer
learns it from the tools rather than from an agent's screen.

Three degrees, by where the connector's options use the hidden field:

- ``copy``: a ``then`` value's ``{param}`` puts the value itself on the card;
- ``condition``: a ``when`` key tests it, so which rule held tells one bit;
- ``lookup``: the value is bound into a query, URL or model (and a needed
  field that no parameter names still decides whether the connector runs at
  all), so what the section shows depends on it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from screenpop.config.cross_checks import unserved_queues
from screenpop.config.errors import key_path
from screenpop.config.schema import ConnectorSettings, Settings

log = logging.getLogger(__name__)

How = Literal["copy", "condition", "lookup"]
Loc = tuple[int | str, ...]


@dataclass(frozen=True, slots=True)
class Exposure:
    """One visible section showing a role something of a section that role hides."""

    role: str
    section: str
    how: How
    fields: tuple[str, ...]
    """``credit.available``: the hidden fields this degree concerns."""
    where: tuple[str, ...]
    """``rules[1].then.max_order``: where the connector's options use them (empty for a plain need)."""

    def sentence(self) -> str:
        hidden = ", ".join(sorted({f.partition(".")[0] for f in self.fields}))
        fields = ", ".join(self.fields)
        at = f" ({', '.join(self.where)})" if self.where else ""
        if self.how == "copy":
            return (
                f"{self.section} shows {fields} to {self.role}, whose role hides {hidden}: "
                f"copied verbatim{at}"
            )
        if self.how == "condition":
            return (
                f"{self.section} tells {self.role} whether a condition on {fields} holds{at}: "
                f"one bit of {hidden}, which {self.role}'s role hides"
            )
        return (
            f"{self.section} is looked up with {fields}{at}: what it shows {self.role} "
            f"depends on {hidden}, which {self.role}'s role hides"
        )


def hidden_exposures(settings: Settings) -> list[Exposure]:
    """Every (role, visible section, degree) where a hidden section's fields reach the card."""
    found: list[Exposure] = []
    for role, rules in settings.roles.items():
        hidden = frozenset(rules.hide)
        for connector in settings.connectors:
            if connector.name not in hidden:
                found += _exposures(role, connector, hidden)
    return found


def log_config_warnings(settings: Settings) -> None:
    """What a config allows but its author should read, logged when it is loaded to serve (never per call).

    Each exposure of a hidden section, and each queue written in the config
    that nobody serves; ``check`` shows the same as warnings.
    """
    for exposure in hidden_exposures(settings):
        log.warning("role exposure: %s", exposure.sentence())
    for sentence in unserved_queues(settings):
        log.warning("routing: %s", sentence)


def _exposures(role: str, connector: ConnectorSettings, hidden: frozenset[str]) -> list[Exposure]:
    needed = [n for n in connector.needs if n.partition(".")[0] in hidden]
    if not needed:
        return []
    uses: dict[How, dict[str, list[str]]] = {"copy": {}, "condition": {}, "lookup": {}}
    params = {need.replace(".", "_", 1): need for need in needed}
    for loc, name in _parameters(connector):
        if name in params:
            uses[_degree(loc)].setdefault(params[name], []).append(key_path(loc))
    copied = set(uses["copy"])
    tested = set(uses["condition"]) - copied
    bound = [n for n in needed if n not in copied and n not in tested]
    found = [
        Exposure(role, connector.name, "copy", (f,), tuple(uses["copy"][f])) for f in needed if f in copied
    ]
    if tested:
        where = tuple(dict.fromkeys(w for f in needed if f in tested for w in uses["condition"][f]))
        found.append(
            Exposure(role, connector.name, "condition", tuple(f for f in needed if f in tested), where)
        )
    if bound:
        where = tuple(dict.fromkeys(w for f in bound for w in uses["lookup"].get(f, ())))
        found.append(Exposure(role, connector.name, "lookup", tuple(bound), where))
    return found


def _parameters(connector: ConnectorSettings) -> Iterator[tuple[Loc, str]]:
    """The kind's own list of where its options name each parameter; none for a kind without one."""
    parameters = getattr(connector.options, "parameters", None)
    if callable(parameters):
        yield from parameters()


def _degree(loc: Loc) -> How:
    """A rules table's ``then`` copies, its ``when`` tests; anything else binds into a lookup.

    Read by position (``rules[i].then.KEY``), as the rules kind names them:
    a ``then`` key called ``when`` must not pass for a condition.
    """
    part = loc[2] if len(loc) == 4 and loc[0] == "rules" else None
    if part == "then":
        return "copy"
    if part == "when":
        return "condition"
    return "lookup"
