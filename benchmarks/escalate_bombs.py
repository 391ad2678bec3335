"""Time and peak memory of ``escalate`` and ``diagnose`` on decompression bombs, side by side.

Issue #17: a 65 KB ``.gz`` of 64 MiB of zeros cost ``escalate`` 72 s and 874 MB, 1 GiB more than
300 s and 10 GB. This script writes such inputs into a temporary folder (small: gzip members of
zeros are concatenated, so 1 GiB is about 1 MB on disk) and runs both commands on each as child
processes, reporting wall time and the child's own peak RSS (``os.wait4``), next to the time a
bare ``zlib`` pass needs to stream the same bytes (the floor for any reader).

Kinds of input:

* ``zeros``     ``vvold.log.gz``: one line of N bytes of NUL (the issue's bomb);
* ``newlines``  ``vvold.log.gz``: N blank lines (the most lines per byte);
* ``one-line``  ``tasks.csv.gz``: a CSV header, then one line of N bytes of ``a`` (a structured
  export that is copied, not cut).

Nothing here asserts; the numbers are for a person (and CI logs) to read.

    .venv/bin/python benchmarks/escalate_bombs.py                 # 64 MiB and 1 GiB
    .venv/bin/python benchmarks/escalate_bombs.py --sizes 64M 1G 20G --kinds zeros
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

MiB = 1024 * 1024
MEMBER = 64 * MiB  # one gzip member; bigger inputs concatenate copies of it


def parse_size(text: str) -> int:
    units = {"K": 1024, "M": MiB, "G": 1024 * MiB}
    return int(float(text[:-1]) * units[text[-1].upper()]) if text[-1].upper() in units else int(text)


def member(byte: bytes, size: int, head: bytes = b"") -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    out = [packer.compress(head)]
    block = byte * MiB
    out += [packer.compress(block) for _ in range(size // MiB)]
    return b"".join(out) + packer.flush()


def write_bomb(folder: Path, kind: str, size: int) -> Path:
    folder.mkdir(parents=True)
    per = min(size, MEMBER)
    copies = max(1, size // per)
    if kind == "zeros":
        path, first, rest = folder / "vvold.log.gz", member(b"\0", per), member(b"\0", per)
    elif kind == "newlines":
        path, first, rest = folder / "vvold.log.gz", member(b"\n", per), member(b"\n", per)
    elif kind == "one-line":
        head = b"Name,Target,Status,Initiator,Queued For,Start Time,Completion Time,Server\n"
        path, first, rest = folder / "tasks.csv.gz", member(b"a", per, head), member(b"a", per)
    else:
        raise SystemExit(f"unknown kind {kind}")
    with path.open("wb") as sink:
        sink.write(first)
        for _ in range(copies - 1):
            sink.write(rest)
    return path


def stream_floor(path: Path) -> float:
    """Seconds for zlib alone to decompress every member (1 MiB output at a time)."""
    start = time.perf_counter()
    data = path.read_bytes()
    while data:
        decoder = zlib.decompressobj(wbits=31)
        buf = data
        while buf and not decoder.eof:
            decoder.decompress(buf, MiB)
            buf = decoder.unconsumed_tail
        data = decoder.unused_data
    return time.perf_counter() - start


def run(args: list[str], cwd: Path) -> tuple[float, float, int]:
    """(seconds, peak RSS in MiB, exit code) of one child process."""
    start = time.perf_counter()
    child = subprocess.Popen(args, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    elapsed = time.perf_counter() - start
    return elapsed, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", nargs="+", default=["64M", "1G"])
    parser.add_argument("--kinds", nargs="+", default=["zeros", "newlines", "one-line"])
    parser.add_argument("--commands", nargs="+", default=["escalate", "diagnose"])
    options = parser.parse_args()
    cli = [sys.executable, "-m", "vvolguard.cli.main"]
    header = f"{'kind':9} {'size':>6} {'on disk':>9} {'zlib s':>7}  {'command':9} {'s':>7} {'peak MiB':>9}"
    print(header + " exit")
    with tempfile.TemporaryDirectory(prefix="vvolguard-bench-") as tmp:
        root = Path(tmp)
        for kind in options.kinds:
            for text in options.sizes:
                size = parse_size(text)
                folder = root / f"{kind}-{text}"
                bomb = write_bomb(folder / "in", kind, size)
                floor = stream_floor(bomb)
                for command in options.commands:
                    if command == "escalate":
                        out = folder / "case.zip"
                        out.unlink(missing_ok=True)
                        args = [*cli, "escalate", str(bomb), "-o", str(out), "--redact"]
                    else:
                        args = [*cli, "diagnose", str(bomb), "--json"]
                    seconds, peak, code = run(args, folder)
                    print(
                        f"{kind:9} {text:>6} {bomb.stat().st_size / 1024:>7.0f}KB {floor:>7.2f}  {command:9} "
                        f"{seconds:>7.2f} {peak:>9.0f} {code:>4}",
                        flush=True,
                    )
                for path in sorted(folder.rglob("*"), reverse=True):
                    path.unlink() if path.is_file() else path.rmdir()
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
