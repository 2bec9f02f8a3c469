"""Credentials in tests are made the way the real sender makes them (ENGINEERING.md, "Tests").

An agent token is minted by the host application, with PyJWT
(``tests/support/tokens.py``); a test that used screenpop's own minting would pass
even if screenpop minted and verified tokens that no host could produce.
Only the tests of ``screenpop token`` itself may exercise that code.
"""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent
OWN_MINTING = {"mint_token"}
MAY_USE_OWN_MINTING = {"test_cli_commands.py"}  # the tests of `screenpop token`


def own_minting_uses(path: Path) -> list[int]:
    """Lines of ``path`` that import or call screenpop's own token minting."""
    tree = ast.parse(path.read_text(), str(path))
    return sorted(node.lineno for node in ast.walk(tree) if reaches_own_minting(node))


def reaches_own_minting(node: ast.AST) -> bool:
    if isinstance(node, ast.ImportFrom):
        return any(alias.name in OWN_MINTING for alias in node.names)
    return isinstance(node, ast.Attribute) and node.attr in OWN_MINTING


def test_no_test_mints_agent_tokens_with_screenpops_own_code() -> None:
    """Every token a test presents is minted with PyJWT as a host would, outside the token command's tests."""
    found = {
        f"{path.relative_to(TESTS)}:{line}"
        for path in sorted(TESTS.rglob("*.py"))
        if path.name not in MAY_USE_OWN_MINTING
        for line in own_minting_uses(path)
    }
    assert found == set()


def test_the_check_sees_an_import_and_a_call(tmp_path: Path) -> None:
    """The check itself finds both ways of reaching the minting code."""
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from screenpop.auth import mint_token\nimport screenpop.auth\nscreenpop.auth.mint_token(1)\n"
    )
    assert own_minting_uses(sample) == [1, 3]
