"""What each socket receives follows that socket's token, and the audit records what reached a socket.

Through the real service on loopback: real websockets, tokens minted with
PyJWT as a host application mints them, the store read back after the
service has stopped (which writes every queued audit row).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import jwt
import pytest
import websockets
import yaml
from aiohttp import web

from screenpop.app import create_app
from screenpop.broker import CardViews, Message, View
from screenpop.card import role_views
from screenpop.config import Settings, settings_from_mapping
from screenpop.store import Store
from screenpop.web import app_keys
from tests.support.service import (
    ADA,
    SCRIPTED,
    SECRET,
    Agent,
    api,
    base_config,
    event_body,
    make,
    post_event,
    running,
)
from tests.support.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path}/store.db"


def host_token(agent_id: str, role: str | None = None) -> str:
    """An agent token as the host application mints it (PyJWT, HS256), with an optional role claim."""
    claims: dict[str, Any] = {"sub": agent_id, "exp": int(time.time()) + 3600}
    if role is not None:
        claims["role"] = role
    return jwt.encode(claims, SECRET, algorithm="HS256")


@contextlib.asynccontextmanager
async def tab(base: str, token: str, resume_from: str | None = None) -> AsyncIterator[Agent]:
    """One browser tab: a websocket past its welcome, holding ``token``."""
    url = base.replace("http://", "ws://") + "/ws"
    async with websockets.connect(url, origin="http://agents.example") as ws:  # type: ignore[arg-type]
        agent = Agent(ws)
        hello: dict[str, Any] = {"type": "hello", "token": token}
        if resume_from:
            hello["resume_from"] = resume_from
        await ws.send(json.dumps(hello))
        agent.welcome = await agent.next()
        assert agent.welcome["type"] == "welcome", agent.welcome
        yield agent


def agent_in(line: str) -> str:
    found = re.search(r"\bagent-\d\b", line)
    assert found, line
    return found.group()


def shows_credit(text: str) -> bool:
    return "credit" in text.lower() or "5000" in text or "Credit hold" in text


def with_data(frame: dict[str, Any]) -> list[str]:
    """The sections of a card frame that carry data."""
    return sorted(name for name, section in frame["card"]["sections"].items() if "data" in section)


async def test_role_claim_decides_what_a_supervisor_token_claiming_tier1_gets(store_url: str) -> None:
    """A supervisor's token with role tier1 gets no credit section, data or badge, live or replayed."""
    settings = make(store_url)
    token = host_token("agent-3", role="tier1")
    async with running(settings) as base:
        async with tab(base, token) as live:
            assert live.welcome["role"] == "tier1"
            await post_event(base, event_body("c-claim", agent="agent-3"))
            frames = await live.card_until_complete("c-claim")
        async with tab(base, token, resume_from=live.welcome["event_id"]) as again:
            assert again.welcome["recovered"] is True
            replayed = await again.card_until_complete("c-claim")
    assert [f["version"] for f in replayed] == [f["version"] for f in frames]
    assert frames[-1]["card"]["sections"]["accounting"]["data"]["balance"] == 120.5
    assert frames[-1]["card"]["badges"] == [{"section": "accounting", "text": "Owes", "level": "warn"}]
    leaks = [text for text in live.raw + again.raw if shows_credit(text)]
    assert leaks == []


async def test_two_tabs_of_one_agent_with_different_role_tokens_each_get_their_own_view(
    store_url: str,
) -> None:
    """Two tabs of one supervisor, one token claiming tier1: same messages, credit only in the other tab."""
    settings = make(store_url)
    async with (
        running(settings) as base,
        tab(base, host_token("agent-3", role="tier1")) as narrow,
        tab(base, host_token("agent-3")) as full,
        tab(base, host_token("agent-1", role="supervisor")) as lifted,
    ):
        assert (narrow.welcome["role"], full.welcome["role"]) == ("tier1", "supervisor")
        await post_event(base, event_body("c-tabs", agent="agent-3"))
        await post_event(base, event_body("c-lift", agent="agent-1"))
        narrow_frames = await narrow.card_until_complete("c-tabs")
        full_frames = await full.card_until_complete("c-tabs")
        lifted_frames = await lifted.card_until_complete("c-lift")
    assert [f["event_id"] for f in narrow_frames] == [f["event_id"] for f in full_frames]
    assert not any(shows_credit(text) for text in narrow.raw)
    for frames in (full_frames, lifted_frames):
        card = frames[-1]["card"]
        assert card["sections"]["credit"]["data"]["credit_limit"] == 5000
        assert {"section": "credit", "text": "Credit hold", "level": "info"} in card["badges"]


def audit_config(store_url: str) -> dict[str, Any]:
    """``base_config`` plus a connector that fails and one that times out: sections with no data."""
    config = base_config(store_url)
    config["connectors"] += [
        {"name": "crm", "kind": SCRIPTED, "fail": "crm is down"},
        {"name": "slow", "kind": SCRIPTED, "delay_ms": 5000, "timeout_ms": 100},
    ]
    return config


