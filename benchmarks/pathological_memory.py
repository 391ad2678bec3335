"""Peak memory of ``vvolguard diagnose`` on pathological vvold.log content (issue #17).

A realistic log keeps a small share of its lines (polling, storms, noise); a log made of one
line repeated keeps every line, and the shortest candidate lines (``--> BUSY``, or blank lines
under one header) give the most rows per byte. Each kind below is streamed into a file in
``benchmarks/_work/`` (git-ignored) at the size asked, then diagnosed; the child's peak RSS is
read from ``os.wait4``. ``--cores N`` makes the child believe it has N cores (``os.cpu_count``),
which is how the per-core growth of the old worker pool showed.

Nothing here asserts; the numbers are for a person (and the README's stated bound).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORK = HERE / "_work"

H7 = "2024-03-14T10:02:42.003Z error vvold[2100874] [Originator@6876 sub=Default]\n"
KINDS: dict[str, tuple[str, str]] = {
    # name: (written once at the top, repeated)
    "failure": (
        "",
        H7 + "--> VasaOp::ThrowFromSessionError [#90215]: ===> FINAL FAILURE createVirtualVolume, error "
        "(TIMEOUT / Operation timed out) VP (pure-ct0) Container (b487b73a-6128-3ad2-873b-8ddb1ba45d4f) "
        "timeElapsed=60012 msecs (#outstanding 5)\n",
    ),
    "issuing": (
        "",
        H7 + "--> VasaOp::QueryVirtualVolumeInt [#89844]: ===> Issuing 'queryVirtualVolume' to VP "
        "sn1-m20-c12-25-ct1 (#outstanding 5/5) [session state: Connected]\n",
    ),
    "setcontext": (
        "",
        "2025-08-08T12:17:14.610Z Er(163) VVold[2255518]: [Originator@6876 sub=Default OpId=Session] "
        "VasaSession::DoSetContext: setContext for VP XXX (url: https://XXX:8443/vasa/services/"
        "vasaService?version=4) failed [connectionState: TransportError]: TRANSPORT_FAULT (Timeout / "
        "SSL_connect() failed in tcp_connect())\n",
    ),
    "busy8": (
        "",
        "2025-08-08T12:20:01.100Z Er(163) VVold[2255518]: [Originator@6876 sub=Default] PROVIDER_BUSY\n",
    ),
    "cont-busy": (H7, "--> BUSY\n"),
    "blank": (H7, "\n"),
}


def generate(kind: str, mib: int) -> Path:
    WORK.mkdir(exist_ok=True)
    path = WORK / f"pathological-{kind}-{mib}mb.log"
    if path.exists() and path.stat().st_size >= mib * 1024 * 1024 * 0.99:
        return path
    head, line = KINDS[kind]
    block = line.encode() * max(1, (4 * 1024 * 1024) // len(line))
    with path.open("wb") as out:
        out.write(head.encode())
        written = len(head)
        while written < mib * 1024 * 1024:
            out.write(block)
            written += len(block)
    return path


PROBE = (
    "import os, sys; n = int(sys.argv[1]); os.cpu_count = (lambda: n) if n else os.cpu_count; "
    "sys.argv = ['vvolguard', 'diagnose', sys.argv[2], '--json']; "
    "from vvolguard.cli.main import run; run()"
)


def measure(path: Path, cores: int) -> tuple[float, int, int]:
    start = time.perf_counter()
    with open(os.devnull, "wb") as sink:
        proc = subprocess.Popen([sys.executable, "-c", PROBE, str(cores), str(path)], stdout=sink)
        _, status, usage = os.wait4(proc.pid, 0)
    return time.perf_counter() - start, usage.ru_maxrss // 1024, os.waitstatus_to_exitcode(status)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--kinds", default=",".join(KINDS), help=f"comma-separated, of {', '.join(KINDS)}")
    parser.add_argument("--cores", type=int, default=0, help="pretend this many cores (0: the real count)")
    args = parser.parse_args()
    print(
        f"vvolguard diagnose --json on {args.size_mb} MiB of one repeated line, cores={args.cores or 'real'}"
    )
    for kind in args.kinds.split(","):
        path = generate(kind, args.size_mb)
        wall, peak, code = measure(path, args.cores)
        print(f"  {kind:12s} {wall:7.1f} s  peak RSS {peak:6d} MiB  exit {code}", flush=True)


if __name__ == "__main__":
    main()
