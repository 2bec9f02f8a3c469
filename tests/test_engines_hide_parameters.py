"""Every SQLAlchemy engine screenpop or a connector kind creates hides its statements' parameters.

Without ``hide_parameters=True`` a failed statement's text ends with
``[parameters: ('+14155550132', ...)]``: a caller's number, a note or a PIN
in the log (ENGINEERING.md, "Conventions"; issue 13).  The store, the
connector kinds and the sinks each create their own engines, so this test
reads every call of ``create_engine``/``create_async_engine`` in the shipped
code: each passes ``hide_parameters=True``, or passes ``**`` keywords built
by a function that sets ``"hide_parameters": True``: one of the same module,
or one it imports from a sibling module (``from .options import engine_kwargs``).
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


def hides(call: ast.Call, path: Path, tree: ast.AST) -> bool:
    """True when the call sets hide_parameters=True itself, or spreads keywords a function sets it in."""
    for keyword in call.keywords:
        if keyword.arg == "hide_parameters":
            return isinstance(keyword.value, ast.Constant) and keyword.value.value is True
    spread = [k.value for k in call.keywords if k.arg is None]
    return any(_sets_hide_parameters(value, path, tree) for value in spread)


def _sets_hide_parameters(value: ast.expr, path: Path, tree: ast.AST) -> bool:
    """The ``**`` argument is ``f(...)`` with ``f`` defined here or imported from a sibling module."""
    if not (isinstance(value, ast.Call) and isinstance(value.func, ast.Name)):
        return False
    name = value.func.id
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == name:
            return '"hide_parameters": True' in (ast.get_source_segment(path.read_text(), node) or "")
        if isinstance(node, ast.ImportFrom) and node.level == 1 and any(a.name == name for a in node.names):
            sibling = path.with_name(f"{node.module}.py")
            return _sets_hide_parameters(value, sibling, ast.parse(sibling.read_text(), str(sibling)))
    return False


def test_every_engine_hides_its_parameters() -> None:
    """No module of screenpop or connectors creates an engine that would log bound values."""
    found, bare = 0, []
    for package in SHIPPED:
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(), str(path))
            for call in engine_calls(tree):
                found += 1
                if not hides(call, path, tree):
                    bare.append(f"{path.relative_to(ROOT)}:{call.lineno}")
    assert found >= 4, "the store's two engines and the sql and purchases kinds' engines were not found"
    assert bare == []
