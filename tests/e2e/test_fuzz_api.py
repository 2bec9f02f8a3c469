"""schemathesis over the real service's own ``/openapi.json`` (finding 21).

Every operation the document describes is sent generated requests, valid
and invalid against the schema, with a supervisor token, a tier1 token, a
token signed with the wrong secret and no token at all.  Whatever is sent,
the answer is never a 5xx, every 4xx carries the SPEC error shape with a
SPEC code that matches its status, and the answer conforms to the document
(a documented status, content type and body schema).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
import requests
import schemathesis
from hypothesis import given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core import NotSet
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from screenpop.web import openapi_document
from tests.support.fuzz import FUZZ_SETTINGS, assert_client_answer, host_token, service_in_thread
from tests.support.service import WEBHOOK_SECRET, base_config, event_body, make
from tests.support.signers import sign

WEBHOOK = "/webhooks/{provider}"
NOTES = "/api/calls/{call_id}/notes"
FEEDBACK = "/api/calls/{call_id}/feedback"
ATTRIBUTES = "/api/calls/{call_id}/attributes"
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
TOKENS = {
    "supervisor": lambda: host_token("agent-3"),
    "tier1": lambda: host_token("agent-1"),
    "invalid": lambda: host_token("agent-3", secret="not-the-secret-of-this-service-0123456789"),
    "none": lambda: None,
}


def _operations() -> list[tuple[str, str, bool, bool]]:
    """(method, path, secured, has input to break) of every operation, read without a service.

    ``/openapi.json`` itself takes no input, and schemathesis leaves out the
    operation its schema was loaded from.
    """
    document = openapi_document(make("sqlite+aiosqlite:///:memory:"))
    return [
        (method.upper(), path, "security" in operation, _breakable(operation))
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
        if path != "/openapi.json"
    ]


def _breakable(operation: dict[str, Any]) -> bool:
    """Whether schema-invalid requests exist: a body, or a query parameter (a path string has none)."""
    return "requestBody" in operation or any(p["in"] == "query" for p in operation.get("parameters", []))


def _credentials(path: str, secured: bool) -> list[str]:
    """Agent tokens for /api (a supervisor on a stored call for notes, feedback); signed webhook bodies."""
    if secured:
        if path == ATTRIBUTES:  # agent-1 received seed-1's card: positive cases reach the merge
            return [*TOKENS, "tier1@seed-1"]
        return [*TOKENS, "supervisor@seed-2"] if path in (NOTES, FEEDBACK) else list(TOKENS)
    return ["none", "signed"] if path == WEBHOOK else ["none"]


CASES = [
    pytest.param(method, path, token, mode, id=f"{method} {path} {token} {mode.value}")
    for method, path, secured, breakable in _operations()
    for token in _credentials(path, secured)
    for mode in (GenerationMode if breakable else [GenerationMode.POSITIVE])
]


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, schemathesis.BaseSchema]]:
    """One real service for the module, and the schema loaded from its own /openapi.json."""
    store = Path(tmp_path_factory.mktemp("fuzz-api")) / "store.db"
    with service_in_thread(make(f"sqlite+aiosqlite:///{store}")) as base:
        _seed_calls(base)
        yield base, schemathesis.openapi.from_url(f"{base}/openapi.json")


def _seed_calls(base: str) -> None:
    """Calls in the store, so that /api/calls answers lists with calls and notes to check."""
    for call_id, agent in (("seed-1", "agent-1"), ("seed-2", "agent-3")):
        body = event_body(call_id, agent=agent)
        headers = {"Content-Type": "application/json", "Screenpop-Signature": sign(body)}
        assert (
            requests.post(f"{base}/webhooks/pbx", data=body, headers=headers, timeout=30).status_code == 202
        )
    note = {"Authorization": f"Bearer {host_token('agent-3')}"}
    saved = requests.post(f"{base}/api/calls/seed-2/notes", json={"notes": "seed"}, headers=note, timeout=30)
    assert saved.status_code == 201, saved.text


def test_document_lists_every_operation(service: tuple[str, schemathesis.BaseSchema]) -> None:
    """The document served on /openapi.json has exactly the operations the fuzz cases cover."""
    _, schema = service
    served = {(op.ok().method.upper(), op.ok().path) for op in schema.get_all_operations()}
    assert served == {(method, path) for method, path, _, _ in _operations()}


def _raw_body(body: object) -> bytes:
    """The bytes a signed request carries: negative generation may give bytes, text or no body."""
    if isinstance(body, NotSet):
        return b""
    if isinstance(body, bytes):
        return body
    return body.encode() if isinstance(body, str) else json.dumps(body).encode()


@pytest.mark.parametrize(("method", "path", "token", "mode"), CASES)
def test_fuzz_operation(
    service: tuple[str, schemathesis.BaseSchema], method: str, path: str, token: str, mode: GenerationMode
) -> None:
    """Generated requests to one operation get no 5xx, SPEC-shaped 4xx, and answers the document allows."""
    base, schema = service
    operation = schema[path][method]
    who, _, call_id = token.partition("@")
    minted = TOKENS[who]() if who in TOKENS else None
    headers = {"Authorization": f"Bearer {minted}"} if minted else {}
    session = requests.Session()

    if token == "signed":
        strategy = operation.as_strategy(generation_mode=mode, path_parameters={"provider": "pbx"}).filter(
            lambda case: case.media_type == "application/json"
        )
    else:
        fixed = {"call_id": call_id} if call_id else None
        strategy = operation.as_strategy(generation_mode=mode, path_parameters=fixed)

    # Without a valid token every request stops at the auth check: a few examples show that.
    refused = token in ("invalid", "none") and path.startswith("/api/")

    @settings(FUZZ_SETTINGS, max_examples=5 if refused else 15)
    @given(case=strategy)
    def fuzz(case: Any) -> None:
        extra: dict[str, Any] = {}
        if token == "signed":
            extra["data"] = _raw_body(case.body)
            case.headers = {**(case.headers or {}), "Screenpop-Signature": sign(extra["data"])}
        elif token != "none":
            case.headers = {**(case.headers or {}), **headers}
        response = case.call(base_url=base, session=session, timeout=30, **extra)
        what = f"{method} {path} with {token} token: {case.as_curl_command()}"
        assert_client_answer(
            response.status_code, response.content, response.headers.get("content-type", [""])[0], what
        )
        case.validate_response(response, checks=CHECKS)
        if token == "signed" and mode is GenerationMode.POSITIVE:
            # A signed event the document calls valid is accepted (or deferred while the service is full).
            assert response.status_code in (202, 429), f"{what}: {response.status_code} {response.content!r}"

    try:
        fuzz()
    finally:
        session.close()


BODIES = [
    {"event": "ringing", "call_id": "c-conf-1", "from": "+14155550132"},
    {"event": "ringing", "call_id": ""},
    {"event": "ringing", "call_id": "   "},
    {"event": "ended", "call_id": "c-conf-2", "at": "2026-11-22T10:00:00z"},
    {"event": "ended", "call_id": "c-conf-3", "at": "2016-12-31T23:59:60Z"},
    {"event": "rung", "call_id": "c-conf-4"},
    {"call_id": "c-conf-5"},
    {"event": "ringing", "call_id": "c-conf-6", "direction": "outbound", "to": "+14155550132"},
    {"event": "ringing", "call_id": "c-conf-7", "direction": "sideways"},
    {"event": "ringing", "call_id": "c-conf-8", "attributes": {"account_id": "A-1", "n": 2, "ok": True}},
    {"event": "ringing", "call_id": "c-conf-9", "attributes": {"Account": "A-1"}},
    {"event": "ringing", "call_id": "c-conf-10", "attributes": {"account_id": {"nested": 1}}},
    {"event": "ringing", "call_id": "c-conf-11", "attributes": {"a" * 41: "x"}},
    {"event": "ringing", "call_id": "c-conf-12", "attributes": {"note": "x" * 1001}},
]


@pytest.mark.parametrize("body", BODIES, ids=[json.dumps(b) for b in BODIES])
def test_generic_event_schema_matches_service(
    service: tuple[str, schemathesis.BaseSchema], body: Any
) -> None:
    """A signed generic event is accepted exactly when the document's GenericEvent schema allows it."""
    base, _ = service
    document = requests.get(f"{base}/openapi.json", timeout=30).json()
    schema = document["components"]["schemas"]["GenericEvent"]
    raw = json.dumps(body).encode()
    headers = {"Content-Type": "application/json", "Screenpop-Signature": sign(raw)}
    answer = requests.post(f"{base}/webhooks/pbx", data=raw, headers=headers, timeout=30)
    valid = jsonschema_rs.validator_for(schema, validate_formats=True).is_valid(body)
    assert (answer.status_code == 202) == valid, (answer.status_code, answer.text, valid)


