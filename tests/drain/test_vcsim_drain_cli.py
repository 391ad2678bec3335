"""``vvolguard drain --vcenter`` end to end, as a user runs it, against the govmomi simulator:
the real CLI process, pyVmomi over TLS, relocations that take time and fail under VASA
pressure, kill -9 and a rerun, dry run, certificate rejection and maintenance mode."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from vcsim_fixture import (
    SOURCE,
    Vcsim,
    assert_backed_off,
    journal_events,
    replay,
    vcsim_binary,
    vcsim_factory,
    wait_for,
)

__all__ = ["vcsim_binary", "vcsim_factory"]  # fixtures used by name below

pytestmark = pytest.mark.vcsim

PASSWORD = "cli-S3cret!do-not-print"


def _argv(sim: Vcsim, tmp: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "vvolguard.cli.main",
        "drain",
        "--vcenter",
        sim.url,
        "--host",
        SOURCE,
        "--journal",
        str(tmp / "journal.db"),
        "--store",
        str(tmp / "store.db"),
        "--poll",
        "0.05",
        "--cooldown",
        "0.3",
        # Time scaled down like the simulator's relocations (seconds, not minutes).
        "--spacing",
        "0.05",
        "--clear-after",
        "0.8",
        *extra,
    ]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("VVOLGUARD_CA_FILE", "VVOLGUARD_DEBUG")}
    env.update(VVOLGUARD_PASSWORD=PASSWORD, COLUMNS="200", **extra)
    return env


def _drain(sim: Vcsim, tmp: Path, *extra: str, **env: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        _argv(sim, tmp, *extra), env=_env(**env), capture_output=True, text=True, timeout=300
    )
    output = proc.stdout + proc.stderr
    assert PASSWORD not in output
    assert "Traceback" not in output, output
    return proc


def _on_source(sim: Vcsim) -> set[str]:
    return {name for name, host in sim.placement().items() if host == SOURCE}


def test_dry_run_plans_every_vm_and_touches_nothing(vcsim_factory, tmp_path: Path) -> None:
    sim = vcsim_factory(vms=6, powered_off=2)
    before = sim.placement()
    proc = _drain(sim, tmp_path, "--insecure", "--dry-run", "--json")
    assert proc.returncode == 0, proc.stderr
    plan = json.loads(proc.stdout)["moves"]
    assert sorted(p["vm"] for p in plan) == sorted(_on_source(sim))
    assert all(p["dest"] and p["dest"].startswith(("esx-02", "esx-03", "esx-04")) for p in plan)
    assert all(p["problems"] == [] for p in plan)

    isolated = _drain(sim, tmp_path, "--insecure", "--dry-run", "--json", "--to", "esx-isolated")
    assert isolated.returncode == 0, isolated.stderr
    for p in json.loads(isolated.stdout)["moves"]:
        assert p["dest"] is None and "LocalDS_0" in " ".join(p["problems"])

    assert sim.placement() == before
    assert sim.stats()["submitted"] == 0


def test_self_signed_certificate_is_rejected_unless_trusted_or_insecure(
    vcsim_factory, tmp_path: Path
) -> None:
    sim = vcsim_factory(vms=2)
    rejected = _drain(sim, tmp_path, "--dry-run", "--json")
    assert rejected.returncode == 2
    assert "not trusted" in rejected.stderr and "--insecure" in rejected.stderr

    trusted = _drain(sim, tmp_path, "--dry-run", "--json", "--ca-file", sim.cert)
    assert trusted.returncode == 0, trusted.stderr
    assert len(json.loads(trusted.stdout)["moves"]) == 2
    from_env = _drain(sim, tmp_path, "--dry-run", "--json", VVOLGUARD_CA_FILE=sim.cert)
    assert from_env.returncode == 0, from_env.stderr


@pytest.mark.slow  # 10-30 s: each failure episode holds the drain until the provider is quiet
def test_drain_backs_off_under_vasa_pressure_and_moves_each_vm_once(vcsim_factory, tmp_path: Path) -> None:
    """The provider sustains 2 relocations; beyond that they fail with "A system error
    occurred.". The drain must empty the host, back off after failures and retry each failed VM
    alone, and no VM may be relocated twice."""
    sim = vcsim_factory(vms=12, powered_off=2, relocate_seconds=0.5, fail_seconds=0.2, ceiling=2)
    to_move = _on_source(sim)
    proc = _drain(sim, tmp_path, "--insecure", "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["moved"] == len(to_move) and result["left"] == []

    assert _on_source(sim) == set()
    assert sim.host_lists()["esx-01"] == []
    assert sim.relocations() == dict.fromkeys(to_move, 1)
    stats = sim.stats()
    assert stats["failed"] == result["failed_tasks"] >= 1
    timeline = assert_backed_off(journal_events(tmp_path / "journal.db"))
    assert len(timeline.failures) == stats["failed"]


def _limits(tmp: Path) -> list[dict]:
    proc = subprocess.run(
        [sys.executable, "-m", "vvolguard.cli.main", "limits", "--json", "--store", str(tmp / "store.db")],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.slow  # about 10-30 s: a failure episode holds the drain until the provider is quiet
def test_a_provider_ceiling_of_3_records_3_never_4_and_the_next_drain_fails_nothing(
    vcsim_factory, tmp_path: Path
) -> None:
    """Issue 15's story: the provider sustains 3 relocations at once. The drain grows past 3,
    a migration fails, it backs off and finishes; the limit it records must be 3 or lower (the
    level that ran clean), not the 4 under which some migrations happened to succeed. A second
    drain on the same vCenter starts from that record, stays at it, and fails nothing."""
    sim = vcsim_factory(vms=16, relocate_seconds=0.5, fail_seconds=0.2, ceiling=3)
    first = _drain(sim, tmp_path, "--insecure", "--json")
    assert first.returncode == 0, first.stderr
    doc = json.loads(first.stdout)
    assert doc["left"] == [] and doc["failed_tasks"] >= 1  # it did meet the ceiling
    assert replay(journal_events(tmp_path / "journal.db")).peak >= 4
    [row] = _limits(tmp_path)
    assert row["host"].startswith(SOURCE)
    assert 1 <= row["safe_limit"] <= 3, row
    assert row["kind"] == "bounded" and row["bound"] > row["safe_limit"] and row["migrations_at_limit"] >= 1
    failed_before = sim.stats()["failed"]

    # Drain the VMs back from a destination host: same vCenter, same provider.
    back = _argv(sim, tmp_path, "--insecure", "--json", "--to", SOURCE)
    back[back.index("--host") + 1] = "esx-02"
    back[back.index("--journal") + 1] = str(tmp_path / "journal2.db")
    second = subprocess.run(back, env=_env(), capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr
    said = " ".join(second.stderr.split())
    assert f"then {row['safe_limit']} in flight: the limit recorded on" in said and "not above it" in said
    doc2 = json.loads(second.stdout)
    assert doc2["moved"] >= 4 and doc2["left"] == []
    assert doc2["failed_tasks"] == 0 and sim.stats()["failed"] == failed_before
    assert replay(journal_events(tmp_path / "journal2.db")).peak <= row["safe_limit"]
    # The second drain could not test the bound, so the record keeps it.
    rows = {r["host"].split(".")[0]: r for r in _limits(tmp_path)}
    assert rows["esx-02"]["kind"] == "bounded" and rows["esx-02"]["safe_limit"] <= 3


def test_kill_9_mid_drain_then_rerun_moves_every_vm_exactly_once(vcsim_factory, tmp_path: Path) -> None:
    sim = vcsim_factory(vms=10, powered_off=1, relocate_seconds=1.0)
    to_move = _on_source(sim)
    proc = subprocess.Popen(
        _argv(sim, tmp_path, "--insecure", "--json", "--max", "3"),
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # Some moves done, some in flight (the simulator counts submissions as they arrive).
        wait_for(lambda: sim.stats()["succeeded"] >= 2 and sim.stats()["inFlight"] >= 1, timeout=60)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    interrupted = sim.stats()
    assert 0 < interrupted["succeeded"] < len(to_move)

    rerun = _drain(sim, tmp_path, "--insecure", "--json", "--max", "3")
    assert rerun.returncode == 0, rerun.stderr
    result = json.loads(rerun.stdout)
    assert result["resumed"] is True and result["left"] == []

    assert _on_source(sim) == set()
    assert sim.relocations() == dict.fromkeys(to_move, 1)
    attempts = {k: v for k, v in sim.stats().items() if k.startswith("attempts.")}
    assert set(attempts.values()) == {1}, attempts  # nothing was submitted twice, not even in flight
    events = journal_events(tmp_path / "journal.db")
    assert {run for run, *_ in events} == {events[0][0]}  # the rerun continued the same run
    assert replay(events).peak <= 3
    for db in tmp_path.glob("*.db*"):  # journal, store and their WAL files
        assert PASSWORD.encode() not in db.read_bytes()


def test_enter_maintenance_after_the_host_is_empty(vcsim_factory, tmp_path: Path) -> None:
    sim = vcsim_factory(vms=4, powered_off=1, relocate_seconds=0.2)
    proc = _drain(sim, tmp_path, "--insecure", "--json", "--enter-maintenance")
    assert proc.returncode == 0, proc.stderr
    assert sim.host("esx-01").runtime.inMaintenanceMode
    # The simulator recorded how many VMs the host still had when maintenance mode was asked.
    assert sim.stats()["maintenanceVms.esx-01.vcsim.test"] == 0
    assert all(not h.runtime.inMaintenanceMode for h in map(sim.host, ("esx-02", "esx-03", "esx-04")))
