"""``/api/admin/status`` and ``/api/admin/deliveries`` on the real service, and who may read them.

The service runs in-process on loopback (``tests/support/service.py``) with
real SQLite stores; webhooks are signed as the phone system signs them, and
tokens are minted as a host application mints them (PyJWT).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import jwt
import pytest

from screenpop.config import Settings, settings_from_mapping
from screenpop.web import handlers
from tests.support.service import (
    ADA,
    SECRET,
    WEBHOOK_SECRET,
    agent_socket,
    api,
    base_config,
    event_body,
    post_event,
    running,
)
from tests.support.signers import sign
from tests.support.tokens import token_for
from tests.support.waiting import wait_for

ADMIN_PATHS = ["/api/admin/status", "/api/admin/deliveries"]
OTHER = "+14155550177"
NOTE_TEXT = "promised a refund on the blue kettle"


def _settings(store_url: str, **roles: dict[str, Any]) -> Settings:
    config = base_config(store_url)
    config["agents"]["directory"].append({"id": "it-1", "role": "it", "queues": []})
    config["roles"] = {**config["roles"], "it": {"admin": True}, **roles}
    return settings_from_mapping(config, source="<test>", environ={})


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"


async def test_admin_endpoints_answer_admin_roles_only(store_url: str) -> None:
    """401 without a token, 403 for tier1, 200 for `admin: true` and for the supervisor role by default."""
    settings = _settings(store_url)
    tier1, sup, it = (token_for(settings, a) for a in ("agent-1", "agent-3", "it-1"))
    async with running(settings) as base:
        for path in ADMIN_PATHS:
            status, body = await api(base, "GET", path)
            assert (status, body["error"]["code"]) == (401, "unauthorized"), path
            status, body = await api(base, "GET", path, tier1)
            assert (status, body["error"]["code"]) == (403, "forbidden"), path
            assert (await api(base, "GET", path, sup))[0] == 200, path
            assert (await api(base, "GET", path, it))[0] == 200, path
        # the it role has admin but not lookup; a token's role claim decides, as on the socket
        status, body = await api(base, "GET", f"/api/lookup?number={ADA}", it)
        assert (status, body["error"]["code"]) == (403, "forbidden")
        as_tier1 = token_for(settings, "it-1", role="tier1")
        assert (await api(base, "GET", "/api/admin/status", as_tier1))[0] == 403


async def test_supervisor_entry_can_withdraw_admin_and_keep_lookup(store_url: str) -> None:
    """`supervisor: {admin: false}` loses the admin endpoints, keeps lookups; `lookup: true` grants them."""
    settings = _settings(store_url, supervisor={"admin": False}, tier1={"hide": ["credit"], "lookup": True})
    sup, tier1 = token_for(settings, "agent-3"), token_for(settings, "agent-1")
    async with running(settings) as base:
        assert (await api(base, "GET", "/api/admin/status", sup))[0] == 403
        assert (await api(base, "GET", f"/api/lookup?number={ADA}", sup))[0] == 200
        status, card = await api(base, "GET", f"/api/lookup?number={ADA}", tier1)
    assert status == 200 and "credit" not in card["sections"]


async def test_status_counts_connector_calls_and_provider_outcomes_with_reasons(store_url: str) -> None:
    """Calls and latencies per connector; accepted and refused per provider with the failed check named."""
    settings = _settings(store_url)
    admin = token_for(settings, "it-1")
    async with running(settings) as base:
        for n in range(3):
            assert (await post_event(base, event_body(f"c-{n}", agent="agent-1")))[0] == 202
        assert (await post_event(base, event_body("c-0", agent="agent-1")))[0] == 202  # a retry
        wrong = sign(event_body("c-bad"), secret="not-the-pbx-secret-0123456789")
        assert (await post_event(base, event_body("c-bad"), signature=wrong))[0] == 401
        stale = sign(event_body("c-old"), at=int(time.time()) - 3600)
        assert (await post_event(base, event_body("c-old"), signature=stale))[0] == 401

        async def looked_up() -> dict[str, Any] | None:
            _, report = await api(base, "GET", "/api/admin/status", admin)
            return report if report["connectors"]["credit"]["calls"] == 3 else None

        report = await wait_for(looked_up, 5, "the three calls' lookups counted")
    accounting = report["connectors"]["accounting"]
    assert accounting["state"] == "closed" and accounting["health"] == "ok"
    assert (accounting["calls"], accounting["errors"], accounting["timeouts"]) == (3, 0, 0)
    # the scripted connector answers after 20 ms: the percentiles say so (bins are 5% wide)
    assert 19 <= accounting["p50_ms"] <= accounting["p95_ms"] <= accounting["p99_ms"]
    pbx = report["providers"]["pbx"]
    assert (pbx["accepted"], pbx["duplicates"], pbx["refused"]) == (4, 1, 2)
    assert pbx["last_refusal"]["code"] == "bad_signature"
    assert pbx["last_refusal"]["reason"].startswith("timestamp window: ")
    assert report["store"] == "ok" and report["broker"] == "ok"
    assert report["config"]["source"] == "<test>" and report["config"]["loaded_at"]
    assert list(report["instances"]) == [report["instance"]]  # a memory broker: this instance alone
    assert report["instances"][report["instance"]]["providers"] == report["providers"]


async def test_status_counts_agents_connected_per_queue(store_url: str) -> None:
    """Agents with a socket open are counted, in total (sockets) and per queue of theirs (agents)."""
    settings = _settings(store_url)
    admin = token_for(settings, "it-1")
    async with (
        running(settings) as base,
        agent_socket(base, settings, "agent-1"),
        agent_socket(base, settings, "agent-1"),
        agent_socket(base, settings, "agent-3"),
    ):
        _, report = await api(base, "GET", "/api/admin/status", admin)
    assert report["agents_connected"] == 3
    assert report["agents_by_queue"] == {"sales": 1, "support": 1}


async def test_deliveries_newest_first_with_reasons_and_bounded_limit(store_url: str) -> None:
    """Each webhook is listed newest first with its outcome and reason; a limit outside 1..500 is a 400."""
    settings = _settings(store_url)
    admin = token_for(settings, "it-1")
    async with running(settings) as base:
        assert (await post_event(base, event_body("c-1", agent="agent-1")))[0] == 202
        wrong = sign(event_body("c-2"), secret="not-the-pbx-secret-0123456789")
        assert (await post_event(base, event_body("c-2"), signature=wrong))[0] == 401
        assert (await api(base, "POST", "/webhooks/pbxx", data=b"{}"))[0] == 404
        status, listed = await api(base, "GET", "/api/admin/deliveries?limit=2", admin)
        bad = [await api(base, "GET", f"/api/admin/deliveries?limit={v}", admin) for v in ("0", "501", "x")]
    assert status == 200
    newest, before = listed["deliveries"]
    assert (newest["provider"], newest["status"], newest["code"]) == ("pbxx", 404, "not_found")
    assert newest["reason"].startswith("unknown provider: ")
    assert (before["provider"], before["status"], before["code"]) == ("pbx", 401, "bad_signature")
    assert before["reason"].startswith("signature: ") and before["call_id"] is None
    assert all(s == 400 and b["error"]["code"] == "bad_request" for s, b in bad)


async def test_a_webhook_is_counted_and_listed_by_the_time_its_sender_has_the_202(store_url: str) -> None:
    """The counting runs after the answer (the sender does not wait for it), yet no request read after
    the 202 can miss it: the deliveries list, the webhook counter and the first frame's histogram."""
    settings = _settings(store_url)
    admin = token_for(settings, "it-1")
    async with running(settings) as base, agent_socket(base, settings, "agent-1"):
        assert (await post_event(base, event_body("c-counted", agent="agent-1")))[0] == 202
        _, listed = await api(base, "GET", "/api/admin/deliveries?limit=1", admin)
        _, metrics = await api(base, "GET", "/metrics")
    (newest,) = listed["deliveries"]
    assert (newest["provider"], newest["code"], newest["call_id"]) == ("pbx", "accepted", "c-counted")
    assert 'screenpop_webhooks_total{outcome="accepted",provider="pbx"} 1.0' in metrics
    assert "screenpop_card_first_frame_seconds_count 1.0" in metrics
    published = re.search(r"^screenpop_card_frames_total (\S+)$", metrics, re.MULTILINE)
    assert published is not None and float(published.group(1)) >= 1  # the first frame, and any versions since


