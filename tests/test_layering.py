"""Imports flow one way, so the architecture in docs/architecture.md stays true.

Every module is named as it is installed (``connectors/sql/index.py`` is
``screenpop.connectors.sql.index``, through pyproject's ``package-dir``) and
placed in a layer by its package, ``screenpop.<first component>``. A module
that no layer names fails the test: a new package is placed here on purpose.
Imports inside functions and under ``TYPE_CHECKING`` count like the others,
so a deferred import cannot hide a cycle.
"""

from __future__ import annotations

import ast
import functools
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOP = "screenpop"
CONNECTORS = "screenpop.connectors"
CONNECTOR_MAY_IMPORT = {
    "screenpop.connector_api",
    "screenpop.driver_threads",
    "screenpop.stopping",
    "screenpop.model",
    "screenpop.conditions",
    "screenpop.errors",
}

# Lower layers must not import higher ones (the SPEC-independent core first, the CLI last).
BASE, MODEL, PURE, SERVICES, WEB, APP, CLI = range(7)
LAYER_NAMES = ["base", "model", "pure", "services", "web", "app", "cli"]
LAYER_OF = {
    TOP: BASE,  # screenpop/__init__.py: the version only
    "errors": BASE,
    "clock": BASE,
    "retry": BASE,
    "stopping": BASE,  # cancelling a task until it has ended (a cancel swallowed inside it)
    "model": MODEL,
    "conditions": MODEL,  # badge and rule conditions, shared by card.py and the rules kind
    "untrusted": MODEL,
    "card_numbers": MODEL,  # card numbers (PANs) in typed text, masked before a note is kept
    "call_context": MODEL,  # direction, line, attributes: from the webhook to the lookup and the card
    "config": PURE,
    "phone": PURE,
    "card": PURE,
    "identity": MODEL,  # which rows name the same customer (customer.matches)
    "card_text": PURE,  # a card version as the text a socket sends, each piece encoded once
    "routing": PURE,
    "lines": PURE,
    "auth": PURE,
    "connector_api": PURE,
    "driver_threads": PURE,  # aiosqlite's threads, stopped and ended: the SQL connector's and the sql sink's
    "sqlite_sources": PURE,  # a source SQLite file: non-UTF-8 text read, a missing file refused
    "plugins": PURE,
    "sink_api": PURE,  # the sink contract: Delivery, SinkRefused, the entry-point group
    "testing": PURE,
    "lookup": SERVICES,
    "admin": SERVICES,  # webhook outcomes and every instance's status, for the IT console
    "broker": SERVICES,
    "store": SERVICES,
    "providers": SERVICES,
    "metrics": SERVICES,
    "calls": SERVICES,
    "live_card": SERVICES,  # a card being built on this instance (what CallService keeps per call)
    "midcall": SERVICES,  # attributes posted during a call: merged, re-run, published
    "hub": SERVICES,
    "call_transfers": SERVICES,
    "call_status": SERVICES,  # answered, ended, withdrawn: who is told (a mixin of CallService)
    "call_keys": SERVICES,  # a call's broker keys and an event's duplicate-guard key
    "transfers": SERVICES,
    "generation": SERVICES,  # one loaded config and what was built from it; what a call pins
    "reloading": SERVICES,  # re-reading the config file: a new generation, sockets re-checked
    "demo": SERVICES,
    "sinks": SERVICES,  # the sql and http sink kinds and the outbox's delivery worker
    "connectors": SERVICES,  # the kinds do I/O; they import only the connector contract (below)
    "web": WEB,
    "web_widget": WEB,  # static files served by web/
    "app": APP,
    "cli": CLI,
    "__main__": CLI,
}


@functools.cache
def package_dirs() -> dict[str, Path]:
    """Each installed package and its folder in the checkout, as pyproject.toml installs them."""
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    mapped = {name: ROOT / folder for name, folder in setuptools.get("package-dir", {}).items()}
    dirs: dict[str, Path] = {}
    for package in sorted(setuptools["packages"], key=lambda name: name.count(".")):  # parents first
        parent, _, last = package.rpartition(".")
        dirs[package] = mapped.get(package) or (dirs[parent] / last if parent else ROOT / package)
    return dirs


def package_folders() -> Iterator[tuple[str, Path]]:
    """Every folder with Python in it, named as installed: the packages and those beneath them."""
    for root_name in (TOP, CONNECTORS, "screenpop.web_widget"):
        root = package_dirs().get(root_name) or ROOT / root_name.removeprefix("screenpop.")
        yield root_name, root
        for folder in sorted(root.rglob("*")):
            if folder.is_dir() and folder.name != "__pycache__" and any(folder.glob("*.py")):
                yield root_name + "." + ".".join(folder.relative_to(root).parts), folder


