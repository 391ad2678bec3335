"""``collect`` and ``diagnose --vcenter`` against the govmomi vCenter simulator and real SSH.

The drain's simulator has no SMS endpoint, no task history collector and no vVol datastores (the
lab adds them), which makes it the partial-case world: those sources must become named warnings
with the way to get them, never a crash, while events and vvold logs are collected."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

from tests.live.conftest import PASSWORD, LiveWorld

VVOLGUARD = [sys.executable, "-m", "vvolguard.cli.main"]


def run(world: LiveWorld, *args: str, ca: bool = True) -> subprocess.CompletedProcess[str]:
    extra = ["--ca-file", world.sim.cert] if ca else []
    return subprocess.run(
        [*VVOLGUARD, *args, "--vcenter", world.url, "--user", "test", *extra],
        capture_output=True,
        text=True,
        env=world.cli_env(),
        timeout=180,
        stdin=subprocess.DEVNULL,
    )


def collect(
    world: LiveWorld, case: Path, *hosts: str, ssh_config: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """``collect`` of ``hosts`` (default esx-01) over the world's SSH config into ``case``."""
    names = [a for h in hosts or ("esx-01",) for a in ("--host", h)]
    return run(world, "collect", *names, "-o", str(case), "--ssh-config", str(ssh_config or world.ssh_config))


def test_collect_writes_a_partial_case_and_names_what_is_missing(world_factory, tmp_path: Path) -> None:
    world = world_factory()
    case = tmp_path / "case"
    proc = collect(world, case)  # the default window: the last two hours

    assert proc.returncode == 1, proc.stderr  # partial: SMS and the task history are missing
    manifest = json.loads((case / "case.json").read_text())
    missing = {m["source"]: m for m in manifest["missing"]}
    assert set(missing) == {"tasks", "providers"}, manifest["missing"]
    assert "Get-VasaProvider" in missing["providers"]["remedy"]
    assert "Get-Task" in missing["tasks"]["remedy"]
    assert manifest["complete"] is False and manifest["hosts"] == ["esx-01.vcsim.test"]
    # every failing source is one warning line on stderr, and collection went on
    assert "missing VASA provider status" in proc.stderr and "Traceback" not in proc.stderr

    events = json.loads((case / "vcenter" / "get-vievent.json").read_text())
    assert any(e["EventType"] == "VmBeingCreatedEvent" for e in events)
    logs = case / "hosts" / "esx-01.vcsim.test" / "var" / "run" / "log"
    # the live file and the generation written in the window, not the month-old one or hostd
    assert sorted(p.name for p in logs.iterdir()) == ["vvold.0.gz", "vvold.log"]
    assert (logs / "vvold.log").read_bytes() == world.vvold("esx-01").read_bytes()
    assert gzip.decompress((logs / "vvold.0.gz").read_bytes()).startswith(b"2026-03-14T08:00:00.000Z")
    commands = case / "hosts" / "esx-01.vcsim.test" / "commands"
    assert "esx-01.vcsim.test" in (commands / "localcli_system-hostname-get.txt").read_text()

    # diagnose reads the case: the vvold log is read and the manifest's gaps are repeated
    diag = subprocess.run(
        [*VVOLGUARD, "diagnose", "--json", str(case)], capture_output=True, text=True, timeout=120
    )
    assert diag.returncode == 0, diag.stderr
    doc = json.loads(diag.stdout)
    kinds = {i["kind"] for i in doc["inputs"]}
    assert {"vvold-log", "vcenter-events", "vvolguard-case-manifest"} <= kinds
    warnings = json.dumps(doc)
    assert "collect could not gather VASA provider status" in warnings


def test_ssh_refused_falls_back_to_vcenter_and_warns(world_factory, tmp_path: Path) -> None:
    world = world_factory(refuse=("esx-01",))
    case = tmp_path / "case"
    proc = collect(world, case, "esx-01", "esx-02")

    assert proc.returncode == 1
    manifest = json.loads((case / "case.json").read_text())
    logs = [m for m in manifest["missing"] if m["source"] == "vvold-log"]
    assert [m["target"] for m in logs] == ["esx-01.vcsim.test"]
    assert "SSH" in logs[0]["reason"] and "vCenter" in logs[0]["reason"]  # both ways were tried
    assert "Start SSH on esx-01.vcsim.test" in logs[0]["remedy"]
    assert not (case / "hosts" / "esx-01.vcsim.test" / "var").exists()
    assert (case / "hosts" / "esx-02.vcsim.test" / "var" / "run" / "log" / "vvold.log").exists()
    assert "Traceback" not in proc.stderr


def test_unknown_host_key_is_refused(world_factory, tmp_path: Path) -> None:
    world = world_factory()
    config = world.ssh_config.read_text().replace(
        str(world.ssh_config.parent / "known_hosts"), str(tmp_path / "empty")
    )
    (tmp_path / "empty").write_text("")
    other = tmp_path / "ssh_config"
    other.write_text(config)
    case = tmp_path / "case"
    proc = collect(world, case, ssh_config=other)
    manifest = json.loads((case / "case.json").read_text())
    logs = [m for m in manifest["missing"] if m["source"] == "vvold-log"]
    assert logs and "host key" in logs[0]["reason"].lower()
    assert proc.returncode == 1


def test_tls_is_verified_by_default(world_factory, tmp_path: Path) -> None:
    world = world_factory()
    case = tmp_path / "case"
    proc = run(world, "collect", "--host", "esx-01", "-o", str(case), ca=False)
    assert proc.returncode == 2
    assert "not trusted" in proc.stderr and "--ca-file" in proc.stderr
    assert not case.exists()
    insecure = run(world, "collect", "--host", "esx-01", "-o", str(case), "--insecure", "--no-ssh", ca=False)
    assert insecure.returncode == 1 and "TLS verification" in insecure.stderr


def test_no_password_in_any_output_file_or_log(world_factory, tmp_path: Path) -> None:
    world = world_factory()
    case = tmp_path / "case"
    proc = collect(world, case)
    diag = run(
        world,
        "diagnose",
        "--host",
        "esx-01",
        "--case",
        str(tmp_path / "case2"),
        "--ssh-config",
        str(world.ssh_config),
    )
    texts = [proc.stdout, proc.stderr, diag.stdout, diag.stderr]
    texts += [
        p.read_bytes().decode("utf-8", "replace")
        for d in (case, tmp_path / "case2")
        for p in d.rglob("*")
        if p.is_file()
    ]
    assert len(texts) > 8
    assert not [t for t in texts if PASSWORD in t]
    assert not [t for t in texts if "vmware_soap_session" in t]


def test_diagnose_vcenter_collects_then_diagnoses(world_factory, tmp_path: Path) -> None:
    world = world_factory()
    proc = run(
        world,
        "diagnose",
        "--json",
        "--host",
        "esx-01",
        "--since",
        "1h",
        "--ssh-config",
        str(world.ssh_config),
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert any(i["kind"] == "vvold-log" for i in doc["inputs"])
    # the temporary case is gone with the process
    folder = next(line for line in proc.stderr.splitlines() if "collecting" in line).rsplit(" into ", 1)[1]
    assert not Path(folder).exists()


def test_diagnose_without_evidence_or_vcenter_is_a_usage_error() -> None:
    proc = subprocess.run([*VVOLGUARD, "diagnose"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "--vcenter" in proc.stderr
