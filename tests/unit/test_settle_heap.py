"""``settle_heap``: what start-up built is frozen, and the young generation is collected less often.

Run in a child interpreter: both are process-wide, and the test process must keep CPython's defaults.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from screenpop.web.server import YOUNG_COLLECTION_EVERY

PROBE = """
import gc, json
from screenpop.web.server import settle_heap
before = gc.get_threshold()
built_at_start = [{"row": i} for i in range(1000)]
settle_heap()
print(json.dumps({"before": before, "after": gc.get_threshold(), "frozen": gc.get_freeze_count()}))
"""


def test_start_up_heap_is_frozen_and_young_collections_are_spaced() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60, check=True
    )
    seen = json.loads(done.stdout)
    assert seen["before"][0] == 700  # CPython's default, as a host process leaves it
    assert seen["after"] == [YOUNG_COLLECTION_EVERY, *seen["before"][1:]]  # older generations as before
    assert seen["frozen"] >= 1000  # start-up's objects (the 1,000 rows among them) are out of every scan


APP_PROBE = """
import asyncio, gc, json, sys, tempfile
sys.path.insert(0, {root!r})
from tests.support.service import make, running

async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        async with running(make(f"sqlite+aiosqlite:///{{tmp}}/store.db")):
            pass

before = (gc.get_threshold(), gc.get_freeze_count())
asyncio.run(main())
print(json.dumps({{"before": before, "after": (gc.get_threshold(), gc.get_freeze_count())}}))
"""


def test_an_application_started_in_a_host_process_leaves_its_collector_alone() -> None:
    """Only ``screenpop serve`` settles the heap; an app started in-process left 20,000 and a frozen heap."""
    root = str(Path(__file__).resolve().parents[2])
    probe = APP_PROBE.format(root=root)
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["after"] == seen["before"]
