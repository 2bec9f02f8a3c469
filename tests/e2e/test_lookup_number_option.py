"""`screenpop lookup --number N` works as `screenpop lookup N`, as `check`, `erase` and `audit` take it."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def lookup(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`screenpop lookup` over a one-customer SQLite table."""
    db = tmp_path / "accounts.db"
    if not db.exists():
        with sqlite3.connect(db) as conn:
            conn.execute("CREATE TABLE accounts (id TEXT, name TEXT, phone TEXT)")
            conn.execute("INSERT INTO accounts VALUES ('A-1', 'Ada', '+14155550132')")
    config = {
        "store": {"url": f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"},
        "agents": {"token_secret": "s" * 32, "directory": [{"id": "agent-1"}]},
        "connectors": [
            {
                "name": "accounting",
                "kind": "sql",
                "url": f"sqlite+aiosqlite:///{db}",
                "query": "SELECT id, name FROM accounts WHERE phone = :e164",
                "identity": {"id": "id", "name": "name"},
            }
        ],
    }
    path = tmp_path / "screenpop.yaml"
    path.write_text(yaml.safe_dump(config))
    return subprocess.run(
        [sys.executable, "-m", "screenpop", "lookup", *args, "--config", str(path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=dict(os.environ),
        timeout=60,
    )


def test_the_number_may_be_given_as_an_option(tmp_path: Path) -> None:
    """`--number "(415) 555-0132"` finds the customer exactly as the positional number does."""
    run = lookup(tmp_path, "--number", "(415) 555-0132", "--json")
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["customer"]["name"] == "Ada"


def test_no_number_is_one_sentence(tmp_path: Path) -> None:
    """Without a number the command says what is missing, in one line, exit 2 (as argparse says it)."""
    run = lookup(tmp_path)
    assert run.returncode == 2
    assert "one of the arguments number --number is required" in run.stderr.strip().splitlines()[-1]
    assert "Traceback" not in run.stderr
