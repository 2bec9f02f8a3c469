"""A key written twice in one YAML mapping is a config error; PyYAML alone keeps the last one silently."""

from __future__ import annotations

from pathlib import Path

import pytest

from screenpop.config import load_settings
from screenpop.errors import ConfigError

SECRET = "s" * 32
CONNECTOR = """\
connectors:
  - name: accounting
    kind: sql
    url: sqlite+aiosqlite:///accounting.db
    query: SELECT name FROM accounts WHERE phone = :e164
    query: SELECT name FROM accounts WHERE phone = :digits
"""


def test_a_key_given_twice_names_both_lines(tmp_path: Path) -> None:
    """A copied block with two `query:` keys is refused, naming the key and both lines."""
    path = tmp_path / "screenpop.yaml"
    path.write_text(f"agents: {{token_secret: {SECRET}, directory: [{{id: a1}}]}}\n{CONNECTOR}")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ={})
    assert (
        str(caught.value) == f"{path}: not valid YAML: key `query` is given twice (first at line 6) at line 7"
    )


def test_merge_keys_may_be_overridden(tmp_path: Path) -> None:
    """`<<: *base` then a key of the base is YAML's override, not a duplicate."""
    path = tmp_path / "screenpop.yaml"
    path.write_text(
        f"x-base: &base {{kind: sql, url: 'sqlite+aiosqlite:///a.db', timeout_ms: 900}}\n"
        f"agents: {{token_secret: {SECRET}, directory: [{{id: a1}}]}}\n"
        "connectors:\n"
        "  - <<: *base\n"
        "    name: accounting\n"
        "    timeout_ms: 500\n"
        "    query: SELECT 1 WHERE :e164 = 'x'\n"
    )
    assert load_settings(path, environ={}).connectors[0].timeout_ms == 500


@pytest.mark.parametrize(
    "loop",
    ["connectors: &a [*a]\n", "routing: &a {unrouted: *a}\n", "connectors: &a [{name: x, deeper: [*a]}]\n"],
    ids=["list-in-itself", "mapping-in-itself", "nested"],
)
def test_an_alias_inside_the_node_it_names_is_a_config_error(tmp_path: Path, loop: str) -> None:
    """A YAML alias that refers to its own anchor's node is refused naming its line, not a RecursionError."""
    path = tmp_path / "screenpop.yaml"
    path.write_text(f"agents: {{token_secret: {SECRET}, directory: [{{id: a1}}]}}\n{loop}")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ={})
    assert str(caught.value).startswith(f"{path}: not valid YAML: the alias *a is inside the node")
    assert "at line 2" in str(caught.value)


def test_an_anchor_used_after_its_node_is_kept(tmp_path: Path) -> None:
    """Aliases to finished nodes, however many, still load: only a loop is refused."""
    path = tmp_path / "screenpop.yaml"
    path.write_text(
        f"x-agent: &agent {{id: a1, queues: [support]}}\n"
        f"agents: {{token_secret: {SECRET}, directory: [*agent]}}\n"
        "x-again: [*agent, *agent]\n"
    )
    assert load_settings(path, environ={}).agents.directory[0].queues == ("support",)


def laughs(levels: int) -> str:
    """A "billion laughs": each level a list of nine aliases of the level below, the top one used."""
    lines = ["x-l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"x-l{n}: &l{n} [{', '.join([f'*l{n - 1}'] * 9)}]" for n in range(1, levels)]
    return "\n".join([*lines, f"x-top: *l{levels - 1}", ""])


def test_aliases_that_expand_without_bound_are_a_config_error(tmp_path: Path) -> None:
    """Nine levels of nine aliases (387 million values expanded) are refused before anything walks them."""
    path = tmp_path / "screenpop.yaml"
    path.write_text(f"agents: {{token_secret: {SECRET}, directory: [{{id: a1}}]}}\n{laughs(9)}")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ={})
    said = str(caught.value)
    assert (
        said.startswith(f"{path}: not valid YAML: aliases expand to ") and "over the limit of 100,000" in said
    )


def test_aliases_of_aliases_within_the_bound_still_load(tmp_path: Path) -> None:
    """Four levels of nine (6,561 values) are within the bound: the file loads as written."""
    path = tmp_path / "screenpop.yaml"
    path.write_text(f"agents: {{token_secret: {SECRET}, directory: [{{id: a1}}]}}\n{laughs(4)}")
    assert load_settings(path, environ={}).agents.directory[0].id == "a1"


def test_lists_nested_beyond_the_bound_are_a_config_error(tmp_path: Path) -> None:
    """900 nested lists are refused naming their line; PyYAML recursed per level into a RecursionError."""
    path = tmp_path / "screenpop.yaml"
    path.write_text(
        f"agents: {{token_secret: {SECRET}, directory: [{{id: a1}}]}}\nx-deep: {'[' * 900}{']' * 900}\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ={})
    assert (
        str(caught.value)
        == f"{path}: not valid YAML: lists and mappings nest more than 100 levels deep at line 2"
    )


def test_lists_nested_within_the_bound_still_load(tmp_path: Path) -> None:
    """Fifty nested lists under an `x-` key are far deeper than any config and still load."""
    path = tmp_path / "screenpop.yaml"
    path.write_text(
        f"agents: {{token_secret: {SECRET}, directory: [{{id: a1}}]}}\nx-deep: {'[' * 50}{']' * 50}\n"
    )
    assert load_settings(path, environ={}).agents.directory[0].id == "a1"
