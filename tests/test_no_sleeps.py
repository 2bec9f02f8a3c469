"""The test suite synchronises on events, never on the clock (ENGINEERING.md, "Tests").

A sleep in a test is allowed only where it is a real input (a deliberately
slow fake server, the poll interval of a bounded wait for an observable
condition, time that passes on another system's clock), and then its line
says so: ``# allow-sleep: <reason>``.  Elapsed-time bounds belong in
``bench/``: no test measures with ``perf_counter`` or asserts on a clock.
"""

from __future__ import annotations

import ast
import io
import tokenize
from pathlib import Path

TESTS = Path(__file__).resolve().parent
ALLOW = "# allow-sleep:"
SLEEPS = {("asyncio", "sleep"), ("time", "sleep")}
PAGE_WAITS = {"wait_for_timeout"}  # Playwright's sleep
CLOCKS = {"perf_counter", "perf_counter_ns", "monotonic", "monotonic_ns", "time", "time_ns"}  # of `time`


def sources() -> list[Path]:
    return sorted(TESTS.rglob("*.py"))


def comments(source: str) -> dict[int, str]:
    """Line number -> the comment on that line."""
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    return {tok.start[0]: tok.string for tok in tokens if tok.type == tokenize.COMMENT}


def is_sleep(call: ast.Call) -> bool:
    func = call.func
    if not isinstance(func, ast.Attribute):
        return False
    if func.attr in PAGE_WAITS:
        return True
    return isinstance(func.value, ast.Name) and (func.value.id, func.attr) in SLEEPS


def sleeps_without_reason(path: Path) -> list[str]:
    source = path.read_text(encoding="utf-8")
    notes = comments(source)
    found = []
    for node in sorted(ast.walk(ast.parse(source)), key=lambda n: getattr(n, "lineno", 0)):
        if isinstance(node, ast.Call) and is_sleep(node):
            note = notes.get(node.lineno, "")
            if not (note.startswith(ALLOW) and note.removeprefix(ALLOW).strip()):
                found.append(f"{path.name}:{node.lineno}")
    return found


def reads_a_clock(node: ast.AST) -> bool:
    """Does ``node`` call ``time.<clock>()`` (an injected ManualClock is fine: it is not measuring)?"""
    return any(
        isinstance(sub, ast.Call)
        and isinstance(sub.func, ast.Attribute)
        and sub.func.attr in CLOCKS
        and isinstance(sub.func.value, ast.Name)
        and sub.func.value.id == "time"
        for sub in ast.walk(node)
    )


def clock_asserts(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    asserts = [n for n in ast.walk(tree) if isinstance(n, ast.Assert) and reads_a_clock(n)]
    return [f"{path.name}:{n.lineno}" for n in sorted(asserts, key=lambda n: n.lineno)]


def perf_counters(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        f"{path.name}:{n.lineno}"
        for n in ast.walk(tree)
        if isinstance(n, ast.Attribute) and n.attr in {"perf_counter", "perf_counter_ns"}
    ]


def test_every_sleep_in_the_tests_says_why_it_is_not_synchronisation() -> None:
    """Each asyncio.sleep, time.sleep or page.wait_for_timeout in tests/ carries `# allow-sleep: <reason>`."""
    found = [where for path in sources() for where in sleeps_without_reason(path)]
    assert found == [], f"sleeps without `{ALLOW} <reason>` (wait on an event instead): {found}"


def test_no_test_asserts_on_elapsed_time() -> None:
    """No assert reads a clock and no test measures with perf_counter: timing belongs in bench/."""
    found = [where for path in sources() for where in clock_asserts(path) + perf_counters(path)]
    assert found == [], f"timing in tests (move the measurement to bench/): {found}"


def test_the_check_finds_what_it_looks_for(tmp_path: Path) -> None:
    """The checks flag an unexplained sleep, an empty reason and a timed assert; an explained sleep passes."""
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import asyncio, time\n"
        "async def f(page):\n"
        "    await asyncio.sleep(0.3)\n"  # allow-sleep: a sample the check must flag, never run
        "    time.sleep(1)  # allow-sleep:\n"
        "    await page.wait_for_timeout(300)\n"
        "    await asyncio.sleep(0.05)  # allow-sleep: poll interval of a bounded wait\n"
        "    started = time.perf_counter()\n"
        "    assert time.monotonic() - started < 1\n"
    )
    assert sleeps_without_reason(sample) == ["sample.py:3", "sample.py:4", "sample.py:5"]
    assert clock_asserts(sample) == ["sample.py:8"]
    assert perf_counters(sample) == ["sample.py:7"]
