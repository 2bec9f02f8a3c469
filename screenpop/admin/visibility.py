"""What an admin's role hides is left out of the admin endpoints too.

SPEC 4 gives the admin endpoints to a role with ``admin: true`` and SPEC 5
says a hidden section is absent from everything that role's agent receives;
nowhere does it say an admin role sees every section.  An IT role that
hides ``credit`` (it runs the service, it does not read credit files) was
told by ``/api/admin/status`` that a ``credit`` connector exists, its error
texts and its figures, and by a reload's answer that it was kept.  The same
hide list now applies there, as it already did to traced lookups.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: The blocks of a status report keyed by section (connector) name.
SECTION_KEYED = ("connectors", "feedback")
#: The lists of connector names in a reload's answer.
RELOAD_LISTS = ("added", "changed", "removed", "kept")


def status_for_role(report: Mapping[str, Any], hidden: frozenset[str]) -> dict[str, Any]:
    """One instance's status without the hidden sections' connectors and feedback counts."""
    shown = dict(report)
    for block in SECTION_KEYED:
        if isinstance(shown.get(block), Mapping):
            shown[block] = {name: value for name, value in shown[block].items() if name not in hidden}
    return shown


def instances_for_role(instances: Mapping[str, Any], hidden: frozenset[str]) -> dict[str, Any]:
    """Every instance's snapshot as ``status_for_role`` shows it (each instance publishes them whole)."""
    return {
        name: status_for_role(view, hidden) if isinstance(view, Mapping) else view
        for name, view in instances.items()
    }


def reload_for_role(answer: Mapping[str, Any], hidden: frozenset[str]) -> dict[str, Any]:
    """A reload's answer without the hidden connectors in its added, changed, removed and kept lists.

    Hidden by the new config's roles: the answer describes the config now running.
    """
    connectors = answer.get("connectors")
    if not hidden or not isinstance(connectors, Mapping):
        return dict(answer)
    lists = {key: [n for n in connectors.get(key, ()) if n not in hidden] for key in RELOAD_LISTS}
    return {**answer, "connectors": {**connectors, **lists}}
