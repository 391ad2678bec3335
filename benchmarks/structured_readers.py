"""How much do the tolerant structured readers cost over the bare stdlib parse of the same bytes?

The esxcli, PowerCLI and vCenter export readers trade speed for tolerance (per-entry JSON decoding
so a damaged entry costs only itself, header-driven CSV, locale dates, event joins). This script
builds N and 10xN entries of each shape and prints, side by side:

* the reader's MB/s and the bare ``json.loads`` / ``csv.reader`` MB/s on the same bytes, and their
  ratio (how much tolerance costs);
* the ratio of per-entry cost at 10xN to N (should be about 1: cost is linear in entries);
* the peak Python heap (tracemalloc) per MB of input.

Nothing here asserts; the numbers are for a person (and CI logs) to read.

    .venv/bin/python benchmarks/structured_readers.py [--entries 2000]
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import time
import tracemalloc
from collections.abc import Callable

from vvolguard.evidence.esxcli import VASAPROVIDER_READER
from vvolguard.evidence.events import EventExportReader
from vvolguard.evidence.source import from_bytes
from vvolguard.evidence.tasks import TaskExportReader


def events_json(n: int) -> bytes:
    events = []
    for i in range(n):
        host, dest = f"esx-{i % 16:02d}.corp.example", f"esx-{(i + 1) % 16:02d}.corp.example"
        events.append(
            {
                "Key": 2 * i,
                "ChainId": i,
                "CreatedTime": "2024-03-14T10:02:11.418Z",
                "Host": {"Name": host},
                "Vm": {"Name": f"vm-{i}"},
                "DestHost": {"Name": dest},
                "FullFormattedMessage": f"Migrating vm-{i} from {host}, ds to {dest}, ds in DC1",
            }
        )
        events.append(
            {
                "Key": 2 * i + 1,
                "ChainId": i,
                "CreatedTime": "2024-03-14T10:03:11.418Z",
                "Host": {"Name": dest},
                "SourceHost": {"Name": host},
                "Vm": {"Name": f"vm-{i}"},
                "Ds": {"Name": "ds"},
                "FullFormattedMessage": (
                    f"Migration of virtual machine vm-{i} from {host}, ds to {dest}, ds completed"
                ),
            }
        )
    return json.dumps(events, indent=2).encode()


def tasks_csv(n: int) -> bytes:
    rows = ["Task Name,Target,Status,Details,Initiator,Queued For,Start Time,Completion Time,Server"]
    for i in range(n):
        status = (
            "Completed"
            if i % 7
            else '"A general system error occurred: Source detected that destination failed"'
        )
        rows.append(
            f'Relocate virtual machine,vm-{i},{status},,System,3 ms,"03/14/2024, 10:02:11 AM",'
            f'"03/14/2024, 10:03:40 AM",vc01'
        )
    return "\n".join(rows).encode()


def vasaprovider_text(n: int) -> bytes:
    block = (
        "VP Name: pure-ct{i}\n   URL: https://10.0.0.{j}:8084\n   Status: online\n   Arrays:\n"
        "         Array Id: com.purestorage:{i}\n         Is Active: true\n         Priority: 200\n\n"
    )
    return "".join(block.format(i=i, j=i % 250) for i in range(n)).encode()


def get_task_ps51(n: int) -> bytes:
    """``Get-Task | Select-Object ... | ConvertTo-Json > tasks.json`` from Windows PowerShell 5.1."""
    from vvolguard.sim.evidence.vcenter import ps51_json

    tasks = [
        {
            "Id": f"Task-task-{i}",
            "Name": "RelocateVM_Task",
            "State": "Error" if i % 7 == 0 else "Success",
            "StartTime": f"/Date({1773482531000 + i * 1000})/",
            "FinishTime": f"/Date({1773482591000 + i * 1000})/",
            "Entity": f"vm-{i}",
            "Error": "A general system error occurred." if i % 7 == 0 else None,
        }
        for i in range(n)
    ]
    return ps51_json(tasks)


def vasaprovider_paste(n: int) -> bytes:
    """A PuTTY log: a prompt and ``esxcli storage vvol vasaprovider list`` before every 10 blocks."""
    prompt = "\x1b[01;32m[root@esx-03:~]\x1b[0m esxcli storage vvol vasaprovider list\r\n"
    text = vasaprovider_text(n).decode().replace("\n", "\r\n")
    blocks = text.split("\r\n\r\n")
    out = ["=~=~=~=~=~=~=~=~=~=~=~= PuTTY log 2026.03.14 10:22:01 =~=~=~=~=~=~=~=~=~=~=~=\r\n"]
    for i, block in enumerate(blocks):
        out.append((prompt if i % 10 == 0 else "") + block + "\r\n\r\n")
    return "".join(out).encode()


def bare_utf16_json(data: bytes) -> int:
    return len(json.loads(data.decode("utf-16")))


def bare_json(data: bytes) -> int:
    return len(json.loads(data))


def bare_csv(data: bytes) -> int:
    return sum(1 for _ in csv.reader(io.StringIO(data.decode())))


def bare_lines(data: bytes) -> int:
    return sum(1 for line in data.decode().splitlines() if ": " in line)


def measure(fn: Callable[[], object]) -> tuple[float, float]:
    """(seconds, peak traced heap bytes); timed without tracemalloc, which would slow it."""
    start = time.perf_counter()
    fn()
    elapsed = time.perf_counter() - start
    tracemalloc.start()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return elapsed, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=2000)
    args = parser.parse_args()
    cases = [
        ("Get-VIEvent JSON", events_json, EventExportReader(), bare_json),
        ("Tasks CSV", tasks_csv, TaskExportReader(), bare_csv),
        ("esxcli vasaprovider text", vasaprovider_text, VASAPROVIDER_READER, bare_lines),
        ("Get-Task PS 5.1 UTF-16", get_task_ps51, TaskExportReader(), bare_utf16_json),
        ("esxcli PuTTY paste", vasaprovider_paste, VASAPROVIDER_READER, bare_lines),
    ]
    print(
        f"{'shape':26} {'entries':>8} {'MB':>6} {'reader MB/s':>12} {'bare MB/s':>10} {'cost x':>7} "
        f"{'heap/MB in':>10} {'records':>8}"
    )
    for label, build, reader, bare in cases:
        per_entry: list[float] = []
        for n in (args.entries, 10 * args.entries):
            data = build(n)
            mb = len(data) / 1e6
            out: list[object] = []
            elapsed, peak = measure(
                lambda data=data, out=out, reader=reader: out.__setitem__(
                    slice(None), list(reader.read(from_bytes("x", data)))
                )
            )
            bare_elapsed, _ = measure(lambda data=data, bare=bare: bare(data))
            per_entry.append(elapsed / n)
            print(
                f"{label:26} {n:>8} {mb:>6.1f} {mb / elapsed:>12.1f} {mb / bare_elapsed:>10.1f} "
                f"{elapsed / bare_elapsed:>7.1f} {peak / 1e6 / mb:>10.1f} {len(out):>8}"
            )
        print(f"{'':26} per-entry cost 10xN / N = {per_entry[1] / per_entry[0]:.2f}")


if __name__ == "__main__":
    main()
