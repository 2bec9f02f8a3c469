"""``screenpop lookup --trace`` as terminal lines: per connector what it ran, with what, and why not.

The same report is the ``trace`` key of ``--json`` and of the console's
test lookup; this module only lays it out for a terminal, indented under
each connector so that a failing one reads top to bottom: the statement or
URL, the bound parameters, the time, the raw rows or response, the reason.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

INDENT = "    "
SHOWN_KEYS = ("database", "method", "url", "statement", "headers", "body", "params")
ANSWER_KEYS = ("status", "rows_read", "matched_keys", "numbers", "rows_indexed", "failed", "holds")


def trace_lines(report: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Every connector's trace, in config order, ready to print."""
    lines = ["", "trace (each connector run afresh, without the cache)"]
    for name, entry in report.items():
        lines += _connector_lines(name, entry)
    return lines


def _connector_lines(name: str, entry: Mapping[str, Any]) -> list[str]:
    elapsed = entry.get("elapsed_ms")
    took = "" if elapsed is None else f"  {elapsed} ms"
    lines = ["", f"{name} ({entry.get('kind') or '?'}): {entry['status']}{took}"]
    for step in entry.get("steps", []):
        lines += _step_lines(step)
    why = entry.get("why") or ""
    for note in entry.get("notes", []):
        if note not in why:  # the reason already says it
            lines.append(f"  note: {note}")
    if entry.get("why"):
        lines.append(f"  why: {entry['why']}")
    return lines


def _step_lines(step: Mapping[str, Any]) -> list[str]:
    elapsed = step.get("elapsed_ms")
    took = "no answer" if elapsed is None else f"{elapsed} ms"
    lines = [f"  {step['what']} ({took})"]
    for key in SHOWN_KEYS:
        if key in step:
            lines += _value_lines(key, step[key])
    for key in ANSWER_KEYS:
        if key in step:
            lines.append(f"{INDENT}{key}: {_text(step[key])}")
    if "rows" in step:
        lines.append(f"{INDENT}rows before mapping:")
        lines += [f"{INDENT}  {_text(row)}" for row in step["rows"]] or [f"{INDENT}  (none)"]
    if "response" in step:
        lines.append(f"{INDENT}response: {_text(step['response'])}")
    if step.get("error"):
        lines.append(f"{INDENT}error: {step['error']}")
    return lines


def _value_lines(key: str, value: Any) -> list[str]:
    if key == "statement" and isinstance(value, str):
        return [f"{INDENT}{line.rstrip()}" for line in value.strip().splitlines()]
    if isinstance(value, Mapping):
        shown = ", ".join(f"{k}={_text(v)}" for k, v in value.items())
        return [f"{INDENT}{key}: {shown or '(none)'}"]
    return [f"{INDENT}{key}: {_text(value)}"]


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
