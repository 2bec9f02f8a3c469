"""The component schemas of the OpenAPI document: error shape, webhook and API bodies.

Each schema names the keys the handlers always send (``required``) and
leaves room for more, so that a response check fails on a missing or
mistyped field and not on a field added later.  Examples are invented
(``555-01xx`` numbers, a section called ``crm``): the document is public.
"""

from __future__ import annotations

from typing import Any

from screenpop.model import EventKind, SectionStatus

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

STRING: JSON = {"type": "string"}
NULLABLE_STRING: JSON = {"type": "string", "nullable": True}
OBJECT: JSON = {"type": "object"}
DIRECTION: JSON = {"type": "string", "enum": ["inbound", "outbound"], "default": "inbound"}
ATTRIBUTES: JSON = {
    "type": "object",
    "maxProperties": 50,
    "patternProperties": {
        "^[a-z][a-z0-9_]{0,39}$": {
            "oneOf": [{"type": "string", "maxLength": 1000}, {"type": "number"}, {"type": "boolean"}]
        }
    },
    "additionalProperties": False,
    "description": "IVR input, a bot's findings: values are strings, numbers or booleans, bound into "
    "connectors as attr_KEY; keys starting with secret_ reach lookups only (never stored, logged or shown)",
}


def object_schema(required: dict[str, JSON], optional: dict[str, JSON] | None = None, **extra: Any) -> JSON:
    return {
        "type": "object",
        "required": list(required),
        "properties": {**required, **(optional or {})},
        **extra,
    }


def schemas() -> JSON:
    return {
        "Error": object_schema(
            {"error": object_schema({"code": {"type": "string", "enum": ERROR_CODES}, "message": STRING})},
            example={"error": {"code": "unauthorized", "message": "the token has expired"}},
        ),
        "Accepted": object_schema(
            {"call_id": NULLABLE_STRING, "status": {"type": "string", "enum": ["accepted"]}},
            description="call_id is null when the request carried no call event (a status screenpop ignores)",
        ),
        "GenericEvent": _generic_event(),
        "Health": object_schema({"status": {"type": "string", "enum": ["ok"]}}),
        "Readiness": object_schema(
            {
                "store": STRING,
                "broker": STRING,
                "connectors": {"type": "object", "additionalProperties": STRING},
            },
            {
                "phone_links": {"type": "object", "additionalProperties": STRING},
                "connector_health": {
                    "type": "object",
                    "additionalProperties": STRING,
                    "description": "Each connector in words: ok, failing: <reason> (k of the last n "
                    "calls), circuit open: <reason>; next try in N s, circuit half-open: ...; "
                    "never makes readiness fail",
                },
                # listed only: a sink's backlog never makes the service unready
                "sinks": {"type": "object", "additionalProperties": STRING},
            },
            example={
                "store": "ok",
                "broker": "down: connection refused",
                "connectors": {"crm": "closed"},
                "sinks": {"crm_log": "backlog: 12, oldest 40 s"},
            },
        ),
        "Note": _note(),
        "SavedNote": _saved_note(),
        "Feedback": object_schema(
            {
                "call_id": STRING,
                "provider": STRING,
                "section": STRING,
                "product": STRING,
                "outcome": {"type": "string", "enum": ["accepted", "declined"]},
                "answered_at": STRING,
            }
        ),
        "CallList": object_schema({"calls": {"type": "array", "items": _call()}}),
        "Card": _card(),
    }


# An id is stored and compared, never shown: no control, line-break or bidi-override character.
_NOT_IN_ID = r"\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069"
ID_PATTERN = rf"^[^{_NOT_IN_ID}]*[^\s{_NOT_IN_ID}][^{_NOT_IN_ID}]*$"


def _generic_event() -> JSON:
    return object_schema(
        {
            "event": {"type": "string", "enum": [k.value for k in EventKind]},
            "call_id": {
                "type": "string",
                "pattern": ID_PATTERN,
                "description": "Not blank, and no control or bidi-override characters",
            },
        },
        {
            "from": STRING,
            "to": STRING,
            "caller_name": STRING,
            "agent": STRING,
            "queue": STRING,
            "forwarded_from": STRING,
            "at": {"type": "string", "format": "date-time"},
            "direction": DIRECTION,
            "attributes": ATTRIBUTES,
        },
        example={
            "event": "ringing",
            "call_id": "c-1001",
            "from": "+1 (415) 555-0132",
            "to": "+18005550100",
            "queue": "support",
            "at": "2026-11-22T10:00:00Z",
        },
    )


