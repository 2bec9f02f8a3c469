"""The OpenAPI 3 description of the HTTP interface (``GET /openapi.json``).

Written by hand from SPEC section 4 and kept true by tests: one compares it
with the app's routes, and a schemathesis run (tests/test_fuzz_api.py) sends
every operation generated requests and checks each answer's status, content
type and body against this document.  It is served to anyone, so it holds
nothing from the configuration but the public URL: no connector, section,
role, agent or provider name, and its examples are invented.
"""

from __future__ import annotations

from typing import Any

from screenpop import __version__
from screenpop.config import Settings
from screenpop.store.schema import FEEDBACK_OUTCOMES, MAX_PRODUCT
from screenpop.web.handlers import MAX_NOTES_CHARS
from screenpop.web.openapi_admin import admin_paths, admin_schemas
from screenpop.web.openapi_schemas import STRING, attributes_body, object_schema, schemas

JSON = dict[str, Any]


def _error(description: str) -> JSON:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _json(description: str, schema: JSON | None = None) -> JSON:
    return {
        "description": description,
        "content": {"application/json": {"schema": schema or {"type": "object"}}},
    }


def _ref(name: str) -> JSON:
    return {"$ref": f"#/components/schemas/{name}"}


def _header(name: str, description: str) -> JSON:
    return {"name": name, "in": "header", "required": False, "description": description, "schema": STRING}


BEARER: list[JSON] = [{"agentToken": []}]
# What every endpoint that reads or writes the store may answer while the store is down.
STORE_DOWN = _error("The store is down (unavailable)")
AUTH_FAILED = _error("Missing, malformed, expired or unknown token (unauthorized)")


def _paths() -> JSON:
    """Every route of the app, each operation built by its own function below."""
    return {
        "/webhooks/{provider}": {"post": _webhook()},
        "/ws": {"get": _websocket()},
        "/agent": {"get": _agent_page()},
        "/admin": {"get": _admin_page()},
        "/widget/{name}": {"get": _widget()},
        "/api/calls": {"get": _list_calls()},
        "/api/calls/{call_id}/notes": {"post": _save_note()},
        "/api/calls/{call_id}/feedback": {"post": _save_feedback()},
        "/api/calls/{call_id}/attributes": {"post": _post_attributes()},
        "/api/lookup": {"get": _lookup()},
        **admin_paths(_error, _json, _ref, BEARER, AUTH_FAILED),
        "/api/admin/reload": {"post": _reload()},
        "/healthz": {"get": _healthz()},
        "/readyz": {"get": _readyz()},
        "/metrics": {"get": _metrics()},
        "/openapi.json": {"get": _openapi()},
    }


def _webhook() -> JSON:
    return {
        "summary": "A call event from a phone system, in that provider's own format",
        "description": (
            "The `generic` kind takes the GenericEvent JSON signed with `Screenpop-Signature`; "
            "`twilio` takes Twilio's form-encoded callbacks (`X-Twilio-Signature`), `telnyx` its "
            "Ed25519-signed JSON, `amazon_connect` the contact-flow or EventBridge JSON."
        ),
        "parameters": [
            {"name": "provider", "in": "path", "required": True, "schema": STRING},
            _header(
                "Screenpop-Signature", "`t=<unix seconds>,v1=<hex HMAC-SHA256>` (generic, amazon_connect)"
            ),
            _header("X-Twilio-Signature", "Twilio's signature of the URL and form parameters"),
            _header("telnyx-signature-ed25519", "Telnyx's base64 Ed25519 signature"),
            _header("telnyx-timestamp", "The Unix time Telnyx signed"),
        ],
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": _ref("GenericEvent")},
                "application/x-www-form-urlencoded": {"schema": {"type": "object"}},
            },
        },
        "responses": {
            "200": {
                "description": "Accepted (Twilio: an empty TwiML document)",
                "content": {"text/xml": {"schema": STRING}},
            },
            "202": _json("Verified and accepted", _ref("Accepted")),
            "400": _error("Malformed body or a missing or wrong field (bad_request)"),
            "401": _error("Missing, wrong or stale signature (bad_signature)"),
            "404": _error("No provider of that name"),
            "413": _error("Body over server.max_body_bytes"),
            "415": _error("Not the content type this provider sends"),
            "429": _error("Too many calls in progress"),
            "503": _error("The event could not be handled now (store or broker down): send it again"),
        },
    }


def _widget() -> JSON:
    files = {
        kind: {"schema": STRING} for kind in ("text/javascript", "text/css", "text/html", "image/svg+xml")
    }
    return {
        "summary": "The embeddable widget (screenpop.js) and its files",
        "parameters": [{"name": "name", "in": "path", "required": True, "schema": STRING}],
        "responses": {"200": {"description": "The file", "content": files}, "404": _error("No such file")},
    }


