"""Terminal tables for ``lookup`` and ``check``: readable at a glance, no colours needed.

A lookup prints one line per section (status, time, and the data an agent
would read first, labelled and formatted as the section's ``display`` says),
so IT staff can compare it with the widget without reading JSON.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from screenpop.cli.check import CheckRow
    from screenpop.config import DisplayField, DisplaySettings
from screenpop.config import DisplayField, DisplaySettings

if TYPE_CHECKING:  # a type only: printing the table must not load what the checks use
    from screenpop.cli.check import CheckRow

FALLBACK_COLUMNS = 120
MIN_DATA_WIDTH = 40
FALLBACK_FIELDS = 6
CURRENCY_SIGNS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}


@dataclass(frozen=True, slots=True)
class LookupTimings:
    """Where a one-off lookup's time went: opening sources, then the fan-out itself.

    The fan-out figures are what a ringing call costs in a running service,
    whose connectors are already open; ``started_ms`` is paid once per process.
    """

    started_ms: float
    first_ms: float | None
    complete_ms: float


def _short(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _table(rows: Sequence[Sequence[str]], right: frozenset[int] = frozenset()) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]

    def line(row: Sequence[str]) -> str:
        cells = (
            c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))
        )
        return "  ".join(cells).rstrip()

    lines = [line(row) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return lines


def format_value(value: Any, hint: DisplayField | None) -> str:
    """One value as the widget would show it: money, percentages, thousands separators."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    kind = hint.format if hint else "text"
    if kind == "currency":
        currency = hint.currency if hint else None
        sign = CURRENCY_SIGNS.get(currency or "")
        amount = f"{value:,.2f}"
        return f"{sign}{amount}" if sign else f"{amount} {currency}" if currency else amount
    if kind == "percent":
        return f"{value * 100:.1f}".rstrip("0").rstrip(".") + "%"
    return f"{value:,}" if isinstance(value, int) else f"{value:,.10g}"


def summarize_row(row: Mapping[str, Any], display: DisplaySettings | None) -> str:
    """The displayed fields in display order, labelled; every field when there is no display."""
    if display is not None and display.fields:
        parts = [
            f"{hint.label or name}: {format_value(row[name], hint)}"
            for name, hint in display.fields.items()
            if row.get(name) not in (None, "")
        ]
    else:
        parts = [f"{k}={format_value(v, None)}" for k, v in list(row.items())[:FALLBACK_FIELDS]]
    return "; ".join(parts)


def summarize_section(section: Mapping[str, Any], display: DisplaySettings | None) -> str:
    """What the agent would see first: the row, or "N rows: first row" for a list."""
    data = section.get("data")
    if section.get("error"):
        return str(section["error"])
    if section["status"] == "not_found":
        return "no match"
    if not isinstance(data, dict):
        return ""
    items = data.get("items")
    if isinstance(items, list):
        if not items:
            return "0 rows"
        first = (
            summarize_row(items[0], display) if isinstance(items[0], dict) else format_value(items[0], None)
        )
        return f"{len(items)} row{'s' if len(items) != 1 else ''}: {first}"
    return summarize_row(data, display)


def card_lines(
    card: Mapping[str, Any], timings: LookupTimings, displays: Mapping[str, DisplaySettings | None]
) -> list[str]:
    """The card as terminal lines: caller, customer, badges, conflicts, a section table, timings."""
    lines = _caller_lines(card["caller"]) + _customer_lines(card)
    columns = shutil.get_terminal_size((FALLBACK_COLUMNS, 24)).columns
    rows = [["section", "status", "ms", "data"]]
    for name, section in card["sections"].items():
        status = section["status"] + (" (cached)" if section.get("cached") else "")
        elapsed = section.get("elapsed_ms")
        rows.append(
            [
                name,
                status,
                "-" if elapsed is None else str(elapsed),
                summarize_section(section, displays.get(name)),
            ]
        )
    prefix = max(len(r[0]) for r in rows) + max(len(r[1]) for r in rows) + max(len(r[2]) for r in rows) + 6
    width = max(MIN_DATA_WIDTH, columns - prefix - 1)
    rows = [[*r[:3], _short(r[3], width)] for r in rows]
    lines += ["", *_table(rows, right=frozenset({2})), "", timing_line(timings)]
    return lines


def timing_line(timings: LookupTimings) -> str:
    first = "" if timings.first_ms is None else f"first section in {timings.first_ms:.0f} ms, "
    return (
        f"card complete in {timings.complete_ms:.0f} ms ({first}"
        f"connectors opened in {timings.started_ms:.0f} ms before the lookup)"
    )


def _caller_lines(caller: Mapping[str, Any]) -> list[str]:
    kind = (caller.get("type") or "").replace("_", " ")
    parts = [
        caller.get("national") or caller["raw"] or "(empty)",
        caller.get("e164") or "",
        caller.get("location") or "",
        kind,
    ]
    lines = ["caller    " + "  ".join(p for p in parts if p)]
    if caller.get("withheld"):
        lines.append("          number withheld: no connector was asked")
    elif not caller.get("valid"):
        lines.append("          not a valid number: connectors were asked with the digits as given")
    return lines


def _customer_lines(card: Mapping[str, Any]) -> list[str]:
    customer = card["customer"]
    ids = ", ".join(f"{section} {value}" for section, value in customer["ids"].items())
    matches = customer["matches"]
    line = f"customer  {customer.get('name') or 'unknown'}  ({matches} match{'es' if matches != 1 else ''})"
    lines = [line + (f"  ids: {ids}" if ids else "")]
    for badge in card["badges"]:
        lines.append(f"badge     {badge['level'].upper()}: {badge['text']}  (from {badge['section']})")
    for conflict in customer["conflicts"]:
        values = " / ".join(f'"{v}"' for v in conflict["values"])
        where = ", ".join(conflict.get("sections") or [])
        lines.append(f"conflict  possible duplicate, {conflict['field']}: {values}  (in {where})")
    return lines


def print_table(rows: Sequence[Sequence[str]]) -> None:
    """A header row, a rule, then the rows, in columns as wide as their widest cell."""
    print("\n".join(_table(rows)))


def print_card_table(
    card: Mapping[str, Any], timings: LookupTimings, displays: Mapping[str, DisplaySettings | None]
) -> None:
    print("\n".join(card_lines(card, timings, displays)))


def print_check_table(rows: Sequence[CheckRow]) -> None:
    table = [["part", "result", "ms", "detail"]]
    for row in rows:
        result = "skip" if row.skipped else "warn" if row.warning else "ok" if row.ok else "FAIL"
        table.append([row.part, result, f"{row.elapsed_ms:.0f}", row.detail])
    print("\n".join(_table(table, right=frozenset({2}))))
    failed = sum(not r.ok for r in rows)
    skipped = sum(r.skipped for r in rows)
    warned = sum(r.warning for r in rows)
    tail = f", {skipped} skipped" if skipped else ""
    print(f"\n{len(rows) - failed - skipped - warned} ok, {failed} failed{tail}")
    if warned:  # a line of its own: scripts read the line above as it always was
        print(f"{warned} warning{'s' if warned != 1 else ''} (marked warn above; they do not fail the check)")
