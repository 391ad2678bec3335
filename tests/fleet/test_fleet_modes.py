"""The same estate gives the same tables and summary in one process, on the embedded
LocalCluster, and on a real ``dask scheduler`` with two ``dask worker`` processes on loopback;
a second run reads only what changed; a file that cannot be read is a warning."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from vvolguard.fleet.run import FleetResult, Progress, run_fleet

TABLES = ("buckets", "migrations", "storms", "certificates", "setcontext", "incidents", "files")


def assert_same_outputs(a: Path, b: Path) -> None:
    for name in TABLES:
        left, right = pl.read_parquet(a / f"{name}.parquet"), pl.read_parquet(b / f"{name}.parquet")
        assert left.equals(right), name
    assert json.loads((a / "summary.json").read_text()) == json.loads((b / "summary.json").read_text())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def dask_cluster(tmp_path: Path) -> Iterator[tuple[str, list[subprocess.Popen[bytes]]]]:
    """A ``dask scheduler`` and two ``dask worker`` processes on loopback, as an operations team
    runs them (the console scripts of the installed distributed package)."""
    bin_dir = Path(sys.executable).parent
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "DASK_DISTRIBUTED__WORKER__DAEMON": "False"}
    procs = [
        subprocess.Popen(
            [
                str(bin_dir / "dask"),
                "scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--no-dashboard",
            ],
            stdout=subprocess.DEVNULL,
            stderr=(tmp_path / "scheduler.log").open("w"),
            env=env,
        )
    ]
    try:
        for n in range(2):
            procs.append(
                subprocess.Popen(
                    [
                        str(bin_dir / "dask"),
                        "worker",
                        address,
                        "--nthreads",
                        "1",
                        "--no-dashboard",
                        "--local-directory",
                        str(tmp_path / f"w{n}"),
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=(tmp_path / f"worker{n}.log").open("w"),
                    env=env,
                )
            )
        from distributed import Client

        deadline = time.monotonic() + 120
        while True:
            try:
                with Client(address, timeout=10) as client:
                    client.wait_for_workers(2, timeout=max(1, deadline - time.monotonic()))
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)
        yield address, procs
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.mark.slow
def test_embedded_cluster_gives_what_one_process_gives(
    estate: Path, reference: FleetResult, tmp_path: Path
) -> None:
    result = run_fleet([str(estate)], tmp_path / "embedded", workers=2)
    assert result.run["workers"] == 2
    assert_same_outputs(reference.out, result.out)


@pytest.mark.slow
def test_external_scheduler_and_two_workers_give_what_one_process_gives(
    estate: Path,
    reference: FleetResult,
    tmp_path: Path,
    dask_cluster: tuple[str, list[subprocess.Popen[bytes]]],
) -> None:
    address, _procs = dask_cluster
    result = run_fleet([str(estate)], tmp_path / "external", scheduler=address)
    assert result.run["workers"] == 2
    assert result.run["scheduler"] == address
    assert_same_outputs(reference.out, result.out)


@pytest.mark.slow
def test_a_worker_lost_mid_run_changes_nothing(
    estate: Path,
    reference: FleetResult,
    tmp_path: Path,
    dask_cluster: tuple[str, list[subprocess.Popen[bytes]]],
) -> None:
    """One of the two workers is killed (SIGKILL, as the OOM killer would) after a few files:
    the scheduler gives its tasks to the other, and the result is the reference's."""
    address, procs = dask_cluster
    worker = procs[1]
    seen: list[int] = []

    def done(_size: int) -> None:
        seen.append(1)
        if len(seen) == 5:
            worker.kill()
            worker.wait(timeout=30)

    result = run_fleet([str(estate)], tmp_path / "lost", scheduler=address, progress=Progress(on_done=done))
    assert worker.returncode is not None, "the worker was to be killed during the run"
    assert len(seen) > 5
    assert_same_outputs(reference.out, result.out)


def _small_tree(estate: Path, into: Path) -> Path:
    """Two hosts of the estate (one with a planted incident) and the vCenter exports."""
    truth = json.loads((estate / "estate-truth.json").read_text())
    pe_host = next(i["host"] for i in truth["incidents"] if i["class"] == "pe-presentation")
    quiet = truth["quiet_hosts"][0]
    for name in (pe_host, quiet, "vcenter", "certs"):
        shutil.copytree(estate / name, into / name)
    return into


