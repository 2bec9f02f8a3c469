"""The OpenAPI description of ``/api/admin/*`` (admin role): operations and their schemas.

Apart from ``openapi.py`` and ``openapi_schemas.py`` so each stays short; the
shapes are SPEC section 4's, plus the fields documented in
docs/beyond-the-spec.md (``health``, ``last_error_at``, ``duplicates``,
``agents_by_queue``, ``instance`` and ``instances``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from screenpop.admin import MAX_DELIVERIES
from screenpop.web.openapi_schemas import NULLABLE_STRING, STRING, object_schema

JSON = dict[str, Any]
COUNT: JSON = {"type": "integer", "minimum": 0}
NULLABLE_MS: JSON = {"type": "number", "nullable": True, "minimum": 0}
COUNTS: JSON = {"type": "object", "additionalProperties": COUNT}
DEFAULT_DELIVERIES = 50


def admin_paths(
    error: Callable[[str], JSON],
    as_json: Callable[[str, JSON], JSON],
    ref: Callable[[str], JSON],
    bearer: list[JSON],
    auth_failed: JSON,
) -> JSON:
    """The two admin read operations; ``error``/``as_json``/``ref`` are openapi.py's builders."""
    forbidden = error("The token's role lacks `admin: true` (forbidden)")
    return {
        "/api/admin/status": {
            "get": {
                "summary": "What IT sees: connectors, providers, agents, store, broker, config (admin role)",
                "description": "Connectors and feedback of the sections the token's role hides are left out, "
                "on every instance listed",
                "security": bearer,
                "responses": {
                    "200": as_json("This instance's status and every live instance's", ref("AdminStatus")),
                    "401": auth_failed,
                    "403": forbidden,
                },
            }
        },
        "/api/admin/deliveries": {
            "get": {
                "summary": "The last webhook deliveries, newest first, no body or number (admin role)",
                "security": bearer,
                "parameters": [
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {
                            "type": "integer",
                            "minimum": 1,
                            "maximum": MAX_DELIVERIES,
                            "default": DEFAULT_DELIVERIES,
                        },
                    }
                ],
                "responses": {
                    "200": as_json("Deliveries, newest first", ref("Deliveries")),
                    "400": error(f"limit is not a whole number from 1 to {MAX_DELIVERIES}"),
                    "401": auth_failed,
                    "403": forbidden,
                },
            }
        },
    }


def admin_schemas() -> JSON:
    instance = _instance_status()
    return {
        "InstanceStatus": instance,
        "AdminStatus": {
            **instance,
            "required": [*instance["required"], "instance", "instances"],
            "properties": {
                **instance["properties"],
                "instance": {**STRING, "description": "This instance's label (host:pid)"},
                "instances": {
                    "type": "object",
                    "additionalProperties": {"$ref": "#/components/schemas/InstanceStatus"},
                    "description": "Every live instance's status by label (this one's included); "
                    "with a memory broker, this instance only",
                },
            },
        },
        "Deliveries": object_schema({"deliveries": {"type": "array", "items": _delivery()}}),
    }


def _instance_status() -> JSON:
    return object_schema(
        {
            "connectors": {"type": "object", "additionalProperties": _connector()},
            "providers": {"type": "object", "additionalProperties": _provider()},
            "agents_connected": COUNT,
            "agents_by_queue": COUNTS,
            "store": STRING,
            "broker": STRING,
            "config": object_schema({"loaded_at": STRING, "source": STRING}),
        },
        {
            "feedback": {
                "type": "object",
                "additionalProperties": COUNTS,
                "description": "Agents' answers to suggestions per section (when insight connectors exist)",
            },
            "phone_links": {"type": "object", "additionalProperties": STRING},
            "sinks": {"type": "object", "description": "Each sink's backlog (when sinks exist)"},
        },
    )


def _connector() -> JSON:
    return object_schema(
        {
            "state": {"type": "string", "enum": ["closed", "open", "half_open"]},
            "calls": COUNT,
            "errors": COUNT,
            "timeouts": COUNT,
            "p50_ms": NULLABLE_MS,
            "p95_ms": NULLABLE_MS,
            "p99_ms": NULLABLE_MS,
            "last_error": NULLABLE_STRING,
            "last_error_at": NULLABLE_STRING,
            "health": STRING,
        },
        {"index": _index()},
        description="Counts and latencies over the last 5 minutes; errors exclude timeouts",
    )


def _index() -> JSON:
    nullable_count = {**COUNT, "nullable": True}
    return object_schema(
        {
            "numbers": nullable_count,
            "rows": nullable_count,
            "refreshed_at": NULLABLE_STRING,
            "refresh_failing_since": NULLABLE_STRING,
            "refresh_error": NULLABLE_STRING,
        },
        description="A `match: normalized` source's index; a failed refresh keeps serving the last one",
    )


def _provider() -> JSON:
    refusal = object_schema({"at": STRING, "code": STRING, "reason": STRING}, nullable=True)
    return object_schema({"accepted": COUNT, "duplicates": COUNT, "refused": COUNT, "last_refusal": refusal})


def _delivery() -> JSON:
    return object_schema(
        {
            "at": STRING,
            "provider": STRING,
            "status": {"type": "integer", "description": "The HTTP status answered"},
            "code": {
                **STRING,
                "description": "accepted, duplicate, ignored (no call event in it), or the error code",
            },
            "reason": {
                **NULLABLE_STRING,
                "description": "For a refusal: the check that failed, then the error's sentence",
            },
            "call_id": NULLABLE_STRING,
            "event": NULLABLE_STRING,
        }
    )
