"""From sections to the card an agent sees: who the caller is, what to watch for.

Everything here is pure and is computed per role from the sections that role
may see, so that a hidden section's name, data, badges and identity never
reach that role by way of a derived field.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from screenpop.call_context import ATTR_PREFIX
from screenpop.conditions import holds, only_condition
from screenpop.config import BadgeRule, ConnectorSettings, Settings
from screenpop.identity import comparable_name, id_text, section_identity
from screenpop.model import (
    JSON,
    NUMBER_PARAMETERS,
    Badge,
    CallerNumber,
    Card,
    Conflict,
    Customer,
    Section,
    SectionStatus,
)
from screenpop.untrusted import clean_json, clean_line


@dataclass(frozen=True, slots=True)
class SectionSpec:
    """What the card needs to know of one connector's config."""

    name: str
    title: str
    identity: Mapping[str, str] = field(default_factory=dict)
    badges: tuple[BadgeRule, ...] = ()
    by_number: bool = True
    """Whether the lookup names a form of the number (else it finds by ``attributes`` or ``needs``)."""
    attributes: tuple[str, ...] = ()
    """The attribute keys the lookup names (``attr_KEY``)."""

    @classmethod
    def from_settings(cls, connector: ConnectorSettings) -> SectionSpec:
        display = connector.display
        named = connector_parameters(connector)
        by_number = (
            named is None  # a kind that does not declare its parameters: take it for a lookup by number
            or any(p in NUMBER_PARAMETERS for p in named)
            or not (named or connector.needs)
        )
        return cls(
            name=connector.name,
            title=connector.title,
            identity=dict(connector.identity),
            badges=display.badges if display else (),
            by_number=by_number,
            attributes=attribute_keys(connector),
        )


def attribute_keys(connector: ConnectorSettings) -> tuple[str, ...]:
    """The attribute keys a connector names (``attr_KEY``): a call without one of them skips it."""
    named = connector_parameters(connector) or ()
    return tuple(p.removeprefix(ATTR_PREFIX) for p in named if p.startswith(ATTR_PREFIX))


def required_attribute_keys(connector: ConnectorSettings) -> tuple[str, ...]:
    """The attribute keys without which the connector is skipped (none for a kind that runs anyway)."""
    needs_them = getattr(connector.options, "needs_its_attributes", None)
    if needs_them is not None and not needs_them():
        return ()
    return attribute_keys(connector)


def connector_parameters(connector: ConnectorSettings) -> tuple[str, ...] | None:
    """The call parameters a connector's options name, in order, each once (None before options load)."""
    parameters = getattr(connector.options, "parameters", None)
    if parameters is None:
        return None
    return tuple(dict.fromkeys(name for _, name in parameters()))


def section_specs(settings: Settings) -> dict[str, SectionSpec]:
    return {c.name: SectionSpec.from_settings(c) for c in settings.connectors}


def section_meta(settings: Settings, hidden: frozenset[str]) -> list[JSON]:
    """How the widget draws each section a role may see: order, title, rows and display hints.

    The agent's welcome carries it (SPEC 5), and so does the console's test
    lookup, so that IT sees a card drawn exactly as an agent's widget draws it.
    """
    out = []
    for c in settings.connectors:
        if c.name in hidden:
            continue
        fields = c.display.model_dump(exclude_none=True)["fields"] if c.display else {}
        out.append({"name": c.name, "title": c.title, "rows": _rows_hint(c.options), "fields": fields})
    return out


def _rows_hint(options: object) -> str:
    """``one`` or ``many``: a connector's option named ``rows`` may be its data, sent to no browser."""
    rows = getattr(options, "rows", "one")
    return rows if rows in ("one", "many") else "one"


def caller_json(caller: CallerNumber, name: str | None) -> JSON:
    """The caller block, every text in it one clean line (the raw number is the sender's text too)."""
    return {k: clean_line(v) if isinstance(v, str) else v for k, v in caller.to_json(name).items()}


HIDDEN_NEED = "needs data this role does not see"


def visible_sections(sections: Mapping[str, Section], hidden: frozenset[str]) -> dict[str, Section]:
    """The sections a role that cannot see ``hidden`` is shown, naming none of the hidden ones.

    A section skipped for want of a hidden section's field says so as
    ``needs credit.rating``: the name of a section the role must not know of,
    and that it found nothing for this caller.  Such a reason is replaced.
    """
    if not hidden:
        return dict(sections)
    return {name: _unnamed(s, hidden) for name, s in sections.items() if name not in hidden}