def test_second_run_reads_only_changed_files(estate: Path, tmp_path: Path) -> None:
    tree = _small_tree(estate, tmp_path / "tree")
    out = tmp_path / "out"
    first = run_fleet([str(tree)], out, workers=0)
    assert first.run["files_read"] == first.run["files"] > 0

    again = run_fleet([str(tree)], out, workers=0)
    assert again.run["files_read"] == 0
    assert again.run["windows_diagnosed"] == 0
    assert again.summary == first.summary

    # a new night's lines on one host: that file alone is read again
    quiet_log = (
        next(
            p
            for p in tree.iterdir()
            if p.name != "vcenter"
            and p.name != "certs"
            and not any(i["host"] == p.name for i in first.summary["incidents"])
        )
        / "vvold.log"
    )
    with quiet_log.open("ab") as log:
        log.write(quiet_log.read_bytes().splitlines(keepends=True)[-1])
    third = run_fleet([str(tree)], out, workers=0)
    assert third.run["files_read"] == 1
    assert third.run["windows_diagnosed"] == 0  # the incident host's window did not change
    fresh = run_fleet([str(tree)], tmp_path / "fresh", workers=0)
    assert third.summary == fresh.summary


def test_a_damaged_or_missing_cached_bucket_frame_reads_its_file_again(estate: Path, tmp_path: Path) -> None:
    """A summary's buckets are cached as Parquet beside its JSON: one that is cut short, gone,
    or of another shape must cost a re-read of its file, never a wrong or failed run."""
    tree = _small_tree(estate, tmp_path / "tree")
    out = tmp_path / "out"
    first = run_fleet([str(tree)], out, workers=0)
    frames = sorted((out / "cache").glob("*.parquet"))
    assert len(frames) == first.run["files"] == len(list((out / "cache").glob("*.json.gz")))
    frames[0].write_bytes(frames[0].read_bytes()[:40])
    frames[1].unlink()
    pl.DataFrame({"host": ["esx-01"]}).write_parquet(frames[2])
    again = run_fleet([str(tree)], out, workers=0)
    assert again.run["files_read"] == 3
    assert_same_outputs(first.out, again.out)
    assert len(list((out / "cache").glob("*.parquet"))) == first.run["files"]


def test_unreadable_file_is_a_warning_and_the_rest_still_counts(estate: Path, tmp_path: Path) -> None:
    tree = _small_tree(estate, tmp_path / "tree")
    host = next(p for p in sorted(tree.iterdir()) if p.name.startswith("esx"))
    good = host / "vvold.log"
    broken = host / "vvold.log-20260228.gz"
    broken.write_bytes(gzip.compress(good.read_bytes()[:200_000])[:5_000])  # cut short mid-stream
    (host / "vvold.log-20260227.gz").write_bytes(b"\x1f\x8b\x08\x00garbage that is not deflate")
    result = run_fleet([str(tree)], tmp_path / "out", workers=0)
    warned = " ".join(result.summary["warnings"])
    assert "vvold.log-20260228.gz" in warned and "vvold.log-20260227.gz" in warned
    assert result.summary["inputs"]["hosts"] == 2
    assert result.summary["incidents"], "the planted incident must still be found"

    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "vvolguard.cli.main",
            "fleet",
            str(tree),
            "-o",
            str(tmp_path / "cli"),
            "--workers",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "warnings" in proc.stdout


def test_shared_exports_are_read_once_per_process_with_the_same_incidents(
    estate: Path, reference: FleetResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every window of every host needs vCenter's exports; read again for each window they made a
    run's cost grow with the square of the estate. Each is read once per process now, and the
    incidents are the same as when every window reads them itself (the budget set to nothing)."""
    from vvolguard.fleet import summarise, windows

    reads: dict[str, int] = {}
    real = summarise.read_ref

    def counting(ref, sink):  # type: ignore[no-untyped-def]
        reads[ref.path] = reads.get(ref.path, 0) + 1
        return real(ref, sink)

    monkeypatch.setattr(summarise, "read_ref", counting)
    kept = run_fleet([str(estate)], tmp_path / "kept", workers=0)
    shared = [p for p in reads if "/vcenter/" in p]
    assert shared, reads
    # once for the file's summary, once for all the windows
    assert all(reads[p] == 2 for p in shared), {p: reads[p] for p in shared}
    assert windows._SHARED_READINGS == {}  # forgotten at the end of the run
    assert_same_outputs(reference.out, kept.out)

    reads.clear()
    monkeypatch.setattr(windows, "SHARED_RECORDS_KEPT", 0)
    again = run_fleet([str(estate)], tmp_path / "again", workers=0)
    assert max(reads[p] for p in shared) > 2  # every window read them
    assert_same_outputs(kept.out, again.out)
