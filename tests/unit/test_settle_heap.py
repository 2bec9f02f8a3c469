"""``settle_heap``: what start-up built is frozen, and the young generation is collected less often.

Run in a child interpreter: both are process-wide, and the test process must keep CPython's defaults.
"""

from __future__ import annotations

import json
import subprocess
import sys

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