def _unnamed(section: Section, hidden: frozenset[str]) -> Section:
    error = section.error or ""
    needed = error.removeprefix("needs ").split(".")[0] if error.startswith("needs ") else None
    if section.status is SectionStatus.SKIPPED and needed in hidden:
        return replace(section, error=HIDDEN_NEED)
    return section


def render_card(card: Card, specs: Mapping[str, SectionSpec], hidden: frozenset[str]) -> JSON:
    """The card's JSON as SPEC section 5 shows it, for a role that cannot see ``hidden``."""
    visible = visible_sections(card.sections, hidden)
    # Every text a sender, a connector or an agent wrote is cleaned here, the one
    # place a card becomes what screens show (see ``screenpop.untrusted``).
    return {
        "call_id": card.call_id,
        "status": card.status,
        "agent": clean_line(card.agent),
        "queue": clean_line(card.queue),
        "received_at": card.received_at,
        "direction": card.context.direction.value,
        "line": clean_line(card.context.line),
        "attributes": clean_json(card.context.public()),  # never a ``secret_`` attribute
        "caller": caller_json(card.caller, card.caller_name),
        "customer": clean_json(build_customer(visible, specs).to_json()),
        "badges": [b.to_json() for b in compute_badges(visible, specs)],
        "sections": {name: clean_json(s.to_json()) for name, s in visible.items()},
        "history": [clean_json(h.to_json()) for h in card.history],
        "transfers": [clean_json(t) for t in card.transfers],
        "handoff": [clean_json(h) for h in card.handoff],
    }


def role_views(settings: Settings) -> tuple[frozenset[str], ...]:
    """Every distinct set of hidden sections a socket can have: a card is rendered once for each.

    A token's role claim overrides the directory's (SPEC 6), so any
    configured role can be on any socket; without roles nothing is hidden.
    """
    return settings.distinct_hidden_sets()


def shown_sections(card: Card, hidden: frozenset[str]) -> tuple[str, ...]:
    """The sections whose data a role that cannot see ``hidden`` is shown (the audit's "seen").

    Pending, failed, timed-out, skipped and not-found sections carry no data.
    """
    return tuple(n for n, s in card.sections.items() if n not in hidden and s.data is not None)


def build_customer(sections: Mapping[str, Section], specs: Mapping[str, SectionSpec]) -> Customer:
    """Merge the identity each connector found, and say when they disagree."""
    ids: dict[str, str] = {}
    names: dict[str, str] = {}
    conflicts: list[Conflict] = []
    matches = 0
    finders: list[SectionSpec] = []
    for name, section in sections.items():
        spec = specs.get(name)
        if spec is None or not spec.identity or section.status is not SectionStatus.OK:
            continue
        found, records, conflict = section_identity(name, section, spec.identity)
        if not found and records == 0:
            continue
        if found:
            finders.append(spec)
        if "id" in found:
            ids[name] = id_text(found["id"])
        if "name" in found:
            names[name] = str(found["name"])
        matches = max(matches, records)
        if conflict is not None:
            conflicts.append(conflict)
    conflicts.extend(_name_conflicts(names))
    if conflicts and matches < 2:
        matches = 2
    elif names or ids:
        matches = max(matches, 1)
    display_name = next(iter(names.values()), None)
    return Customer(
        name=display_name, ids=ids, matches=matches, conflicts=tuple(conflicts), found_by=_found_by(finders)
    )


def _found_by(finders: Iterable[SectionSpec]) -> str | None:
    """``number`` when a lookup by number found the customer, ``attribute:KEY`` when only an attribute did.

    A connector that names neither (it runs on another's ``needs``) follows
    whoever found the record it was given, so it decides nothing by itself.
    """
    ways = [
        "number" if s.by_number else f"attribute:{s.attributes[0]}" if s.attributes else "" for s in finders
    ]
    if not ways:
        return None
    if "number" in ways:
        return "number"
    return next((way for way in ways if way), "number")


def _name_conflicts(names: Mapping[str, str]) -> list[Conflict]:
    """Two connectors naming the caller differently is a possible duplicate."""
    distinct: dict[str, str] = {}
    for name in names.values():
        distinct.setdefault(comparable_name(name), name)
    if len(distinct) < 2:
        return []
    return [
        Conflict(
            kind="identity",
            field="name",
            values=tuple(distinct.values()),
            sections=tuple(names),
        )
    ]


