"""The query parameters of ``GET /api/lookup``, each read and checked as a user types it."""

from __future__ import annotations

from aiohttp import web

from screenpop.config import Settings
from screenpop.errors import BadRequest


def number_param(request: web.Request) -> str:
    """``number`` with the ``+`` it was typed with: form decoding reads a literal ``+`` as a space.

    ``?number=+442079460018`` from an address bar or curl arrived as
    ``" 442079460018"``, a US number that does not exist.  A number never
    starts with a space, so a leading one that was sent as ``+`` is a ``+``.
    """
    value = request.query.get("number", "")
    if value.startswith(" ") and _raw_param(request, "number").startswith("+"):
        return "+" + value[1:]
    return value


def _raw_param(request: web.Request, name: str) -> str:
    """The first ``name=`` parameter of the query string as sent, not decoded."""
    for part in request.rel_url.raw_query_string.split("&"):
        key, _, value = part.partition("=")
        if key == name:
            return value
    return ""


def flag(request: web.Request, name: str) -> bool:
    value = request.query.get(name, "0").lower()
    if value not in ("0", "1", "true", "false"):
        raise BadRequest(f"{name} must be 1 or 0")
    return value in ("1", "true")


def as_role_param(request: web.Request, settings: Settings) -> str | None:
    """The ``role`` parameter: a role of the config (``roles:`` or the directory), or None."""
    role = request.query.get("role")
    if not role:
        return None
    known = sorted(set(settings.roles) | {a.role for a in settings.agents.directory})
    if role not in known:
        raise BadRequest(f"role must be one of the configured roles: {', '.join(known)}")
    return role
