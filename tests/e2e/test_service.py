"""End to end over loopback: signed webhooks in, cards out on real agent websockets."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import websockets

from screenpop import hub
from tests.support.service import ADA, agent_socket, api, event_body, make, post_event, running
from tests.support.signers import sign
from tests.support.tokens import token_for
from tests.support.waiting import wait_for

WITHIN_S = 5.0  # a bound on waiting for an event, never an assertion about speed


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path}/store.db"


async def test_ringing_pops_card_with_rising_versions(store_url: str) -> None:
    """A signed ringing webhook gives the routed agent card frames with rising versions, the last complete."""
    settings = make(store_url)
    async with running(settings) as base, agent_socket(base, settings, "agent-1") as agent:
        status, body = await post_event(base, event_body("c-1", agent="agent-1", caller_name="ADA L"))
        assert (status, body) == (202, {"call_id": "c-1", "status": "accepted"})
        frames = await agent.card_until_complete("c-1")
    versions = [f["version"] for f in frames]
    assert versions == sorted(set(versions)) and versions[0] == 1 and len(frames) >= 2
    first, last = frames[0]["card"], frames[-1]["card"]
    assert first["caller"]["e164"] == ADA and first["caller"]["name"] == "ADA L"
    assert first["sections"]["accounting"]["status"] == "pending"
    assert last["sections"]["accounting"]["data"]["balance"] == 120.5
    assert last["customer"]["name"] == "Ada Lovelace" and last["customer"]["ids"] == {"accounting": "A-1001"}
    assert last["badges"] == [{"section": "accounting", "text": "Owes", "level": "warn"}]
    assert all(f["event_id"] for f in frames)


async def test_queue_call_reaches_members_only(store_url: str) -> None:
    """A queue call pops for every member of the queue and for no one else."""
    settings = make(store_url)
    async with (
        running(settings) as base,
        agent_socket(base, settings, "agent-1") as one,
        agent_socket(base, settings, "agent-2") as two,
        agent_socket(base, settings, "agent-3") as other,
    ):
        await post_event(base, event_body("c-q", queue="support"))
        assert (await one.card_until_complete("c-q"))[-1]["complete"]
        assert (await two.card_until_complete("c-q"))[-1]["complete"]
        assert await other.silent_for(0.3)


async def test_unrouted_call_follows_routing_unrouted(store_url: str) -> None:
    """A call naming no agent or queue rings routing.unrouted (queue:support by default)."""
    settings = make(store_url)
    async with running(settings) as base, agent_socket(base, settings, "agent-2") as two:
        await post_event(base, event_body("c-u"))
        assert (await two.card_until_complete("c-u"))[-1]["card"]["queue"] is None


async def test_answered_withdraws_card_from_others(store_url: str) -> None:
    """`answered` tells every agent who got the card who took it."""
    settings = make(store_url)
    async with (
        running(settings) as base,
        agent_socket(base, settings, "agent-1") as one,
        agent_socket(base, settings, "agent-2") as two,
    ):
        await post_event(base, event_body("c-a", queue="support"))
        await one.card_until_complete("c-a")
        await two.card_until_complete("c-a")
        await post_event(base, event_body("c-a", "answered", agent="agent-2"))
        for agent in (one, two):
            frame = await agent.next()
            assert frame["type"] == "call"
            assert (frame["call_id"], frame["status"], frame["agent"]) == ("c-a", "answered", "agent-2")


async def test_hidden_section_never_reaches_the_role(store_url: str) -> None:
    """A tier1 agent's raw frames never carry the credit section's name, data, badge or identity."""
    settings = make(store_url)
    async with (
        running(settings) as base,
        agent_socket(base, settings, "agent-1") as tier1,
        agent_socket(base, settings, "agent-3") as sup,
    ):
        await post_event(base, event_body("c-h", queue="support"))
        await post_event(base, event_body("c-h2", agent="agent-3"))
        await tier1.card_until_complete("c-h")
        sup_frames = await sup.card_until_complete("c-h2")
    for text in tier1.raw:
        assert "credit" not in text.lower() and "5000" not in text and "Credit hold" not in text
    assert "credit" not in json.dumps(tier1.welcome)
    assert sup_frames[-1]["card"]["sections"]["credit"]["data"]["credit_limit"] == 5000


async def test_retried_webhook_pops_nothing_new(store_url: str) -> None:
    """The same event sent again (a new signature time) is answered 202 and pops nothing."""
    settings = make(store_url)
    async with running(settings) as base, agent_socket(base, settings, "agent-1") as agent:
        body = event_body("c-r", agent="agent-1")
        await post_event(base, body)
        await agent.card_until_complete("c-r")
        status, reply = await post_event(base, body, sign(body, at=int(__import__("time").time()) - 5))
        assert (status, reply["status"]) == (202, "accepted")
        assert await agent.silent_for(0.4)


async def test_answered_before_ringing_pops_nothing(store_url: str) -> None:
    """An `answered` before its `ringing` leaves the call answered; the late ringing pops nothing."""
    settings = make(store_url)
    async with running(settings) as base, agent_socket(base, settings, "agent-1") as agent:
        await post_event(base, event_body("c-o", "answered", agent="agent-1"))
        assert (await agent.next())["status"] == "answered"
        await post_event(base, event_body("c-o", agent="agent-1"))
        assert await agent.silent_for(0.4)


async def _cards_completed(base: str, count: int) -> bool:
    """Has /metrics counted ``count`` complete cards (the card is finished and published)?"""
    _, metrics = await api(base, "GET", "/metrics")
    return f"screenpop_card_complete_seconds_count {float(count)}" in str(metrics)


async def _calls_listed(base: str, token: str, count: int) -> bool:
    """Does /api/calls list ``count`` calls yet (the store is written behind the pop)?"""
    status, body = await api(base, "GET", "/api/calls", token)
    return status == 200 and len(body["calls"]) == count


async def test_resume_replays_missed_card_once(store_url: str) -> None:
    """After a disconnect, hello with resume_from sends the card published meanwhile, once."""
    settings = make(store_url)
    async with running(settings) as base:
        async with agent_socket(base, settings, "agent-1") as agent:
            position = agent.welcome["event_id"]
        await post_event(base, event_body("c-m", agent="agent-1"))
        await wait_for(lambda: _cards_completed(base, 1), WITHIN_S, "the missed card completed")
        async with agent_socket(base, settings, "agent-1", resume_from=position) as back:
            assert back.welcome["recovered"] is True
            frames = await back.card_until_complete("c-m")
            assert await back.silent_for(0.3)
    ids = [f["event_id"] for f in frames]
    assert len(ids) == len(set(ids)) and frames[0]["version"] == 1


async def test_unknown_resume_id_says_not_recovered(store_url: str) -> None:
    """A resume_from the server cannot place gives recovered: false."""
    settings = make(store_url)
    async with (
        running(settings) as base,
        agent_socket(base, settings, "agent-1", resume_from="12-0") as agent,
    ):
        assert agent.welcome["recovered"] is False


@pytest.mark.parametrize(
    ("headers", "body", "signature", "status", "code"),
    [
        ({}, b"{not json", None, 400, "bad_request"),
        ({}, event_body("x"), "t=1,v1=00", 401, "bad_signature"),
        ({}, event_body("x"), sign(event_body("x"), at=1_000_000_000), 401, "bad_signature"),
        ({}, event_body("x"), sign(event_body("x"), secret="wrong"), 401, "bad_signature"),
        ({"Content-Type": "text/plain"}, event_body("x"), None, 415, "unsupported_media_type"),
        ({}, b'{"event": "ringing"}', None, 400, "bad_request"),
        ({}, b'{"call_id": "x"}', None, 400, "bad_request"),
        ({}, event_body("x", caller_name="A" * 70000), None, 413, "too_large"),
    ],
)
async def test_bad_webhooks_get_their_code_and_no_card(
    store_url: str, headers: dict[str, str], body: bytes, signature: str | None, status: int, code: str
) -> None:
    """Every malformed, unsigned or oversized webhook is refused with its code, and no card pops."""
    settings = make(store_url)
    async with running(settings) as base, agent_socket(base, settings, "agent-2") as agent:
        got, reply = await post_event(base, body, signature, **headers)
        assert got == status
        assert reply["error"]["code"] == code and reply["error"]["message"]
        assert await agent.silent_for(0.2)


async def test_missing_field_is_named(store_url: str) -> None:
    """A body without call_id is a 400 whose message names the field."""
    async with running(make(store_url)) as base:
        _, reply = await post_event(base, b'{"event": "ringing"}')
    assert "call_id" in reply["error"]["message"]


async def test_unknown_provider_is_404(store_url: str) -> None:
    """A webhook to a provider that is not configured is 404 not_found in the JSON error shape."""
    async with running(make(store_url)) as base:
        status, reply = await api(base, "POST", "/webhooks/nope", data=b"{}")
    assert (status, reply["error"]["code"]) == (404, "not_found")


async def test_foreign_origin_is_closed_4403(store_url: str) -> None:
    """A browser from an origin not in allowed_origins is closed with 4403 before any data."""
    async with running(make(store_url)) as base:
        url = base.replace("http", "ws") + "/ws"
        async with websockets.connect(url, origin="http://evil.example") as ws:  # type: ignore[arg-type]
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 3)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403


async def test_origin_written_with_a_trailing_slash_lets_the_browser_in(store_url: str) -> None:
    """`allowed_origins: ["http://agents.example/"]` admits the page whose browser sends `http://agents.example`."""
    settings = make(store_url, server={"allowed_origins": ["http://agents.example/"]})
    async with running(settings) as base, agent_socket(base, settings, "agent-1") as agent:
        assert agent.welcome["agent"] == "agent-1"


@pytest.mark.parametrize(
    ("hello", "code"),
    [
        ({"type": "hello", "token": "nonsense"}, 4401),
        ({"type": "hello"}, 4401),
        ({"type": "ping"}, 4400),
        ("not json", 4400),
    ],
)
async def test_bad_hello_closes_with_code(store_url: str, hello: object, code: int) -> None:
    """A bad token closes with 4401 and a first frame that is not a hello with 4400."""
    async with running(make(store_url)) as base, websockets.connect(base.replace("http", "ws") + "/ws") as ws:
        await ws.send(hello if isinstance(hello, str) else json.dumps(hello))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 3)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == code


async def test_expired_token_is_4401(store_url: str) -> None:
    """A token past its exp is refused with 4401."""
    settings = make(store_url)
    async with running(settings) as base, websockets.connect(base.replace("http", "ws") + "/ws") as ws:
        await ws.send(
            json.dumps({"type": "hello", "token": token_for(settings, "agent-1", expires_in_s=-60)})
        )
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 3)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


async def test_silent_client_is_closed_4408(store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A client that says nothing within the hello window is closed with 4408."""
    monkeypatch.setattr(hub.hub, "HELLO_TIMEOUT_S", 0.2)  # where the Hub reads it
    async with running(make(store_url)) as base, websockets.connect(base.replace("http", "ws") + "/ws") as ws:
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 3)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4408


