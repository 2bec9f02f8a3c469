"""The Redis broker's Lua scripts, read from the ``.lua`` files beside this module.

``append.lua`` appends a publish to the agent streams and the fan-out stream
in one call, idempotently per publish token; ``add_members.lua`` adds to a
shared set and says which members are new; ``replace_members.lua`` swaps a
set's members for others and answers the old ones (a transfer).  Each file documents its KEYS,
ARGV and reply; the names in double braces are filled in here, from
``redis_layout``, so Python and Lua agree on them.
"""

from __future__ import annotations

from importlib import resources

from screenpop.broker.redis_layout import MISSED_MAX, SENT_PREFIX


def _read(name: str, **names: str) -> str:
    text = resources.files("screenpop.broker").joinpath(name).read_text(encoding="utf-8")
    for key, value in names.items():
        text = text.replace("{{" + key + "}}", value)
    if "{{" in text:
        raise RuntimeError(f"{name}: a name in double braces was left unfilled")
    return text


APPEND_LUA = _read("append.lua", MISSED_MAX=str(MISSED_MAX), SENT_PREFIX=SENT_PREFIX)
ADD_MEMBERS_LUA = _read("add_members.lua")
REPLACE_MEMBERS_LUA = _read("replace_members.lua")
