"""Tests a newcomer can find: each test module stands alone, and what they share is in ``tests/support``.

A test module that imports another one ties two files' fixtures, constants
and collection together; a helper two test modules need moves to
``tests/support/`` instead.  ``tests/support`` itself imports no test module.
"""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent
SUPPORT = "tests.support"


def imported(node: ast.AST) -> list[str]:
    """The modules an import statement names, relative ones spelled with their leading dots."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom):
        return ["." * node.level + (node.module or "")]
    return []


def reaches_another_test_module(module: str) -> bool:
    """Anything under ``tests`` but ``tests.support``, or any relative import (tests use absolute ones)."""
    if module.startswith("."):
        return True
    if module != "tests" and not module.startswith("tests."):
        return False
    return not (module == SUPPORT or module.startswith(SUPPORT + "."))


def other_test_modules_imported(path: Path, root: Path = TESTS) -> list[str]:
    """``file:line imports module`` for each import in ``path`` that reaches another test module."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    return [
        f"{path.relative_to(root)}:{node.lineno} imports {module}"
        for node in sorted(ast.walk(tree), key=lambda n: getattr(n, "lineno", 0))
        for module in imported(node)
        if reaches_another_test_module(module)
    ]


def test_no_test_module_imports_another_test_module() -> None:
    """Every module under tests/ imports from tests/ only tests.support, never another test module."""
    found = [where for path in sorted(TESTS.rglob("*.py")) for where in other_test_modules_imported(path)]
    assert found == [], f"move what is shared to tests/support/: {found}"


def test_the_check_sees_absolute_and_relative_imports(tmp_path: Path) -> None:
    """The check flags `from tests.e2e…`, `import tests.unit…`, `from . import`; tests.support passes."""
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from tests.support.service import ADA\n"
        "import tests.support.ports\n"
        "from tests.e2e.test_cli_service import stop\n"
        "import tests.unit.test_phone\n"
        "from . import test_phone\n"
        "from tests import conftest\n"
        "from testsuite import x\n"
    )
    assert other_test_modules_imported(sample, tmp_path) == [
        "sample.py:3 imports tests.e2e.test_cli_service",
        "sample.py:4 imports tests.unit.test_phone",
        "sample.py:5 imports .",
        "sample.py:6 imports tests",
    ]
