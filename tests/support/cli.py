"""The `screenpop` command as a user runs it: a child process, its exit code and its output.

Tests of the CLI read stdout and stderr as a person would; `check_rows`
reads `screenpop check`'s table into part -> (result, detail).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHECK_ROW = re.compile(r"^(server|connector \S+|lookup \S+)\s+(ok|FAIL|skip|warn)\s+\d+\s*(.*)$")


def screenpop(*args: str, timeout_s: float = 90.0) -> subprocess.CompletedProcess[str]:
    """`python -m screenpop ARGS` from the repository's root, with a wide terminal for the tables."""
    return subprocess.run(
        [sys.executable, "-m", "screenpop", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "COLUMNS": "250"},
        timeout=timeout_s,
    )


def check_rows(stdout: str) -> dict[str, tuple[str, str]]:
    """`screenpop check`'s server, connector and lookup rows: part -> (result, detail)."""
    rows = {}
    for line in stdout.splitlines():
        found = CHECK_ROW.match(line)
        if found:
            rows[found.group(1)] = (found.group(2), found.group(3))
    return rows
