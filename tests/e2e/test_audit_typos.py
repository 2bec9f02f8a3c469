"""`screenpop audit` with a mistyped section or agent says why nothing matched, instead of a bare "nothing".

"Who saw credit?" typed `--section credt` answered "nothing in the audit
trail matches": a security officer read a typo as "nobody saw it".  An
empty answer now names the filter that no configured connector or agent
has; a section or agent the config no longer has may still be in the trail,
so such a filter is not refused, only named.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support.cli import screenpop

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A store that exists (made by `check`), one connector `accounting`, agent `agent-1`."""
    settings = {
        "store": {"url": f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"},
        "agents": {"token_secret": "s" * 32, "directory": [{"id": "agent-1"}]},
        "connectors": [{"name": "accounting", "kind": "http", "url": "http://127.0.0.1:1/a?n={e164}"}],
    }
    path = tmp_path / "screenpop.yaml"
    path.write_text(yaml.safe_dump(settings))
    run("check", "--config", str(path))  # opens (and so creates) the store
    assert (tmp_path / "store.db").exists()
    return path


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return screenpop(*args, timeout_s=60)


def test_an_unknown_section_is_named(config: Path) -> None:
    """`--section credt`: nothing matches, and the answer says no connector has that name."""
    done = run("audit", "--section", "credt", "--config", str(config))
    assert done.returncode == 0, done.stderr
    assert done.stdout == (
        f"nothing in the audit trail matches (no connector is named 'credt' in {config}: accounting)\n"
    )


def test_an_unknown_agent_is_named(config: Path) -> None:
    """`--agent agnet-1`: nothing matches, and the answer says the directory has no such agent."""
    done = run("audit", "--agent", "agnet-1", "--config", str(config))
    assert done.returncode == 0, done.stderr
    assert done.stdout == (
        f"nothing in the audit trail matches (agents.directory of {config} has no agent 'agnet-1')\n"
    )


def test_known_names_with_nothing_seen_say_only_that(config: Path) -> None:
    """A real section and agent nobody has seen yet: the plain answer, no hint."""
    done = run("audit", "--section", "accounting", "--agent", "agent-1", "--config", str(config))
    assert done.returncode == 0, done.stderr
    assert done.stdout == "nothing in the audit trail matches\n"


@pytest.mark.parametrize("option", ["--section", "--agent"])
def test_an_empty_filter_is_refused(config: Path, option: str) -> None:
    """`--agent ""` (an unset variable) is one sentence and exit 1, not a search for nobody."""
    done = run("audit", option, "", "--config", str(config))
    assert done.returncode == 1
    assert done.stderr == f"screenpop: {option} is empty: name what to search for, or leave it out\n"