async def test_ping_is_answered(store_url: str) -> None:
    """A ping frame after welcome is answered with pong."""
    settings = make(store_url)
    async with running(settings) as base, agent_socket(base, settings, "agent-1") as agent:
        await agent.ws.send('{"type": "ping"}')
        assert await agent.next() == {"type": "pong"}


async def test_note_appears_in_next_cards_history(store_url: str) -> None:
    """A disposition and notes saved on a call show in the history of the next card from that number."""
    settings = make(store_url)
    token = token_for(settings, "agent-1")
    async with running(settings) as base, agent_socket(base, settings, "agent-1") as agent:
        await post_event(base, event_body("c-n1", agent="agent-1"))
        await agent.card_until_complete("c-n1")
        status, saved = await api(
            base,
            "POST",
            "/api/calls/c-n1/notes",
            token,
            json={"disposition": "resolved", "notes": "refund sent"},
        )
        assert status == 201, saved
        await post_event(base, event_body("c-n2", agent="agent-1"))
        final = (await agent.card_until_complete("c-n2"))[-1]["card"]
    assert final["history"][0]["call_id"] == "c-n1"
    assert (final["history"][0]["disposition"], final["history"][0]["notes"]) == ("resolved", "refund sent")


async def test_notes_api_refuses_bad_input(store_url: str) -> None:
    """Notes without a token, on an unknown call, or with a bad body get their error codes."""
    settings = make(store_url)
    token = token_for(settings, "agent-1")
    async with running(settings) as base:
        assert (await api(base, "POST", "/api/calls/x/notes", json={"notes": "n"}))[0] == 401
        assert (await api(base, "POST", "/api/calls/nope/notes", token, json={"notes": "n"}))[0] == 404
        assert (
            await api(
                base,
                "POST",
                "/api/calls/x/notes",
                token,
                data=b"[1]",
                headers={"Content-Type": "application/json"},
            )
        )[0] == 400
        too_long = {"disposition": "x" * 65}
        status, reply = await api(base, "POST", "/api/calls/x/notes", token, json=too_long)
        assert (status, reply["error"]["code"]) == (400, "bad_request")
        status, reply = await api(base, "POST", "/api/calls/x/notes", token, json={"disposition": 5})
        assert (status, reply["error"]["code"]) == (400, "bad_request")


