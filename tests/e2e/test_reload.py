"""Reloading the config without a restart: `POST /api/admin/reload` against the real service.

Each test writes a real config file, serves it with the real app on
loopback, keeps real agent websockets open, rewrites the file and reloads.
"""

from __future__ import annotations

import asyncio
import copy
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import websockets
import yaml

from screenpop.app import create_app
from screenpop.config import Settings, load_settings
from screenpop.web import app_keys
from tests.support.service import (
    ADA,
    agent_socket,
    api,
    base_config,
    event_body,
    post_event,
    running_app,
)
from tests.support.sinks import http_sink, sink_server
from tests.support.tokens import token_for
from tests.support.waiting import wait_for

WITHIN_S = 5.0  # a bound on waiting for an event, never an assertion about speed
BOB = "+14155550199"


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path}/store.db"


def write(path: Path, config: dict[str, Any]) -> Settings:
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return load_settings(path, environ={})


def without_credit(store_url: str) -> dict[str, Any]:
    config = base_config(store_url)
    config["connectors"] = [c for c in config["connectors"] if c["name"] != "credit"]
    config["roles"] = {"tier1": {}, "supervisor": {}}
    return config


def everyone_promoted(store_url: str) -> dict[str, Any]:
    """The test config with every directory agent moved to the supervisor role."""
    config = base_config(store_url)
    for entry in config["agents"]["directory"]:
        entry["role"] = "supervisor"
    return config


async def reload(base: str, settings: Settings, agent_id: str = "agent-3") -> tuple[int, Any]:
    return await api(base, "POST", "/api/admin/reload", token_for(settings, agent_id))


async def test_reload_adds_a_connector_to_the_next_card_on_an_open_socket(
    tmp_path: Path, store_url: str
) -> None:
    """After a reload that adds `credit`, the next card on a socket opened before it carries its section."""
    path = tmp_path / "screenpop.yaml"
    settings = write(path, without_credit(store_url))
    async with (
        running_app(create_app(settings)) as (base, app),
        agent_socket(base, settings, "agent-3") as agent,
    ):
        loaded = app[app_keys.GENERATIONS].config_info()
        await post_event(base, event_body("before", agent="agent-3"))
        before = (await agent.card_until_complete("before"))[-1]["card"]
        assert set(before["sections"]) == {"accounting"}
        write(path, base_config(store_url))
        status, body = await reload(base, settings)
        assert status == 200, body
        assert body["connectors"]["added"] == ["credit"] and body["connectors"]["kept"] == ["accounting"]
        assert body["config"] == app[app_keys.GENERATIONS].config_info()
        assert loaded["source"] == body["config"]["source"] == str(path)
        assert datetime.fromisoformat(body["config"]["loaded_at"]) >= datetime.fromisoformat(
            loaded["loaded_at"]
        )
        await post_event(base, event_body("after", agent="agent-3"))
        after = (await agent.card_until_complete("after"))[-1]["card"]
    assert after["sections"]["credit"]["status"] == "ok"
    assert after["sections"]["credit"]["data"] == {"credit_limit": 5000, "rating": "D"}
    assert {"section": "credit", "text": "Credit hold", "level": "info"} in after["badges"]


async def test_an_invalid_file_is_a_400_with_the_sentence_and_the_old_config_keeps_working(
    tmp_path: Path, store_url: str
) -> None:
    """A typo answers 400 bad_request naming file and key; cards keep coming from the old config."""
    path = tmp_path / "screenpop.yaml"
    settings = write(path, base_config(store_url))
    broken = base_config(store_url)
    broken["connectors"][0]["identiy"] = {"id": "account_id"}
    path.write_text(yaml.safe_dump(broken), encoding="utf-8")
    async with (
        running_app(create_app(settings)) as (base, _),
        agent_socket(base, settings, "agent-3") as agent,
    ):
        status, body = await reload(base, settings)
        await post_event(base, event_body("still", agent="agent-3"))
        card = (await agent.card_until_complete("still"))[-1]["card"]
    assert status == 400 and body["error"]["code"] == "bad_request"
    message = body["error"]["message"]
    assert message.startswith(f"{path}: connectors[0]") and "identiy" in message
    assert settings.agents.token_secret not in message
    assert card["sections"]["accounting"]["data"]["balance"] == 120.5
    assert card["sections"]["credit"]["status"] == "ok"


