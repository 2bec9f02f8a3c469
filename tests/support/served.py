"""One `screenpop serve` child process a browser test can SIGKILL and start again on the same port."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from tests.support.processes import ROOT, stop, wait_ready


class Served:
    """`screenpop serve --config PATH` as a child process that can be killed and started again."""

    def __init__(self, config: Path, port: int) -> None:
        self.config = config
        self.port = port
        self.process: subprocess.Popen[str] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "screenpop", "serve", "--config", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env=dict(os.environ),
        )
        wait_ready(self.port, self.process)

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def close(self) -> None:
        if self.process is not None:
            stop(self.process)
            if self.process.stderr:
                self.process.stderr.close()


@contextmanager
def served_from(directory: Path, config: dict[str, Any]) -> Iterator[Served]:
    """``config`` written to DIRECTORY/screenpop.yaml and served on its port until the block ends."""
    path = directory / "screenpop.yaml"
    path.write_text(yaml.safe_dump(config))
    server = Served(path, config["server"]["port"])
    try:
        server.start()
        yield server
    finally:
        server.close()
