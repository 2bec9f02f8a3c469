"""The OpenAPI 3 description of the HTTP interface (``GET /openapi.json``).

Written by hand from SPEC section 4 and kept true by a test that compares it
with the app's routes.
"""

from __future__ import annotations

from typing import Any

from screenpop import __version__
from screenpop.settings import Settings

JSON = dict[str, Any]

ERROR_CODES = [
    "bad_request",
    "bad_signature",
    "unauthorized",
    "forbidden",
    "not_found",
    "too_large",
    "unsupported_media_type",
    "invalid_number",
    "rate_limited",
    "unavailable",
]


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


BEARER: list[JSON] = [{"agentToken": []}]


def _paths() -> JSON:
    return {
        "/webhooks/{provider}": {
            "post": {
                "summary": "A call event from a phone system, in that provider's own format",
                "parameters": [
                    {"name": "provider", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/GenericEvent"}},
                        "application/x-www-form-urlencoded": {"schema": {"type": "object"}},
                    },
                },
                "responses": {
                    "202": _json("Verified and accepted", {"$ref": "#/components/schemas/Accepted"}),
                    "204": {"description": "Accepted (Twilio status callbacks)"},
                    "400": _error("Malformed body or a missing field"),
                    "401": _error("Missing, wrong or stale signature (bad_signature)"),
                    "404": _error("No provider of that name"),
                    "413": _error("Body over server.max_body_bytes"),
                    "415": _error("Wrong content type"),
                    "429": _error("Too many calls in progress"),
                },
            }
        },
        "/ws": {
            "get": {
                "summary": "Agent websocket (SPEC section 5)",
                "description": (
                    "Client frames: hello {token, resume_from?}, ping, refresh {token} (before the "
                    "token's exp; answered refreshed {exp}). Server frames: welcome, card, call, pong, "
                    "refreshed. Close codes: 4400 not a hello, 4401 bad, expired or refused token "
                    "(also when exp passes without a refresh), 4403 origin, 4408 no hello in 5 s, "
                    "1012 restart."
                ),
                "responses": {"101": {"description": "Switching protocols"}},
            }
        },
        "/agent": {
            "get": {
                "summary": "The standalone agent page",
                "responses": {"200": {"description": "HTML", "content": {"text/html": {}}}},
            }
        },
        "/widget/{name}": {
            "get": {
                "summary": "The embeddable widget (screenpop.js) and its files",
                "parameters": [
                    {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "responses": {"200": {"description": "The file"}, "404": _error("No such file")},
            }
        },
        "/api/calls": {
            "get": {
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
                    "200": _json("Calls, newest first"),
                    "400": _error("Bad limit"),
                    "401": _error("Missing or bad token"),
                },
            }
        },
        "/api/calls/{call_id}/notes": {
            "post": {
                "summary": "Save a disposition and notes on a call",
                "security": BEARER,
                "parameters": [
                    {"name": "call_id", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "disposition": {"type": "string"},
                                    "notes": {"type": "string"},
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "201": _json("The saved note"),
                    "400": _error("Bad body"),
                    "401": _error("Missing or bad token"),
                    "403": _error("The agent did not receive this call"),
                    "404": _error("No such call"),
                    "415": _error("Not JSON"),
                },
            }
        },
        "/api/lookup": {
            "get": {
                "summary": "The card for a number, without a call (supervisor role)",
                "security": BEARER,
                "parameters": [
                    {"name": "number", "in": "query", "required": True, "schema": {"type": "string"}}
                ],
                "responses": {
                    "200": _json("The card"),
                    "401": _error("Missing or bad token"),
                    "403": _error("Not a supervisor"),
                    "422": _error("Not a phone number"),
                },
            }
        },
        "/healthz": {"get": {"summary": "Liveness", "responses": {"200": _json("Serving")}}},
        "/readyz": {
            "get": {
                "summary": "Readiness: store, broker, connector circuits",
                "responses": {"200": _json("Ready"), "503": _json("Store or broker down, with the reason")},
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics",
                "responses": {"200": {"description": "Text exposition", "content": {"text/plain": {}}}},
            }
        },
        "/openapi.json": {"get": {"summary": "This document", "responses": {"200": _json("OpenAPI 3")}}},
    }


def _schemas() -> JSON:
    return {
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {
                    "type": "object",
                    "required": ["code", "message"],
                    "properties": {
                        "code": {"type": "string", "enum": ERROR_CODES},
                        "message": {"type": "string"},
                    },
                }
            },
        },
        "Accepted": {
            "type": "object",
            "properties": {"call_id": {"type": "string"}, "status": {"type": "string", "enum": ["accepted"]}},
        },
        "GenericEvent": {
            "type": "object",
            "required": ["event", "call_id"],
            "properties": {
                "event": {"type": "string", "enum": ["ringing", "answered", "withdrawn", "ended", "missed"]},
                "call_id": {"type": "string"},
                "from": {"type": "string"},
                "to": {"type": "string"},
                "caller_name": {"type": "string"},
                "agent": {"type": "string"},
                "queue": {"type": "string"},
                "at": {"type": "string", "format": "date-time"},
            },
        },
    }


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
            "schemas": _schemas(),
            "securitySchemes": {"agentToken": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
    }