async def test_a_yaml_alias_loop_is_a_400_not_a_500(tmp_path: Path, store_url: str) -> None:
    """``connectors: &a [*a]`` answers 400 naming the alias; it was a RecursionError and a 500."""
    path = tmp_path / "screenpop.yaml"
    settings = write(path, base_config(store_url))
    path.write_text(path.read_text(encoding="utf-8") + "routing: &loop {unrouted: *loop}\n", encoding="utf-8")
    async with running_app(create_app(settings)) as (base, _):
        status, body = await reload(base, settings)
    assert (status, body["error"]["code"]) == (400, "bad_request"), body
    assert "the alias *loop is inside the node it names" in body["error"]["message"]


async def test_a_billion_laughs_is_a_400_and_the_running_config_stays(tmp_path: Path, store_url: str) -> None:
    """Nine levels of nine nested aliases under `card` answer 400 at once (387 million values expanded)."""
    path = tmp_path / "screenpop.yaml"
    settings = write(path, base_config(store_url))
    levels = ["x-l0: &l0 [a, b, c, d, e, f, g, h, i]"]
    levels += [f"x-l{n}: &l{n} [{', '.join([f'*l{n - 1}'] * 9)}]" for n in range(1, 9)]
    bomb = "\n".join([*levels, "card: {dispositions: *l8}", ""])
    path.write_text(path.read_text(encoding="utf-8") + bomb, encoding="utf-8")
    async with running_app(create_app(settings)) as (base, _):
        status, body = await reload(base, settings)
        after, _ = await api(base, "GET", "/api/admin/status", token_for(settings, "agent-3"))
    assert (status, body["error"]["code"], after) == (400, "bad_request", 200), body
    assert "aliases expand to" in body["error"]["message"]


async def test_lists_nested_900_deep_are_a_400_not_a_500(tmp_path: Path, store_url: str) -> None:
    """A file nesting lists 900 levels deep answers 400 naming the bound; PyYAML's recursion was a 500."""
    path = tmp_path / "screenpop.yaml"
    settings = write(path, base_config(store_url))
    path.write_text(path.read_text(encoding="utf-8") + f"x-deep: {'[' * 900}{']' * 900}\n", encoding="utf-8")
    async with running_app(create_app(settings)) as (base, _):
        status, body = await reload(base, settings)
    assert (status, body["error"]["code"]) == (400, "bad_request"), body
    assert "nest more than 100 levels deep" in body["error"]["message"]


async def test_a_change_that_needs_a_restart_is_refused_whole(tmp_path: Path, store_url: str) -> None:
    """A file that moves the store is refused with a sentence naming `store`; its other changes wait too."""
    path = tmp_path / "screenpop.yaml"
    settings = write(path, without_credit(store_url))
    moved = base_config(f"sqlite+aiosqlite:///{tmp_path}/elsewhere.db")
    async with (
        running_app(create_app(settings)) as (base, app),
        agent_socket(base, settings, "agent-3") as agent,
    ):
        write(path, moved)
        status, body = await reload(base, settings)
        await post_event(base, event_body("same", agent="agent-3"))
        card = (await agent.card_until_complete("same"))[-1]["card"]
        generation = app[app_keys.GENERATIONS].latest.number
    assert status == 400 and body["error"]["code"] == "bad_request"
    assert "store cannot change without a restart" in body["error"]["message"]
    assert set(card["sections"]) == {"accounting"} and generation == 1


async def test_reload_needs_an_admin_role(tmp_path: Path, store_url: str) -> None:
    """A tier1 token gets 403 forbidden and the file is not applied; no token gets 401."""
    path = tmp_path / "screenpop.yaml"
    settings = write(path, without_credit(store_url))
    async with running_app(create_app(settings)) as (base, app):
        write(path, base_config(store_url))
        tier1 = await reload(base, settings, "agent-1")
        anonymous = await api(base, "POST", "/api/admin/reload")
        names = list(app[app_keys.GENERATIONS].latest.connectors)
    assert tier1[0] == 403 and tier1[1]["error"]["code"] == "forbidden"
    assert anonymous[0] == 401 and anonymous[1]["error"]["code"] == "unauthorized"
    assert names == ["accounting"]