async def test_calls_api_lists_the_agents_calls(store_url: str) -> None:
    """GET /api/calls lists the calls the agent received, newest first, with a summary."""
    settings = make(store_url)
    async with running(settings) as base, agent_socket(base, settings, "agent-1") as agent:
        for call_id in ("c-l1", "c-l2"):
            await post_event(base, event_body(call_id, agent="agent-1"))
            await agent.card_until_complete(call_id)
        token = token_for(settings, "agent-1")
        await wait_for(lambda: _calls_listed(base, token, 2), WITHIN_S, "both calls stored")
        status, body = await api(base, "GET", "/api/calls?limit=5", token)
        other = await api(base, "GET", "/api/calls", token_for(settings, "agent-2"))
        bad = await api(base, "GET", "/api/calls?limit=abc", token_for(settings, "agent-1"))
    assert status == 200
    assert [c["call_id"] for c in body["calls"]] == ["c-l2", "c-l1"]
    assert other[1]["calls"] == []
    assert bad[0] == 400


async def test_lookup_api_is_for_supervisors(store_url: str) -> None:
    """/api/lookup gives a supervisor the card as JSON and refuses other roles and non-numbers."""
    settings = make(store_url)
    async with running(settings) as base:
        sup = token_for(settings, "agent-3")
        status, card = await api(base, "GET", "/api/lookup?number=(415) 555-0132", sup)
        refused = await api(base, "GET", "/api/lookup?number=4155550132", token_for(settings, "agent-1"))
        invalid = await api(base, "GET", "/api/lookup?number=anonymous", sup)
    assert status == 200 and card["sections"]["credit"]["data"]["rating"] == "D"
    assert refused[0] == 403 and invalid[0] == 422


