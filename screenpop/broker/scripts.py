"""The Redis broker's Lua scripts, read from the ``.lua`` files beside this module, and their arguments.

``append.lua`` appends a publish to the agent streams and the fan-out stream
in one call, idempotently per publish token; ``add_members.lua`` adds to a
shared set and says which members are new; ``replace_members.lua`` swaps a
set's members for others and answers the old ones (a transfer); ``keep_latest.lua``
keeps the later of two times (an agent's latest ring); ``move_members.lua``
replaces them only when no later transfer was applied; ``put_newer.lua``
keeps a value unless a newer version of it is kept (the card as it stands);
``ring.lua``
claims a ringing event, reads its call's state and pops the card to the
agents that did not hold it, in one call.  Each file documents its KEYS,
ARGV and reply; the names in double braces are filled in here, from
``redis_layout``, so Python and Lua agree on them.

``append.lua`` is one body shared by two scripts: made a local function
``append(KEYS, ARGV)`` (its parameters shadow Redis's globals), it is the
whole of ``APPEND_LUA`` and the publishing half of ``RING_LUA``, so a ring's
first frame is appended exactly as any other publish.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources
from typing import Any

from screenpop.broker.protocol import CardViews, Delivery, Ring, Rung, stamp_text, to_fields
from screenpop.broker.redis_layout import (
    FANOUT_KEY,
    MISSED_MAX,
    SENT_PREFIX,
    set_key,
    stream_key,
    value_key,
)

Call = tuple[list[str], list[str | int]]
"""A script's KEYS and ARGV."""


def _read(name: str, **names: str) -> str:
    text = resources.files("screenpop.broker").joinpath(name).read_text(encoding="utf-8")
    for key, value in names.items():
        text = text.replace("{{" + key + "}}", value)
    if "{{" in text:
        raise RuntimeError(f"{name}: a name in double braces was left unfilled")
    return text


def _as_function(body: str) -> str:
    return f"local function append(KEYS, ARGV)\n{body}end\n"


_APPEND = _as_function(_read("append.lua", MISSED_MAX=str(MISSED_MAX), SENT_PREFIX=SENT_PREFIX))
APPEND_LUA = _APPEND + "return append(KEYS, ARGV)\n"
_KEEP_LATEST = _read("keep_latest.lua")
RING_LUA = _APPEND + _KEEP_LATEST + _read("ring.lua")
KEEP_LATEST_LUA = _KEEP_LATEST + "keep_latest(KEYS[1], ARGV[1], ARGV[2])\n"
ADD_MEMBERS_LUA = _read("add_members.lua")
REPLACE_MEMBERS_LUA = _read("replace_members.lua")
MOVE_MEMBERS_LUA = f"local function replace(KEYS, ARGV)\n{REPLACE_MEMBERS_LUA}end\n" + _read(
    "move_members.lua"
)
PUT_NEWER_LUA = _read("put_newer.lua")


def append_call(
    deliveries: Sequence[Delivery], wanted: Sequence[str], tokens: Sequence[str], head: Sequence[str | int]
) -> Call:
    """``append.lua``'s KEYS and ARGV; ``head``: origin, windows, position and the ``delivered`` flag.

    Deliveries that share their content (a queue call's card) share one
    packet, so its bodies travel once.
    """
    packets: dict[str | CardViews, int] = {}
    flat: list[str | int] = []
    refs: list[str | int] = []
    for delivery, want, token in zip(deliveries, wanted, tokens, strict=True):
        index = packets.get(delivery.content)
        if index is None:
            index = packets[delivery.content] = len(packets)
            fields = to_fields(delivery)
            flat += [len(fields), *fields]
        refs += [delivery.agent_id, want, index, token]
    keys = [FANOUT_KEY, *(stream_key(d.agent_id) for d in deliveries)]
    return keys, [*head, len(packets), *flat, *refs]


def ring_call(ring: Ring, head: Sequence[str | int], token: str) -> Call:
    """``ring.lua``'s KEYS and ARGV; ``head``: append's origin, windows and fan-out position."""
    time_key, stamp = ring.ring_time or (ring.state_key, None)  # no time: KEYS[5] is named, never touched
    keys = [value_key(ring.event_key), value_key(ring.state_key), set_key(ring.recipients_key), FANOUT_KEY]
    keys += [value_key(time_key), *(stream_key(agent) for agent in ring.agents)]
    fields = to_fields(Delivery("", card=ring.card))
    shown = "" if stamp is None else stamp_text(stamp)
    args: list[str | int] = [
        ring.event_ttl_s,
        ring.recipients_ttl_s,
        *head,
        token,
        shown,
        len(fields),
        *fields,
    ]
    return keys, [*args, *ring.agents]


def ring_reply(reply: Sequence[Any]) -> tuple[Rung, Sequence[Any] | None]:
    """What ``ring.lua`` did, and append's reply (ids, fan-out id, missed) when it appended the card."""
    claimed, state, new, *appended = reply
    rung = Rung(bool(claimed), None if state is None else str(state), tuple(str(agent) for agent in new))
    return rung, appended or None