async def test_unchanged_connectors_are_kept_and_replaced_ones_closed(tmp_path: Path, store_url: str) -> None:
    """Same options keep the connector and its breaker; `credit` (new delay) is new, the old one closed."""
    path = tmp_path / "screenpop.yaml"
    settings = write(path, base_config(store_url))
    changed = base_config(store_url)
    changed["connectors"][1]["delay_ms"] = 5
    changed["roles"]["tier1"] = {"hide": []}  # not a connector: keeps both
    async with running_app(create_app(settings)) as (base, app):
        first = app[app_keys.GENERATIONS].latest
        write(path, changed)
        status, body = await reload(base, settings)
        second = app[app_keys.GENERATIONS].latest
        old_credit: Any = first.connectors["credit"]
        await wait_for(lambda: not old_credit.started, WITHIN_S, "the replaced credit connector closed")
        kept: Any = second.connectors["accounting"]
        still_started = kept.started
    assert status == 200 and body["connectors"]["changed"] == ["credit"]
    assert second.connectors["accounting"] is first.connectors["accounting"]
    assert second.engine.breakers["accounting"] is first.engine.breakers["accounting"]
    assert second.connectors["credit"] is not first.connectors["credit"]
    assert second.engine.breakers["credit"] is not first.engine.breakers["credit"]
    assert still_started


async def test_a_call_in_progress_finishes_on_the_config_it_started_with(
    tmp_path: Path, store_url: str
) -> None:
    """A card being built when `credit` is removed completes with credit's answer and badge; the connector
    is closed only after that card, and the next card has no credit."""
    path = tmp_path / "screenpop.yaml"
    config = base_config(store_url)
    config["connectors"][1]["delay_ms"] = 600
    config["card"] = {"deadline_ms": 3000}
    settings = write(path, config)
    after = copy.deepcopy(config)
    after["connectors"] = after["connectors"][:1]
    after["roles"] = {"tier1": {}, "supervisor": {}}
    async with (
        running_app(create_app(settings)) as (base, app),
        agent_socket(base, settings, "agent-3") as agent,
    ):
        credit: Any = app[app_keys.GENERATIONS].latest.connectors["credit"]
        await post_event(base, event_body("slow", agent="agent-3"))
        first = await agent.next()
        assert first["call_id"] == "slow" and first["card"]["sections"]["credit"]["status"] == "pending"
        write(path, after)
        status, _ = await reload(base, settings)
        open_during_the_call = credit.started
        slow = (await agent.card_until_complete("slow"))[-1]["card"]
        await wait_for(lambda: not credit.started, WITHIN_S, "the removed connector closed after the call")
        await post_event(base, event_body("next", agent="agent-3"))
        following = (await agent.card_until_complete("next"))[-1]["card"]
    assert status == 200 and open_during_the_call
    assert slow["sections"]["credit"]["status"] == "ok"
    assert slow["sections"]["credit"]["data"]["rating"] == "D"
    assert {"section": "credit", "text": "Credit hold", "level": "info"} in slow["badges"]
    assert set(following["sections"]) == {"accounting"}


async def test_an_agent_removed_from_the_directory_is_closed_4401(tmp_path: Path, store_url: str) -> None:
    """After a reload without agent-2, agent-2's open socket closes with 4401 and agent-1's stays and pops."""
    path = tmp_path / "screenpop.yaml"
    settings = write(path, base_config(store_url))
    smaller = base_config(store_url)
    smaller["agents"]["directory"] = [a for a in smaller["agents"]["directory"] if a["id"] != "agent-2"]
    async with (
        running_app(create_app(settings)) as (base, _),
        agent_socket(base, settings, "agent-1") as staying,
        agent_socket(base, settings, "agent-2") as leaving,
    ):
        write(path, smaller)
        status, body = await reload(base, settings)
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await leaving.next(WITHIN_S)
        await post_event(base, event_body("q", queue="support"))
        frames = await staying.card_until_complete("q")
    assert status == 200 and body["agents_disconnected"] == 1
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
    assert "no longer in the directory" in closed.value.rcvd.reason
    assert frames[-1]["complete"]


