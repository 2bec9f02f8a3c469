"""What a call carries beyond the caller's number (SPEC 3 "Calls beyond the caller's number").

One value object, ``CallContext``, carries the direction, the line, the
dialled number and the attributes from the webhook's parsing to the lookup
engine (which binds them as ``direction``, ``line``, ``call_id`` and
``attr_KEY``) and to the card (which shows the attributes that are not
secret).  The attribute rules live here too, so that the generic webhook,
the providers' own formats, ``/api/lookup`` and the mid-call
``POST /api/calls/{call_id}/attributes`` refuse or normalise the same way.

Secret attributes (``secret_`` keys: a PIN typed into the IVR) are bound into
lookups and nowhere else: ``public_attributes`` is the only view that a card,
the broker or the store is ever given.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from screenpop.errors import BadRequest
from screenpop.untrusted import MAX_SAFE_INTEGER

AttributeValue = str | int | float | bool
Attributes = Mapping[str, AttributeValue]

KEY_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,39}")
SECRET_PREFIX = "secret_"  # noqa: S105 - the prefix that marks a secret, not a secret
ATTR_PREFIX = "attr_"
MAX_ATTRIBUTES = 50
"""At most this many attributes on one call: enough for any IVR, small enough for every card."""
MAX_KEY_CHARS = 40
MAX_VALUE_CHARS = 1000
"""The longest attribute text: a record id or a bot's summary, not a document."""


class Direction(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


def is_secret(key: str) -> bool:
    return key.startswith(SECRET_PREFIX)


def public_attributes(attributes: Attributes) -> dict[str, AttributeValue]:
    """The attributes a card, the broker or the store may hold: never a ``secret_`` one."""
    return {k: v for k, v in attributes.items() if not is_secret(k)}


def attribute_problem(key: object, value: object) -> str | None:
    """Why ``key: value`` is not an attribute (a sentence naming the key), or None."""
    if not isinstance(key, str) or not KEY_PATTERN.fullmatch(key):
        shown = str(key)[:48]
        return f"attribute key {shown!r} must match [a-z][a-z0-9_]{{0,39}}"
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return None if abs(value) <= MAX_SAFE_INTEGER else _unsafe_integer(key)
    if isinstance(value, float):
        return None if math.isfinite(value) else f"attribute {key!r} must be a finite number"
    if isinstance(value, str):
        if len(value) > MAX_VALUE_CHARS:
            return f"attribute {key!r} must be at most {MAX_VALUE_CHARS} characters"
        return None
    return f"attribute {key!r} must be a string, a number or a boolean"


def _unsafe_integer(key: str) -> str:
    return (
        f"attribute {key!r} is an integer beyond ±{MAX_SAFE_INTEGER}, which a browser cannot show "
        "exactly: send it as a string"
    )


def parse_attributes(value: object, where: str = "attributes") -> dict[str, AttributeValue]:
    """A sender's ``attributes`` object, checked; a ``BadRequest`` (400) names the first bad key.

    The error never quotes a value: a secret attribute's value must not
    reach a log line or an error answer either.
    """
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise BadRequest(f"`{where}` must be an object of key: value")
    if len(value) > MAX_ATTRIBUTES:
        raise BadRequest(f"`{where}` may hold at most {MAX_ATTRIBUTES} attributes")
    out: dict[str, AttributeValue] = {}
    for key, item in value.items():
        problem = attribute_problem(key, item)
        if problem is not None:
            raise BadRequest(f"`{where}`: {problem}")
        out[key] = item
    return out


class ProviderAttributes(dict[str, AttributeValue]):
    """A phone system's attributes as screenpop binds them, and the keys that were left out.

    ``dropped`` names (clipped) the keys a call could not carry, never their
    values, so that the service can log and count them once it has taken
    the call: nothing a provider sent vanishes without a trace.
    """

    dropped: tuple[str, ...] = ()


def normalise_provider_attributes(values: Mapping[str, Any]) -> ProviderAttributes:
    """A phone system's own key/values (contact attributes, task attributes…) as screenpop attributes.

    Providers do not follow screenpop's key rule, and a call must not be
    refused for it: a key is lower-cased and its ``-``, ``.`` and spaces
    become ``_`` (``AccountId`` -> ``accountid``, ``account-id`` ->
    ``account_id``, ``SecretPin`` -> ``secret_pin``: ``provider_key``); a
    key that still does not match, a value that is not a
    string, number or boolean (a nested object, null) or is too long, is
    dropped; beyond ``MAX_ATTRIBUTES`` the rest is dropped.  What was dropped
    is named in ``dropped``.  An integer beyond JavaScript's safe range
    becomes its digits as text: kept exactly, where a browser would round it.
    """
    out = ProviderAttributes()
    dropped: list[str] = []
    for raw_key, value in values.items():
        key = provider_key(str(raw_key))
        value = _as_exact(value)
        if len(out) < MAX_ATTRIBUTES and attribute_problem(key, value) is None:
            out[key] = value
        else:
            dropped.append(str(raw_key)[:MAX_KEY_CHARS])
    if dropped:
        out.dropped = tuple(dropped)
    return out


_SECRET_WORD = re.compile(r"[Ss][Ee][Cc][Rr][Ee][Tt](?=[A-Z0-9])")


def provider_key(raw: str) -> str:
    """A phone system's key as a screenpop key: lower-cased, ``-``, ``.`` and spaces as ``_``.

    A key whose first word is *Secret* in a phone system's own casing
    (``SecretPin``, ``SECRETPin``, ``Secret2FA``) keeps the word apart:
    ``secret_pin``.  Lower-cased whole, it read ``secretpin``, which the
    ``secret_`` rule does not cover: the PIN a contact flow's author meant
    to hide was stored, logged and shown on the card.
    """
    text = raw.strip()
    word = _SECRET_WORD.match(text)
    if word is not None:
        text = "secret_" + text[word.end() :].lstrip("-. _")
    return re.sub(r"[-. ]", "_", text.lower())


def _as_exact(value: Any) -> Any:
    """A provider's integer too big for a browser as its digits, so that the call keeps it exactly."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_SAFE_INTEGER:
        return str(value)
    return value


@dataclass(frozen=True, slots=True)
class CallContext:
    """What a call carries besides the number looked up: bound into every connector.

    ``dialled`` is the number the caller dialled (``to``) for an inbound
    call, the number the agent dialled for an outbound one; ``line`` is the
    configured line's name, or None.  ``attributes`` may hold secrets: it is
    never rendered whole (see ``public``).
    """

    call_id: str = ""
    direction: Direction = Direction.INBOUND
    line: str | None = None
    dialled: str | None = None
    attributes: Attributes = field(default_factory=dict, repr=False, compare=False)

    def params(self) -> dict[str, AttributeValue]:
        """``direction``, ``line``, ``call_id`` and ``attr_KEY`` for every attribute (SPEC 3)."""
        out: dict[str, AttributeValue] = {
            "direction": self.direction.value,
            "line": self.line or "",
            "call_id": self.call_id,
        }
        out.update({ATTR_PREFIX + k: v for k, v in self.attributes.items()})  # a number stays a number
        return out

    def public(self) -> dict[str, AttributeValue]:
        return public_attributes(self.attributes)

    def with_attributes(self, changes: Attributes) -> CallContext:
        """This context with ``changes`` merged in (a key sent again takes its new value)."""
        merged = MappingProxyType({**self.attributes, **changes})
        return CallContext(self.call_id, self.direction, self.line, self.dialled, merged)
