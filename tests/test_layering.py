"""Imports flow one way, so the architecture in docs/architecture.md stays true."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONNECTOR_MAY_IMPORT = {"screenpop.connector_api", "screenpop.model", "screenpop.errors"}
# Lower layers must not import higher ones (SPEC-independent core first, the CLI last).
LAYERS = [
    {"errors", "clock", "retry"},
    {"model", "untrusted"},
    {"phone", "settings", "envsubst", "config_errors", "connector_api", "card", "routing", "auth", "breaker"},
    {"lookup", "cache", "broker", "hub", "store", "recorder", "calls", "providers", "metrics", "registry"},
    {"handlers", "keys", "openapi", "openapi_schemas", "widget_files"},
    {"app", "runtime", "checks", "server"},
    {"cli", "cli_commands", "cli_output"},
]


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def layer_of(module: str) -> int | None:
    name = module.removeprefix("screenpop.").split(".")[0]
    return next((i for i, layer in enumerate(LAYERS) if name in layer), None)


def test_connectors_use_only_the_connector_contract() -> None:
    """A connector kind imports only connector_api, model and errors from screenpop."""
    for path in (ROOT / "connectors").glob("*.py"):
        used = {m for m in imported_modules(path) if m.startswith("screenpop")}
        assert used <= CONNECTOR_MAY_IMPORT, (path.name, used - CONNECTOR_MAY_IMPORT)


def test_screenpop_reaches_connectors_only_through_entry_points() -> None:
    """No screenpop module imports a connector kind directly."""
    for path in (ROOT / "screenpop").rglob("*.py"):
        assert not any(m.startswith("connectors") for m in imported_modules(path)), path


def test_lower_layers_do_not_import_higher_ones() -> None:
    """errors -> model -> pure logic -> services -> handlers -> app -> cli, never backwards."""
    backwards = []
    for path in (ROOT / "screenpop").glob("*.py"):
        own = layer_of(path.stem)
        if own is None:
            continue
        for module in imported_modules(path):
            other = layer_of(module) if module.startswith("screenpop.") else None
            if other is not None and other > own:
                backwards.append(f"{path.stem} -> {module}")
    assert backwards == []
