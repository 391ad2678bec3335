"""The fleet client's share: merging every file's buckets into the ``buckets`` table.

The workers read the logs; the client merges what they send back, one row per host x provider
x 5-minute bucket: 1,000 hosts x 90 days is ~26 million buckets, so the merge's cost per bucket
decides whether the client keeps up with a cluster. This script builds the per-file bucket
frames a simulated estate of H hosts x D daily files would send (one provider per host, a
create histogram in one bucket in ten) and times, in a child process each so peak memory is the
merge's own (``os.wait4`` rusage):

* ``polars``: :func:`vvolguard.fleet.tables.buckets_table`, as ``fleet`` runs it;
* ``rows``: the same merge row by row in Python with a :class:`LatencyHistogram` per bucket (what
  the client did before; the reference the tests compare with), at the smaller size only.

It prints CPU seconds and peak RSS per size, the cost per million buckets, and what that means
for 1,000 hosts x 90 days. Nothing asserts; the numbers are for a person.

    python benchmarks/fleet_client.py                 # 20 and 80 hosts x 90 days
    python benchmarks/fleet_client.py --hosts 5 10    # quick
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import time
from typing import Any

T0 = 1_772_323_200


def _summaries(hosts: int, days: int) -> list[dict[str, Any]]:
    import polars as pl

    from vvolguard.fleet.schema import BUCKET_SCHEMA, COUNTERS

    rng = random.Random(1)
    out = []
    for h in range(hosts):
        host = f"esx{h:04d}.vvol.lab"
        for d in range(days):
            n = 288
            has = [rng.random() < 0.1 for _ in range(n)]
            one_bin = [[{"hidx": rng.randint(60, 90), "n": rng.randint(1, 5)}] if x else [] for x in has]
            lo = [float(rng.randint(100, 300)) if x else None for x in has]
            frame = pl.DataFrame(
                {
                    "host": [host] * n,
                    "vp": ["pure-vp1"] * n,
                    "bucket": [T0 + d * 86_400 + b * 300 for b in range(n)],
                    **{c: [rng.randint(0, 1) for _ in range(n)] for c in COUNTERS},
                    "outstanding_max": [rng.randint(0, 5) for _ in range(n)],
                    "ceiling": [5] * n,
                    "lo": lo,
                    "hi": [x + 500.0 if x else None for x in lo],
                    "bins": one_bin,
                },
                schema=BUCKET_SCHEMA,
            )
            out.append({"path": f"/estate/{host}/vvold.log-{d}", "hosts": [host], "buckets": frame})
    return out


def _rows_merge(summaries: list[dict[str, Any]]) -> int:
    """The row-by-row merge: a dict of cells, a LatencyHistogram each, quantiles per cell."""
    from vvolguard.analysis.histogram import LatencyHistogram
    from vvolguard.analysis.migrations import host_key
    from vvolguard.fleet.schema import COUNTERS

    merged: dict[tuple[str, str, int], dict[str, Any]] = {}
    for s in summaries:
        for row in s["buckets"].iter_rows(named=True):
            key = (host_key(row["host"]), row["vp"], row["bucket"])
            cell = merged.setdefault(key, {"counts": [0] * len(COUNTERS), "hist": LatencyHistogram()})
            for i, c in enumerate(COUNTERS):
                cell["counts"][i] += row[c]
            if row["bins"]:
                cell["hist"].add_bins({b["hidx"]: b["n"] for b in row["bins"]}, row["lo"], row["hi"])
    rows = [(k, c["hist"].quantile(0.5), c["hist"].quantile(0.95)) for k, c in sorted(merged.items())]
    return len(rows)


def child(mode: str, hosts: int, days: int) -> None:
    from vvolguard.fleet import tables

    summaries = _summaries(hosts, days)
    start = time.process_time()
    if mode == "polars":
        n = tables.buckets_table(summaries, tables.host_names(summaries), None, None).height
    elif mode == "rows":
        n = _rows_merge(summaries)
    else:  # baseline: the process and its imports, no merge
        n = 0
    print(f"{n} {time.process_time() - start:.3f}")


def measure(mode: str, hosts: int, days: int) -> tuple[int, float, float]:
    """(buckets, merge CPU s, peak RSS MiB of the whole child)."""
    proc = subprocess.Popen(
        [sys.executable, __file__, "--child", mode, str(hosts), str(days)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    if status:
        raise SystemExit(f"child failed ({status}): {out}")
    n, cpu = out.split()
    return int(n), float(cpu), usage.ru_maxrss / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, nargs="+", default=[20, 80])
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]), int(args.child[2]))
        return 0
    print(f"fleet client bucket merge, {args.days} daily files per host; load {os.getloadavg()[0]:.1f}")
    per_million = 0.0
    for i, hosts in enumerate(sorted(args.hosts)):
        modes = ("rows", "polars") if i == 0 else ("polars",)
        baseline = measure("baseline", 0, 0) if i == 0 else None
        results = {mode: measure(mode, hosts, args.days) for mode in modes}
        for mode, (n, cpu, rss) in results.items():
            size = f"{hosts:4d} hosts  {n / 1e6:6.2f} M buckets"
            print(f"  {size}  {mode:6s}  {cpu:7.2f} s CPU  peak RSS {rss:6.0f} MiB")
        if "rows" in results:
            ratio = results["rows"][1] / max(results["polars"][1], 1e-9)
            print(f"        row-by-row / polars CPU: {ratio:.1f}x")
        if baseline is not None:
            print(f"        (an empty merge's process: peak RSS {baseline[2]:.0f} MiB)")
        n, cpu, _ = results["polars"]
        per_million = cpu / (n / 1e6)
    estate = 1000 * 90 * 288 / 1e6
    print(
        f"1,000 hosts x 90 days = {estate:.1f} M buckets: about {estate * per_million:.0f} s of client CPU "
        "for the merge at the last size's rate"
    )
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
