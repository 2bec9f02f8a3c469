"""Reload as IT does it on a running service: SIGHUP to `screenpop serve`, and reloads under load."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from screenpop.app import create_app
from screenpop.config import load_settings
from tests.support.ports import free_port
from tests.support.processes import agent_on, ring, service_config, services, stop, wait_ready
from tests.support.service import (
    ADA,
    SCRIPTED,
    Agent,
    agent_socket,
    api,
    base_config,
    event_body,
    post_event,
    running_app,
)
from tests.support.tokens import token_for
from tests.support.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]
WITHIN_S = 10.0  # a bound on waiting for an event, never an assertion about speed
CALLS_PER_S = 20
CALLS = 80  # four seconds at 20 calls/s
RELOAD_AT = (15, 30, 45, 60)  # after these calls were sent, a reload (alternating the two files)


def config_without_credit(store_url: str, port: int | None = None) -> dict[str, Any]:
    config = base_config(store_url)
    config["connectors"] = config["connectors"][:1]
    config["roles"] = {"tier1": {}, "supervisor": {}}
    if port is not None:
        config["server"] = {"port": port, "allowed_origins": ["http://agents.example"]}
    return config


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path, Path, subprocess.Popen[str]]]:
    """`screenpop serve` on a free port with a config without `credit`; its stderr goes to a file."""
    port = free_port()
    path = tmp_path / "screenpop.yaml"
    path.write_text(yaml.safe_dump(config_without_credit(f"sqlite+aiosqlite:///{tmp_path}/s.db", port)))
    log = tmp_path / "serve.log"
    with log.open("w") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "screenpop", "serve", "--config", str(path)],
            stdout=subprocess.DEVNULL,
            stderr=sink,
            text=True,
            cwd=ROOT,
            env=dict(os.environ),
        )
    try:
        wait_ready(port, process)
        yield f"http://127.0.0.1:{port}", path, log, process
    finally:
        stop(process)


async def test_sighup_reloads_serve_and_logs_one_line(
    served: tuple[str, Path, Path, subprocess.Popen[str]],
) -> None:
    """SIGHUP with a broken file logs the refusal and keeps serving; with a good one it adds `credit`,
    which the next card on an already-open socket carries."""
    base, path, log, process = served
    settings = load_settings(path)
    good = yaml.safe_load(path.read_text())
    broken = {**good, "routing": {"unrouted": "queue:support", "fallback": "nobody"}}
    async with agent_socket(base, settings, "agent-3") as agent:
        path.write_text(yaml.safe_dump(broken))
        process.send_signal(signal.SIGHUP)
        refused = await wait_for(lambda: _line(log, "reload refused"), WITHIN_S, "the refusal logged")
        good["connectors"] = base_config("unused")["connectors"]
        good["roles"] = base_config("unused")["roles"]
        path.write_text(yaml.safe_dump(good))
        process.send_signal(signal.SIGHUP)
        reloaded = await wait_for(lambda: _line(log, "config reloaded"), WITHIN_S, "the reload logged")
        status, _ = await post_event(base, event_body("hup", agent="agent-3"))
        card = (await agent.card_until_complete("hup"))[-1]["card"]
        _, ready = await api(base, "GET", "/readyz")
    assert f"{path}: routing" in refused and "fallback" in refused and "the running config stays" in refused
    assert "added credit" in reloaded and "kept 1" in reloaded
    assert status == 202 and card["sections"]["credit"]["data"]["rating"] == "D"
    assert set(ready["connectors"]) == {"accounting", "credit"}
    assert process.poll() is None


def _line(log: Path, text: str) -> str | None:
    return next((line for line in log.read_text().splitlines() if text in line), None)


def load_config(store_url: str, extra: bool) -> dict[str, Any]:
    """Two files reloads alternate between: the second adds a `crm` section and slows `accounting`."""
    config = base_config(store_url)
    config["connectors"][0]["delay_ms"] = 60
    config["card"] = {"deadline_ms": 3000}
    if extra:
        config["connectors"][0]["delay_ms"] = 90
        config["connectors"].append({"name": "crm", "kind": SCRIPTED, "delay_ms": 30, "rows": {}})
    return config


async def test_calls_at_20_per_second_through_reloads_pop_once_each_and_none_is_lost(tmp_path: Path) -> None:
    """80 queue calls at 20/s with four reloads among them: all 202, one version 1 and one complete card
    per agent and call, each card wholly of one of the two files, and one answered between reloads on its."""
    store_url = f"sqlite+aiosqlite:///{tmp_path}/store.db"
    path = tmp_path / "screenpop.yaml"
    files = [yaml.safe_dump(load_config(store_url, extra)) for extra in (False, True)]
    path.write_text(files[0])
    settings = load_settings(path)
    async with (
        running_app(create_app(settings)) as (base, _),
        agent_socket(base, settings, "agent-1") as one,
        agent_socket(base, settings, "agent-2") as two,
    ):
        readers = [asyncio.create_task(_read_cards(agent, CALLS)) for agent in (one, two)]
        sent, reloads, after_reload = await _send_calls(base, path, files, token_for(settings, "agent-3"))
        frames = await asyncio.gather(*readers)
    assert sent == [202] * CALLS
    assert reloads == [200] * len(RELOAD_AT)
    assert set(after_reload.values()) == {0, 1}  # both files had calls whose file is known
    expected = {f"load-{i}" for i in range(CALLS)}
    shapes = ({"accounting"}, {"accounting", "crm"})  # tier1 agents: credit is hidden
    for cards in frames:
        firsts = Counter(f["call_id"] for f in cards if f["version"] == 1)
        completes = {f["call_id"]: f for f in cards if f["complete"]}
        assert set(firsts) == expected and set(firsts.values()) == {1}, "every call pops exactly once"
        assert set(completes) == expected and sum(f["complete"] for f in cards) == CALLS
        for call_id, frame in completes.items():
            sections = set(frame["card"]["sections"])
            assert sections in shapes, (call_id, sections)
            if call_id in after_reload:
                assert sections == shapes[after_reload[call_id]], (call_id, sections)


async def _send_calls(
    base: str, path: Path, files: list[str], admin: str
) -> tuple[list[int], list[int], dict[str, int]]:
    """Post the calls at 20/s (each without waiting for the others), reloading after the RELOAD_AT-th ones.

    Returns the webhook statuses, the reload statuses, and for each call sent
    after a reload had answered (and before the next began) which file it must
    have been built on.
    """
    posts: list[asyncio.Task[tuple[int, Any]]] = []
    reloads: list[int] = []
    after: dict[str, int] = {}
    window: dict[str, asyncio.Task[tuple[int, Any]]] = {}  # sent since the last reload answered
    current = 0
    for i in range(CALLS):
        call_id = f"load-{i}"
        posts.append(asyncio.create_task(post_event(base, event_body(call_id, queue="support"))))
        window[call_id] = posts[-1]
        if i in RELOAD_AT:
            # a call answered 202 before this reload began was accepted (and pinned) on the current file
            after.update({c: current for c, task in window.items() if task.done()})
            window = {}
            current = (RELOAD_AT.index(i) + 1) % 2
            await asyncio.to_thread(path.write_text, files[current])
            reloads.append((await api(base, "POST", "/api/admin/reload", admin))[0])
        await asyncio.sleep(1 / CALLS_PER_S)  # allow-sleep: pacing the load at 20 calls/s
    after.update(dict.fromkeys(window, current))  # no reload came after these
    return [status for status, _ in await asyncio.gather(*posts)], reloads, after


async def _read_cards(agent: Agent, calls: int) -> list[dict[str, Any]]:
    """Every card frame this agent gets until it has `calls` complete cards (bounded: WITHIN_S of silence)."""
    cards: list[dict[str, Any]] = []
    complete = 0
    while complete < calls:
        frame = await agent.next(WITHIN_S)
        if frame.get("type") == "card":
            cards.append(frame)
            complete += bool(frame["complete"])
    return cards


async def test_a_reload_through_one_instance_reloads_every_instance_from_its_own_file(
    tmp_path: Path, redis_url: str, pg_url: str
) -> None:
    """Two `serve` processes on one Redis: the API on A reloads A, and B re-reads its own file (a card rung
    on B carries B's new `crm` connector); B logs its outcome in one line."""
    before = [base_config("unused")["connectors"][0]]
    crm = {"name": "crm", "kind": SCRIPTED, "rows": {ADA: {"tier": "gold"}}}
    config = service_config(pg_url, redis_url, connectors=before)
    async with services(tmp_path, a=config, b=config) as started:
        a, b = started["a"], started["b"]
        for service in (a, b):  # each instance has its own file (as on separate hosts)
            _add_connector(Path(service.settings.source), crm)
        admin = token_for(a.settings, "agent-1", role="supervisor")
        status, body = await api(a.base, "POST", "/api/admin/reload", admin)

        async def b_has_crm() -> bool:
            _, ready = await b.get("/readyz")
            return "crm" in ready["connectors"]

        await wait_for(b_has_crm, WITHIN_S, "instance B reloaded its own file")
        async with agent_on(b, "agent-2") as on_b:
            assert (await ring(b, "everywhere", agent="agent-2"))[0] == 202
            card = (await on_b.card_until_complete("everywhere"))[-1]["card"]
    assert status == 200 and body["connectors"]["added"] == ["crm"]
    assert card["sections"]["crm"]["data"] == {"tier": "gold"}
    assert "config reloaded from" in b.log_tail(200) and "added crm" in b.log_tail(200)


def _add_connector(path: Path, connector: dict[str, Any]) -> None:
    written = yaml.safe_load(path.read_text())
    written["connectors"] = [*written["connectors"], connector]
    path.write_text(yaml.safe_dump(written))
