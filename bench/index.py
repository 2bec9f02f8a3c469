"""The `match: normalized` number index at 10^5, 10^6 (and, asked for, 10^7) rows (issue 15).

For each size a fresh child process (so that RSS is its own) builds a real
SQLite table of generated customers -- US numbers in the formats legacy tables
hold, labels included, a third of the rows with a second number -- then starts
a real ``kind: sql`` connector with ``match: normalized`` and an
``index_query`` that binds ``:since``, and measures:

- build: the first, full index build (stream + normalise + sort), seconds;
- RSS per stored number: the process's RSS after the build minus before it,
  divided by the entries (number, row) in the index;
- lookup p50/p99: ``PhoneIndex.keys_for`` for stored numbers, microseconds;
- loop lag p99 during a full rebuild: a ticker asks for 1 ms sleeps while the
  connector rebuilds; lag is how late each wake-up is, milliseconds;
- incremental 1%: 1% of the rows get a new number and a new ``updated_at``;
  one refresh (read the changed rows, merge into the arrays), seconds.

Targets (issue 15): build <= 10 s at 10^6, <= 150 B RSS per stored number,
incremental 1% <= 1 s, loop lag p99 <= 5 ms.

Usage: ``python bench/index.py [--sizes 100000,1000000[,10000000]]``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

_AREA_CODE_TEXT = (
    "201 202 203 205 206 207 208 209 210 212 213 214 215 216 217 218 219 224 225 228 229 231 234 "
    "239 240 248 251 252 253 254 256 260 262 267 269 270 276 281 301 302 303 304 305 307 308 309 "
    "310 312 313 314 315 316 317 318 319 320 321 323 325 330 334 336 337 339 347 351 352 360 361 "
    "386 401 402 404 405 406 407 408 409 410 412 413 414 415 417 419 423 424 425 430 432 434 435 "
    "440 443 469 470 475 478 479 480 484 501 502 503 504 505 507 508 509 510 512 513 515 516 517 "
    "518 520 530 540 541 551 559 561 562 563 567 570 571 573 574 575 580 585 586 601 602 603 605 "
    "606 607 608 609 610 612 614 615 616 617 618 619 620 623 626 630 631 636 641 646 650 651 660 "
    "661 662 678 682 701 702 703 704 706 707 708 712 713 714 715 716 717 718 719 720 724 727 731 "
    "732 734 740 754 757 760 763 765 770 772 773 774 775 781 785 786 801 802 803 804 805 806 808 "
    "810 812 813 814 815 816 817 818 828 830 831 832 843 845 847 848 850 856 857 858 859 860 862 "
    "863 864 865 870 872 878 901 903 904 906 907 908 909 910 912 913 914 915 916 917 918 919 920 "
    "925 928 931 936 937 940 941 949 951 952 954 956 970 971 972 973 978 979 980 985 989"
)
AREA_CODES = _AREA_CODE_TEXT.split()
FORMATS = (
    "({a}) {b}-{c}",
    "{a}.{b}.{c}",
    "+1 {a} {b} {c}",
    "{a}-{b}-{c}",
    "1{a}{b}{c}",
    "{a}-{b}-{c} - office",
    "+1 {a} {b} {c} (work)",
    "{a} {b} {c} x12",
)
INDEX_QUERY = "SELECT customer_id, phone, mobile FROM customers WHERE updated_at > :since"
QUERY = "SELECT customer_id, name FROM customers WHERE customer_id IN :keys"
SIZES = (100_000, 1_000_000)


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def number(rng: random.Random) -> tuple[str, str, str]:
    return rng.choice(AREA_CODES), str(rng.randint(200, 999)), f"{rng.randint(0, 9999):04d}"


def cell(rng: random.Random) -> str:
    a, b, c = number(rng)
    return rng.choice(FORMATS).format(a=a, b=b, c=c)


def make_table(path: Path, rows: int) -> list[str]:
    """The table, written with the stdlib driver in batches; returns a sample of stored E.164s."""
    rng = random.Random(rows)
    old = (datetime.now(UTC) - timedelta(hours=2)).replace(tzinfo=None)
    db = sqlite3.connect(path)
    db.execute(
        "CREATE TABLE customers (customer_id INTEGER PRIMARY KEY, name TEXT, phone TEXT, mobile TEXT, "
        "updated_at TIMESTAMP NOT NULL)"
    )
    sample: list[str] = []
    batch: list[tuple[Any, ...]] = []
    for key in range(1, rows + 1):
        a, b, c = number(rng)
        if len(sample) < 2000 and rng.random() < 0.01:
            sample.append(f"+1{a}{b}{c}")
        mobile = cell(rng) if rng.random() < 0.33 else None
        batch.append((key, f"Customer {key}", rng.choice(FORMATS).format(a=a, b=b, c=c), mobile, old))
        if len(batch) == 50_000:
            db.executemany("INSERT INTO customers VALUES (?, ?, ?, ?, ?)", batch)
            batch = []
    db.executemany("INSERT INTO customers VALUES (?, ?, ?, ?, ?)", batch)
    db.execute("CREATE INDEX customers_updated_at ON customers (updated_at)")  # what :since needs
    db.commit()
    db.close()
    return sample


async def lag_during(work: Any) -> tuple[Any, list[float]]:
    """Run ``work`` while a ticker measures how late 1 ms sleeps wake up (the loop's lag)."""
    lags: list[float] = []
    done = asyncio.Event()

    async def tick() -> None:
        while not done.is_set():
            start = time.perf_counter()
            await asyncio.sleep(0.001)  # allow-sleep: the probe itself
            lags.append(max(0.0, time.perf_counter() - start - 0.001))

    ticker = asyncio.create_task(tick())
    try:
        result = await work
    finally:
        done.set()
        await ticker
    return result, lags


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


async def measure(path: Path, rows: int, sample: list[str]) -> dict[str, Any]:
    from screenpop.connectors.sql import SqlConnector, SqlOptions
    from screenpop.plugins import connector_context

    options = SqlOptions(
        url=f"sqlite+aiosqlite:///{path}",
        match="normalized",
        index_query=INDEX_QUERY,
        query=QUERY,
        index_refresh_s=86_400,
        index_full_every=1000,
    )
    sql = SqlConnector("bench", options, connector_context("US", Path("."), None))
    gc.collect()
    before = rss_bytes()
    started = time.perf_counter()
    _, build_lags = await lag_during(sql.start())
    build_s = time.perf_counter() - started
    keeper = sql._keeper
    assert keeper is not None
    assert keeper.index is not None
    gc.collect()
    after = rss_bytes()
    index = keeper.index
    entries = len(index.numbers)

    timings = []
    for e164 in sample * max(1, 5000 // max(1, len(sample))):
        t = time.perf_counter()
        index.keys_for(e164)
        timings.append(time.perf_counter() - t)
    hits = sum(1 for e164 in sample if index.keys_for(e164))

    started = time.perf_counter()
    ok, rebuild_lags = await lag_during(keeper.refresh(full=True))
    rebuild_s = time.perf_counter() - started
    assert ok, keeper.error

    rng = random.Random(7)
    changed = rng.sample(range(1, rows + 1), rows // 100)
    now = datetime.now(UTC).replace(tzinfo=None)
    db = sqlite3.connect(path)
    db.executemany(
        "UPDATE customers SET phone = ?, updated_at = ? WHERE customer_id = ?",
        [(cell(rng), now, key) for key in changed],
    )
    db.commit()
    db.close()
    started = time.perf_counter()
    ok, incr_lags = await lag_during(keeper.refresh())
    incremental_s = time.perf_counter() - started
    assert ok, keeper.error
    assert keeper.last_kind == "incremental"
    await sql.close()
    return {
        "rows": rows,
        "stored_numbers": entries,
        "distinct_numbers": index.distinct_numbers,
        "sample_found": f"{hits}/{len(sample)}",
        "build_s": round(build_s, 2),
        "rss_mb": round((after - before) / 2**20, 1),
        "array_bytes_per_number": round(index.nbytes / max(1, entries), 1),
        "rss_bytes_per_number": round((after - before) / max(1, entries), 1),
        "lookup_p50_us": round(pct(timings, 0.5) * 1e6, 1),
        "lookup_p99_us": round(pct(timings, 0.99) * 1e6, 1),
        "lag_p99_build_ms": round(pct(build_lags, 0.99) * 1e3, 2),
        "full_rebuild_s": round(rebuild_s, 2),
        "lag_p99_rebuild_ms": round(pct(rebuild_lags, 0.99) * 1e3, 2),
        "lag_max_rebuild_ms": round(max(rebuild_lags, default=0.0) * 1e3, 2),
        "incremental_1pct_s": round(incremental_s, 3),
        "lag_p99_incremental_ms": round(pct(incr_lags, 0.99) * 1e3, 2),
    }


def child(rows: int) -> None:
    if os.environ.get("SWITCH"):
        sys.setswitchinterval(float(os.environ["SWITCH"]))
    with tempfile.TemporaryDirectory() as workdir:
        path = Path(workdir) / "customers.db"
        sample = make_table(path, rows)
        print(json.dumps(asyncio.run(measure(path, rows, sample))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(str(s) for s in SIZES))
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    results = []
    for rows in (int(s) for s in args.sizes.split(",")):
        out = subprocess.run(
            [sys.executable, __file__, "--child", str(rows)], capture_output=True, text=True, check=False
        )
        if out.returncode != 0:
            print(f"{rows} rows: failed\n{out.stderr[-2000:]}", file=sys.stderr)
            continue
        result = json.loads(out.stdout.strip().splitlines()[-1])
        results.append(result)
        print(json.dumps(result), flush=True)
    print("\nindex (targets at 10^6: build <= 10 s, <= 150 B/number, incremental 1% <= 1 s, lag p99 <= 5 ms)")
    for r in results:
        print(
            f"{r['rows']:>10,} rows  {r['stored_numbers']:>10,} numbers  build {r['build_s']:6.2f} s  "
            f"RSS {r['rss_bytes_per_number']:6.1f} B/number (arrays {r['array_bytes_per_number']})  "
            f"lookup p50/p99 {r['lookup_p50_us']}/{r['lookup_p99_us']} us  "
            f"lag p99 rebuild {r['lag_p99_rebuild_ms']} ms  incremental 1% {r['incremental_1pct_s']} s"
        )


if __name__ == "__main__":
    main()
