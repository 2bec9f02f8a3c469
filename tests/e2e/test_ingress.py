"""What clients send in, through the real service on loopback: whole bodies, bounded metrics."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest
import websockets
import yaml

from screenpop.admin.webhook_log import WebhookLog
from tests.support.processes import service_config, services
from tests.support.raw_http import raw_exchange, request_head
from tests.support.service import agent_socket, api, base_config, event_body, make, post_event, running
from tests.support.signers import sign
from tests.support.tokens import token_for
from tests.support.waiting import wait_for


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path}/store.db"


def chunked(*parts: bytes) -> list[bytes]:
    """Each part as one chunk of a chunked body, the last one followed by the terminating chunk."""
    out = [f"{len(p):x}\r\n".encode() + p + b"\r\n" for p in parts]
    out[-1] += b"0\r\n\r\n"
    return out


# finding 4: a body that arrives in pieces is read whole ---------------------------------


async def test_webhook_split_across_segments_is_read_whole(store_url: str) -> None:
    """A signed webhook whose body arrives in two TCP segments is verified on the whole body and accepted."""
    settings = make(store_url)
    body = event_body("c-split", agent="agent-1", caller_name="Ada L")
    head = request_head(
        "POST",
        "/webhooks/pbx",
        {
            "Content-Type": "application/json",
            "Content-Length": str(len(body)),
            "Screenpop-Signature": sign(body),
        },
    )
    async with running(settings) as base, agent_socket(base, settings, "agent-1") as agent:
        status, _, reply = await raw_exchange(base, head, [body[:20], body[20:]])
        assert (status, json.loads(reply)) == (202, {"call_id": "c-split", "status": "accepted"})
        frames = await agent.card_until_complete("c-split")
    assert frames[0]["card"]["caller"]["name"] == "Ada L"


async def test_chunked_webhook_is_read_whole(store_url: str) -> None:
    """A signed webhook sent with chunked transfer encoding, two chunks apart in time, is accepted."""
    settings = make(store_url)
    body = event_body("c-chunked", agent="agent-1")
    head = request_head(
        "POST",
        "/webhooks/pbx",
        {
            "Content-Type": "application/json",
            "Transfer-Encoding": "chunked",
            "Screenpop-Signature": sign(body),
        },
    )
    async with running(settings) as base:
        status, _, reply = await raw_exchange(base, head, chunked(body[:15], body[15:]))
    assert (status, json.loads(reply)) == (202, {"call_id": "c-chunked", "status": "accepted"})


async def test_chunked_webhook_over_the_limit_is_413(store_url: str) -> None:
    """A chunked webhook (no Content-Length) larger than max_body_bytes is refused 413 too_large."""
    settings = make(store_url, server={"allowed_origins": [], "max_body_bytes": 1024})
    body = event_body("c-big", caller_name="A" * 2000)
    head = request_head(
        "POST",
        "/webhooks/pbx",
        {
            "Content-Type": "application/json",
            "Transfer-Encoding": "chunked",
            "Screenpop-Signature": sign(body),
        },
    )
    async with running(settings) as base:
        status, _, reply = await raw_exchange(base, head, chunked(body[:600], body[600:]))
    assert (status, json.loads(reply)["error"]["code"]) == (413, "too_large")


@pytest.mark.parametrize("encoding", ["length", "chunked"])
async def test_note_split_across_segments_is_saved(store_url: str, encoding: str) -> None:
    """A note whose JSON body arrives in two pieces (by length or chunked) is saved whole: 201, not 400."""
    settings = make(store_url)
    token = token_for(settings, "agent-1")
    body = json.dumps({"disposition": "resolved", "notes": "called back, all settled"}).encode()
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    if encoding == "length":
        headers["Content-Length"] = str(len(body))
        parts = [body[:10], body[10:]]
    else:
        headers["Transfer-Encoding"] = "chunked"
        parts = chunked(body[:10], body[10:])
    async with running(settings) as base, agent_socket(base, settings, "agent-1") as agent:
        await post_event(base, event_body("c-note", agent="agent-1"))
        await agent.card_until_complete("c-note")
        status, _, reply = await raw_exchange(
            base, request_head("POST", "/api/calls/c-note/notes", headers), parts
        )
    assert status == 201, reply
    assert json.loads(reply)["notes"] == "called back, all settled"


# finding 11: label values come from configuration only -------------------------------------


async def test_unknown_webhook_names_add_no_metric_series(store_url: str) -> None:
    """POSTs to many unconfigured provider names count under one `unknown` label, never their own names."""
    names = [f"x{uuid.uuid4().hex}" for _ in range(30)]
    async with running(make(store_url)) as base:
        for name in names:
            status, _ = await api(base, "POST", f"/webhooks/{name}", data=b"{}")
            assert status == 404
        _, metrics = await api(base, "GET", "/metrics")
    assert not [name for name in names if name[:32] in metrics]
    assert 'screenpop_webhooks_total{outcome="unknown_provider",provider="unknown"} 30.0' in metrics


# finding 10: no 500 for anything a client sent -----------------------------------------------

NESTED = "[" * 5000 + "]" * 5000
LONG_NUMBER = "7" * 5000


def server_errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The ERROR records (tracebacks) the in-process server logged."""
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize(
    "body",
    [
        f'{{"event": "ringing", "call_id": "c-deep", "from": {NESTED}}}',
        f'{{"event": "ringing", "call_id": "c-long", "from": {LONG_NUMBER}}}',
        NESTED,
    ],
    ids=["nested-arrays", "5000-digit-number", "nested-top"],
)
async def test_hostile_json_in_a_signed_webhook_is_400(
    store_url: str, body: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A correctly signed webhook with deeply nested arrays or a 5,000-digit number is a quiet 400."""
    async with running(make(store_url)) as base:
        status, reply = await post_event(base, body.encode())
    assert (status, reply["error"]["code"]) == (400, "bad_request")
    assert server_errors(caplog) == []


@pytest.mark.parametrize(
    "body",
    [f'{{"notes": {NESTED}}}', NESTED, f'{{"notes": {LONG_NUMBER}}}'],
    ids=["nested-notes", "nested-top", "5000-digit-number"],
)
async def test_hostile_json_in_a_note_is_400(
    store_url: str, body: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Any agent's note with deeply nested JSON or a 5,000-digit number is a quiet 400, not a 500."""
    settings = make(store_url)
    async with running(settings) as base:
        status, reply = await api(
            base,
            "POST",
            "/api/calls/c-1/notes",
            token_for(settings, "agent-1"),
            data=body.encode(),
            headers={"Content-Type": "application/json"},
        )
    assert (status, reply["error"]["code"]) == (400, "bad_request")
    assert server_errors(caplog) == []


@pytest.mark.parametrize("number", ["1" * 5000, "+" + "4" * 5000, "(" * 5000 + "415"])
async def test_huge_number_text_is_no_500(
    store_url: str, number: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A 5,000-character caller number (webhook or lookup) is read as an invalid number, never a 500."""
    settings = make(store_url)
    async with running(settings) as base, agent_socket(base, settings, "agent-1") as agent:
        status, _ = await post_event(base, event_body("c-huge", agent="agent-1", number=number))
        assert status == 202
        card = (await agent.card_until_complete("c-huge"))[-1]["card"]
        looked, _ = await api(base, "GET", f"/api/lookup?number={number}", token_for(settings, "agent-3"))
    assert card["caller"]["valid"] is False and len(card["caller"]["raw"]) <= 256
    assert looked == 200  # connectors run against the digits as given (SPEC 4)
    assert server_errors(caplog) == []


# finding 13: a config error never prints a secret ---------------------------------------------

LEAKED = "Hunter2-leaks-if-printed"


def _with(config: dict[str, Any], path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    target: Any = config
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return config


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("agents", "token_secret"), LEAKED),
        (("providers", 0, "secrets"), LEAKED),
        (("providers", 0, "secret"), 12345678),
        (("store", "url"), f"postgresql+asyncpg://scott:{LEAKED}@db:notaport/x"),
        (("store", "url"), f"scott:{LEAKED}"),
    ],
    ids=["short-token-secret", "secrets-not-a-list", "secret-not-text", "bad-port-url", "unparsable-url"],
)
@pytest.mark.parametrize("debug", [False, True], ids=["plain", "debug"])
def test_config_errors_never_print_a_secret(
    tmp_path: Path, path: tuple[str | int, ...], value: Any, debug: bool
) -> None:
    """`screenpop check` on a config with a bad secret value names the key but never prints the value."""
    config = _with(base_config(f"sqlite+aiosqlite:///{tmp_path}/s.db"), path, value)
    config_file = tmp_path / "screenpop.yaml"
    config_file.write_text(yaml.safe_dump(config))
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "screenpop",
            *(["--debug"] if debug else []),
            "check",
            "--config",
            str(config_file),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],
        check=False,
    )
    assert run.returncode == 2, run.stderr
    assert ".".join(str(p) for p in path if isinstance(p, str)).split(".")[-1] in run.stderr
    assert LEAKED not in run.stdout + run.stderr and "12345678" not in run.stdout + run.stderr


# finding 12: no control or bidi-override character reaches an agent's screen ------------------

HOSTILE = "\u202e\x00\x1b[31m\u2066\x07"
UNSAFE = (
    set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069") | {chr(c) for c in range(32)} | {"\x7f"}
)


def unsafe_in(value: Any, newlines_ok: bool = False) -> list[str]:
    """Every string in ``value`` (keys too) that holds a control or bidi-control character."""
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in unsafe_in(k, newlines_ok) + unsafe_in(v, newlines_ok)]
    if isinstance(value, list):
        return [s for v in value for s in unsafe_in(v, newlines_ok)]
    allowed = {"\n"} if newlines_ok else set()
    return [value] if isinstance(value, str) and (set(value) & UNSAFE) - allowed else []


async def test_control_and_bidi_characters_never_reach_a_card(store_url: str) -> None:
    """Caller name, connector data and history notes reach the card without control or bidi overrides.

    Newlines in notes stay: an agent writes notes in lines.
    """
    rows = {
        "+14155550132": {
            "account_id": "A-1",
            "name": f"Ada{HOSTILE} Lovelace",
            f"memo{HOSTILE}": [f"first{HOSTILE}", {"deep": f"x{HOSTILE}y"}],
            "address": "1 Main St\nSpringfield",
        }
    }
    config = base_config(store_url)
    config["connectors"][0]["rows"] = rows
    settings = make(store_url, connectors=config["connectors"])
    token = token_for(settings, "agent-1")
    async with running(settings) as base, agent_socket(base, settings, "agent-1") as agent:
        await post_event(
            base, event_body("c-ctl1", agent="agent-1", caller_name=f"ADA{HOSTILE} L", queue=f"q{HOSTILE}")
        )
        first = (await agent.card_until_complete("c-ctl1"))[-1]["card"]
        status, _ = await api(
            base,
            "POST",
            "/api/calls/c-ctl1/notes",
            token,
            json={"notes": f"line one{HOSTILE}\nline two"},
        )
        assert status == 201
        await post_event(base, event_body("c-ctl2", agent="agent-1", caller_name=f"ADA{HOSTILE} L"))
        second = (await agent.card_until_complete("c-ctl2"))[-1]["card"]
        _, listed = await api(base, "GET", "/api/calls", token)
    assert first["caller"]["name"] == "ADA[31m L" and first["queue"] == "q[31m"
    data = first["sections"]["accounting"]["data"]
    assert data["name"] == "Ada[31m Lovelace" and first["customer"]["name"] == "Ada[31m Lovelace"
    assert data["memo[31m"] == ["first[31m", {"deep": "x[31my"}]
    assert data["address"] == "1 Main St\nSpringfield"
    assert second["history"][0]["notes"] == "line one[31m\nline two"
    assert unsafe_in(first, newlines_ok=True) == [] and unsafe_in(second, newlines_ok=True) == []
    assert unsafe_in(listed["calls"], newlines_ok=True) == []


# the answer goes out once the events are taken ------------------------------------------------


async def test_a_fault_counting_a_taken_webhook_still_answers_202(
    store_url: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The call popped, so the sender hears 202 (with the app's headers), and the fault is logged.

    Before, the counting ran before the answer: its fault became a 500, and
    the sender retried a call that had already popped.
    """
    settings = make(store_url)

    def broken_count(*_: object) -> None:
        raise RuntimeError("the webhook log is broken")

    monkeypatch.setattr(WebhookLog, "accepted", broken_count)
    body = event_body("c-counted", agent="agent-1")
    headers = {"Content-Type": "application/json", "Screenpop-Signature": sign(body)}
    async with running(settings) as base, agent_socket(base, settings, "agent-1") as agent:
        async with (
            aiohttp.ClientSession() as session,
            session.post(f"{base}/webhooks/pbx", data=body, headers=headers) as reply,
        ):
            status, answer, sent = reply.status, await reply.json(), reply.headers
        frames = await agent.card_until_complete("c-counted")
    assert (status, answer) == (202, {"call_id": "c-counted", "status": "accepted"})
    assert (sent["Server"], sent["X-Content-Type-Options"]) == ("screenpop", "nosniff")
    assert frames[0]["card"]["call_id"] == "c-counted"
    assert any("counting them failed" in r.getMessage() and r.exc_info for r in caplog.records)


# finding 14: headers for the pages and the API ------------------------------------------------


async def test_headers_of_pages_and_api(store_url: str) -> None:
    """/agent has a CSP that forbids framing; /api answers are no-store; no answer names a version."""
    settings = make(store_url)
    token = token_for(settings, "agent-1")
    async with running(settings) as base, aiohttp.ClientSession() as session:
        answers = {}
        for method, path, auth in [
            ("GET", "/agent", None),
            ("GET", "/api/calls", token),
            ("GET", "/api/calls", None),
            ("POST", "/api/calls/nope/notes", token),
            ("GET", "/healthz", None),
            ("GET", "/widget/screenpop.js", None),
            ("GET", "/nowhere", None),
            ("POST", "/webhooks/pbx", None),
        ]:
            headers = {"Authorization": f"Bearer {token}"} if auth else {}
            async with session.request(method, base + path, headers=headers, json={}) as reply:
                answers[(method, path, bool(auth))] = (reply.status, reply.headers)
    policy = answers[("GET", "/agent", False)][1]["Content-Security-Policy"]
    directives = {d.split()[0]: d.split()[1:] for d in policy.split("; ")}
    assert directives["frame-ancestors"] == ["'none'"] and directives["default-src"] == ["'none'"]
    assert "'unsafe-inline'" not in policy and "*" not in policy
    assert all(a.startswith("'sha256-") for a in directives["script-src"][1:])
    for (_, path, _), (status, headers) in answers.items():
        assert headers["Server"] == "screenpop", (path, headers["Server"])
        if path.startswith("/api/"):
            assert headers["Cache-Control"] == "no-store", (path, status)
    assert {s for (_, p, _), (s, _) in answers.items() if p.startswith("/api/")} == {200, 400, 401}


# finding 10: malformed HTTP is a short 400, with no echo and no traceback in the log ----------

MALFORMED_REQUESTS = [
    b"GET /\x00secret-echo HTTP/1.1\r\nHost: x\r\n\r\n",
    b"G\x01T / HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nX-Bad: secret-echo\x01\r\n\r\n",
    b"POST /webhooks/pbx HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz-secret-echo\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nX-Long: " + b"s" * 20000 + b"\r\n\r\n",
]


async def send_raw(port: int, data: bytes) -> bytes:
    """Send ``data`` as it is and read the whole answer (the server closes after a bad request)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()


async def test_malformed_http_gets_a_quiet_json_400(tmp_path: Path) -> None:
    """`screenpop serve` answers malformed HTTP with a JSON 400 that quotes nothing and logs no traceback."""
    async with services(tmp_path, one=service_config(f"sqlite+aiosqlite:///{tmp_path}/s.db")) as started:
        service = started["one"]
        answers = [await send_raw(service.port, request) for request in MALFORMED_REQUESTS]
        assert (await service.get("/healthz"))[0] == 200
        log = service.log.read_text(errors="replace")
    assert "secret-echo" not in log and "Traceback" not in log and "ERROR" not in log, log[-2000:]
    assert not [a for a in answers if b"secret-echo" in a]
    for answer in answers:
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.split(b" ")[1] == b"400", answer[:200]
        assert b"\r\nServer: screenpop\r\n" in head, head
        assert json.loads(body)["error"]["code"] == "bad_request"
        assert b"secret-echo" not in answer and b"sss" not in body


@pytest.mark.parametrize("frame", [NESTED, f'{{"type": "hello", "token": {NESTED}}}'], ids=["top", "token"])
async def test_nested_json_hello_is_closed_4400_quietly(
    store_url: str, frame: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A first websocket frame of deeply nested JSON (sent before any token) closes 4400, no traceback."""
    async with running(make(store_url)) as base:
        url = base.replace("http://", "ws://") + "/ws"
        async with websockets.connect(url, origin="http://agents.example") as ws:  # type: ignore[arg-type]
            await ws.send(frame)
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4400
    assert server_errors(caplog) == []


async def test_body_cut_short_by_the_client_logs_no_traceback(
    store_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A client that hangs up halfway through a webhook body leaves no ERROR or traceback in the log."""
    body = event_body("c-cut", agent="agent-1")
    head = request_head(
        "POST",
        "/webhooks/pbx",
        {
            "Content-Type": "application/json",
            "Content-Length": str(len(body)),
            "Screenpop-Signature": sign(body),
        },
    )
    caplog.set_level(logging.DEBUG, logger="screenpop")
    async with running(make(store_url)) as base:
        url = urlsplit(base)
        _, writer = await asyncio.open_connection(url.hostname, url.port)
        writer.write(head.encode() + body[:10])
        await writer.drain()
        writer.close()
        await writer.wait_closed()
        # the handler has run once its webhook is counted (as refused) in /metrics
        await wait_for(lambda: _refused_count(base), 5, "the cut-short webhook counted")
    assert server_errors(caplog) == []


async def _refused_count(base: str) -> bool:
    _, metrics = await api(base, "GET", "/metrics")
    return 'screenpop_webhooks_total{outcome="bad_request",provider="pbx"} 1.0' in metrics


async def test_nul_and_controls_in_a_note_on_postgresql_are_no_500(pg_url: str) -> None:
    """A note with NUL and ESC is saved cleaned on a PostgreSQL store; an id with NUL in its URL is 404."""
    settings = make(pg_url)
    token = token_for(settings, "agent-1")
    async with running(settings) as base, agent_socket(base, settings, "agent-1") as agent:
        await post_event(base, event_body("c-nul", agent="agent-1"))
        await agent.card_until_complete("c-nul")
        status, saved = await api(
            base, "POST", "/api/calls/c-nul/notes", token, json={"notes": "pin\x00 1234\x1b[2J ok\nnext"}
        )
        assert status == 201, saved
        assert saved["notes"] == "pin 1234[2J ok\nnext"
        status, answer = await api(base, "POST", "/api/calls/c%00nul/notes", token, json={"notes": "x"})
        assert status == 404 and answer["error"]["code"] == "not_found"


async def test_a_webhook_id_with_a_control_character_is_400(store_url: str) -> None:
    """A call id with NUL in a signed webhook is refused 400 naming the field, never stored or a 500."""
    settings = make(store_url)
    async with running(settings) as base:
        body = event_body("c-\x00-1", agent="agent-1")
        status, answer = await post_event(base, body)
        assert status == 400 and "call_id" in answer["error"]["message"], answer


# a webhook the store would refuse after the pop is refused before it ---------------------


def raw_event(call_id: str, **fields: str) -> bytes:
    """A generic ringing event with ``fields`` spliced in as written (a ``\\ud800`` escape stays one)."""
    extra = "".join(f', "{k}": "{v}"' for k, v in fields.items())
    return f'{{"event": "ringing", "call_id": "{call_id}", "from": "+14155550132"{extra}}}'.encode()


@pytest.mark.parametrize("field", ["caller_name", "from", "to", "queue", "agent", "forwarded_from"])
async def test_a_lone_surrogate_in_a_text_field_is_400_naming_it(
    store_url: str, field: str, caplog: pytest.LogCaptureFixture
) -> None:
    """``x\\ud800y`` in a text field is a 400 naming the field, not quoting it.

    It was a 202 and a pop, then a record the database refused: notes 404ed.
    """
    async with running(make(store_url)) as base:
        status, reply = await post_event(base, raw_event("c-sur", **{field: "x\\ud800y"}))
    assert (status, reply["error"]["code"]) == (400, "bad_request"), reply
    assert f"`{field}`" in reply["error"]["message"]
    assert "ud800" not in json.dumps(reply)
    assert server_errors(caplog) == []


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"call_id": "c" * 256}, "call_id"),
        ({"at": "0001-01-01T00:00:00+14:00"}, "`at`"),
        ({"at": "9999-12-31T23:59:59-14:00"}, "`at`"),
        ({"call_id": "."}, "call_id"),  # /api/calls/./notes is /api/calls/notes: no note could reach it
        ({"call_id": ".."}, "call_id"),
    ],
    ids=["call_id-256", "at-before-year-1", "at-after-9999", "call_id-dot", "call_id-dot-dot"],
)
async def test_what_the_store_refuses_is_400_before_the_pop(
    store_url: str, fields: dict[str, str], named: str, caplog: pytest.LogCaptureFixture
) -> None:
    """An id over the store's 255 characters, or an ``at`` with no UTC time: a 400 naming it, no pop."""
    settings = make(store_url)
    event = {"event": "ringing", "call_id": "c-lim", "from": "+14155550132", "agent": "agent-1", **fields}
    async with running(settings) as base, agent_socket(base, settings, "agent-1") as agent:
        status, reply = await post_event(base, json.dumps(event).encode())
        assert await agent.silent_for(0.3)
    assert (status, reply["error"]["code"]) == (400, "bad_request"), reply
    assert named in reply["error"]["message"] and len(reply["error"]["message"]) < 200
    assert server_errors(caplog) == []


async def test_an_id_of_255_characters_is_recorded(store_url: str, caplog: pytest.LogCaptureFixture) -> None:
    """The limit is the store's own: an id of exactly 255 characters is taken and its call recorded."""
    settings = make(store_url)
    call_id = "c" * 255
    token = token_for(settings, "agent-1")

    async def noted() -> bool:
        status, _ = await api(base, "POST", f"/api/calls/{call_id}/notes", token, json={"notes": "kept"})
        return status == 201

    async with running(settings) as base:
        status, _ = await post_event(base, event_body(call_id, agent="agent-1"))
        assert status == 202
        await wait_for(noted, within=5, what="a note on the 255-character call")
    assert server_errors(caplog) == []


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
async def test_a_body_that_is_not_what_its_content_encoding_says_is_a_quiet_400(
    store_url: str, encoding: str, caplog: pytest.LogCaptureFixture
) -> None:
    """``Content-Encoding: gzip`` over plain JSON: a 400, and no aiohttp.server traceback.

    aiohttp drained the rest of the broken payload after the answer, and
    logged the decompression error as an unhandled exception each time.
    """
    body = event_body("c-enc")
    headers = {
        "Content-Type": "application/json",
        "Content-Encoding": encoding,
        "Screenpop-Signature": sign(body),
    }
    with caplog.at_level(logging.DEBUG, logger="aiohttp.server"):
        async with running(make(store_url)) as base:
            async with (
                aiohttp.ClientSession() as session,
                session.post(f"{base}/webhooks/pbx", data=body, headers=headers) as reply,
            ):
                answer = await reply.json()
            status, _ = await post_event(base, event_body("c-after"))  # the server still takes webhooks
    assert (reply.status, answer["error"]["code"]) == (400, "bad_request")
    assert status == 202
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info] == []
