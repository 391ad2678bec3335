"""``validate`` against the govmomi vCenter simulator, its VASA pressure model and real SSH.

The drain's simulator has no SMS (the lab adds it), so the command stops at layer 1 there, which
is what the CLI test checks; layers 3-5 (vvold quiet, one VM, a batch) run against the
simulator's migrations and the vvold logs it writes, through the Validator itself."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from tests.live.conftest import PASSWORD, LiveWorld
from tests.live.test_live_collect import VVOLGUARD

from vvolguard.live.case import Case
from vvolguard.live.connection import open_session
from vvolguard.live.hostlogs import SshOptions
from vvolguard.live.validate import FAIL, PASS, SKIPPED, LayerResult, ValidateOptions, Validator, record_limit
from vvolguard.live.window import Window


def validator(world: LiveWorld, tmp_path: Path, **options: object) -> Validator:
    session = open_session(world.url, "test", PASSWORD, ca_file=Path(world.sim.cert))
    host = session.find_host("esx-01")
    now = datetime.now(UTC)
    case = Case.create(tmp_path / "case", session.endpoint, [host.name], Window(now, now))
    opts = ValidateOptions(ssh=SshOptions(config=world.ssh_config), watch_seconds=2.0, poll=0.2, **options)  # type: ignore[arg-type]
    return Validator(session, host, case, opts)


def test_cli_stops_at_the_first_failing_layer_and_keeps_the_case(world_factory, tmp_path: Path) -> None:
    world = world_factory()
    case = tmp_path / "case"
    proc = subprocess.run(
        [
            *VVOLGUARD,
            "validate",
            "--vcenter",
            world.url,
            "--user",
            "test",
            "--ca-file",
            world.sim.cert,
            "--host",
            "esx-01",
            "--json",
            "-o",
            str(case),
            "--store",
            str(tmp_path / "store.db"),
            "--ssh-config",
            str(world.ssh_config),
        ],
        capture_output=True,
        text=True,
        env=world.cli_env(),
        timeout=180,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["host"] == "esx-01.vcsim.test" and doc["passed"] is False
    assert [(lay["layer"], lay["status"]) for lay in doc["layers"]] == [
        (1, FAIL),
        (2, SKIPPED),
        (3, SKIPPED),
        (4, SKIPPED),
        (5, SKIPPED),
    ]
    assert "Storage Monitoring Service" in doc["layers"][0]["evidence"][0]
    assert all(set(lay) == {"layer", "name", "status", "evidence"} for lay in doc["layers"])
    assert (case / "case.json").exists()  # the evidence is kept
    assert world.sim.stats().get("relocations", 0) == 0  # nothing was migrated
    assert PASSWORD not in proc.stdout + proc.stderr


def test_quiet_log_passes_and_a_fresh_wait_fails(world_factory, tmp_path: Path) -> None:
    world = world_factory()
    v = validator(world, tmp_path)
    try:
        quiet = LayerResult(3, "vvold.log quiet")
        v.layer_quiet(quiet)
        assert "0 waits/busy/timeouts/setContext failures" in quiet.evidence[0]

        def storm() -> None:
            time.sleep(0.8)
            with world.vvold("esx-01").open("a") as fh:
                stamp = f"{datetime.now(UTC):%Y-%m-%dT%H:%M:%S.000Z}"
                fh.write(
                    f"{stamp} warning vvold[2100874] [Originator@6876 sub=Default]\n"
                    "--> VasaSession::GetFreeConn: No free connections to VP vcsim-vp "
                    "(url: https://127.0.0.1:8084/vasa) [#outstanding 5/5] - waiting\n"
                )

        threading.Thread(target=storm).start()
        noisy = LayerResult(3, "vvold.log quiet")
        with pytest.raises(Exception, match="not quiet"):
            v.layer_quiet(noisy)
        assert any("No free connections" in e for e in noisy.evidence)
        kept = (v.case.root / "hosts" / "esx-01.vcsim.test" / "var" / "run" / "log" / "vvold.log").read_text()
        assert "No free connections" in kept  # the watched lines are evidence in the case
    finally:
        v._tail.close()
        v.session.close()


def test_healthy_host_migrates_one_vm_then_a_batch_and_records_the_limit(
    world_factory, tmp_path: Path
) -> None:
    world = world_factory(relocate_seconds=0.5)
    v = validator(world, tmp_path, batch=2)
    try:
        result = v.run(first=3)
        assert [r.status for r in result.layers[2:]] == [PASS, PASS, PASS], [
            r.evidence for r in result.layers
        ]
        moved = sum(world.sim.relocations().values())
        assert moved == 3
        assert v.clean_concurrency == 2
        line = record_limit(tmp_path / "store.db", v.session, "esx-01.vcsim.test", result, v)
        assert line is not None and "at least 2" in line
        row = (
            sqlite3.connect(tmp_path / "store.db")
            .execute("SELECT safe_limit, kind FROM observed_limits")
            .fetchone()
        )
        assert row == (2, "lower-bound")
    finally:
        v.session.close()


def test_saturated_provider_fails_the_batch_and_records_the_bound(world_factory, tmp_path: Path) -> None:
    world = world_factory(relocate_seconds=1.5, fail_seconds=0.3, ceiling=1)
    v = validator(world, tmp_path, batch=3)
    try:
        result = v.run(first=3)
        statuses = [r.status for r in result.layers[2:]]
        assert statuses == [PASS, PASS, FAIL], [r.evidence for r in result.layers]
        assert any("failed" in e or "pressure" in e for e in result.layers[4].evidence)
        assert not result.passed
        record_limit(tmp_path / "store.db", v.session, "esx-01.vcsim.test", result, v)
        row = (
            sqlite3.connect(tmp_path / "store.db")
            .execute("SELECT safe_limit, kind, bound FROM observed_limits")
            .fetchone()
        )
        assert row[:2] == (1, "bounded") and row[2] in (2, 3)  # the level that ran when it failed
    finally:
        v.session.close()


def test_ctrl_c_during_the_quiet_watch_concludes_nothing_and_starts_no_migration(
    world_factory, tmp_path: Path
) -> None:
    world = world_factory(relocate_seconds=0.5)
    v = validator(world, tmp_path)
    v.opt.watch_seconds = 30.0
    threading.Timer(1.0, v.stop.set).start()
    try:
        started = time.monotonic()
        result = v.run(first=3)
        assert time.monotonic() - started < 20  # the watch was cut, not sat out
        assert [r.status for r in result.layers[2:]] == [FAIL, SKIPPED, SKIPPED]
        assert "interrupted during the 30 s watch" in result.layers[2].evidence[-1]
        assert world.sim.stats().get("relocations", 0) == 0
    finally:
        v.session.close()