def test_document_shows_nothing_of_the_configuration(service: tuple[str, schemathesis.BaseSchema]) -> None:
    """The public document names no connector, role, agent or provider, no secret and no customer data."""
    base, _ = service
    text = requests.get(f"{base}/openapi.json", timeout=30).text
    config = base_config("sqlite+aiosqlite:///unused")
    private = [
        config["agents"]["token_secret"],
        WEBHOOK_SECRET,
        *(c["name"] for c in config["connectors"]),
        *(a["id"] for a in config["agents"]["directory"]),
        *(name for name in config["roles"] if name != "supervisor"),  # the built-in role is in SPEC 4
        *(p["name"] for p in config["providers"]),
        *(str(v) for c in config["connectors"] for row in c["rows"].values() for v in row.values()),
    ]
    assert [word for word in private if len(word) > 3 and word in text] == []


# Inputs the ingress branch makes safe (nesting, huge numbers, a request line over aiohttp's limit): kept
# so that the merged service is tried with them. On this branch alone two fail: the deeply nested note is
# a 500 (RecursionError in _json_body), the 15 kB URL a text/plain 400 from aiohttp's own parser.
HOSTILE = [
    ("GET", "/api/lookup?number=" + "1" * 5000, None),
    ("GET", "/api/lookup?number=%2B" + "9" * 5000 + "&x=" + "[" * 5000, None),
    ("POST", "/api/calls/seed-2/notes", b"[" * 20_000 + b"]" * 20_000),
    ("POST", "/api/calls/seed-2/notes", b'{"notes": ' + b"9" * 5000 + b"}"),
    ("POST", "/api/calls/seed-2/notes", b'{"disposition": {"a": ' * 5000 + b"1" + b"}" * 5000 + b"}"),
]


