"""What ``vvolguard diagnose`` costs on the same vvold lines as other tools keep them.

A host's own vvold.log is the benchmark of ``parse_throughput.py``. Admins and central syslog
servers hand over the same lines framed otherwise (docs/evidence-formats.md §1.4, §8):

* ``forwarded``: as a syslog server stores what ESXi forwards (``<time> <host> Vvold: info
  vvold[pid] ...``), in a file kept for vvold (``vvold.log``) and in one file for every program
  (``messages``, read by the hostd and vmkernel readers too);
* ``relayed``: the same behind ``<PRI>`` and a relay's BSD header;
* ``grep -Hn``: an excerpt with file names and line numbers.

Each is made from the first ``--size-mb`` MiB of ``parse_throughput.py``'s op-trace log (which it
generates if missing: run that first, or pass ``--source``), and ``vvolguard diagnose FILE
--json`` is run on it ``--repeat`` times, interleaved; the least CPU (user + system, threads
included) of each is printed with its ratio to the native file's. CPU, not wall time: the ratio
is what a framing costs, whatever else the machine runs. Nothing asserts.

    python benchmarks/central_syslog.py [--size-mb 64] [--repeat 3] [--source FILE]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORK = HERE / "_work"


def _native(lines: Iterator[bytes]) -> Iterator[bytes]:
    yield from lines


def _forwarded(lines: Iterator[bytes], prefix: bytes = b"") -> Iterator[bytes]:
    for n, line in enumerate(lines):
        if line[:2] == b"20":  # a header: ESXi's time first
            host = b"esx%02d.lab" % (n // 1000 % 4)
            yield prefix + line[:24] + b" " + host + b" Vvold:" + line[24:]
        else:  # a continuation: the server keeps it as it came
            yield line


def _relayed(lines: Iterator[bytes]) -> Iterator[bytes]:
    return _forwarded(lines, b"<166>Mar  1 08:00:00 10.100.101.102 ")


def _grep(lines: Iterator[bytes]) -> Iterator[bytes]:
    for n, line in enumerate(lines, 1):
        mark = b":" if line[:2] == b"20" else b"-"  # grep -C marks context lines with dashes
        yield b"/var/log/vvold.log" + mark + str(n).encode() + mark + line


Framing = Callable[[Iterator[bytes]], Iterator[bytes]]
FRAMINGS: dict[str, tuple[str, Framing]] = {
    "native": ("vvold.log", _native),
    "forwarded, file kept for vvold": ("vvold.log", _forwarded),
    "forwarded, one file for all": ("messages", _forwarded),
    "relayed (<PRI> + BSD header)": ("messages", _relayed),
    "grep -Hn excerpt": ("vvold-grep.txt", _grep),
}


def write_framed(source: Path, size: int, name: str, frame: Framing) -> Path:
    folder = WORK / "framed" / f"{source.stem}-{size >> 20}mb-{frame.__name__.strip('_')}"
    path = folder / name
    if path.exists():
        return path
    folder.mkdir(parents=True, exist_ok=True)
    with source.open("rb") as src, path.open("wb") as out:
        data = src.read(size)
        data = data[: data.rfind(b"\n") + 1]
        for line in frame(iter(data.splitlines(keepends=True))):
            out.write(line)
    return path


def cpu_of(argv: list[str]) -> float:
    with (WORK / "stdout.scratch").open("wb") as sink:
        proc = subprocess.Popen(argv, stdout=sink, stderr=subprocess.DEVNULL)
        _, _, usage = os.wait4(proc.pid, 0)
    return usage.ru_utime + usage.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--source", type=Path, default=WORK / "vvold-optrace-esxi7-128mb-seed7.log")
    args = parser.parse_args()
    if not args.source.exists():
        subprocess.run(
            [sys.executable, str(HERE / "parse_throughput.py"), "--size-mb", "128", "--repeat", "1"],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    exe = str(Path(sys.executable).with_name("vvolguard"))
    paths = {
        label: write_framed(args.source, args.size_mb << 20, name, frame)
        for label, (name, frame) in FRAMINGS.items()
    }
    best: dict[str, float] = {}
    print(f"vvolguard diagnose --json on {args.size_mb} MiB of op-trace lines, best CPU of {args.repeat}")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for _ in range(args.repeat):
        for label, path in paths.items():
            cpu = cpu_of([exe, "diagnose", str(path), "--json"])
            best[label] = min(best.get(label, cpu), cpu)
    for label, cpu in best.items():
        size = paths[label].stat().st_size / 2**20
        print(f"  {label:34s} {size:5.0f} MiB  {cpu:6.2f} s CPU  x{cpu / best['native']:.2f} native")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
