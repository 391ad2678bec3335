"""What does cutting vvold windows cost over merely reading the log, and does memory stay flat?

``vvolguard escalate`` streams every vvold.log once to cut windows around failures. This script
writes a synthetic vvold.log of N and 10xN lines (a storm: a "No free connections" line every
1,000 lines, so windows open all the time, the worst case) and prints, side by side:

* lines/s of the window cutter and of bare line iteration (``EvidenceFile.lines``) on the same
  bytes, and their ratio (what timestamps, signals and windows cost);
* the ratio of per-line cost at 10xN to N (should be about 1: linear);
* the peak Python heap (tracemalloc) at N and 10xN with windows handed to a sink as they close,
  as the package builder does (should be about equal: memory does not grow with the log).

Nothing here asserts; the numbers are for a person (and CI logs) to read.

    .venv/bin/python benchmarks/escalate_excerpts.py [--lines 200000]
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
from datetime import UTC, datetime, timedelta

from vvolguard.escalate.excerpts import Excerpt, cut_windows
from vvolguard.evidence.source import from_bytes

T0 = datetime(2026, 3, 14, 10, 0, tzinfo=UTC)
BUSY = (
    "--> VasaSession::GetFreeConn: No free connections to VP pure-ct0 "
    "(url: https://10.1.1.10:8084/vasa) [#outstanding 5/5] - waiting"
)
QUIET = (
    "--> VasaOp::EventPollerCB [#1]: ===> FINAL SUCCESS getEvents VP (pure-ct0) "
    "Container (b487b73a-6128-3ad2-873b-8ddb1ba45d4f) timeElapsed=35 msecs (#outstanding 0)"
)


def vvold_log(lines: int) -> bytes:
    out = []
    for i in range(lines // 2):
        ts = (T0 + timedelta(milliseconds=20 * i)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        out.append(f"{ts} info vvold[2100874] [Originator@6876 sub=Default]")
        out.append(BUSY if i % 1000 == 0 else QUIET)
    return ("\n".join(out) + "\n").encode()


def measure(data: bytes) -> tuple[float, float, float, int]:
    ef = from_bytes("bench/vvold.log", data, host="esx-03")
    start = time.perf_counter()
    lines = sum(1 for _ in ef.lines())
    bare = time.perf_counter() - start

    sunk = 0

    def sink(excerpt: Excerpt) -> None:
        nonlocal sunk
        sunk += len(excerpt.lines)

    start = time.perf_counter()
    cut_windows(ef, [], timedelta(minutes=5), inline=True, on_window=sink)
    cutting = time.perf_counter() - start

    tracemalloc.start()
    cut_windows(ef, [], timedelta(minutes=5), inline=True, on_window=sink)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return lines / bare, lines / cutting, peak / 1e6, lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=200_000)
    n = parser.parse_args().lines
    measure(vvold_log(10_000))  # warm up (imports, polars' regex compilation) before timing
    rows = []
    for size in (n, 10 * n):
        data = vvold_log(size)
        bare, cutting, peak, lines = measure(data)
        rows.append((lines, len(data) / 1e6, bare, cutting, peak))
    print(f"{'lines':>10} {'MB':>8} {'bare lines/s':>14} {'cut lines/s':>13} {'bare/cut':>9} {'peak MB':>8}")
    for lines, mb, bare, cutting, peak in rows:
        print(f"{lines:>10} {mb:>8.1f} {bare:>14,.0f} {cutting:>13,.0f} {bare / cutting:>9.1f} {peak:>8.1f}")
    (_, _, _, c1, p1), (_, _, _, c10, p10) = rows
    print(f"per-line cost at 10xN / N: {c1 / c10:.2f} (1.0 = linear)")
    print(f"peak heap at 10xN / N:     {p10 / p1:.2f} (1.0 = flat)")


if __name__ == "__main__":
    main()