def attributes_body() -> JSON:
    """``POST /api/calls/{call_id}/attributes``: attributes to merge into a call in progress."""
    return object_schema(
        {"attributes": ATTRIBUTES},
        example={"attributes": {"account_id": "AC-0042", "verified": True}},
    )


def _note() -> JSON:
    return object_schema(
        {
            "id": {"type": "integer"},
            "agent": STRING,
            "disposition": NULLABLE_STRING,
            "notes": NULLABLE_STRING,
            "created_at": NULLABLE_STRING,
        }
    )


def _saved_note() -> JSON:
    """The answer to a saved note: the note as stored, and what was masked in it before storing."""
    note = _note()
    masked = object_schema(
        {
            "card_numbers": {
                "type": "integer",
                "minimum": 0,
                "description": "Card numbers (13-19 digits passing the Luhn check) in the disposition and "
                "notes that were masked to their last four digits before the note was stored",
            }
        }
    )
    return {
        **note,
        "required": [*note["required"], "call_id", "provider", "masked"],
        "properties": {**note["properties"], "call_id": STRING, "provider": STRING, "masked": masked},
        "example": {
            "id": 7,
            "call_id": "CA42",
            "provider": "twilio",
            "agent": "alice",
            "disposition": "resolved",
            "notes": "Paid with **** **** **** 1111",
            "created_at": "2026-12-03T23:55:00+00:00",
            "masked": {"card_numbers": 1},
        },
    }


def _call() -> JSON:
    caller = object_schema({"raw": NULLABLE_STRING, "e164": NULLABLE_STRING, "name": NULLABLE_STRING})
    return object_schema(
        {
            "call_id": STRING,
            "provider": STRING,
            "status": STRING,
            "caller": caller,
            "to": NULLABLE_STRING,
            "queue": NULLABLE_STRING,
            "answered_by": NULLABLE_STRING,
            "received_at": NULLABLE_STRING,
            "answered_at": NULLABLE_STRING,
            "ended_at": NULLABLE_STRING,
            "summary": {"type": "object", "nullable": True},
            "notes": {"type": "array", "items": _note()},
        },
        {"transferred_away": {"type": "boolean"}},
    )


def _card() -> JSON:
    section = object_schema(
        {"status": {"type": "string", "enum": [s.value for s in SectionStatus]}},
        {"title": STRING, "data": OBJECT, "error": STRING, "elapsed_ms": {"type": "integer"}},
    )
    return object_schema(
        {
            "call_id": STRING,
            "status": STRING,
            "caller": object_schema({"e164": NULLABLE_STRING, "valid": {"type": "boolean"}}),
            "direction": DIRECTION,
            "line": NULLABLE_STRING,
            "attributes": {**ATTRIBUTES, "description": "the call's attributes without its secret_ ones"},
            "customer": object_schema(
                {"matches": {"type": "integer"}},
                {
                    "found_by": {
                        "type": "string",
                        "nullable": True,
                        "description": "number, or attribute:KEY when only an attribute (an IVR key) "
                        "found the customer; null when no customer was found",
                    }
                },
            ),
            "badges": {"type": "array", "items": OBJECT},
            "sections": {"type": "object", "additionalProperties": section},
            "history": {"type": "array", "items": OBJECT},
        },
        example={
            "call_id": "",
            "status": "lookup",
            "caller": {"raw": "4155550132", "e164": "+14155550132", "valid": True, "withheld": False},
            "direction": "inbound",
            "line": None,
            "attributes": {},
            "customer": {
                "name": "Example Customer",
                "ids": {"crm": "C-0001"},
                "matches": 1,
                "conflicts": [],
                "found_by": "number",
            },
            "badges": [],
            "sections": {"crm": {"status": "ok", "title": "CRM", "data": {"name": "Example Customer"}}},
            "history": [],
        },
    )
