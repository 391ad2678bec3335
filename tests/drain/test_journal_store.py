"""The SQLite journal and store: transitions survive a reopen (another process), the same
command resumes the same run, and observed limits round-trip."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from vvolguard import store as store_mod
from vvolguard.drain.backends.base import VmRef
from vvolguard.drain.journal import Journal, VmState
from vvolguard.store import ObservedLimit, Store


def _open(path: Path, host: str = "esx-03") -> tuple[Journal, bool]:
    return Journal.open(path, endpoint="vc1", source_host=host, targets=["esx-01"], options={"max": 4})


def test_transitions_are_durable_and_a_rerun_resumes_the_same_run(tmp_path: Path) -> None:
    db = tmp_path / "j.db"
    j, resumed = _open(db)
    assert not resumed
    vms = [VmRef(f"vm-{i}", f"app{i}", "esx-03") for i in range(3)]
    assert j.plan(vms) == 3
    j.submitting("vm-0", "esx-01")
    j.submitted("vm-0", "task-7")
    j.succeeded("vm-0")
    j.submitting("vm-1", "esx-01")
    assert j.failed("vm-1", "A system error occurred.", retry_at=100.0) == 1
    run_id = j.run_id
    j.close()  # as if the process died here: nothing was "saved" explicitly

    j2, resumed = _open(db)
    assert resumed and j2.run_id == run_id
    assert j2.plan(vms) == 0  # already planned: not added twice
    states = {e.vm_id: e for e in j2.entries()}
    assert states["vm-0"].state is VmState.SUCCEEDED
    assert states["vm-1"].state is VmState.FAILED and states["vm-1"].attempts == 1
    assert states["vm-1"].retry_at == 100.0 and states["vm-1"].task_id is None
    assert states["vm-2"].state is VmState.PLANNED
    assert [e.seq for e in j2.entries()] == [0, 1, 2]
    events = [ev for _, ev, _ in j2.events()]
    assert events.count("planned") == 3 and "submitted" in events


def test_a_completed_run_is_not_resumed_and_other_hosts_are_separate(tmp_path: Path) -> None:
    db = tmp_path / "j.db"
    j, _ = _open(db)
    j.finish("completed")
    j2, resumed = _open(db)
    assert not resumed and j2.run_id != j.run_id
    j3, resumed3 = _open(db, host="esx-04")
    assert not resumed3 and j3.run_id not in (j.run_id, j2.run_id)


def test_task_id_is_readable_by_another_connection_before_the_writer_continues(tmp_path: Path) -> None:
    db = tmp_path / "j.db"
    j, _ = _open(db)
    j.plan([VmRef("vm-9", "db9", "esx-03")])
    j.submitting("vm-9", "esx-01")
    j.submitted("vm-9", "task-99")
    other = sqlite3.connect(db)
    row = other.execute("SELECT state, task_id FROM drain_vms WHERE vm_id='vm-9'").fetchone()
    assert row == ("submitted", "task-99")


def test_store_default_path_honours_vvolguard_home(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("VVOLGUARD_HOME", str(tmp_path / "h"))
    assert store_mod.default_path() == tmp_path / "h" / "vvolguard.db"
    monkeypatch.delenv("VVOLGUARD_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert store_mod.default_path() == tmp_path / ".local/share/vvolguard/vvolguard.db"


def test_observed_limits_round_trip_and_fall_back_to_the_provider(tmp_path: Path) -> None:
    s = Store(tmp_path / "s.db")
    assert s.known_limit("vc1", "esx-03", "pure-ct0") is None
    s.record_limit(ObservedLimit("vc1", "esx-03", "pure-ct0", 4, 8, 30, 0, 1, "2026-01-01T00:00:00+00:00"))
    s.record_limit(ObservedLimit("vc1", "esx-05", "pure-ct0", 3, 8, 10, 0, 2, "2026-01-01T00:00:00+00:00"))
    assert s.known_limit("vc1", "esx-03", "pure-ct0") == 4
    assert s.known_limit("vc1", "esx-09", "pure-ct0") == 3  # same provider, unknown host: most careful
    assert s.known_limit("vc2", "esx-03", "pure-ct0") is None
    s.record_limit(ObservedLimit("vc1", "esx-03", "pure-ct0", 6, 8, 30, 0, 0, "2026-02-01T00:00:00+00:00"))
    assert [lim.safe_limit for lim in s.limits()] == [6, 3]
