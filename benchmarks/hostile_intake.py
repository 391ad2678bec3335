"""Time and peak memory of ``diagnose`` (and optionally ``escalate``) on hostile input (issue #17).

Why: customers' bundles are untrusted and admins are unlucky. A decompression bomb, archives
nested 150 deep and a single line of a gigabyte must each finish in about the time it takes to
stream their bytes once, with memory that does not grow with the input. This script builds the
cases in ``benchmarks/_work/hostile`` (git-ignored; sparse files and small gzips, so cheap to make),
runs each command in a child with a time cap, and prints wall time, peak RSS (``os.wait4``) and the
exit code. Nothing asserts: the numbers are for a person. ``--sizes`` checks that time is linear
in the size of a single giant line (it prints MiB/s per size).

    python benchmarks/hostile_intake.py                 # the #17 cases, diagnose only
    python benchmarks/hostile_intake.py --escalate      # escalate too
    python benchmarks/hostile_intake.py --sizes 256,512,1024   # giant-line scaling (MiB)
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import tarfile
import tempfile
import time
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORK = HERE / "_work" / "hostile"
MiB = 1024 * 1024


def zeros_gz(path: Path, size: int) -> Path:
    """A gzip of ``size`` zero bytes, streamed (a 64 MiB one is about 65 KB)."""
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = bytes(MiB)
    with path.open("wb") as out:
        for _ in range(size // MiB):
            out.write(comp.compress(block))
        out.write(comp.flush())
    return path


def nested_tgz(path: Path, depth: int) -> Path:
    """``depth`` tgz files each inside the next; the innermost holds a vvold.log line."""
    if path.exists():
        return path
    data = b"2026-03-14T10:00:00.000Z info vvold[1] [Originator@6876 sub=Default] innermost\n"
    name = "vvold.log"
    for level in range(depth):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as tar:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        data, name = buf.getvalue(), f"level-{level}.tgz"
    path.write_bytes(data)
    return path


def one_line(path: Path, size: int, prefix: bytes) -> Path:
    """A file that is one line of ``size`` bytes (sparse: written instantly, reads as zeros
    after the prefix; real giant lines are text, but the cost is the same per byte)."""
    if path.exists() and path.stat().st_size == size:
        return path
    with path.open("wb") as out:
        out.write(prefix)
        out.truncate(size)
    return path


def run(argv: list[str], cap: float) -> tuple[float, float, int | str]:
    """Wall seconds, peak RSS MiB and exit code (or 'killed') of one child."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = start + cap
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.perf_counter() > deadline:
            proc.kill()
            pid, status, usage = os.wait4(proc.pid, 0)
            return time.perf_counter() - start, usage.ru_maxrss / 1024, f"killed after {cap:.0f} s"
        time.sleep(0.05)
    code: int | str = os.waitstatus_to_exitcode(status)
    return time.perf_counter() - start, usage.ru_maxrss / 1024, code


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--escalate", action="store_true", help="also run escalate on each case")
    parser.add_argument("--cap", type=float, default=300.0, help="seconds before a run is killed")
    parser.add_argument("--line-mib", type=int, default=1024, help="size of the giant single line")
    parser.add_argument("--zeros-mib", type=int, default=64, help="expanded size of the zeros .gz")
    parser.add_argument("--sizes", default="", help="comma-separated MiB sizes for a scaling run")
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    exe = [sys.executable, "-m", "vvolguard.cli.main"]
    pem = b"-----BEGIN CERTIFICATE-----\nMII"
    csv = b"Name,Target,Status,Initiator,Queued For,Start Time,Completion Time,Server\n"
    if args.sizes:
        cases = [
            (f"{mib} MiB one-line .pem", one_line(WORK / f"line-{mib}.pem", mib * MiB, pem))
            for mib in (int(s) for s in args.sizes.split(","))
        ]
    else:
        size = args.line_mib * MiB
        cases = [
            (
                f"{args.zeros_mib} MiB of zeros as vvold.1.gz",
                zeros_gz(WORK / f"zeros-{args.zeros_mib}" / "vvold.1.gz", args.zeros_mib * MiB),
            ),
            ("150 nested .tgz", nested_tgz(WORK / "nested-150.tgz", 150)),
            (f"{args.line_mib} MiB one-line .pem", one_line(WORK / "giant.pem", size, pem)),
            (f"{args.line_mib} MiB one-line tasks.csv", one_line(WORK / "tasks.csv", size, csv)),
        ]
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    for label, path in cases:
        size = path.stat().st_size
        wall, rss, code = run([*exe, "diagnose", str(path), "--json"], args.cap)
        rate = f"{size / MiB / wall:8.0f} MiB/s" if args.sizes else ""
        print(f"diagnose  {label:32} {wall:7.2f} s  {rss:7.0f} MiB peak  exit {code} {rate}")
        if args.escalate:
            with tempfile.TemporaryDirectory() as scratch:
                out = Path(scratch) / "case.zip"
                wall, rss, code = run([*exe, "escalate", str(path), "-o", str(out)], args.cap)
            print(f"escalate  {label:32} {wall:7.2f} s  {rss:7.0f} MiB peak  exit {code}")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
