"""A card version's text, built from pieces encoded once, is exactly the rendered card encoded whole."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from screenpop.broker import View
from screenpop.call_context import CallContext, Direction
from screenpop.card import SectionSpec, caller_json, card_summaries, card_summary, render_card
from screenpop.card_text import CardEncoder, caller_text, compact
from screenpop.config import BadgeRule
from screenpop.model import CallerNumber, Card, HistoryEntry, Section, SectionStatus
from screenpop.phone import parse_caller
from screenpop.transfers import StoredCard

NAMES = ("accounting", "sales", "crm", "credit")
SPECS = {
    "accounting": SectionSpec(
        name="accounting",
        title="Accounting",
        identity={"id": "account_id", "name": "name"},
        badges=(BadgeRule(field="overdue", above=0, text="Overdue", level="warn"),),
    ),
    "sales": SectionSpec(name="sales", title="Sales", identity={"id": "customer_id", "name": "name"}),
    "crm": SectionSpec(name="crm", title="CRM", identity={"name": "name"}),
    "credit": SectionSpec(name="credit", title="Credit"),
}
# text a sender, a connector or an agent could write: control characters, line breaks, any script
TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
SCALARS = st.none() | st.booleans() | st.integers(-(10**12), 10**12) | TEXT
SCALARS |= st.floats(allow_nan=False, allow_infinity=False)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=8,
)
ROW = st.fixed_dictionaries(
    {
        "name": TEXT,
        "account_id": st.integers(1, 5),
        "customer_id": st.integers(1, 5),
        "overdue": st.integers(-2, 2),
    },
    optional={"extra": JSON_VALUES, "notes\n": TEXT},
)
SECTIONS = st.builds(
    Section,
    status=st.sampled_from(list(SectionStatus)),
    title=st.none() | TEXT,
    data=st.none() | ROW | st.fixed_dictionaries({"items": st.lists(ROW, max_size=3)}),
    error=st.none() | TEXT,
    elapsed_ms=st.none() | st.integers(0, 5000),
    rows=st.integers(0, 3),
    age_s=st.none() | st.floats(0, 1e6),
    cached=st.booleans(),
)
RAW_NUMBERS = ["+14155550132", "(415) 555-01\x0732", "", "anonymous"]
HISTORY = st.builds(HistoryEntry, call_id=TEXT, at=TEXT, agent=st.none() | TEXT, disposition=TEXT, notes=TEXT)
TRANSFERS = st.lists(st.dictionaries(TEXT, SCALARS, max_size=3), max_size=2).map(tuple)


@st.composite
def cards(draw: st.DrawFn) -> Card:
    context = CallContext(
        call_id="c-1",
        direction=draw(st.sampled_from(list(Direction))),
        line=draw(st.none() | TEXT),
        attributes=draw(st.dictionaries(TEXT, st.integers() | TEXT, max_size=3)),
    )
    return Card(
        call_id=draw(TEXT),
        caller=parse_caller(
            draw(st.sampled_from(["+14155550132", "(415) 555-01\x0732", "", "anonymous"])), "US"
        ),
        caller_name=draw(st.none() | TEXT),
        received_at="2026-12-04T15:00:00.000Z",
        sections=draw(st.dictionaries(st.sampled_from(NAMES), SECTIONS, max_size=4)),
        status=draw(st.sampled_from(["ringing", "answered"])),
        agent=draw(st.none() | TEXT),
        queue=draw(st.none() | TEXT),
        history=tuple(draw(st.lists(HISTORY, max_size=2))),
        version=draw(st.integers(1, 9)),
        complete=draw(st.booleans()),
        context=context,
        transfers=draw(TRANSFERS),
        handoff=draw(TRANSFERS),
    )


def whole(card: Card, hidden: frozenset[str]) -> str:
    """The frame as it was made before: the rendered dict, encoded in one go."""
    frame: dict[str, Any] = {
        "type": "card",
        "call_id": card.call_id,
        "version": card.version,
        "complete": card.complete,
        "card": render_card(card, SPECS, hidden),
    }
    return json.dumps(frame, separators=(",", ":"))


HIDDEN = st.frozensets(st.sampled_from(NAMES), max_size=2)


@settings(max_examples=60)
@given(cards(), HIDDEN, st.data())
def test_every_version_is_the_whole_card_encoded(
    card: Card, hidden: frozenset[str], data: st.DataObject
) -> None:
    """Version after version on one encoder (pieces reused or replaced), for any view, any text."""
    encoder = CardEncoder(SPECS)
    assert encoder.frame(card, hidden) == whole(card, hidden)
    for _ in range(2):
        changed = data.draw(st.dictionaries(st.sampled_from(NAMES), SECTIONS, max_size=2))
        card = replace(
            card,
            sections={**card.sections, **changed},
            version=card.version + 1,
            history=data.draw(st.sampled_from([card.history, ()])),
            context=card.context.with_attributes(data.draw(st.dictionaries(TEXT, TEXT, max_size=1))),
            caller_name=data.draw(st.sampled_from([card.caller_name, "Ada\nLovelace"])),
        )
        for view in (hidden, frozenset()):
            assert encoder.frame(card, view) == whole(card, view)


@given(cards(), HIDDEN)
def test_a_summary_is_what_the_rendered_card_shows(card: Card, hidden: frozenset[str]) -> None:
    """The stored summary keeps exactly those fields of the card rendered for the view."""
    rendered = render_card(card, SPECS, hidden)
    expected = {
        "customer": rendered["customer"],
        "badges": rendered["badges"],
        "sections": {name: s["status"] for name, s in rendered["sections"].items()},
    }
    assert card_summary(card, SPECS, hidden) == expected
    stored = card_summaries(card, SPECS, [hidden, frozenset()])
    assert {tuple(v["hidden"]) for v in stored["views"]} == {tuple(sorted(hidden)), ()}


@settings(max_examples=60)
@given(cards(), HIDDEN, st.dictionaries(st.sampled_from(NAMES), SECTIONS, max_size=2))
def test_a_summary_made_from_the_frames_work_is_the_one_made_afresh(
    card: Card, hidden: frozenset[str], changed: dict[str, Section]
) -> None:
    """The complete version's summary reuses its frames' customer and badges, never a stale version's."""
    encoder = CardEncoder(SPECS)
    views = [hidden, frozenset()]
    for view in views:
        encoder.frame(card, view)
    assert card_summaries(card, SPECS, views, encoder.derived) == card_summaries(card, SPECS, views)
    later = replace(card, sections={**card.sections, **changed}, version=card.version + 1)
    encoder.frame(later, hidden)
    assert card_summaries(later, SPECS, views, encoder.derived) == card_summaries(later, SPECS, views)


