"""The collector once serving: the start-up heap frozen, young runs spaced, and none inside a request.

Run in child interpreters: the collector is process-wide, and the test process must keep CPython's defaults.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from screenpop.web.collector import BACKSTOP_EVERY

PROBE = """
import gc, json
from screenpop.web.collector import settle_heap
before = gc.get_threshold()
built_at_start = [{"row": i} for i in range(1000)]
settle_heap()
after, frozen, automatic = gc.get_threshold(), gc.get_freeze_count(), gc.isenabled()
print(json.dumps({"before": before, "after": after, "frozen": frozen, "automatic": automatic}))
"""


def _run(probe: str) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    seen: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return seen


def test_start_up_heap_is_frozen_and_young_collections_are_spaced() -> None:
    seen = _run(PROBE)
    assert seen["before"][0] == 700  # CPython's default, as a host process leaves it
    assert seen["after"] == [BACKSTOP_EVERY, *seen["before"][1:]]  # older generations as before
    assert seen["frozen"] >= 1000  # start-up's objects (the 1,000 rows among them) are out of every scan
    assert seen["automatic"] is True  # CPython's own trigger stays, as a backstop far out


DUE_PROBE = """
import gc, json, weakref
from screenpop.web.collector import YOUNG_COLLECTION_EVERY, collect_if_due, settle_heap

class Node:
    pass

def cycle():
    a, b = Node(), Node()
    a.other, b.other = b, a
    return weakref.ref(a)

settle_heap()
seen = {}
kept = [[] for _ in range(YOUNG_COLLECTION_EVERY // 2)]
gone = cycle()
seen["half_way"] = collect_if_due()
kept += [[] for _ in range(YOUNG_COLLECTION_EVERY)]  # past the young threshold, short of the backstop
seen["left_by_cpython"] = gone() is not None
seen["due"] = collect_if_due()
seen["collected"] = gone() is None
seen["right_after"] = collect_if_due()
for _ in range(gc.get_threshold()[1]):  # ten young runs since the middle generation's last
    gc.collect(0)
kept += [[] for _ in range(YOUNG_COLLECTION_EVERY + 1)]
seen["eleventh"] = collect_if_due()
print(json.dumps(seen))
"""


def test_collect_if_due_runs_what_cpython_would_run_and_only_then() -> None:
    seen = _run(DUE_PROBE)
    assert seen["half_way"] is None
    assert seen["left_by_cpython"] is True  # no collection inside the allocating code
    assert seen["due"] == 0
    assert seen["collected"] is True
    assert seen["right_after"] is None
    assert seen["eleventh"] == 1  # the middle generation, once it has seen more than ten young runs


SWEEP_PROBE = """
import asyncio, json, weakref
from screenpop.web.collector import YOUNG_COLLECTION_EVERY, keep_collecting, settle_heap

class Node:
    pass

async def main():
    settle_heap()
    a, b = Node(), Node()
    a.other, b.other = b, a
    gone = weakref.ref(a)
    del a, b
    kept = [[] for _ in range(YOUNG_COLLECTION_EVERY + 1)]
    sweeping = asyncio.create_task(keep_collecting(0.01))
    for _ in range(500):
        if gone() is None:
            break
        await asyncio.sleep(0.01)  # allow-sleep: the sweep's own period, bounded to 5 s
    sweeping.cancel()
    return {"collected": gone() is None, "kept": len(kept)}

print(json.dumps(asyncio.run(main())))
"""


def test_the_sweep_collects_what_no_webhook_is_followed_by() -> None:
    assert _run(SWEEP_PROBE)["collected"] is True


BACKSTOP_PROBE = """
import json, weakref
from screenpop.web.collector import BACKSTOP_EVERY, settle_heap

class Node:
    pass

settle_heap()
a, b = Node(), Node()
a.other, b.other = b, a
gone = weakref.ref(a)
del a, b
kept = [[] for _ in range(BACKSTOP_EVERY + 1)]  # no answer, no sweep: CPython's own trigger
print(json.dumps({"collected": gone() is None}))
"""


def test_work_that_allocates_past_the_backstop_is_collected_by_cpython_itself() -> None:
    assert _run(BACKSTOP_PROBE)["collected"] is True


HOST_PROBE = """
import gc, json
from screenpop.web.collector import collect_if_due
kept = [[] for _ in range(5000)]
print(json.dumps({"ran": collect_if_due(), "automatic": gc.isenabled()}))
"""


def test_a_host_process_keeps_collecting_on_its_own() -> None:
    assert _run(HOST_PROBE) == {"ran": None, "automatic": True}


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
    seen = _run(probe)
    assert seen["after"] == seen["before"]
