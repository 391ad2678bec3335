"""``vvolguard fleet`` at estate scale: 1 vs 2 local workers, an external scheduler, a rerun.

Writes a simulated estate (``vvolguard simulate estate``: the simulator writes every host's logs)
and reads it, side by side in one run:

1. embedded LocalCluster, 1 worker process;
2. embedded LocalCluster, 2 worker processes (scaling efficiency = speed-up / 2);
3. a ``dask scheduler`` and two ``dask worker`` processes started here on loopback;
4. the nightly rerun: the same output folder after one more night of lines on every host's live
   vvold.log (rotated days unchanged), which must read only the changed files.

For each it prints wall time, the CPU seconds the workers spent (read on the workers themselves,
so other load on the machine does not count), and throughput: log bytes per second of wall time,
and per worker CPU second (bytes/s per core). Nothing asserts; the numbers are for a person.
On a shared machine the wall-time figures move with the load: ``uptime`` is printed first and last.

    python benchmarks/fleet_scale.py                   # 200 hosts x 2 days, getEvents every 30 s
    python benchmarks/fleet_scale.py --hosts 20 --days 1   # quick check that it still works
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from vvolguard.fleet.run import run_fleet
from vvolguard.sim.estate import simulate_estate


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _worker_cpu(address: str | None) -> float:
    """CPU seconds used so far by every worker of the cluster at ``address``."""
    if address is None:
        return _cpu()
    from distributed import Client

    with Client(address, timeout=30) as client:
        return sum(client.run(_cpu).values())


class Measured:
    def __init__(self, name: str, wall: float, cpu: float, run: dict[str, Any], text_bytes: int) -> None:
        self.name, self.wall, self.cpu, self.run, self.text_bytes = name, wall, cpu, run, text_bytes

    def line(self) -> str:
        read = self.run["bytes_read"]
        share = read / max(1, self.run["bytes_read_total"])
        text = self.text_bytes * share  # log text behind the bytes read (rotated files are gzip)
        return (
            f"{self.name:<34} wall {self.wall:8.1f} s  worker cpu {self.cpu:8.1f} s  "
            f"files read {self.run['files_read']:>6}/{self.run['files']:<6} "
            f"{text / 1e6 / self.wall:7.1f} MB/s wall  {text / 1e6 / max(self.cpu, 1e-9):7.1f} MB/s per core"
        )


def measure(name: str, paths: list[str], out: Path, text_bytes: int, total: int, **kw: Any) -> Measured:
    from distributed import Client, LocalCluster

    workers = kw.pop("workers", None)
    scheduler = kw.pop("scheduler", None)
    cluster = None
    if scheduler is None:
        # started here rather than inside run_fleet so the workers' CPU can be read after the run
        cluster = LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            host="127.0.0.1",
            silence_logs=40,
        )
        scheduler = cluster.scheduler_address
    try:
        before = _worker_cpu(scheduler)
        t = time.perf_counter()
        result = run_fleet(paths, out, scheduler=scheduler)
        wall = time.perf_counter() - t
        cpu = _worker_cpu(scheduler) - before
    finally:
        if cluster is not None:
            with Client(cluster, timeout=30):
                pass
            cluster.close()
    run = {**result.run, "bytes_read_total": total}
    return Measured(name, wall, cpu, run, text_bytes)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def external_cluster(tmp: Path) -> tuple[str, list[subprocess.Popen[bytes]]]:
    dask = str(Path(sys.executable).parent / "dask")
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    procs = [
        subprocess.Popen(
            [dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    ]
    for n in range(2):
        procs.append(
            subprocess.Popen(
                [
                    dask,
                    "worker",
                    address,
                    "--nthreads",
                    "1",
                    "--no-dashboard",
                    "--local-directory",
                    str(tmp / f"w{n}"),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
    from distributed import Client

    deadline = time.monotonic() + 180
    while True:
        try:
            with Client(address, timeout=10) as client:
                client.wait_for_workers(2, timeout=max(1, deadline - time.monotonic()))
            return address, procs
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def one_more_night(estate: Path, fraction: float) -> int:
    """Append the last ``fraction`` of each host's live vvold.log again (a night of lines)."""
    added = 0
    for host in sorted(p for p in estate.iterdir() if p.is_dir() and p.name.startswith("esx")):
        log = host / "vvold.log"
        data = log.read_bytes()
        cut = data.find(b"\n", int(len(data) * (1 - fraction))) + 1
        with log.open("ab") as f:
            f.write(data[cut:])
        added += len(data) - cut
    return added


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hosts", type=int, default=200)
    ap.add_argument("--days", type=int, default=2)
    ap.add_argument("--poll", type=float, default=30.0, help="getEvents interval of the estate (ESXi: 10 s)")
    ap.add_argument("--keep", type=Path, default=None, help="write the estate here and keep it")
    args = ap.parse_args()
    print(
        f"load before: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f} "
        f"(1/5/15 min) on {os.cpu_count()} cores"
    )
    tmp = Path(tempfile.mkdtemp(prefix="fleet-scale-"))
    estate = args.keep or tmp / "estate"
    try:
        t = time.perf_counter()
        cpu = _cpu()
        written = simulate_estate(
            estate, hosts=args.hosts, days=args.days, seed=7, poll_s=args.poll, with_knee=False
        )
        files = [p for p in estate.rglob("*") if p.is_file()]
        total = sum(p.stat().st_size for p in files)
        print(
            f"estate: {args.hosts} hosts x {args.days} days, getEvents every {args.poll:g} s: "
            f"{written.bytes_written / 1e6:,.0f} MB of log text, {total / 1e6:,.0f} MB in {len(files)} files "
            f"on disk; written in {time.perf_counter() - t:.1f} s ({_cpu() - cpu:.1f} s CPU)"
        )
        text = written.bytes_written
        results = [
            measure("embedded, 1 worker", [str(estate)], tmp / "out1", text, total, workers=1),
            measure("embedded, 2 workers", [str(estate)], tmp / "out2", text, total, workers=2),
        ]
        address, procs = external_cluster(tmp)
        try:
            results.append(
                measure(
                    "dask scheduler + 2 dask workers",
                    [str(estate)],
                    tmp / "out3",
                    text,
                    total,
                    scheduler=address,
                )
            )
            added = one_more_night(estate, 1 / (24 * args.days))
            rerun = measure(
                "rerun after one more night", [str(estate)], tmp / "out3", text, total, scheduler=address
            )
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.wait(timeout=60)
        for m in results:
            print(m.line())
        print(
            f"{rerun.name:<34} wall {rerun.wall:8.1f} s  worker cpu {rerun.cpu:8.1f} s  files read "
            f"{rerun.run['files_read']}/{rerun.run['files']} ({rerun.run['bytes_read'] / 1e6:,.0f} MB; "
            f"{added / 1e6:,.1f} MB of new lines), windows diagnosed {rerun.run['windows_diagnosed']}"
            f"/{rerun.run['windows']}"
        )
        one, two = results[0], results[1]
        print(
            f"scaling 1 -> 2 workers: speed-up {one.wall / two.wall:.2f}x wall, efficiency "
            f"{one.wall / two.wall / 2:.0%} (CPU per byte: {two.cpu / max(one.cpu, 1e-9):.2f}x of 1 worker)"
        )
        per_core = text / max(one.cpu, 1e-9)
        print(f"bytes/s per core (1 worker, worker CPU): {per_core / 1e6:.1f} MB/s")
        estate_90 = 1000 * 90 * (text / (args.hosts * args.days)) * (args.poll / 10.0)
        print(
            f"1,000 hosts x 90 days at ESXi's 10 s getEvents: ~{estate_90 / 1e12:.2f} TB of log text; "
            f"on 20 workers at this rate: ~{estate_90 / (20 * per_core) / 3600:.1f} h first run, "
            f"then one night (~{estate_90 / 90 / (20 * per_core) / 60:.0f} min) per nightly rerun"
        )
    finally:
        print(f"load after: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
        if args.keep is None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