@pytest.mark.parametrize(("method", "path", "body"), HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_api_inputs(
    service: tuple[str, schemathesis.BaseSchema], method: str, path: str, body: bytes | None
) -> None:
    """Huge numbers and deep nesting sent by a supervisor are a 2xx or a SPEC-shaped 4xx, never a 5xx."""
    base, _ = service
    headers = {"Authorization": f"Bearer {host_token('agent-3')}", "Content-Type": "application/json"}
    reply = requests.request(method, base + path, data=body, headers=headers, timeout=60)
    assert_client_answer(reply.status_code, reply.content, reply.headers.get("Content-Type", ""), path[:60])


def test_saved_feedback_matches_the_documented_schema(service: tuple[str, schemathesis.BaseSchema]) -> None:
    """A supervisor's valid answer on a call they received is a 201 whose body the Feedback schema allows."""
    base, _ = service
    document = requests.get(f"{base}/openapi.json", timeout=30).json()
    headers = {"Authorization": f"Bearer {host_token('agent-3')}"}
    body = {"section": "credit", "product": "SKU-240", "outcome": "declined"}
    reply = requests.post(f"{base}/api/calls/seed-2/feedback", json=body, headers=headers, timeout=30)
    assert reply.status_code == 201, reply.text
    schema = {**document["components"]["schemas"]["Feedback"], "components": document["components"]}
    assert jsonschema_rs.validator_for(schema).is_valid(reply.json()), reply.text
