"""A traced lookup: what each connector ran, with what, how long, what came back, and why not.

``screenpop lookup --trace`` and the IT console's test lookup
(``GET /api/lookup?trace=1``) run the fan-out with a ``LookupTrace``: the
engine gives each connector its own ``connector_api.ConnectorTrace`` (a
context variable, so connectors need no new argument and an ordinary
lookup pays one variable read), and afterwards ``report`` turns the steps
and the final sections into one JSON-ready entry per connector, with the
reason a section was skipped or found nothing in words.

The trace carries the number the lookup was for (it is that lookup's own
result) but never a secret: connectors mask what they show, and a
``secret_`` attribute is masked in the bound parameters.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from screenpop.card import visible_sections
from screenpop.config import ConnectorSettings
from screenpop.connector_api import ConnectorTrace
from screenpop.model import Section, SectionStatus

CIRCUIT_OPEN = "circuit open"


class LookupTrace:
    """Every connector's trace of one lookup, and the report made of them."""

    def __init__(self, connectors: Iterable[ConnectorSettings]) -> None:
        configs = list(connectors)
        self._kinds = {c.name: c.kind for c in configs}
        self._sources = {c.name: frozenset(need.split(".")[0] for need in c.needs) for c in configs}
        self.connectors: dict[str, ConnectorTrace] = {}

    def connector(self, name: str) -> ConnectorTrace:
        """The trace ``name`` writes into (made the first time it runs)."""
        return self.connectors.setdefault(name, ConnectorTrace())

    def report(self, sections: Mapping[str, Section], hidden: frozenset[str] = frozenset()) -> dict[str, Any]:
        """Per connector (in config order, those in ``hidden`` left out): status, time, steps and why.

        A hidden section shows through nowhere: not as a connector of its
        own, not in the reason another was skipped (``visible_sections``),
        and not in the inputs a connector was given from it (its ``needs``):
        those steps keep what they ran and what came back, not what went in.
        """
        visible = visible_sections(sections, hidden)
        return {name: self._entry(name, section, visible, hidden) for name, section in visible.items()}

    def _entry(
        self, name: str, section: Section, sections: Mapping[str, Section], hidden: frozenset[str]
    ) -> dict[str, Any]:
        trace = self.connectors.get(name)
        steps = [] if trace is None else trace.steps
        for step in steps:
            if step.elapsed_ms is None:  # it never answered: the section's error is what happened
                step.error = section.error or section.status.value
        fed_hidden = bool(self._sources.get(name, frozenset()) & hidden)
        return {
            "kind": self._kinds.get(name, ""),
            "status": section.status.value,
            "elapsed_ms": section.elapsed_ms,
            "why": why(section, sections, [] if trace is None else trace.notes),
            "steps": [_without_inputs(step.to_json()) if fed_hidden else step.to_json() for step in steps],
            "notes": [] if trace is None else list(trace.notes),
        }


#: What a step says it was given: a statement's parameters, a request's URL, headers and body.
INPUTS = ("params", "url", "headers", "body")


def _without_inputs(step: dict[str, Any]) -> dict[str, Any]:
    shown = {k: v for k, v in step.items() if k not in INPUTS}
    if len(shown) < len(step):
        shown["inputs"] = "not shown: some come from a section your role does not see"
    return shown


def why(section: Section, sections: Mapping[str, Section], notes: list[str]) -> str | None:
    """The reason in words when a section has no data: skipped (and for what), circuit open, not found."""
    status, error = section.status, section.error or ""
    if status is SectionStatus.OK:
        return None
    if status is SectionStatus.SKIPPED:
        return f"skipped: {error}{_upstream(error, sections)}"
    if status is SectionStatus.ERROR and error == CIRCUIT_OPEN:
        return (
            "skipped: circuit open (the breaker stopped calling this source after repeated failures;"
            " it lets one call through again after its reset time)"
        )
    if status is SectionStatus.NOT_FOUND:
        return "not found: " + (notes[-1] if notes else "the source answered with nothing for this caller")
    return f"{status.value}: {error}" if error else status.value


def _upstream(error: str, sections: Mapping[str, Section]) -> str:
    """For ``needs accounting.account_id``: what the accounting section itself was (``not_found``)."""
    if not error.startswith("needs "):
        return ""
    source = error.removeprefix("needs ").split(".")[0]
    found = sections.get(source)
    if found is None:
        return ""
    if found.status is SectionStatus.OK:
        return f" ({source} answered without that field)"
    return f" ({source} was {found.status.value})"
