"""Helpers every webhook kind shares: the generic HMAC scheme, JSON bodies, agent names.

The generic scheme is Stripe's (``t=<unix>,v1=<hex>`` over ``"<t>.<raw body>"``)
because it is the one most webhook senders already know how to produce, it
binds a timestamp (so a captured request cannot be replayed after the
tolerance), and it allows several ``v1`` values while keys rotate.
Everything here compares in constant time and never puts a secret or a
signature into an error message.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from screenpop.errors import BadRequest, BadSignature, UnsupportedMediaType
from screenpop.model import CallEvent
from screenpop.untrusted import clean_line, loads_object

SIGNATURE_HEADER = "Screenpop-Signature"

log = logging.getLogger("screenpop.providers")
#: What json.dumps does with a string, called directly (no encoder frames on the way to a 202).
json_string = json.encoder.encode_basestring_ascii


def now_of(request_now: float) -> float:
    """The request's clock, or the wall clock when the handler left it unset (0)."""
    return request_now or time.time()


def hmac_sha256_hex(secret: str, message: bytes) -> str:
    # hmac.digest with a digest name is one call into OpenSSL: no HMAC object (every webhook pays this)
    return hmac.digest(secret.encode("utf-8"), message, "sha256").hex()


_BLOCK = 64  # SHA-256's block size in bytes
_INNER_PAD = bytes(x ^ 0x36 for x in range(256))
_OUTER_PAD = bytes(x ^ 0x5C for x in range(256))


class SigningKeys:
    """HMAC-SHA256 with each secret's key schedule made once, not once per webhook.

    ``hmac.digest`` keys OpenSSL afresh on every call (fetches the algorithm,
    pads the key, hashes both pads); after 50 ms of other work that took
    about 50 µs of a webhook's path to its first frame, more than parsing
    its JSON.  Here each secret's two padded-key hash states are computed
    when the provider is built and copied per message: HMAC exactly as
    RFC 2104 defines it, and as the standard library's ``hmac`` module
    computes it when OpenSSL's HMAC is not used.  ``tests/unit/test_signing_keys.py``
    holds it to ``hmac.digest`` and to RFC 4231's test vectors.
    """

    __slots__ = ("_states",)

    def __init__(self, secrets: Iterable[str]) -> None:
        self._states = tuple(_padded_states(secret.encode("utf-8")) for secret in secrets)

    def hexdigests(self, message: bytes) -> list[str]:
        """``message``'s HMAC-SHA256 under each secret, as lower-case hex, in the secrets' order."""
        found = []
        for inner_start, outer_start in self._states:
            inner = inner_start.copy()
            inner.update(message)
            outer = outer_start.copy()
            outer.update(inner.digest())
            found.append(outer.hexdigest())
        return found


def _padded_states(key: bytes) -> tuple[Any, Any]:
    """The hash states after the inner and the outer padded key (RFC 2104, section 2)."""
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(_BLOCK, b"\0")
    return hashlib.sha256(key.translate(_INNER_PAD)), hashlib.sha256(key.translate(_OUTER_PAD))


def sign_generic(secret: str, body: bytes, timestamp: int) -> str:
    """The ``Screenpop-Signature`` value a sender puts on ``body`` at ``timestamp``."""
    digest = hmac_sha256_hex(secret, str(timestamp).encode("ascii") + b"." + body)
    return f"t={timestamp},v1={digest}"


def parse_generic_header(value: str) -> tuple[int, list[str]]:
    """Split ``t=…,v1=…[,v1=…]`` into the timestamp and the candidate signatures."""
    timestamp: int | None = None
    signatures: list[str] = []
    for part in value.split(","):
        key, sep, item = part.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            timestamp = unix_seconds(item, SIGNATURE_HEADER)
        elif key == "v1" and item:
            signatures.append(item.lower())
    if timestamp is None:
        raise BadSignature(f"{SIGNATURE_HEADER} has no `t=` timestamp")
    if not signatures:
        raise BadSignature(f"{SIGNATURE_HEADER} has no `v1=` signature")
    return timestamp, signatures


_MAX_DIGITS = 12


def unix_seconds(text: str, what: str) -> int:
    """A signature's Unix time: ASCII digits only, at most 12 of them, or ``BadSignature``.

    ``int()`` alone takes far more: ``1_000``, spaces, any script's digits
    (Arabic-Indic or fullwidth, which later fail to encode as ASCII) and numbers too
    big for a float, which ``check_fresh`` then cannot subtract from the
    clock.  All of those were 500s.
    """
    # [0-9]{1,12} without the regular-expression engine on every webhook's way (ASCII digits are 0-9)
    if not (0 < len(text) <= _MAX_DIGITS and text.isascii() and text.isdigit()):
        raise BadSignature(f"{what} has a timestamp that is not a number of seconds")
    return int(text)


def check_fresh(timestamp: float, now: float, tolerance_s: int, what: str) -> None:
    """Refuse a signature time more than ``tolerance_s`` away from now, either way."""
    skew = now - timestamp
    if abs(skew) > tolerance_s:
        direction = "old" if skew > 0 else "in the future"
        raise BadSignature(
            f"{what} timestamp is {abs(int(skew))} s {direction}; the limit is {tolerance_s} s "
            "(a replayed request, or a clock that is off)"
        )


