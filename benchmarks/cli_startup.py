"""Start-up cost of the ``vvolguard`` command: wall and CPU time of short runs, side by side.

A diagnose of a small log is almost all start-up (interpreter, imports, typer building the
command), so this is what a user feels on every call and what the 512 MiB benchmark pays once.
The machine is noisy: runs of each case (and of ``--base`` against this checkout) are interleaved
and the median is reported; CPU is the child's user+sys from ``os.wait4``.

    python benchmarks/cli_startup.py                     # this checkout
    python benchmarks/cli_startup.py --base /tmp/old/src # vs. an older copy of src/ (git archive)
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIG_LOG = ROOT / "benchmarks" / "_work" / "vvold-esxi7-16mb-seed7.log"

# A 2 KB vvold.log in ESXi 7 shape, used when the generated benchmark log is not there.
FALLBACK_LOG = (
    "2025-03-01T00:00:00.000Z info vvold[2099041] [Originator@6876 sub=Default] - time the service "
    "was last started 2025-03-01T00:00:00.000Z, Section for VMware ESX, pid=2099041, version=7.0.3, "
    "build=20328353, option=Release\n"
    + "".join(
        f"2025-03-01T00:00:{i:02d}.150Z info vvold[2099041] [Originator@6876 sub=Default] "
        f"VasaOp::QueryVirtualVolumeInfoInt [#{89000 + i}]: ===> FINAL SUCCESS queryVirtualVolumeInfo "
        "VP (pure-ct0) Container (5c1e0f2a-91d4-3b7e-a0c2-7d3e9b41aa10) timeElapsed=150 msecs "
        "(#outstanding 0)\n"
        for i in range(8)
    )
)


def tiny_log(folder: Path) -> Path:
    """About 2 KB of whole lines: the head of the generated log, or a built-in one."""
    path = folder / "tiny-vvold.log"
    if BIG_LOG.exists():
        with BIG_LOG.open("rb") as f:
            head = f.read(2200)
        path.write_bytes(head[: head.rfind(b"\n") + 1])
    else:
        path.write_text(FALLBACK_LOG, encoding="utf-8")
    return path


def run_once(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU (user+sys) seconds of one child run; output is discarded, failures raise."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {proc.returncode}")
    return wall, usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--base", type=Path, help="An older src/ folder to compare with (via PYTHONPATH).")
    args = parser.parse_args()

    python = sys.executable
    exe = shutil.which("vvolguard", path=str(Path(python).parent)) or "vvolguard"
    with tempfile.TemporaryDirectory(prefix="vvolguard-startup-") as tmp:
        log = tiny_log(Path(tmp))
        cases = {
            "vvolguard --help": [exe, "--help"],
            "vvolguard diagnose tiny --json": [exe, "diagnose", str(log), "--json"],
            "import vvolguard.cli.main": [python, "-c", "import vvolguard.cli.main"],
        }
        env = dict(os.environ)
        env.pop("PYTHONPATH", None)
        variants = {"this checkout": env}
        if args.base is not None:
            variants = {"base": {**env, "PYTHONPATH": str(args.base.resolve())}, **variants}
        results: dict[tuple[str, str], list[tuple[float, float]]] = {
            (c, v): [] for c in cases for v in variants
        }
        for argv in cases.values():  # warm the disk cache (and .pyc files where they are written)
            for variant_env in variants.values():
                run_once(argv, variant_env)
        for _ in range(args.runs):
            for name, argv in cases.items():
                for variant, variant_env in variants.items():
                    results[(name, variant)].append(run_once(argv, variant_env))

    print(f"median of {args.runs} interleaved runs (wall / CPU user+sys), {os.cpu_count()} CPUs")
    for name in cases:
        cells = []
        for variant in variants:
            runs = results[(name, variant)]
            wall = statistics.median(r[0] for r in runs)
            cpu = statistics.median(r[1] for r in runs)
            cells.append(f"{variant}: {wall:.3f} s / {cpu:.3f} s")
        print(f"  {name:32} " + "   ".join(cells))


if __name__ == "__main__":
    main()