async def card_rows(store_url: str) -> dict[tuple[str, str, int], list[str]]:
    """The audit's card rows as {(agent, call, version): sorted sections}, each key seen once."""
    store = await Store.open(store_url)
    try:
        rows = [r for r in await store.audit_rows(1000) if r["action"] == "card"]
    finally:
        await store.close()
    found = {(r["agent_id"], r["call_id"], r["version"]): sorted(r["sections"]) for r in rows}
    assert len(found) == len(rows), "a card version was audited twice for one agent"
    return found


async def test_audit_records_what_reached_a_socket_with_the_sections_it_carried(
    store_url: str, tmp_path: Path
) -> None:
    """No audit row for an agent without a socket; each frame a socket got is one row naming its data."""
    config = audit_config(store_url)
    settings = settings_from_mapping(config, source="<test>", environ={})
    async with (
        running(settings) as base,
        tab(base, host_token("agent-1")) as tier1,
        tab(base, host_token("agent-3")) as sup,
    ):
        await post_event(base, event_body("c-queue", queue="support"))  # agent-1 and agent-2 (no socket)
        await post_event(base, event_body("c-sup", agent="agent-3"))
        tier1_frames = await tier1.card_until_complete("c-queue")
        sup_frames = await sup.card_until_complete("c-sup")
    final = sup_frames[-1]["card"]["sections"]
    assert (final["crm"]["status"], final["slow"]["status"]) == ("error", "timeout")
    rows = await card_rows(store_url)
    expected = {("agent-1", f["call_id"], f["version"]): with_data(f) for f in tier1_frames}
    expected |= {("agent-3", f["call_id"], f["version"]): with_data(f) for f in sup_frames}
    assert rows == expected
    assert expected[("agent-3", "c-sup", sup_frames[-1]["version"])] == ["accounting", "credit"]
    assert expected[("agent-1", "c-queue", tier1_frames[-1]["version"])] == ["accounting"]

    path = tmp_path / "screenpop.yaml"
    path.write_text(yaml.safe_dump(config))
    shown = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "screenpop", "audit", "--number", ADA, "--config", str(path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert shown.returncode == 0, shown.stderr
    lines = {agent_in(line): line for line in shown.stdout.splitlines() if " card " in line}
    assert set(lines) == {"agent-1", "agent-3"}
    assert lines["agent-1"].rstrip().endswith("accounting")
    assert lines["agent-3"].rstrip().endswith("accounting, credit")


@contextlib.asynccontextmanager
async def running_app(settings: Settings) -> AsyncIterator[tuple[str, web.Application]]:
    """The real application on a free loopback port, and the application itself."""
    app = create_app(settings)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}", app
    finally:
        await runner.cleanup()


async def out_of_order_count(base: str) -> float | None:
    _, text = await api(base, "GET", "/metrics")
    for line in str(text).splitlines():
        if line.startswith("screenpop_frames_out_of_order_total "):
            return float(line.split()[1])
    return None


async def test_a_message_older_than_one_sent_is_counted_not_sent_silently(store_url: str) -> None:
    """A message reaching the hub after a later one of that agent is not sent and is counted in /metrics."""
    settings = make(store_url)
    async with running_app(settings) as (base, app), tab(base, host_token("agent-1")) as agent:
        assert await out_of_order_count(base) == 0
        await post_event(base, event_body("c-late", agent="agent-1"))
        last = (await agent.card_until_complete("c-late"))[-1]["event_id"]
        ms, _, seq = last.partition("-")
        older = f"{int(ms) - 1}-0"
        hub = app[app_keys.HUB]
        hub.on_frame(Message("agent-1", older, '{"type":"call","call_id":"c-late","status":"ended"}'))
        newer = f"{int(ms)}-{int(seq) + 1}"
        hub.on_frame(Message("agent-1", newer, '{"type":"call","call_id":"c-late","status":"missed"}'))
        frame = await agent.next()
        assert (frame["event_id"], frame["status"]) == (newer, "missed")
        assert await wait_for(lambda: _count_is(base, 1), 3, "the out-of-order counter at 1")


async def test_an_older_card_of_another_call_is_sent_late_but_never_twice(store_url: str) -> None:
    """A card older than one sent (another instance's outage outbox) still pops; its repeat does not."""
    settings = make(store_url)
    async with running_app(settings) as (base, app), tab(base, host_token("agent-1")) as agent:
        await post_event(base, event_body("c-now", agent="agent-1"))
        last = (await agent.card_until_complete("c-now"))[-1]["event_id"]
        older = f"{int(last.partition('-')[0]) - 1}-0"
        frame = {
            "type": "card",
            "call_id": "c-then",
            "version": 1,
            "complete": True,
            "card": {"call_id": "c-then"},
        }
        views = tuple(View(hidden, json.dumps(frame), ()) for hidden in role_views(settings))
        late = Message("agent-1", older, card=CardViews("c-then", 1, views, "pbx"))
        hub = app[app_keys.HUB]
        hub.on_frame(late)
        got = await agent.next()
        assert (got["call_id"], got["version"], got["event_id"]) == ("c-then", 1, older)
        hub.on_frame(late)
        assert await agent.silent_for(0.3)
        assert await wait_for(lambda: _count_is(base, 1), 3, "the repeat counted as out of order")


async def _count_is(base: str, value: float) -> bool:
    return await out_of_order_count(base) == value