async def test_a_role_change_applies_to_the_next_card_and_a_token_role_still_outranks(
    tmp_path: Path, store_url: str
) -> None:
    """agent-1 moved to supervisor sees credit on the next card; agent-2, whose token says tier1, does not."""
    path = tmp_path / "screenpop.yaml"
    settings = write(path, base_config(store_url))
    promoted = everyone_promoted(store_url)
    async with (
        running_app(create_app(settings)) as (base, _),
        agent_socket(base, settings, "agent-1") as directory_role,
        agent_socket(base, settings, "agent-2", role="tier1") as token_role,
    ):
        await post_event(base, event_body("before", queue="support"))
        before = (await directory_role.card_until_complete("before"))[-1]["card"]
        await token_role.card_until_complete("before")
        write(path, promoted)
        status, _ = await reload(base, settings)
        await post_event(base, event_body("after", queue="support"))
        after = (await directory_role.card_until_complete("after"))[-1]["card"]
        pinned = (await token_role.card_until_complete("after"))[-1]["card"]
    assert status == 200
    assert "credit" not in before["sections"]
    assert after["sections"]["credit"]["data"]["rating"] == "D"
    assert "credit" not in pinned["sections"]


async def test_a_role_change_is_told_only_to_a_socket_whose_hello_asked(
    tmp_path: Path, store_url: str
) -> None:
    """agent-1 promoted by a reload: the widget's socket gets a `role` message, a SPEC 5 client none."""
    path = tmp_path / "screenpop.yaml"
    settings = write(path, base_config(store_url))
    promoted = everyone_promoted(store_url)
    async with (
        running_app(create_app(settings)) as (base, _),
        agent_socket(base, settings, "agent-1") as plain,
        agent_socket(base, settings, "agent-1", asks={"role_notices": True}) as widget,
    ):
        write(path, promoted)
        assert (await reload(base, settings))[0] == 200
        await post_event(base, event_body("after", agent="agent-1"))
        told = await widget.next(WITHIN_S)
        first = await plain.next(WITHIN_S)
    assert (told["type"], told["role"]) == ("role", "supervisor")
    assert (first["type"], first["call_id"]) == ("card", "after")


async def test_a_token_naming_a_removed_role_is_closed_4401(tmp_path: Path, store_url: str) -> None:
    """A socket whose token claims `tier1` is closed with 4401 once `tier1` is no longer defined."""
    path = tmp_path / "screenpop.yaml"
    settings = write(path, base_config(store_url))
    renamed = base_config(store_url)
    renamed["roles"] = {"agent": {"hide": ["credit"]}, "supervisor": {}}
    for entry in renamed["agents"]["directory"]:
        entry["role"] = "agent" if entry["role"] == "tier1" else entry["role"]
    async with (
        running_app(create_app(settings)) as (base, _),
        agent_socket(base, settings, "agent-1", role="tier1") as claimed,
        agent_socket(base, settings, "agent-2") as directory,
    ):
        write(path, renamed)
        status, body = await reload(base, settings)
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await claimed.next(WITHIN_S)
        await post_event(base, event_body("r", agent="agent-2"))
        card = (await directory.card_until_complete("r"))[-1]["card"]
    assert status == 200 and body["agents_disconnected"] == 1
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
    assert "credit" not in card["sections"]


async def test_two_reloads_in_a_row_apply_the_file_as_it_is_last(tmp_path: Path, store_url: str) -> None:
    """Two reloads in a row (credit out, then back with another row) give generation 3 and its data."""
    path = tmp_path / "screenpop.yaml"
    settings = write(path, base_config(store_url))
    again = base_config(store_url)
    again["connectors"][1]["rows"] = {BOB: {"credit_limit": 10, "rating": "A"}}
    async with (
        running_app(create_app(settings)) as (base, app),
        agent_socket(base, settings, "agent-3") as agent,
    ):
        write(path, without_credit(store_url))
        first = await reload(base, settings)
        write(path, again)
        second = await reload(base, settings)
        await post_event(base, event_body("bob", number=BOB, agent="agent-3"))
        card = (await agent.card_until_complete("bob"))[-1]["card"]
        await asyncio.wait_for(_all_retired(app), WITHIN_S)
    assert (first[0], second[0]) == (200, 200) and second[1]["generation"] == 3
    assert card["sections"]["credit"]["data"] == {"credit_limit": 10, "rating": "A"}
    assert card["caller"]["e164"] == BOB and ADA != BOB