def _list_calls() -> JSON:
    return {
        "summary": "The agent's recent calls with their cards' summaries (all calls for supervisors)",
        "security": BEARER,
        "parameters": [
            {
                "name": "limit",
                "in": "query",
                "schema": {"type": "integer", "minimum": 1, "maximum": 200, "default": 20},
            }
        ],
        "responses": {
            "200": _json("Calls, newest first", _ref("CallList")),
            "400": _error("limit is not a whole number from 1 to 200"),
            "401": AUTH_FAILED,
            "503": STORE_DOWN,
        },
    }


def _save_note() -> JSON:
    body = {
        "type": "object",
        "properties": {
            "disposition": {"type": "string", "description": "One of the configured `card.dispositions`"},
            "notes": {"type": "string", "maxLength": MAX_NOTES_CHARS},
        },
        "anyOf": [
            {"required": ["disposition"]},
            {"required": ["notes"], "properties": {"notes": {"pattern": r"\S"}}},
        ],
        "example": {"disposition": "resolved", "notes": "Explained the late fee; no refund."},
    }
    return _call_post(
        "Save a disposition and notes on a call; card numbers in them are masked to their last four "
        "digits before the note is stored, and `masked` says how many were",
        body,
        _json("The saved note, as stored (masked)", _ref("SavedNote")),
        "Not a JSON object, an unknown disposition, or neither disposition nor notes",
    )


def _save_feedback() -> JSON:
    body = {
        "type": "object",
        "required": ["section", "product", "outcome"],
        "properties": {
            "section": {
                "type": "string",
                "description": "A configured connector's name whose section the agent's role may see",
            },
            "product": {
                "type": "string",
                "minLength": 1,
                "maxLength": MAX_PRODUCT,
                "pattern": r"^[^\x00-\x1f\x7f-\x9f]*$",
                "description": "The suggested product's key, without control characters",
            },
            "outcome": {"type": "string", "enum": list(FEEDBACK_OUTCOMES)},
        },
        "example": {"section": "insight", "product": "SKU-240", "outcome": "accepted"},
    }
    return _call_post(
        "The agent's answer to a suggestion; a later answer to the same one replaces it",
        body,
        _json("The answer as kept", _ref("Feedback")),
        "Not a JSON object, or a bad section, product or outcome (the message names it)",
    )


def _post_attributes() -> JSON:
    operation = _call_post(
        "Attributes learnt during the call, merged into it; the connectors that name a changed "
        "attr_KEY (and what needs them) run again and every recipient gets the next card version",
        attributes_body(),
        _json(
            "The last version published and the sections that ran again",
            object_schema(
                {
                    "call_id": STRING,
                    "version": {"type": "integer"},
                    "rerun": {"type": "array", "items": STRING},
                }
            ),
        ),
        "Not a JSON object, no attributes, or a bad key or value (the message names it)",
    )
    responses = operation["responses"]
    responses["200"] = responses.pop("201")
    responses["503"] = _error(
        "The store or broker is down, or the call's card is not complete yet: send again"
    )
    return operation


def _call_post(summary: str, body: JSON, created: JSON, bad_request: str) -> JSON:
    """A JSON POST on a call the agent received: what notes and feedback share."""
    return {
        "summary": summary,
        "security": BEARER,
        "parameters": [{"name": "call_id", "in": "path", "required": True, "schema": STRING}],
        "requestBody": {"required": True, "content": {"application/json": {"schema": body}}},
        "responses": {
            "201": created,
            "400": _error(bad_request),
            "401": AUTH_FAILED,
            "403": _error("The agent did not receive this call"),
            "404": _error("No such call"),
            "413": _error("Body over server.max_body_bytes"),
            "415": _error("Not JSON"),
            "503": STORE_DOWN,
        },
    }


