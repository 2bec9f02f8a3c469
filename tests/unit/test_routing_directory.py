"""Routing reads the directory through an index made once per config: the same agents as a scan would find.

A contact center's directory holds thousands of agents; every call is routed
through it and every token checked against it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from hypothesis import given
from hypothesis import strategies as st

from screenpop.card import role_views
from screenpop.config import RoleSettings, Settings, settings_from_mapping
from screenpop.model import CallEvent, EventKind
from screenpop.routing import queue_members, route

QUEUES = ["support", "sales", "billing"]
AGENT_IDS = st.lists(st.text("abcdef0123456789-", min_size=1, max_size=6), unique=True, max_size=30)


def settings_for(directory: Sequence[Mapping[str, object]]) -> Settings:
    return settings_from_mapping(
        {"agents": {"token_secret": "s" * 32, "directory": directory}}, source="<test>", environ={}
    )


@given(AGENT_IDS, st.data())
def test_the_index_finds_what_a_scan_of_the_directory_finds(ids: list[str], data: st.DataObject) -> None:
    directory = [
        {"id": agent_id, "queues": data.draw(st.lists(st.sampled_from(QUEUES), max_size=4))}
        for agent_id in ids
    ]
    settings = settings_for(directory)
    for entry in settings.agents.directory:
        assert settings.agent(entry.id) is entry
    assert settings.agent("nobody-of-that-name") is None
    for queue in QUEUES:
        scanned = [a for a in settings.agents.directory if queue in a.queues]
        assert queue_members(settings, queue) == scanned  # directory order, each agent once


def test_a_call_rings_its_agent_or_its_queue_in_a_big_directory() -> None:
    directory = [{"id": f"agent-{i:04d}", "queues": ["sales" if i % 2 else "support"]} for i in range(3000)]
    settings = settings_for(directory)
    named = CallEvent(provider="pbx", call_id="c-1", event=EventKind.RINGING, agent="agent-2999")
    assert [a.id for a in route(settings, named)] == ["agent-2999"]
    queued = CallEvent(provider="pbx", call_id="c-2", event=EventKind.RINGING, queue="sales")
    assert [a.id for a in route(settings, queued)] == [f"agent-{i:04d}" for i in range(1, 3000, 2)]
    members = queue_members(settings, "sales")
    members.clear()  # a caller's own list: the index is not changed through it
    assert len(queue_members(settings, "sales")) == 1500


def test_a_copy_with_another_directory_or_other_lines_is_indexed_afresh() -> None:
    settings = settings_for([{"id": "agent-1", "queues": ["support"]}])
    assert settings.agent("agent-1") is not None  # the first index is made
    agents = settings.agents.model_copy(
        update={"directory": (settings.agents.directory[0].model_copy(update={"id": "agent-2"}),)}
    )
    copied = settings.model_copy(update={"agents": agents})
    assert copied.agent("agent-1") is None
    assert [a.id for a in queue_members(copied, "support")] == ["agent-2"]
    with_line = settings_from_mapping(
        {
            "agents": {"token_secret": "s" * 32},
            "lines": [{"number": "+18005550100", "name": "Sales line", "queue": "sales"}],
        },
        source="<test>",
        environ={},
    )
    assert with_line.line("+18005550100") is not None
    other = with_line.model_copy(
        update={"lines": (with_line.lines[0].model_copy(update={"number": "+18005550199"}),)}
    )
    assert other.line("+18005550100") is None
    assert other.line("+18005550199") is other.lines[0]
    assert with_line.line("+18005550199") is None


def test_the_views_a_card_is_rendered_for_follow_the_roles_of_the_config_at_hand() -> None:
    hide_credit = RoleSettings(hide=("credit",))
    roles = {"agent": hide_credit, "trainee": hide_credit, "supervisor": RoleSettings()}
    settings = settings_for([]).model_copy(update={"roles": roles})
    assert role_views(settings) == (frozenset({"credit"}), frozenset())
    assert role_views(settings) is role_views(settings)  # made once
    other = settings.model_copy(update={"roles": {"agent": hide_credit}})
    assert role_views(other) == (frozenset({"credit"}),)
    assert role_views(settings.model_copy(update={"roles": {}})) == (frozenset(),)
