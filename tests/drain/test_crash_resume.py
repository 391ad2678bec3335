"""kill -9 and Ctrl-C, for real: a `vvolguard drain --simulate` subprocess with a real SQLite
journal and a simulated vCenter whose state is a SQLite file (it outlives the drain process,
as a real vCenter would), killed mid-run and run again. The simulated vCenter's own record of
relocations proves that every VM moved exactly once."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

VMS = 10


def _cmd(tmp: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "vvolguard.cli.main",
        "drain",
        "--simulate",
        "enterprise",
        "--host",
        "esx01",
        "--sim-vms",
        str(VMS),
        "--sim-world",
        str(tmp / "world.db"),
        "--store",
        str(tmp / "store.db"),
        "--journal",
        str(tmp / "journal.db"),
        "--cooldown",
        "30",
        *extra,
    ]


def _env(tmp: Path) -> dict[str, str]:
    return {**os.environ, "VVOLGUARD_HOME": str(tmp / "home"), "PYTHONUNBUFFERED": "1"}


def _journal_states(tmp: Path) -> dict[str, int]:
    path = tmp / "journal.db"
    if not path.exists():
        return {}
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        rows = con.execute("SELECT state, COUNT(*) FROM drain_vms GROUP BY state").fetchall()
        con.close()
    except sqlite3.Error:
        return {}
    return dict(rows)


def _start_and_wait(tmp: Path, until, speed: str = "40") -> subprocess.Popen:
    # Each RelocateVM_Task call takes 0.3 s to return, as over a real WAN: the window between
    # "vCenter created the task" and "the journal has its id" is wide enough to kill inside.
    proc = subprocess.Popen(
        _cmd(tmp, "--sim-speed", speed, "--sim-api-latency", "0.3"),
        env=_env(tmp),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if until(_journal_states(tmp)):
            return proc
        time.sleep(0.02)
    proc.kill()
    pytest.fail(f"the drain never reached the kill point (states {_journal_states(tmp)})")


def _world(tmp: Path) -> sqlite3.Connection:
    return sqlite3.connect(tmp / "world.db")


def _finish(tmp: Path) -> dict:
    done = subprocess.run(_cmd(tmp, "--json"), env=_env(tmp), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def _assert_each_vm_moved_once(tmp: Path) -> None:
    world = _world(tmp)
    moves = world.execute("SELECT vm_id, COUNT(*) FROM relocations GROUP BY vm_id").fetchall()
    assert len(moves) == VMS, moves
    assert all(n == 1 for _, n in moves), moves
    # never even asked: no second relocate of a VM that was still moving
    assert world.execute("SELECT COUNT(*) FROM tasks WHERE state='rejected'").fetchone()[0] == 0
    # and the host is empty
    left = world.execute("SELECT COUNT(*) FROM inventory WHERE host LIKE 'esx01%'").fetchone()[0]
    assert left == 0


@pytest.mark.parametrize(
    "kill_point",
    [
        pytest.param(lambda s: s.get("submitted", 0) >= 1, id="first-in-flight"),
        pytest.param(lambda s: s.get("succeeded", 0) >= 3 and s.get("submitted", 0) >= 1, id="mid-drain"),
        pytest.param(lambda s: s.get("submitting", 0) >= 1, id="between-submit-and-task-id"),
    ],
)
def test_kill_9_mid_drain_then_rerun_moves_every_vm_exactly_once(tmp_path: Path, kill_point) -> None:
    proc = _start_and_wait(tmp_path, kill_point)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    result = _finish(tmp_path)
    assert result["resumed"] is True
    assert result["left"] == []
    _assert_each_vm_moved_once(tmp_path)
    # the journal of the resumed run is complete and says so
    con = sqlite3.connect(tmp_path / "journal.db")
    assert con.execute("SELECT status FROM drain_runs").fetchall() == [("completed",)]
    assert con.execute("SELECT DISTINCT state FROM drain_vms").fetchall() == [("succeeded",)]


def test_kill_9_twice_in_a_row_still_moves_each_vm_once(tmp_path: Path) -> None:
    for point in (lambda s: s.get("succeeded", 0) >= 2, lambda s: s.get("succeeded", 0) >= 5):
        proc = _start_and_wait(tmp_path, point)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    _finish(tmp_path)
    _assert_each_vm_moved_once(tmp_path)


def test_ctrl_c_stops_new_submissions_and_waits_for_those_in_flight(tmp_path: Path) -> None:
    proc = _start_and_wait(tmp_path, lambda s: s.get("succeeded", 0) >= 2 and s.get("submitted", 0) >= 1)
    os.kill(proc.pid, signal.SIGINT)
    proc.wait(timeout=60)
    assert proc.returncode == 130
    states = _journal_states(tmp_path)
    # nothing left in flight or half-submitted; some VMs not started at all
    assert states.get("submitted", 0) == 0 and states.get("submitting", 0) == 0
    assert states.get("planned", 0) > 0
    world = _world(tmp_path)
    running = world.execute("SELECT COUNT(*) FROM tasks WHERE state IN ('queued','running')").fetchone()[0]
    assert running == 0
    result = _finish(tmp_path)
    assert result["resumed"] is True
    _assert_each_vm_moved_once(tmp_path)