def _lookup() -> JSON:
    return {
        "summary": "The card for a number, without a call (a role with `lookup: true`)",
        "security": BEARER,
        "parameters": [
            {"name": "number", "in": "query", "required": True, "schema": STRING},
            {
                "name": "attr_KEY",
                "in": "query",
                "required": False,
                "description": "Any number of attr_KEY=VALUE parameters (KEY matching "
                "[a-z][a-z0-9_]{0,39}): the lookup's attributes, bound as attr_KEY like a call's",
                "schema": STRING,
            },
            {
                "name": "role",
                "in": "query",
                "required": False,
                "description": "Show the card as an agent of this configured role would see it "
                "(answered as `as_role`); sections hidden from the caller's own role stay hidden",
                "schema": STRING,
            },
            {
                "name": "trace",
                "in": "query",
                "required": False,
                "description": "1: run every connector afresh (no cache) and add `trace`: per section its "
                "kind, status, elapsed_ms, `why` (skipped, circuit open, not found, in words), `notes`, and "
                "`steps` (statement or URL with secrets masked, bound params, time, raw rows or response, "
                "clipped), and `display` (each shown section's title, rows and display hints, as the "
                "widget's welcome carries them). Needs a role with `admin: true` as well",
                "schema": {"type": "string", "enum": ["0", "1", "true", "false"]},
            },
        ],
        "responses": {
            "200": _json("The card, with the sections the caller's role may see", _ref("Card")),
            "400": _error(
                "An attr_ parameter whose key is not an attribute key, an unknown role, or a trace "
                "value other than 1/0 (the message names it)"
            ),
            "401": AUTH_FAILED,
            "403": _error("The token's role lacks `lookup: true`, or `admin: true` for trace=1 (forbidden)"),
            "422": _error("Not a phone number (or withheld)"),
            "503": STORE_DOWN,
        },
    }


def _reload() -> JSON:
    return {
        "summary": "Read the config file again and apply it without a restart (admin role; SIGHUP too)",
        "description": (
            "A valid file replaces connectors, directory, roles, routing, lines and rules at once; calls "
            "in progress finish on the config they started with, unchanged connectors keep their pools, "
            "caches and breakers, open sockets stay open (an agent no longer in the directory, or whose "
            "token names a role that no longer exists, is closed with 4401). A file that changes "
            "`server`, `store`, `broker` or an AMI link is refused: those need a restart. With several "
            "instances the reload is announced through the broker and each re-reads its own file."
        ),
        "security": BEARER,
        "responses": {
            "200": _json(
                "Reloaded: the new generation, when and from where it was loaded, and what changed",
                {"type": "object"},
            ),
            "400": _error(
                "The file is invalid or needs a restart (the message is the config error); nothing changed"
            ),
            "401": AUTH_FAILED,
            "403": _error("Not an admin role"),
        },
    }


def _websocket() -> JSON:
    return {
        "summary": "Agent websocket (SPEC section 5); the token comes in the first frame",
        "description": (
            "Client frames: hello {token, resume_from?}, ping, refresh {token} (before the "
            "token's exp; answered refreshed {exp}). Server frames: welcome, card, call, pong, "
            "refreshed. Close codes: 4400 not a hello, 4401 bad, expired or refused token "
            "(also when exp passes without a refresh), 4403 origin, 4408 no hello in 5 s, "
            "1012 restart."
        ),
        "responses": {
            "101": {"description": "Switching protocols"},
            "400": _error("Not a websocket upgrade request"),
        },
    }


def _agent_page() -> JSON:
    return {
        "summary": "The standalone agent page",
        "responses": {"200": {"description": "HTML", "content": {"text/html": {"schema": STRING}}}},
    }


def _admin_page() -> JSON:
    return {
        "summary": "The IT console: connectors, webhooks, agents, a test lookup with trace, reload",
        "description": "Public like /agent (it holds no data); it signs in with a token whose role has "
        "`admin: true` (from the fragment, #token=...) and calls the /api/admin endpoints and "
        "/api/lookup?trace=1 with it",
        "responses": {"200": {"description": "HTML", "content": {"text/html": {"schema": STRING}}}},
    }


def _healthz() -> JSON:
    return {"summary": "Liveness", "responses": {"200": _json("Serving", _ref("Health"))}}


def _readyz() -> JSON:
    return {
        "summary": "Readiness: store, broker, connector circuits; sinks' backlogs listed (never failing it)",
        "responses": {
            "200": _json("Ready", _ref("Readiness")),
            "503": _json("Store or broker down, with the reason", _ref("Readiness")),
        },
    }


def _metrics() -> JSON:
    return {
        "summary": "Prometheus metrics",
        "responses": {
            "200": {"description": "Text exposition", "content": {"text/plain": {"schema": STRING}}}
        },
    }


def _openapi() -> JSON:
    return {"summary": "This document", "responses": {"200": _json("OpenAPI 3")}}


def openapi_document(settings: Settings) -> JSON:
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "screenpop",
            "version": __version__,
            "description": "Caller cards for contact-center agents. Errors use the Error schema.",
        },
        "servers": [{"url": settings.server.public_url}],
        "paths": _paths(),
        "components": {
            "schemas": {**schemas(), **admin_schemas()},
            "securitySchemes": {"agentToken": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
    }