def test_a_kept_card_reads_back_with_its_bodies_unchanged_in_both_layouts() -> None:
    """Bodies are kept as JSON, not re-escaped; the former layout (bodies as strings) still reads."""
    body = (
        '{"type":"card","call_id":"c\\u00e9\\n","version":3,"complete":true,'
        '"card":{"x":[1.5,null,"\\u2028"]}}'
    )
    kept = StoredCard(3, (View(frozenset({"credit"}), body, ("crm",)), View(frozenset(), body, ())))
    text = kept.to_text()
    assert '"\\"type\\"' not in text  # not escaped a second time
    assert StoredCard.from_text(text) == kept
    former = json.dumps({"v": 3, "views": [[["credit"], ["crm"], body], [[], [], body]]})
    assert StoredCard.from_text(former) == kept


@settings(max_examples=30)
@given(cards(), cards(), HIDDEN)
def test_a_first_frame_reuses_no_answer_text_of_another_call_only_where_equal(
    first: Card, second: Card, hidden: frozenset[str]
) -> None:
    """Data-less sections and the empty customer are shared between calls: still each call's own card."""
    pending = {name: Section(title=SPECS[name].title) for name in NAMES}
    for card in (replace(first, sections=pending), replace(second, sections=pending), first, second):
        assert CardEncoder(SPECS).frame(card, hidden) == whole(card, hidden)


