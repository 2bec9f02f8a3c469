"""Every SQLAlchemy engine screenpop or a connector kind creates hides its statements' parameters.

Without ``hide_parameters=True`` a failed statement's text ends with
``[parameters: ('+14155550132', ...)]``: a caller's number, a note or a PIN
in the log (ENGINEERING.md, "Conventions"; issue 13).  The store, the
connector kinds and the sinks each create their own engines, so this test
reads every call of ``create_engine``/``create_async_engine`` in the shipped
code: each passes ``hide_parameters=True``, or passes ``**`` keywords built
by a function of the same module that sets ``"hide_parameters": True``.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ("screenpop", "connectors")
FACTORIES = {"create_engine", "create_async_engine"}


def engine_calls(tree: ast.AST) -> list[ast.Call]:
    def name(call: ast.Call) -> str | None:
        func = call.func
        if isinstance(func, ast.Attribute):
            return func.attr
        return func.id if isinstance(func, ast.Name) else None

    return [n for n in ast.walk(tree) if isinstance(n, ast.Call) and name(n) in FACTORIES]


def hides(call: ast.Call, source: str) -> bool:
    """True when the call sets hide_parameters=True itself, or spreads keywords that a module dict sets."""
    for keyword in call.keywords:
        if keyword.arg == "hide_parameters":
            return isinstance(keyword.value, ast.Constant) and keyword.value.value is True
    spreads = any(keyword.arg is None for keyword in call.keywords)
    return spreads and '"hide_parameters": True' in source


def test_every_engine_hides_its_parameters() -> None:
    """No module of screenpop or connectors creates an engine that would log bound values."""
    found, bare = 0, []
    for package in SHIPPED:
        for path in sorted((ROOT / package).rglob("*.py")):
            source = path.read_text()
            for call in engine_calls(ast.parse(source, str(path))):
                found += 1
                if not hides(call, source):
                    bare.append(f"{path.relative_to(ROOT)}:{call.lineno}")
    assert found >= 4, "the store's two engines and the sql and purchases kinds' engines were not found"
    assert bare == []
