"""How fast does the analysis fold vvold frames, and does its state stay flat as input grows?

The analysis must keep up with the vvold reader on multi-GB logs and must not grow with them
(issue #2). This script folds synthetic VasaFrames (50k rows each, an hour of log per frame, with
issues, finals, waits, busy faults and timeouts) at two sizes, N and 10xN frames, and prints side
by side:

* rows per second of ``Analyzer.add`` (the ratio 10xN/N should be about 1: cost is per row);
* the accumulator's structure sizes and the Python heap (tracemalloc peak) after each run (the
  ratio should stay near 1 once the timeline's bucket width has settled: state does not grow
  with rows).

Nothing here asserts; the numbers are for a person (and CI logs) to read.

    .venv/bin/python benchmarks/analysis_fold.py [--frames 20]

With ``--log FILE`` it instead parses a real vvold.log once with the real reader and times only
``SignalAccumulator.add`` over its frames (CPU time, ``time.process_time``, min and median of
``--repeat`` runs). ``--against OLD.py`` loads another copy of ``signals.py`` by path and
interleaves its runs with the current one, so a change to the fold can be measured on a noisy
machine:

    .venv/bin/python benchmarks/analysis_fold.py --log benchmarks/_work/vvold-esxi7-128mb-seed7.log \
        --against /tmp/signals_old.py
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import statistics
import sys
import time
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

import polars as pl

from vvolguard.analysis.engine import Analyzer
from vvolguard.records import VASA_SCHEMA, VasaFrame

T0 = datetime(2026, 3, 14, tzinfo=UTC)
ROWS = 50_000


def base_frame(seed: int = 7) -> pl.DataFrame:
    rng = random.Random(seed)
    kinds = (
        ["issue"] * 40 + ["success"] * 40 + ["no-free-conn", "busy", "failure", "timeout", "bind-retry"] * 4
    )
    ops = ["createVirtualVolume", "bindVirtualVolume", "getEvents", "unbindVirtualVolume"]
    ts = pl.datetime_range(T0, T0 + pl.duration(seconds=3599), interval="71ms", eager=True)[:ROWS]
    return pl.DataFrame(
        {
            "file": ["esx-01.tgz!var/run/log/vvold.log"] * ROWS,
            "line": list(range(1, ROWS + 1)),
            "ts": ts,
            "host": [f"esx-{i % 4:02d}" for i in range(ROWS)],
            "pid": [2100874] * ROWS,
            "level": ["info"] * ROWS,
            "kind": [rng.choice(kinds) for _ in range(ROWS)],
            "op": [rng.choice(ops) for _ in range(ROWS)],
            "opseq": list(range(ROWS)),
            "vp": [f"pure-ct{i % 2}" for i in range(ROWS)],
            "container": ["b487b73a-6128-3ad2-873b-8ddb1ba45d4f"] * ROWS,
            "elapsed_ms": [int(rng.lognormvariate(6, 1.6)) for _ in range(ROWS)],
            "outstanding": [rng.randrange(0, 6) for _ in range(ROWS)],
            "outstanding_max": [5] * ROWS,
            "fault": [None] * ROWS,
            "detail": [None] * ROWS,
            "url": [None] * ROWS,
            "text": ["VasaOp::CreateVirtualVolumeInt [#1]: ===> FINAL SUCCESS createVirtualVolume ..."]
            * ROWS,
        },
        schema=VASA_SCHEMA,
    )


def run(frames: int, base: pl.DataFrame) -> dict[str, float]:
    prepared = [
        VasaFrame(
            base.with_columns(
                pl.col("ts") + pl.duration(hours=i), pl.col("line") + i * ROWS, pl.col("opseq") + i * ROWS
            ),
            "esxi8",
        )
        for i in range(frames)
    ]
    tracemalloc.start()
    an = Analyzer(now=T0)
    started = time.perf_counter()
    for frame in prepared:
        an.add(frame)
    elapsed = time.perf_counter() - started
    diagnosis = an.finish()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    sizes = an.signals.size()
    return {
        "rows": frames * ROWS,
        "seconds": elapsed,
        "rows_per_s": frames * ROWS / elapsed,
        "cells": sizes["cells"],
        "exemplars": sizes["exemplars"],
        "pending": sizes["pending_issues"],
        "timeline_points": len(diagnosis.signals["timeline"]),
        "bucket_s": diagnosis.signals["bucket_seconds"],
        "py_heap_peak_mb": peak / 2**20,
    }


def _load_module(path: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location("signals_against", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being built
    spec.loader.exec_module(module)
    return module


def fold_log(log: str, against: str | None, repeat: int) -> None:
    """Time the fold alone on a real log's frames (the reader's cost is left out)."""
    from vvolguard.analysis import signals
    from vvolguard.evidence.source import EvidenceFile
    from vvolguard.evidence.vvold import VvoldReader

    evidence = EvidenceFile(display=log, name="vvold.log", opener=lambda: Path(log).open("rb"))  # noqa: SIM115
    frames = [r for r in VvoldReader().read(evidence) if isinstance(r, VasaFrame)]
    print(f"{log}: {len(frames)} frames, {sum(f.frame.height for f in frames)} rows")
    modules = {"current": signals}
    if against:
        modules["against"] = _load_module(against)
    times: dict[str, list[float]] = {name: [] for name in modules}
    for _ in range(repeat):
        for name, module in modules.items():
            acc = module.SignalAccumulator()
            started = time.process_time()
            for frame in frames:
                acc.add(frame)
            times[name].append(time.process_time() - started)
    for name, values in times.items():
        lo, mid = min(values) * 1000, statistics.median(values) * 1000
        print(f"{name:8} fold CPU min {lo:8.1f} ms  median {mid:8.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=20, help="frames in the small run (the big one is 10x)")
    parser.add_argument("--log", help="fold a real vvold.log's frames instead of synthetic ones")
    parser.add_argument("--against", help="another signals.py to interleave with (only with --log)")
    parser.add_argument("--repeat", type=int, default=5, help="runs per version (only with --log)")
    args = parser.parse_args()
    if args.log:
        fold_log(args.log, args.against, args.repeat)
        return
    base = base_frame()
    small = run(args.frames, base)
    big = run(args.frames * 10, base)
    print(f"{'':18}{'N':>14}{'10xN':>14}{'ratio':>8}")
    for key in small:
        a, b = small[key], big[key]
        ratio = f"{b / a:8.2f}" if a else "       -"
        print(f"{key:18}{a:14.1f}{b:14.1f}{ratio}")
    print("\nrows_per_s ratio ~1 means cost per row is flat; state ratios (cells, exemplars, pending,")
    print("heap) near 1 mean memory does not grow with the log (cells are capped by timeline_max_points).")


if __name__ == "__main__":
    main()