@functools.cache
def all_modules() -> dict[str, Path]:
    """Every Python module that is installed, by its dotted name."""
    modules = {}
    for package, folder in package_folders():
        for path in sorted(folder.glob("*.py")):
            modules[package if path.stem == "__init__" else f"{package}.{path.stem}"] = path
    return modules


def is_package(module: str) -> bool:
    return all_modules()[module].name == "__init__.py"


def imported_modules(module: str) -> set[str]:
    """The modules ``module`` imports, absolute, relative ones resolved; ``from p import m`` names p.m."""
    tree = ast.parse(all_modules()[module].read_text(encoding="utf-8"))
    own_package = module if is_package(module) else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = own_package.rsplit(".", node.level - 1)[0] if node.level > 1 else own_package
                base = f"{anchor}.{base}" if base else anchor
            found.add(base)
            found.update(
                f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in all_modules()
            )
    return found


def own_imports(module: str) -> set[str]:
    """The screenpop modules ``module`` imports: the edges of the import graph."""
    return {m for m in imported_modules(module) if m in all_modules() and m != module}


def component(module: str) -> str:
    """``screenpop.<first component>``'s first component, or ``screenpop`` for the package itself."""
    return module.split(".")[1] if "." in module else module


def layer_of(module: str) -> int | None:
    return LAYER_OF.get(component(module))


def cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one node (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in sorted(graph.get(node, ())):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            scc = [stack.pop()]
            while scc[-1] != node:
                scc.append(stack.pop())
            if len(scc) > 1:
                found.append(sorted(scc))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def module_graph() -> dict[str, set[str]]:
    return {module: set(own_imports(module)) for module in all_modules()}


def test_every_module_has_a_layer() -> None:
    """A module the layer map cannot place fails here, so a new package is placed on purpose."""
    unplaced = sorted(module for module in all_modules() if layer_of(module) is None)
    assert unplaced == []


def test_every_package_is_installed() -> None:
    """pyproject.toml lists each package (connectors/ and web_widget/ inside screenpop), and no other."""
    found = {package for package, _ in package_folders()}
    assert set(package_dirs()) == found
    not_packages = sorted(
        package for package, folder in package_folders() if not (folder / "__init__.py").is_file()
    )
    assert not_packages == []


def test_the_walk_sees_every_kind_of_module() -> None:
    """The checks below cover subpackages, connector kinds and the widget package, not only flat modules."""
    modules = all_modules()
    assert {"screenpop.connectors.sql.connector", "screenpop.connectors.http.select"} <= set(modules)
    assert {"screenpop.web_widget", "screenpop.providers.twilio", "screenpop.__main__"} <= set(modules)
    assert own_imports("screenpop.connectors.sql.connector") >= {"screenpop.connectors.sql.index"}


def test_lower_layers_do_not_import_higher_ones() -> None:
    """errors -> model -> pure logic -> services -> web -> app -> cli, never backwards."""
    backwards = []
    for module in all_modules():
        own = layer_of(module)
        for other in own_imports(module):
            theirs = layer_of(other)
            if own is not None and theirs is not None and theirs > own:
                backwards.append(f"{module} ({LAYER_NAMES[own]}) -> {other} ({LAYER_NAMES[theirs]})")
    assert backwards == []


def test_connectors_use_only_the_connector_contract() -> None:
    """A connector kind imports from screenpop only connector_api, model, errors and its own package."""
    for module in all_modules():
        if not module.startswith(CONNECTORS + "."):
            continue
        kind = ".".join(module.split(".")[:3])
        used = {m for m in imported_modules(module) if m.split(".")[0] in {TOP, "connectors"}}
        others = {m for m in used if m != kind and not m.startswith(kind + ".")}
        assert others <= CONNECTOR_MAY_IMPORT, (module, others - CONNECTOR_MAY_IMPORT)


def test_screenpop_reaches_connectors_only_through_entry_points() -> None:
    """No screenpop module imports a connector kind directly."""
    for module in all_modules():
        if module == CONNECTORS or module.startswith(CONNECTORS + "."):
            continue
        reached = {m for m in imported_modules(module) if m.split(".")[0] == "connectors"}
        reached |= {m for m in imported_modules(module) if m == CONNECTORS or m.startswith(CONNECTORS + ".")}
        assert reached == set(), module


def test_no_import_cycle_between_modules() -> None:
    """No module imports itself back through others, even through an import inside a function."""
    assert cycles(module_graph()) == []


def test_no_import_cycle_between_packages() -> None:
    """screenpop's packages (config, lookup, store, web, ...) import one another one way only."""
    packages: dict[str, set[str]] = {}
    for module, imports in module_graph().items():
        packages.setdefault(component(module), set()).update(component(m) for m in imports)
    for package, imports in packages.items():
        imports.discard(package)
    assert cycles(packages) == []


def test_the_cycle_check_finds_a_cycle() -> None:
    """The check itself: a -> b -> c -> a is one cycle; a -> b alone is none."""
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