async def _all_retired(app: Any) -> None:
    """Wait until only the latest generation is alive (the older ones' connectors closed)."""
    generations = app[app_keys.GENERATIONS]
    await wait_for(lambda: generations.alive == 1, WITHIN_S, "older generations retired")


async def test_a_kept_connector_keeps_its_cache_and_a_changed_one_starts_afresh(
    tmp_path: Path, store_url: str
) -> None:
    """With 60 s caches: after a reload changing credit's rows, accounting comes from the cache and credit
    answers with its new rows (never the old definition's cached section)."""
    path = tmp_path / "screenpop.yaml"
    config = base_config(store_url)
    for connector in config["connectors"]:
        connector["cache_ttl_s"] = 60
    settings = write(path, config)
    changed = copy.deepcopy(config)
    changed["connectors"][1]["rows"] = {ADA: {"credit_limit": 9000, "rating": "A"}}
    async with (
        running_app(create_app(settings)) as (base, _),
        agent_socket(base, settings, "agent-3") as agent,
    ):
        await post_event(base, event_body("fill", agent="agent-3"))
        filled = (await agent.card_until_complete("fill"))[-1]["card"]["sections"]
        write(path, changed)
        status, _ = await reload(base, settings)
        await post_event(base, event_body("read", agent="agent-3"))
        read = (await agent.card_until_complete("read"))[-1]["card"]["sections"]
    assert status == 200
    assert "cached" not in filled["accounting"] and "cached" not in filled["credit"]
    assert read["accounting"].get("cached") is True and read["accounting"]["data"]["balance"] == 120.5
    assert "cached" not in read["credit"] and read["credit"]["data"] == {"credit_limit": 9000, "rating": "A"}


async def test_a_reload_changes_the_sinks_a_note_goes_to_and_keeps_an_unchanged_one(
    tmp_path: Path, store_url: str
) -> None:
    """A sink added by a reload takes the next note; a removed one takes no more; an unchanged one is kept."""
    path = tmp_path / "screenpop.yaml"
    config = base_config(store_url)
    settings = write(path, config)
    token = token_for(settings, "agent-3")
    async with (
        sink_server() as first,
        sink_server() as second,
        running_app(create_app(settings)) as (base, app),
        agent_socket(base, settings, "agent-3") as agent,
    ):

        async def note(call_id: str) -> None:
            await post_event(base, event_body(call_id, agent="agent-3"))
            await agent.card_until_complete(call_id)
            status, body = await api(
                base,
                "POST",
                f"/api/calls/{call_id}/notes",
                token,
                json={"disposition": "ok", "notes": call_id},
            )
            assert status == 201, body

        await note("before-sinks")
        status, body = await reload(base, settings)
        assert status == 200, body  # an unchanged file: nothing added, and nothing waits for a sink
        write(path, {**config, "sinks": [http_sink("crm_a", first.url)]})
        assert (await reload(base, settings))[0] == 200
        kept = app[app_keys.SINKS].sinks["crm_a"]
        await note("with-a")
        await wait_for(lambda: "with-a:1" in first.taken, WITHIN_S, "the added sink took the next note")
        write(path, {**config, "sinks": [http_sink("crm_a", first.url), http_sink("crm_b", second.url)]})
        assert (await reload(base, settings))[0] == 200
        assert app[app_keys.SINKS].sinks["crm_a"] is kept  # unchanged: the same sink object
        await note("with-both")
        await wait_for(lambda: "with-both:1" in second.taken, WITHIN_S, "the second sink took the note")
        await wait_for(lambda: "with-both:1" in first.taken, WITHIN_S, "the kept sink took the note")
        write(path, {**config, "sinks": [http_sink("crm_b", second.url)]})
        assert (await reload(base, settings))[0] == 200
        await note("only-b")
        await wait_for(lambda: "only-b:1" in second.taken, WITHIN_S, "the remaining sink took the note")
        _, ready = await api(base, "GET", "/readyz")
    assert set(first.taken) == {
        "with-a:1",
        "with-both:1",
    }  # nothing saved before it was added or after it left
    assert set(second.taken) == {"with-both:1", "only-b:1"}
    assert ready["sinks"] == {"crm_b": "ok"}
