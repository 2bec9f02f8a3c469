"""``screenpop audit``: who saw a caller's card, and which sections (a security officer's question).

Every card version written to an agent's socket (with the sections whose data
that frame carried), every supervisor lookup and every note is in the store's
audit table; this command reads it back grouped per agent and call, so "who
saw this customer's credit limit?" is one command.  An agent the call rang
with no socket open saw nothing and is not listed.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence
from typing import Any

from screenpop.cli.arguments import existing_store, phone_number
from screenpop.cli.output import print_table
from screenpop.config import Settings
from screenpop.store import Store


def group_views(rows: Sequence[dict[str, Any]], section: str | None) -> list[dict[str, Any]]:
    """One line per agent, action and call: first and last time, every section it carried.

    An erasure is a line of its own, with how many rows went from each
    place (its ``sections`` are those counts): grouped by who ran them,
    two erasures would read as one and their counts as table names.
    """
    grouped: dict[tuple[str, str, str], dict[str, Any]] = {}
    for row in rows:
        if row["action"] == "erase":
            grouped[(row["agent"], "erase", str(row["at"]))] = {**erasure_view(row), "first": row["at"]}
            continue
        key = (row["agent"], row["action"], row["call_id"] or row["number"] or "")
        entry = grouped.setdefault(key, {**row, "first": row["at"], "last": row["at"], "sections": []})
        entry["first"] = min(entry["first"], row["at"])
        entry["last"] = max(entry["last"], row["at"])
        entry["sections"] = sorted(set(entry["sections"]) | set(row["sections"]))
    views = sorted(grouped.values(), key=lambda v: v["first"], reverse=True)
    return [v for v in views if section is None or section in v["sections"]]


def erasure_view(row: dict[str, Any]) -> dict[str, Any]:
    """An ``erase`` row with its counts as ``place n`` items (those above 0), or ``nothing found``."""
    counts = row["sections"] if isinstance(row["sections"], dict) else {}
    removed = [f"{place} {n}" for place, n in counts.items() if isinstance(n, int) and n > 0]
    return {**row, "last": row["at"], "sections": removed or ["nothing found"]}


async def _audit(settings: Settings, number: str | None, agent: str | None) -> list[dict[str, Any]]:
    store = await Store.open(settings.store.url)
    try:
        return await store.who_saw(number=number, agent_id=agent)
    finally:
        await store.close()


def show_audit(args: argparse.Namespace, settings: Settings) -> int:
    number = None
    if args.number:
        number = phone_number(args.number, settings)
    for option, given in (("--section", args.section), ("--agent", args.agent)):
        if given is not None and not given.strip():
            raise ValueError(f"{option} is empty: name what to search for, or leave it out")
    existing_store(settings, "audit")
    views = group_views(asyncio.run(_audit(settings, number, args.agent)), args.section)[: args.limit]
    table = [["first seen", "agent", "action", "call / number", "sections"]]
    for view in views:
        target = view["call_id"] or view["number"] or ""
        if view["call_id"] and view["number"]:
            target += f" ({view['number']})"
        table.append([view["first"], view["agent"], view["action"], target, ", ".join(view["sections"])])
    if len(table) == 1:
        hints = unknown_filters(settings, args.section, args.agent)
        print("nothing in the audit trail matches" + (f" ({'; '.join(hints)})" if hints else ""))
        return 0
    print_table(table)
    return 0


def unknown_filters(settings: Settings, section: str | None, agent: str | None) -> list[str]:
    """The filters the config has no name for: likely a typo, said beside an empty answer.

    Not refused: a connector or agent since removed from the config is
    still in the audit trail, and the security officer may ask about it.
    """
    hints = []
    connectors = [c.name for c in settings.connectors]
    if section is not None and section not in connectors:
        known = ", ".join(connectors) or "none"
        hints.append(f"no connector is named {section!r} in {settings.source}: {known}")
    if agent is not None and settings.agent(agent) is None:
        hints.append(f"agents.directory of {settings.source} has no agent {agent!r}")
    return hints