async def test_a_delivery_is_listed_at_the_time_of_its_answer(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Counted after the 202, a delivery still bears the time of its answer, not of its counting.

    Every instance's deliveries are listed in one list ordered by time.  The
    kernel may run the sender as soon as its 202 is written, and its next
    webhook may reach another instance before this one counts the first: a
    time taken when counting could put the two in the wrong order.  Here the
    counting is held back 300 ms after the answer to make that visible.
    """
    settings = _settings(store_url)
    admin = token_for(settings, "it-1")
    answer = handlers.answer_now

    async def answer_then_stall(request: Any, response: Any) -> None:
        await answer(request, response)
        await asyncio.sleep(0.3)  # allow-sleep: the instance busy elsewhere between its 202 and its counting

    monkeypatch.setattr(handlers, "answer_now", answer_then_stall)
    async with running(settings) as base:
        assert (await post_event(base, event_body("c-timed", agent="agent-1")))[0] == 202
        answered_by = datetime.now(UTC)

        async def listed() -> list[dict[str, Any]] | None:
            _, answer = await api(base, "GET", "/api/admin/deliveries?limit=1", admin)
            return answer["deliveries"] or None

        (delivery,) = await wait_for(listed, 5, "the delivery listed")
    assert delivery["call_id"] == "c-timed"
    assert datetime.fromisoformat(delivery["at"]) <= answered_by


async def test_no_number_note_or_secret_in_any_admin_answer(store_url: str) -> None:
    """Calls with known numbers, a note, refusals quoting a number: none of them in any admin JSON."""
    settings = _settings(store_url)
    admin, agent = token_for(settings, "it-1"), token_for(settings, "agent-1")
    async with running(settings) as base:
        for n, number in enumerate([ADA, OTHER, "4155550188"]):
            assert (await post_event(base, event_body(f"c-{n}", agent="agent-1", number=number)))[0] == 202
        # a refusal whose sentence quotes what was sent (here, a number where the event name goes)
        body = json.dumps({"event": OTHER, "call_id": "c-x", "from": OTHER}).encode()
        assert (await post_event(base, body))[0] == 400
        note = {"json": {"disposition": "resolved", "notes": NOTE_TEXT}}
        await wait_for(
            lambda: _noted(base, agent, note), 5, "the note saved on a call that was just recorded"
        )
        answers = [await api(base, "GET", path, admin) for path in ADMIN_PATHS]
        _, ready = await api(base, "GET", "/readyz")
    text = json.dumps([answers, ready])
    assert all(status == 200 for status, _ in answers)
    assert answers[1][1]["deliveries"][0]["reason"].startswith("body: ")
    for number in (ADA, OTHER, "4155550188"):
        assert number.lstrip("+")[-7:] not in text, number
    for secret in (NOTE_TEXT, SECRET, WEBHOOK_SECRET, "Ada Lovelace"):
        assert secret not in text


async def _noted(base: str, token: str, note: dict[str, Any]) -> bool:
    status, _ = await api(base, "POST", "/api/calls/c-0/notes", token, **note)
    return status == 201


async def test_status_counts_suggestion_feedback_per_section(store_url: str) -> None:
    """Status has `feedback` per section (kept answers), as SPEC 4 lists it: empty before any answer.

    It was left out of a config without a `rules` or `purchases` connector,
    though feedback on any section is taken (201) and counted.
    """
    plain = _settings(store_url)
    config = base_config(store_url)
    config["agents"]["directory"].append({"id": "it-1", "role": "it", "queues": []})
    config["roles"] = {**config["roles"], "it": {"admin": True}}
    config["connectors"].append({"name": "offer", "kind": "rules", "rules": [{"then": {"terms": "Net 30"}}]})
    settings = settings_from_mapping(config, source="<test>", environ={})
    admin, agent = token_for(settings, "it-1"), token_for(settings, "agent-1")
    async with running(plain) as base:
        _, without = await api(base, "GET", "/api/admin/status", admin)
    async with running(settings) as base, agent_socket(base, settings, "agent-1") as socket:
        await post_event(base, event_body("c-f", agent="agent-1"))
        await socket.card_until_complete("c-f")
        for product, outcome in [("SKU-1", "accepted"), ("SKU-2", "declined"), ("SKU-3", "declined")]:
            answer = {"section": "offer", "product": product, "outcome": outcome}
            assert (await api(base, "POST", "/api/calls/c-f/feedback", agent, json=answer))[0] == 201
        _, report = await api(base, "GET", "/api/admin/status", admin)
    assert without["feedback"] == {}
    assert report["feedback"] == {"offer": {"accepted": 1, "declined": 2}}


async def test_a_call_id_holding_the_callers_number_is_listed_without_it(store_url: str) -> None:
    """A call id that is, or holds, the caller's number is listed masked; another call id stays whole."""
    settings = _settings(store_url)
    admin = token_for(settings, "it-1")
    sid = "CA0123456789abcdef0123456789abcdef"  # a Twilio-shaped id: its digit runs are not a number
    sent = [(ADA, ADA), (f"q-{OTHER[2:]}-b", OTHER), ("1701234.4155550188", "(415) 555-0188"), (sid, ADA)]
    async with running(settings) as base:
        for call_id, number in sent:
            assert (await post_event(base, event_body(call_id, number=number)))[0] == 202
        status, listed = await api(base, "GET", f"/api/admin/deliveries?limit={len(sent)}", admin)
    assert status == 200
    shown = [d["call_id"] for d in reversed(listed["deliveries"])]
    assert shown == ["[digits]", "q-[digits]-b", "[digits]", sid]


async def test_expired_forged_and_unsigned_tokens_and_foreign_origins_get_nothing(store_url: str) -> None:
    """Expired, wrong-secret and ``alg: none`` tokens: 401 on every admin endpoint; no CORS to a stranger."""
    settings = _settings(store_url)
    now = int(time.time())
    refused = {
        "expired": token_for(settings, "it-1", expires_in_s=-5),
        "forged": jwt.encode({"sub": "it-1", "exp": now + 600}, "not-" + SECRET, algorithm="HS256"),
        "unsigned": jwt.encode(
            {"sub": "it-1", "role": "supervisor", "exp": now + 600}, None, algorithm="none"
        ),
    }
    admin = token_for(settings, "it-1")
    stranger = {"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"}
    async with running(settings) as base:
        for name, token in refused.items():
            for method, path in [*(("GET", p) for p in ADMIN_PATHS), ("POST", "/api/admin/reload")]:
                status, body = await api(base, method, path, token)
                assert (status, body["error"]["code"]) == (401, "unauthorized"), (name, path)
        async with aiohttp.ClientSession() as session:
            for method in ("OPTIONS", "GET"):
                async with session.request(
                    method,
                    f"{base}/api/admin/status",
                    headers={**stranger, "Authorization": f"Bearer {admin}"},
                ) as reply:
                    assert "Access-Control-Allow-Origin" not in reply.headers, method


ODD_SEPARATORS = [
    "415 - 555 - 0132",
    "415/555/0132",
    "415_555_0132",
    "415,555,0132",
    "415 \u2013 555 \u2013 0132",
    "415 . 555 . 0132",
]


async def test_a_refusal_quoting_a_number_with_odd_separators_does_not_show_it(store_url: str) -> None:
    """A number sent as the event name, written with slashes, dashes or commas: masked in every reason."""
    settings = _settings(store_url)
    admin = token_for(settings, "it-1")
    async with running(settings) as base:
        for written in ODD_SEPARATORS:
            body = json.dumps({"event": written, "call_id": "c-odd", "from": ADA}).encode()
            assert (await post_event(base, body))[0] == 400
        answers = [await api(base, "GET", path, admin) for path in ADMIN_PATHS]
    reasons = [d["reason"] for d in answers[1][1]["deliveries"]]
    assert len(reasons) == len(ODD_SEPARATORS) and all(r.startswith("body: ") for r in reasons)
    digits = "".join(ch for ch in json.dumps(answers) if ch.isdigit())
    assert "4155550132" not in digits, reasons
