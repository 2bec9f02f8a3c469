"""`screenpop check` tests a connector that binds a call attribute, instead of failing a valid config.

Its probe lookup has no attributes, so such a connector is skipped (SPEC 3);
`check` then ran its query without the attribute and reported the driver's
`query needs :attr_account` as FAIL, exit 1, for a config the service runs
well.  It now binds the missing attributes as NULL, as it does a `needs`
value, so the statement and its tables are still tested.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import yaml

from tests.support.cli import check_rows, screenpop

ROOT = Path(__file__).resolve().parents[2]


def check(tmp_path: Path, connectors: list[dict[str, Any]]) -> tuple[int, dict[str, tuple[str, str]], str]:
    """`screenpop check` on these connectors; exit code, part -> (result, detail), stdout."""
    config = {
        "store": {"url": f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"},
        "agents": {"token_secret": "s" * 32, "directory": [{"id": "agent-1"}]},
        "connectors": connectors,
    }
    path = tmp_path / "screenpop.yaml"
    path.write_text(yaml.safe_dump(config))
    run = screenpop("check", "--config", str(path))
    assert "Traceback" not in run.stderr
    rows = {part: row for part, row in check_rows(run.stdout).items() if part.startswith("lookup ")}
    return run.returncode, rows, run.stdout


def accounts(tmp_path: Path) -> str:
    db = tmp_path / "accounts.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE accounts (id TEXT, name TEXT, phone TEXT)")
        conn.execute("INSERT INTO accounts VALUES ('A-1', 'Ada', '+14155550132')")
    return f"sqlite+aiosqlite:///{db}"


def test_a_connector_binding_an_attribute_is_run_with_it_null(tmp_path: Path) -> None:
    """An IVR account-number connector: ok, `not_found with attr_account = NULL`, exit 0."""
    url = accounts(tmp_path)
    code, rows, out = check(
        tmp_path,
        [
            {
                "name": "ivr",
                "kind": "sql",
                "url": url,
                "query": "SELECT id FROM accounts WHERE id = :attr_account",
            }
        ],
    )
    assert rows["lookup ivr"] == ("ok", "not_found with attr_account = NULL (the probe lookup has none)"), out
    assert code == 0, out


def test_a_broken_statement_behind_an_attribute_still_fails(tmp_path: Path) -> None:
    """The same connector over a table that does not exist: FAIL naming the table, exit 1."""
    url = accounts(tmp_path)
    query = "SELECT id FROM no_such_table WHERE id = :attr_account"
    code, rows, out = check(tmp_path, [{"name": "ivr", "kind": "sql", "url": url, "query": query}])
    assert rows["lookup ivr"][0] == "FAIL" and "no_such_table" in rows["lookup ivr"][1], out
    assert code == 1, out