def compute_badges(sections: Mapping[str, Section], specs: Mapping[str, SectionSpec]) -> list[Badge]:
    """The badges whose condition holds on a visible, answered section."""
    badges: list[Badge] = []
    for name, section in sections.items():
        spec = specs.get(name)
        if spec is None or section.status is not SectionStatus.OK or not section.data:
            continue
        for rule in spec.badges:
            if badge_applies(rule, section.data.get(rule.field)):
                badges.append(Badge(section=name, text=rule.text, level=rule.level))
    return badges


def badge_applies(rule: BadgeRule, value: Any) -> bool:
    condition = {"above": rule.above, "below": rule.below, "equals": rule.equals, "in": rule.in_}
    kind, expected = only_condition(condition)
    return holds(kind, expected, value)


Derived = tuple[JSON, list[JSON]]
"""What a card's answered sections say about the caller, as sent: the ``customer`` block and the badges."""
Derive = Callable[[Mapping[str, Section]], Derived]
"""``derived`` below, or a call's own that reuses what its last frame worked out (``CardEncoder``)."""


def derived(visible: Mapping[str, Section], specs: Mapping[str, SectionSpec]) -> Derived:
    """The ``customer`` block and the badges of these visible sections, as the card shows them."""
    customer = clean_json(build_customer(visible, specs).to_json())
    return customer, [b.to_json() for b in compute_badges(visible, specs)]


def card_summary(
    card: Card, specs: Mapping[str, SectionSpec], hidden: frozenset[str], derive: Derive | None = None
) -> JSON:
    """What ``/api/calls`` lists of a card for a role that cannot see ``hidden``: enough to recognise it.

    Exactly those fields of ``render_card(card, specs, hidden)``, made
    without rendering (and cleaning) every section's data again.
    """
    visible = visible_sections(card.sections, hidden)
    customer, badges = derive(visible) if derive is not None else derived(visible, specs)
    return {
        "customer": customer,
        "badges": badges,
        "sections": {name: s.status.value for name, s in visible.items()},
    }


def card_summaries(
    card: Card,
    specs: Mapping[str, SectionSpec],
    views: Iterable[frozenset[str]],
    derive: Derive | None = None,
) -> JSON:
    """The card's summary rendered once per set of hidden sections, for the store to keep.

    A summary is derived from the card (the customer's name and ids, the
    badges), so a summary rendered with nothing hidden would tell a role what
    its hidden sections hold; each reader gets the one rendered for its role
    (``summary_for``).  ``derive`` is the call's own: the complete version's
    frame has just worked the same out for each view.
    """
    return {
        "views": [
            {"hidden": sorted(hidden), "summary": card_summary(card, specs, hidden, derive)}
            for hidden in sorted(set(views), key=sorted)
        ]
    }


def summary_for(stored: JSON | None, hidden: frozenset[str]) -> JSON | None:
    """The summary a reader who may not see ``hidden`` may read, or None.

    The view rendered for exactly that set, else one that hides more (the
    roles changed since the call: less is shown, never more).  A summary
    stored before views existed was rendered with nothing hidden: only what
    can be told apart by section is kept of it, and the customer's name,
    whose section is unknown, is dropped.
    """
    if not stored:
        return None
    if "views" not in stored:
        return _legacy_summary(stored, hidden)
    fits = [v for v in stored["views"] if hidden <= frozenset(v.get("hidden", ()))]
    if not fits:
        return None
    best = min(fits, key=lambda v: len(v.get("hidden", ())))
    found: JSON = best["summary"]
    return found


def _legacy_summary(stored: JSON, hidden: frozenset[str]) -> JSON:
    if not hidden:
        return stored
    customer = dict(stored.get("customer") or {})
    conflicts = [c for c in customer.get("conflicts", []) if not hidden & set(c.get("sections", []))]
    return {
        "customer": {
            "name": None,
            "ids": {n: i for n, i in (customer.get("ids") or {}).items() if n not in hidden},
            "matches": customer.get("matches", 0),
            "conflicts": conflicts,
        },
        "badges": [b for b in stored.get("badges", []) if b.get("section") not in hidden],
        "sections": {n: s for n, s in (stored.get("sections") or {}).items() if n not in hidden},
    }