def test_equal_numbers_of_other_types_are_not_taken_for_each_other() -> None:
    """``age_s`` 1 and 1.0 (and ``elapsed_ms`` 1 and True) are equal in Python, not in JSON text."""
    for made in (
        [Section(status=SectionStatus.ERROR, age_s=1), Section(status=SectionStatus.ERROR, age_s=1.0)],
        [
            Section(status=SectionStatus.ERROR, elapsed_ms=1),
            Section(status=SectionStatus.ERROR, elapsed_ms=True),
        ],
    ):
        for section in made + made[::-1]:
            card = replace(CARD_WITHOUT_SECTIONS, sections={"crm": section})
            assert CardEncoder(SPECS).frame(card, frozenset()) == whole(card, frozenset())


def test_the_shared_section_texts_stay_bounded_whatever_errors_connectors_send() -> None:
    """Error texts vary without end (a connector's messages): the cache of shared texts is capped."""
    from screenpop import card_text

    encoder = CardEncoder(SPECS)
    for i in range(3 * card_text._UNANSWERED_LIMIT):
        section = Section(status=SectionStatus.ERROR, title="CRM", error=f"upstream said {i}")
        card = replace(CARD_WITHOUT_SECTIONS, sections={"crm": section})
        assert encoder.frame(card, frozenset()) == whole(card, frozenset())
    assert len(card_text._unanswered_sections) <= card_text._UNANSWERED_LIMIT
    assert len(card_text._unanswered_objects) <= card_text._UNANSWERED_LIMIT
    assert len(card_text._unanswered_sets) <= card_text._UNANSWERED_LIMIT


def test_a_set_of_sections_without_data_is_reused_only_for_those_very_sections() -> None:
    """The first frame's sections are found by their names and identities: another object of a name is
    another text, however the sets around it repeat."""
    pending = {name: Section(title=SPECS[name].title) for name in NAMES}
    failed = Section(status=SectionStatus.ERROR, title="CRM", error="upstream is down")
    timed_out = Section(status=SectionStatus.TIMEOUT, title="CRM", elapsed_ms=800)
    for crm in (pending["crm"], failed, timed_out, failed, pending["crm"]):
        card = replace(CARD_WITHOUT_SECTIONS, sections={**pending, "crm": crm})
        assert CardEncoder(SPECS).frame(card, frozenset()) == whole(card, frozenset())


CARD_WITHOUT_SECTIONS = Card(
    call_id="c-bound",
    caller=parse_caller("+14155550132", "US"),
    received_at="2026-12-04T15:00:00.000Z",
    sections={},
)


OPTIONAL_TEXT = st.none() | TEXT
CALLERS = st.builds(
    CallerNumber,
    raw=TEXT,
    e164=OPTIONAL_TEXT,
    national=OPTIONAL_TEXT,
    international=OPTIONAL_TEXT,
    digits=TEXT,
    country_code=st.none() | st.integers(1, 999),
    region=OPTIONAL_TEXT,
    valid=st.booleans(),
    withheld=st.booleans(),
    location=OPTIONAL_TEXT,
    type=OPTIONAL_TEXT,
    extension=OPTIONAL_TEXT,
)


@given(CALLERS, OPTIONAL_TEXT)
def test_the_caller_block_is_written_as_the_encoder_writes_the_cleaned_dict(
    caller: CallerNumber, name: str | None
) -> None:
    """Written field by field for speed: the same text, control characters and line breaks included."""
    assert caller_text(caller, name) == compact(caller_json(caller, name))