async def test_health_ready_metrics_openapi(store_url: str) -> None:
    """healthz, readyz (with circuit states), metrics and an OpenAPI document that covers every route."""
    settings = make(store_url)
    async with running(settings) as base:
        await post_event(base, event_body("c-x", agent="agent-1"))
        await wait_for(lambda: _cards_completed(base, 1), WITHIN_S, "the card completed")
        assert (await api(base, "GET", "/healthz"))[0] == 200
        status, ready = await api(base, "GET", "/readyz")
        _, metrics = await api(base, "GET", "/metrics")
        _, document = await api(base, "GET", "/openapi.json")
    assert status == 200
    assert ready == {
        "store": "ok",
        "broker": "ok",
        "connectors": {"accounting": "closed", "credit": "closed"},
        "connector_health": {"accounting": "ok", "credit": "ok"},
    }
    assert 'screenpop_webhooks_total{outcome="accepted",provider="pbx"} 1.0' in metrics
    assert "screenpop_card_complete_seconds_count 1.0" in metrics
    assert "screenpop_connector_seconds_count" in metrics
    from screenpop.app import create_app

    routes = {r.resource.canonical for r in create_app(settings).router.routes() if r.resource is not None}
    assert routes <= set(document["paths"]), routes - set(document["paths"])


async def test_api_cors_for_allowed_origins_only(store_url: str) -> None:
    """A page on an allowed origin may call /api (preflight and answer); another origin gets no CORS grant."""
    settings = make(store_url)
    token = token_for(settings, "agent-1")
    async with running(settings) as base:
        pre, _ = await api(
            base,
            "OPTIONS",
            "/api/calls",
            headers={"Origin": "http://agents.example", "Access-Control-Request-Method": "GET"},
        )
        import aiohttp

        async with aiohttp.ClientSession() as session:
            async with session.get(
                f"{base}/api/calls",
                headers={"Origin": "http://agents.example", "Authorization": f"Bearer {token}"},
            ) as ok:
                granted = ok.headers.get("Access-Control-Allow-Origin")
            async with session.get(
                f"{base}/api/calls",
                headers={"Origin": "http://evil.example", "Authorization": f"Bearer {token}"},
            ) as other:
                refused = other.headers.get("Access-Control-Allow-Origin")
    assert pre == 204
    assert granted == "http://agents.example"
    assert refused is None
