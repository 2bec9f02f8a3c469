"""`screenpop check` and `lookup` report a failing connector once: in their table, not again as a log line.

Both commands print each connector's status; the WARNING the lookup engine
logs for a failed connector (meant for a running service's log) said the
same thing a second time on stderr, as a raw log line.  `--debug` still shows
every log line.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support.cli import screenpop

ROOT = Path(__file__).resolve().parents[2]
CLOSED_PORT = 1  # nothing listens on 127.0.0.1:1


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """One HTTP connector on a closed port, an SQLite store."""
    settings = {
        "store": {"url": f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"},
        "agents": {"token_secret": "s" * 32, "directory": [{"id": "agent-1"}]},
        "providers": [{"name": "pbx", "kind": "generic", "secret": "w" * 32}],
        "connectors": [
            {"name": "accounting", "kind": "http", "url": f"http://127.0.0.1:{CLOSED_PORT}/a?n={{e164}}"}
        ],
    }
    path = tmp_path / "screenpop.yaml"
    path.write_text(yaml.safe_dump(settings))
    return path


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return screenpop(*args, timeout_s=60)


@pytest.mark.parametrize("command", [["check"], ["lookup", "+14155550132"]])
def test_a_failing_connector_is_reported_in_the_table_only(config: Path, command: list[str]) -> None:
    """The table names the failure; stderr carries no log line about it."""
    done = run(*command, "--config", str(config))
    assert "cannot reach accounting" in done.stdout, done.stdout
    assert done.stderr == ""


def test_debug_still_shows_the_log(config: Path) -> None:
    """With `--debug` the connector's WARNING is on stderr, for whoever wants the log as well."""
    done = run("--debug", "check", "--config", str(config))
    assert done.returncode == 1
    assert "WARNING screenpop.lookup.connector_stats: connector accounting failed" in done.stderr
