"""A card version as the JSON text a socket sends, each piece of it encoded once per call.

A call's card is sent three or four times while its sections arrive (pending,
then each batch, then complete), once per view (distinct set of hidden
sections).  Rendering the whole card as a dict and encoding it every time
cleaned and encoded every section again for every version and every view:
the same bytes, over and over, on the hot path of every call.  Here a
section's text is made when that ``Section`` object first appears and reused
while the card keeps the same object; the caller block and the call's context
are encoded once; only what depends on the version or the view (status,
customer, badges, which sections are in it) is made each time.

The text is exactly what ``json.dumps(frame, separators=(",", ":"))`` of
``render_card``'s dict would give (a unit test holds the two together), so
the widget, the replay and the audit see no difference.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Mapping

from screenpop.card import Derived, SectionSpec, build_customer, derived, visible_sections
from screenpop.model import JSON, CallerNumber, Card, Section, SectionStatus
from screenpop.untrusted import clean_json, clean_line

#: One encoder for every compact text: ``json.dumps`` with arguments builds a new one per call.
compact = json.JSONEncoder(separators=(",", ":")).encode
#: What ``compact`` does with a string, called directly: no Python frame for each of a frame's strings.
quoted = json.encoder.encode_basestring_ascii


_FALSE_TRUE = ("false", "true")

_UNANSWERED_LIMIT = 1024
#: The text of sections that carry nothing of a caller's (pending, or data-less), by value: every call's
#: first frame shows the same pending sections, so each is encoded once per process, not once per call.
_unanswered_sections: dict[tuple[Section, type, type], str] = {}


_unanswered_objects: dict[int, tuple[Section, str]] = {}
"""The same, by identity: a lookup engine hands every call the same pending ``Section`` objects, and
finding them by value hashed and compared each dataclass in Python, for each section of every first frame."""


def _unanswered_text(section: Section) -> str:
    """The text of a section with no data, made once per process for each such section."""
    # the cache holds the object, so its id cannot be reused while the entry stands
    kept = _unanswered_objects.get(id(section))
    if kept is not None and kept[0] is section:
        return kept[1]
    # keyed with the numbers' types too: 1 == 1.0 == True, but they are written 1, 1.0, true
    key = (section, type(section.elapsed_ms), type(section.age_s))
    text = _unanswered_sections.get(key)
    if text is None:
        text = compact(clean_json(section.to_json()))
        if len(_unanswered_sections) >= _UNANSWERED_LIMIT:
            _unanswered_sections.clear()  # error texts vary; the pending ones come straight back
        _unanswered_sections[key] = text
    if len(_unanswered_objects) >= _UNANSWERED_LIMIT:
        _unanswered_objects.clear()
    _unanswered_objects[id(section)] = (section, text)
    return text


_NO_CUSTOMER = compact(clean_json(build_customer({}, {}).to_json()))
"""``customer`` while no visible section has answered: nobody found, the same for every call."""


_unanswered_sets: dict[tuple[tuple[str, ...], tuple[int, ...]], tuple[tuple[Section, ...], str]] = {}
"""The ``sections`` text of a whole set of sections with no data, by their names and identities:
a first frame's sections are the engine's pending objects, the same for every call, so the text is
made once per process, without a Python call per section."""


def _unanswered_set_text(visible: dict[str, Section]) -> str | None:
    """The cached ``sections`` text of these very objects, or None (not seen, or some answered)."""
    kept = _unanswered_sets.get((tuple(visible), tuple(map(id, visible.values()))))
    if kept is not None and all(map(operator.is_, kept[0], visible.values())):
        return kept[1]
    return None


def _keep_unanswered_set(visible: dict[str, Section], text: str) -> None:
    if len(_unanswered_sets) >= _UNANSWERED_LIMIT:
        _unanswered_sets.clear()
    # the entry holds the objects, so their ids cannot be reused while it stands
    _unanswered_sets[(tuple(visible), tuple(map(id, visible.values())))] = (tuple(visible.values()), text)


def _quoted_line(text: str | None) -> str:
    if text is None:
        return "null"
    if text.isprintable():  # nearly always: no call into the cleaning
        return quoted(text)
    line = clean_line(text)
    return "null" if line is None else quoted(line)


def caller_text(caller: CallerNumber, name: str | None) -> str:
    """``compact(caller_json(caller, name))``, written field by field.

    Every call's first frame has one: the dict, the cleaning of each of its
    texts and the encoder's own frames cost more than the rest of that frame
    (docs/performance.md).  A unit test holds the two to the same text.
    """
    texts = [  # one comprehension: a Python call per field only for text that needs cleaning
        "null" if text is None else quoted(text) if text.isprintable() else _quoted_line(text)
        for text in (
            caller.raw,
            caller.e164,
            caller.national,
            caller.international,
            caller.region,
            caller.location,
            caller.type,
            name,
        )
    ]
    return _CALLER_TEXT.format(*texts, _FALSE_TRUE[caller.valid], _FALSE_TRUE[caller.withheld])


_CALLER_TEXT = (
    '{{"raw":{0},"e164":{1},"national":{2},"international":{3},"valid":{8},"withheld":{9},'
    '"region":{4},"location":{5},"type":{6},"name":{7}}}'
)


class CardEncoder:
    """Encodes the versions of one call's card; keep one per call so its pieces are reused."""

    __slots__ = (
        "_caller",
        "_context",
        "_derived",
        "_handoff",
        "_history",
        "_sections",
        "_specs",
        "_transfers",
    )

    def __init__(self, specs: Mapping[str, SectionSpec]) -> None:
        self._specs = specs
        # each cache keeps the object it encoded: reuse is by identity, never by an id() that was freed
        self._sections: dict[str, tuple[Section, str]] = {}
        self._history: tuple[object, str] = ((), "[]")
        self._transfers: tuple[object, str] = ((), "[]")
        self._handoff: tuple[object, str] = ((), "[]")
        self._caller: tuple[object, object, str] | None = None
        self._context: tuple[object, str] | None = None
        # per set of visible names: the sections it was worked out from, what they say, and its text
        self._derived: dict[tuple[str, ...], tuple[tuple[Section, ...], Derived, str]] = {}

    def frame(self, card: Card, hidden: frozenset[str]) -> str:
        """The ``card`` message (SPEC 5) of this version for a role that cannot see ``hidden``."""
        return (
            f'{{"type":"card","call_id":{quoted(card.call_id)},"version":{card.version},'
            f'"complete":{_FALSE_TRUE[card.complete]},"card":{self.card(card, hidden)}}}'
        )

    def card(self, card: Card, hidden: frozenset[str]) -> str:
        """``render_card(card, specs, hidden)`` as compact JSON text."""
        visible = visible_sections(card.sections, hidden)
        # both are made of answered sections only: none yet in every first frame
        derived_text = f'"customer":{_NO_CUSTOMER},"badges":[]'
        unanswered = True
        for section in visible.values():  # a loop, not any(): no generator frame per section
            if section.data is not None:
                unanswered = False
                if section.status is SectionStatus.OK:
                    derived_text = self._derived_text(visible)
                    break
        sections = _unanswered_set_text(visible) if unanswered else None
        if sections is None:
            sections = ",".join([f"{quoted(name)}:{self._section(name, s)}" for name, s in visible.items()])
            if unanswered:
                _keep_unanswered_set(visible, sections)
        return (
            f'{{"call_id":{quoted(card.call_id)},"status":{quoted(card.status)},'
            f'"agent":{_quoted_line(card.agent)},"queue":{_quoted_line(card.queue)},'
            f'"received_at":{quoted(card.received_at)},{self._context_text(card)},'
            f'"caller":{self._caller_text(card)},{derived_text},'
            f'"sections":{{{sections}}},'
            # empty in every first frame: the text at once, without a call
            f'"history":{self._history_text(card) if card.history else "[]"},'
            f'"transfers":{self._list(card.transfers, "_transfers") if card.transfers else "[]"},'
            f'"handoff":{self._list(card.handoff, "_handoff") if card.handoff else "[]"}}}'
        )

    def derived(self, visible: Mapping[str, Section]) -> Derived:
        """The ``customer`` block and badges of these sections; the same sections are worked out once.

        The complete version's frame and the summary the store keeps of it
        both need them, per view: a summary reuses what the frame found.
        """
        names = tuple(visible)
        cached = self._derived.get(names)
        if cached is not None and all(a is b for a, b in zip(cached[0], visible.values(), strict=True)):
            return cached[1]
        found = derived(visible, self._specs)
        text = f'"customer":{compact(found[0])},"badges":{compact(found[1])}'
        self._derived[names] = (tuple(visible.values()), found, text)
        return found

    def _derived_text(self, visible: Mapping[str, Section]) -> str:
        self.derived(visible)
        return self._derived[tuple(visible)][2]

    def _section(self, name: str, section: Section) -> str:
        cached = self._sections.get(name)
        if cached is not None and cached[0] is section:
            return cached[1]
        # with nothing of the caller's in it, the same text for any call
        text = _unanswered_text(section) if section.data is None else compact(clean_json(section.to_json()))
        self._sections[name] = (section, text)
        return text

    def _context_text(self, card: Card) -> str:
        """``direction``, ``line`` and the public ``attributes``: they change only with an update."""
        if self._context is None or self._context[0] is not card.context:
            context = card.context
            # most calls carry no attributes: "{}" without the encoder's frames
            attributes = compact(clean_json(context.public())) if context.attributes else "{}"
            text = (
                f'"direction":{quoted(context.direction)},"line":{_quoted_line(context.line)},'
                f'"attributes":{attributes}'
            )
            self._context = (context, text)
        return self._context[1]

    def _caller_text(self, card: Card) -> str:
        cached = self._caller
        if cached is None or cached[0] is not card.caller or cached[1] != card.caller_name:
            cached = (card.caller, card.caller_name, caller_text(card.caller, card.caller_name))
            self._caller = cached
        return cached[2]

    def _history_text(self, card: Card) -> str:
        """The earlier calls: read once per call, so encoded once."""
        if self._history[0] is not card.history:
            self._history = (card.history, compact([clean_json(h.to_json()) for h in card.history]))
        return self._history[1]

    def _list(self, items: tuple[JSON, ...], slot: str) -> str:
        """Transfers or hand-off: encoded again only when a transfer gave the card a new tuple."""
        cached: tuple[object, str] = getattr(self, slot)
        if cached[0] is not items:
            cached = (items, compact([clean_json(i) for i in items]))
            setattr(self, slot, cached)
        return cached[1]
