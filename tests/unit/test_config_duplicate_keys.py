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