def verify_generic(
    headers: Mapping[str, str], body: bytes, keys: SigningKeys, now: float, tolerance_s: int
) -> None:
    """Accept ``body`` when any ``v1`` matches any configured secret within the time window."""
    value = headers.get(SIGNATURE_HEADER.lower())
    if not value:
        raise BadSignature(f"missing {SIGNATURE_HEADER} header")
    timestamp, given = parse_generic_header(value)
    check_fresh(timestamp, now, tolerance_s, SIGNATURE_HEADER)
    signed = str(timestamp).encode("ascii") + b"." + body
    if not any_equal(given, keys.hexdigests(signed)):
        raise BadSignature(f"{SIGNATURE_HEADER} does not match the body with any configured secret")


def any_equal(given: Iterable[str], expected: Iterable[str]) -> bool:
    """Constant-time membership: every pair is compared, no early exit on a match.

    Each text goes back to the bytes it came as: aiohttp decodes undecodable
    header bytes to lone surrogates, which ``surrogatepass`` restores.
    """
    found = False
    wanted = [value.encode("utf-8", "surrogatepass") for value in expected]
    for candidate in given:
        wire = candidate.encode("utf-8", "surrogatepass")
        for value in wanted:
            found |= hmac.compare_digest(wire, value)
    return found


def media_type(content_type: str) -> str:
    """``application/json; charset=utf-8`` -> ``application/json``."""
    return content_type.split(";", 1)[0].strip().lower()


def is_json(content_type: str) -> bool:
    kind = media_type(content_type)
    return kind == "application/json" or kind.endswith("+json")


def require_json_object(content_type: str, body: bytes) -> dict[str, Any]:
    """The body as a JSON object, or 415 / 400 saying what is wrong with it."""
    if content_type != "application/json" and not is_json(content_type):  # the usual header, at once
        shown = media_type(content_type) or "none"
        raise UnsupportedMediaType(f"the body must be JSON (Content-Type: application/json), not {shown}")
    return loads_object(body)


def text_field(data: Mapping[str, Any], key: str, where: str = "") -> str | None:
    """An optional string field; a number is accepted as its text, anything else is a 400."""
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise BadRequest(f"`{where}{key}` must be a string")
    return str(value)  # text no store can keep (a lone surrogate) is refused by ``check_event``


_PLAIN_TEXT = frozenset({str, type(None)})


def text_fields(data: Mapping[str, Any], keys: Sequence[str]) -> list[str | None]:
    """``text_field`` of each key: one call per event, not one per field (every webhook reads ten).

    The usual event holds only strings (or nothing) there: read and checked
    by ``map`` in C, with no Python step per field.
    """
    found = list(map(data.get, keys))
    if _PLAIN_TEXT.issuperset(map(type, found)):
        return found
    return [text_field(data, key) for key in keys]


def required_text(data: Mapping[str, Any], key: str, where: str = "") -> str:
    value = data.get(key)
    if type(value) is str and value and not value.isspace() and value.isprintable():
        return value  # the usual id or name: nothing to convert, clean or refuse
    value = text_field(data, key, where)
    if value is None or not value.strip():
        raise BadRequest(f"`{where}{key}` is required")
    if clean_line(value) != value:
        # An id is stored and compared, never shown: a control character in it is an
        # error of the sender (and PostgreSQL refuses NUL in text), not text to tidy up.
        raise BadRequest(f"`{where}{key}` must not contain control characters")
    return value


_UTC_SUFFIX = re.compile(r"[zZ]$")
_LEAP_SECOND = re.compile(r"^(\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:)60(?=\D|$)")


def parse_time(value: str | None, where: str) -> datetime | None:
    """ISO 8601 / RFC 3339 to an aware datetime; a bad value is a 400 naming the field.

    RFC 3339 (the OpenAPI ``date-time`` format) allows a lower-case ``z``
    and a leap second (``23:59:60``), which ``fromisoformat`` refuses: the
    zone is normalised, and a leap second is read as the second before it
    (a datetime has no 60th second; the event time is informational).
    """
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)  # the usual case (`…Z` included) reads as it is
    except ValueError:
        try:
            parsed = datetime.fromisoformat(_LEAP_SECOND.sub(r"\g<1>59", _UTC_SUFFIX.sub("+00:00", value)))
        except ValueError as exc:
            raise BadRequest(f"`{where}` is not an ISO 8601 time: {value[:40]!r}") from exc
    if parsed.tzinfo is None:
        raise BadRequest(f"`{where}` needs a time zone (e.g. 2026-11-22T10:00:00Z)")
    return parsed  # one with no UTC time (year 1 at +14:00) is refused by ``check_event``


def agent_for(agents: Mapping[str, str], name: str | None, provider: str) -> str | None:
    """The screenpop agent id for a phone system's own name of an agent.

    A name the ``agents`` map does not know rings nobody in particular (the
    queue still applies); it is logged so that IT can add it to the map.
    """
    if not name:
        return None
    agent = agents.get(name)
    if agent is None:
        log.warning(
            "provider %s named agent %r, which is not in its `agents` map; ringing no agent in particular",
            provider,
            name,
        )
    return agent


def names_for(agents: Mapping[str, str], agent: str) -> list[str]:
    """The phone system's names that map to screenpop ``agent`` (for example requests)."""
    return [name for name, agent_id in agents.items() if agent_id == agent]


def accepted_body(events: Sequence[CallEvent]) -> bytes:
    """``{"call_id": "...", "status": "accepted"}`` as SPEC section 4 answers a verified webhook."""
    call_id = events[0].call_id if events else None
    # the text json.dumps writes for this dict
    shown = "null" if call_id is None else json_string(call_id)
    return f'{{"call_id": {shown}, "status": "accepted"}}'.encode()
