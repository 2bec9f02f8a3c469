"""A file-system refusal on the command line is one sentence naming the path, not Python's `[Errno N]`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def demo_data(directory: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "screenpop", "demo-data", "--dir", str(directory), "--customers", "6"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=dict(os.environ),
        timeout=60,
    )


def test_a_directory_that_is_a_file_is_named_as_such(tmp_path: Path) -> None:
    """`--dir` naming a file: exit 1 and one line saying the path is a file, not a directory."""
    taken = tmp_path / "notes.txt"
    taken.write_text("mine")
    done = demo_data(taken)
    assert done.returncode == 1
    assert done.stderr == f"screenpop: --dir {taken} is a file, not a directory\n"
    assert taken.read_text() == "mine"


def test_a_directory_below_a_file_is_one_sentence(tmp_path: Path) -> None:
    """A path that cannot be created (below a file): one line with the path and the reason, no errno."""
    (tmp_path / "file").write_text("")
    below = tmp_path / "file" / "demo"
    done = demo_data(below)
    assert done.returncode == 1
    assert done.stderr == f"screenpop: cannot use {below}: not a directory\n"


def test_an_empty_directory_is_refused(tmp_path: Path) -> None:
    """`--dir ""` (an unset variable) is refused in one line; nothing is written to the current directory."""
    done = subprocess.run(
        [sys.executable, "-m", "screenpop", "demo-data", "--dir", "", "--customers", "6"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stderr == "screenpop: --dir is empty: name the directory for the demo databases\n"
    assert list(tmp_path.iterdir()) == []
