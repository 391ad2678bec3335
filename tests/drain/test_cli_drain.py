"""`vvolguard drain` and `vvolguard limits` as a user runs them (the simulator stands in for
vCenter): dry run touches nothing, a drain records its operational limit, the next drain
starts from it, --enter-maintenance, and the password never appears in any output."""

from __future__ import annotations

import json
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

from rich.console import Console

from vvolguard.drain.controller import Progress
from vvolguard.drain.progress import line, render
from vvolguard.drain.signal import PressureLevel, PressureSignal


def vg(tmp: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    import os

    full_env = {**os.environ, "VVOLGUARD_HOME": str(tmp / "home"), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "vvolguard.cli.main", *args],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def sim(tmp: Path, *extra: str) -> list[str]:
    return ["drain", "--simulate", "enterprise", "--host", "esx01", "--sim-vms", "6", *extra]


def test_dry_run_prints_the_plan_and_touches_nothing(tmp_path: Path) -> None:
    out = vg(tmp_path, *sim(tmp_path, "--dry-run", "--json"))
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    plan = doc["moves"]
    assert [p["vm"] for p in plan] == [f"app-{i:03d}" for i in range(1, 7)]
    assert all(p["dest"] and p["problems"] == [] for p in plan)
    # Nothing recorded yet: a probe of one, then growth up to vCenter's per-host limit.
    assert doc["start"] == {"probe": 1, "then": None, "ceiling": 8, "recorded": None}
    world = sqlite3.connect(tmp_path / "home" / "sim-enterprise.db")
    assert world.execute("SELECT COUNT(*) FROM tasks").fetchone()[0] == 0
    assert not (tmp_path / "home" / "vvolguard.db").exists()  # no journal, no store
    text = vg(tmp_path, *sim(tmp_path, "--dry-run"))
    assert "Starts with a probe of 1, then grows while calm (at most 8)" in " ".join(text.stdout.split())


def test_the_dry_run_places_every_vm_where_the_drain_then_moves_it(tmp_path: Path) -> None:
    """The plan counts the moves it has planned as the drain counts moves in flight, so on a
    calm provider both give every VM the same destination (12 VMs over 3 destinations: a plan
    that ignored its own moves would send them all to the first)."""
    args = ["drain", "--simulate", "enterprise", "--host", "esx01", "--sim-vms", "12"]
    plan = json.loads(vg(tmp_path, *args, "--dry-run", "--json").stdout)["moves"]
    planned = {p["id"]: p["dest"] for p in plan}
    assert len(set(planned.values())) == 3
    run = vg(tmp_path, *args, "--json")
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["failed_tasks"] == 0
    world = sqlite3.connect(tmp_path / "home" / "sim-enterprise.db")
    moved = dict(world.execute("SELECT vm_id, dst FROM relocations").fetchall())
    assert moved == planned


def test_drain_records_the_limit_and_the_next_drain_starts_from_it(tmp_path: Path) -> None:
    first = vg(tmp_path, *sim(tmp_path, "--json", "--enter-maintenance"))
    assert first.returncode == 0, first.stderr
    doc = json.loads(first.stdout)
    assert doc["moved"] == 6 and doc["left"] == [] and doc["failed_tasks"] == 0
    assert "esx01.vvol.lab is in maintenance mode" in first.stderr
    limits = vg(tmp_path, "limits", "--json")
    rows = json.loads(limits.stdout)
    assert len(rows) == 1
    row = rows[0]
    assert (row["vcenter"], row["host"], row["provider"]) == ("sim:enterprise", "esx01.vvol.lab", "pure-ct0")
    assert row["safe_limit"] == doc["safe_limit"] and row["migrated"] == 6
    # A calm provider never pushed back: the record says it is a lower bound, with evidence.
    assert row["kind"] == doc["limit_kind"] == "lower-bound"
    assert row["migrations_at_limit"] >= 1 and row["seconds_at_limit"] > 0
    table = vg(tmp_path, "limits")
    shown = " ".join(table.stdout.split())
    assert "esx01" in shown and "pure-ct0" in shown and "not probed beyond" in shown
    # A second host of a fresh world: the store's knowledge is announced and used.
    second = vg(tmp_path, *sim(tmp_path, "--sim-world", str(tmp_path / "w2.db")))
    assert second.returncode == 0, second.stderr
    said = " ".join(second.stderr.split())
    assert f"starts with a probe of 1, then {row['safe_limit']} in flight: the limit recorded on" in said


def test_max_and_unknown_profile_and_policy_are_reported_plainly(tmp_path: Path) -> None:
    bad = vg(tmp_path, "drain", "--simulate", "no-such-provider", "--host", "esx01")
    assert bad.returncode == 2 and "unknown provider profile" in bad.stderr
    assert "Traceback" not in bad.stderr
    bad_policy = vg(tmp_path, *sim(tmp_path, "--policy", "vegas"))
    assert bad_policy.returncode == 2 and "unknown --policy" in bad_policy.stderr
    capped = vg(tmp_path, *sim(tmp_path, "--max", "2", "--json"))
    assert capped.returncode == 0 and json.loads(capped.stdout)["ceiling"] == 2


def test_the_password_never_appears_even_when_vcenter_is_unreachable(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    secret = "Tr0ub4dor&3-never-print-me"
    out = vg(
        tmp_path,
        "drain",
        "--vcenter",
        f"https://127.0.0.1:{port}/sdk",
        "--host",
        "esx01",
        env={"VVOLGUARD_PASSWORD": secret},
    )
    assert out.returncode == 2
    assert secret not in out.stdout and secret not in out.stderr
    assert "cannot connect" in out.stderr and "Traceback" not in out.stderr


def test_progress_shows_the_limit_and_why_it_is_slow() -> None:
    p = Progress(
        limit=4,
        allowed=0,
        ceiling=8,
        inflight=3,
        done=10,
        failed=0,
        left=0,
        remaining=11,
        state="hold: no free connections to VP ×2",
        pressure=PressureSignal(level=PressureLevel.CONGESTED, reasons=("no free connections to VP ×2",)),
        stopping=True,
    )
    text = line(p)
    assert "limit 0/8" in text and "in-flight 3" in text and "done 10" in text
    assert "congested: no free connections to VP ×2" in text and "stopping" in text
    console = Console(record=True, width=120)
    console.print(render(p))
    shown = console.export_text()
    assert "congested" in shown and "no free connections" in shown and "waiting for those in flight" in shown
