"""Terminal tables for ``lookup`` and ``check``: readable at a glance, no colours needed."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from screenpop.checks import CheckRow

MAX_VALUE = 60


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= MAX_VALUE else text[: MAX_VALUE - 1] + "…"


def _table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def print_card_table(card: dict[str, Any], elapsed_ms: float) -> None:
    caller = card["caller"]
    customer = card["customer"]
    where = ", ".join(x for x in (caller.get("location"), caller.get("type")) if x)
    print(
        f"caller    {caller.get('national') or caller['raw']}  {caller.get('e164') or ''}  {where}".rstrip()
    )
    if caller.get("withheld"):
        print("          number withheld: no connector was asked")
    elif not caller.get("valid"):
        print("          not a valid number: connectors were asked with the digits as given")
    print(f"customer  {customer.get('name') or 'unknown'}  (matches: {customer['matches']})")
    for conflict in customer["conflicts"]:
        print(f"  possible duplicate: {conflict['field']} {' / '.join(conflict['values'])}")
    for badge in card["badges"]:
        print(f"  [{badge['level']}] {badge['text']} ({badge['section']})")
    rows = [["section", "status", "ms", "data"]]
    for name, section in card["sections"].items():
        data = section.get("data") or {}
        items = data.get("items") if isinstance(data, dict) else None
        summary = (
            f"{len(items)} rows"
            if isinstance(items, list)
            else ", ".join(f"{k}={_short(v)}" for k, v in list(data.items())[:6])
        )
        detail = section.get("error") or summary
        rows.append([name, section["status"], str(section.get("elapsed_ms", "")), _short(detail)])
    print()
    print(_table(rows))
    print(f"\ncard complete in {elapsed_ms:.0f} ms")


def print_check_table(rows: Sequence[CheckRow]) -> None:
    table = [["part", "result", "ms", "detail"]]
    for row in rows:
        table.append([row.part, "ok" if row.ok else "FAIL", f"{row.elapsed_ms:.0f}", row.detail])
    print(_table(table))
    failed = sum(not r.ok for r in rows)
    print(f"\n{len(rows) - failed} ok, {failed} failed")
