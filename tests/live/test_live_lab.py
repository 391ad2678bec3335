"""``collect``, ``diagnose --vcenter`` and ``validate`` against ``vvolguard lab`` (docs/lab.md):
every scenario's incident is collected and diagnosed as its class, validate stops at the layer a
real host would, and each fault knob gives a warning and a partial case, never a crash."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from tests.live.test_live_collect import VVOLGUARD
from tests.live.test_live_redaction import members

from vvolguard import lab as lab_module
from vvolguard.escalate.package import build_package
from vvolguard.sim.scenarios import SCENARIOS

TIMEOUT = 300


@pytest.fixture
def lab_factory(vcsim_binary: Path) -> Iterator[Any]:
    """Labs for one test, stopped at its end. The simulator is built first (skipped only where
    Go is not installed); a lab that then cannot start is a failure, never a skip."""
    from contextlib import ExitStack

    with ExitStack() as stack:

        def start(scenario: str, **knobs: Any) -> Any:
            try:
                return stack.enter_context(lab_module.start_lab(scenario, **knobs))
            except lab_module.LabError as exc:
                pytest.fail(f"the lab cannot start: {exc}")

        yield start


def live_args(lab: Any, *args: str, user: str | None = None) -> list[str]:
    """The command line as a user types it against the lab: TLS verified with its CA, the
    provider's URL (the scenario's) reached where the lab serves it on loopback."""
    if "--vcenter" not in args:
        return [*VVOLGUARD, *args]
    addresses = [a for url, addr in lab.providers.items() for a in ("--provider-address", f"{url}={addr}")]
    return [*VVOLGUARD, *args, "--user", user or lab.user, "--ca-file", lab.ca_file, *addresses]


def cli(
    lab: Any, *args: str, user: str | None = None, password: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VVOLGUARD_PASSWORD": password or lab.password}
    return subprocess.run(
        live_args(lab, *args, user=user),
        capture_output=True,
        text=True,
        env=env,
        timeout=TIMEOUT,
        stdin=subprocess.DEVNULL,
    )


def collect(lab: Any, case: Path, *extra: str, **kw: Any) -> subprocess.CompletedProcess[str]:
    hosts = [a for h in lab.hosts for a in ("--host", h)]
    return cli(
        lab,
        "collect",
        "--vcenter",
        lab.url,
        *hosts,
        "--since",
        "2h",
        "-o",
        str(case),
        "--ssh-config",
        str(lab.ssh_config),
        *extra,
        **kw,
    )


def texts_of(case: Path) -> list[str]:
    return [p.read_bytes().decode("utf-8", "replace") for p in case.rglob("*") if p.is_file()]


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_collect_then_diagnose_names_the_scenario_class(
    lab_factory: Any, tmp_path: Path, scenario: str
) -> None:
    lab = lab_factory(scenario)
    case = tmp_path / "case"
    proc = collect(lab, case)
    manifest = json.loads((case / "case.json").read_text())
    assert proc.returncode == 0, (proc.stderr, manifest["missing"])
    assert manifest["complete"] is True

    diag = subprocess.run(
        [*VVOLGUARD, "diagnose", "--json", str(case)], capture_output=True, text=True, timeout=TIMEOUT
    )
    assert diag.returncode == 0, diag.stderr
    doc = json.loads(diag.stdout)
    assert doc["verdict"]["class"] == lab.expected_class, doc["verdict"]["summary"]

    # no password anywhere; the collected case redacts like any escalation
    for text in [proc.stdout, proc.stderr, diag.stdout, diag.stderr, *texts_of(case)]:
        assert lab.password not in text
    out = tmp_path / "case.zip"
    build_package([case], out, redact=True, now=datetime.now(UTC))
    forbidden = [
        *lab.hosts,
        *(h.split(".")[0] for h in lab.hosts),
        "vvol.lab",
        *[u.split("/")[2].split(":")[0] for u in lab.providers],
    ]
    leaks = [
        f"{name}: {word}"
        for name, data in members(out).items()
        for word in forbidden
        if word.lower() in (name + data.decode("utf-8", "replace")).lower()
    ]
    assert not leaks, leaks[:20]


def test_diagnose_vcenter_in_one_step(lab_factory: Any) -> None:
    lab = lab_factory("saturation")
    hosts = [a for h in lab.hosts for a in ("--host", h)]
    proc = cli(
        lab,
        "diagnose",
        "--json",
        "--vcenter",
        lab.url,
        *hosts,
        "--since",
        "2h",
        "--ssh-config",
        str(lab.ssh_config),
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["verdict"]["class"] == lab.expected_class
    assert lab.password not in proc.stdout + proc.stderr


@contextmanager
def vcenter_of(lab: Any) -> Iterator[Any]:
    """A pyVmomi session to the lab (its CA verified), for checks from outside the command."""
    import ssl

    from pyVim.connect import Disconnect, SmartConnect

    si = SmartConnect(
        host="127.0.0.1",
        port=lab.port,
        user=lab.user,
        pwd=lab.password,
        sslContext=ssl.create_default_context(cafile=lab.ca_file),
    )
    try:
        yield si
    finally:
        Disconnect(si)


def _all(si: Any, kind: Any) -> list[Any]:
    view = si.content.viewManager.CreateContainerView(si.content.rootFolder, [kind], True)
    return list(view.view)


def _busiest_host(lab: Any) -> str:
    """The host with the most powered-on VMs (the one the incident left them on)."""
    from pyVmomi import vim

    with vcenter_of(lab) as si:
        hosts = _all(si, vim.HostSystem)
        counts = {h.name: sum(1 for v in h.vm if v.runtime.powerState == "poweredOn") for h in hosts}
    return max(counts, key=lambda name: counts[name])


def _vm_hosts(lab: Any) -> dict[str, str]:
    """VM name -> the name of the host it is registered on, as vCenter says now."""
    from pyVmomi import vim

    with vcenter_of(lab) as si:
        return {vm.name: vm.runtime.host.name for vm in _all(si, vim.VirtualMachine)}


def validate_args(lab: Any, host: str, case: Path, store: Path, *extra: str) -> list[str]:
    return live_args(
        lab, "validate", "--vcenter", lab.url, "--host", host, "--json", "--watch", "3",
        "-o", str(case), "--store", str(store), "--ssh-config", str(lab.ssh_config), *extra,
    )  # fmt: skip


def validate(lab: Any, host: str, tmp_path: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    proc = subprocess.run(
        validate_args(lab, host, tmp_path / "case", tmp_path / "store.db", *extra),
        capture_output=True,
        text=True,
        env={**os.environ, "VVOLGUARD_PASSWORD": lab.password},
        timeout=TIMEOUT,
        stdin=subprocess.DEVNULL,
    )
    assert "Traceback" not in proc.stderr
    assert lab.password not in proc.stdout + proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def statuses(doc: dict[str, Any]) -> list[str]:
    return [layer["status"] for layer in doc["layers"]]


def test_validate_passes_on_a_healthy_lab_and_records_the_clean_batch(
    lab_factory: Any, tmp_path: Path
) -> None:
    lab = lab_factory("healthy")
    code, doc = validate(lab, _busiest_host(lab), tmp_path, "--batch", "2")
    assert (code, doc["passed"], statuses(doc)) == (0, True, ["pass"] * 5), doc
    row = (
        sqlite3.connect(tmp_path / "store.db")
        .execute("SELECT safe_limit, kind FROM observed_limits")
        .fetchone()
    )
    assert row == (2, "lower-bound")
    assert (tmp_path / "case" / ".validate" / "journal.sqlite").exists()


def test_validate_stops_at_the_batch_when_the_provider_saturates(lab_factory: Any, tmp_path: Path) -> None:
    lab = lab_factory("saturation")  # one migration fits, a batch of two does not (docs/lab.md)
    code, doc = validate(lab, _busiest_host(lab), tmp_path, "--batch", "2")
    assert code == 1 and statuses(doc) == ["pass", "pass", "pass", "pass", "fail"], json.dumps(
        doc["layers"][3:]
    )
    row = (
        sqlite3.connect(tmp_path / "store.db")
        .execute("SELECT safe_limit, kind, bound FROM observed_limits")
        .fetchone()
    )
    assert row == (1, "bounded", 2)


def test_validate_stops_at_the_provider_on_registration(lab_factory: Any, tmp_path: Path) -> None:
    lab = lab_factory("registration")
    code, doc = validate(lab, lab.hosts[0], tmp_path)
    assert code == 1 and statuses(doc) == ["fail", "skipped", "skipped", "skipped", "skipped"], doc
    assert any("offline" in e for e in doc["layers"][0]["evidence"])


def test_validate_stops_at_the_protocol_endpoints_on_pe_presentation(
    lab_factory: Any, tmp_path: Path
) -> None:
    lab = lab_factory("pe-presentation")
    code, doc = validate(lab, lab.hosts[-1], tmp_path)
    assert code == 1 and statuses(doc) == ["pass", "fail", "skipped", "skipped", "skipped"], doc


def test_validate_dry_run_migrates_nothing(lab_factory: Any, tmp_path: Path) -> None:
    lab = lab_factory("healthy")
    code, doc = validate(lab, _busiest_host(lab), tmp_path, "--dry-run")
    assert statuses(doc)[:3] == ["pass", "pass", "pass"] and statuses(doc)[3:] == ["skipped", "skipped"]
    assert code == 1  # not every layer passed: nothing was migrated


def test_ssh_refused_reads_vvold_through_vcenter(lab_factory: Any, tmp_path: Path) -> None:
    lab = lab_factory("saturation", ssh_refused=["esx04"])
    case = tmp_path / "case"
    proc = collect(lab, case)
    manifest = json.loads((case / "case.json").read_text())
    refused = next(h for h in lab.hosts if h.split(".")[0] == "esx04")
    logs = [s for s in manifest["sources"] if s["source"] == "vvold-log" and s["target"] == refused]
    assert logs and logs[0]["note"] == "vCenter BrowseDiagnosticLog", manifest
    assert "SSH" in proc.stderr and proc.returncode == 0


def test_sms_down_gives_a_partial_case(lab_factory: Any, tmp_path: Path) -> None:
    lab = lab_factory("registration", sms_down=True)
    case = tmp_path / "case"
    proc = collect(lab, case)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    manifest = json.loads((case / "case.json").read_text())
    assert [m["source"] for m in manifest["missing"]] == ["providers"]
    assert (case / "vcenter" / "get-task.json").exists()


def test_missing_privileges_name_the_privilege(lab_factory: Any, tmp_path: Path) -> None:
    lab = lab_factory("saturation", missing_privileges=["System.View", "StorageViews.View"])
    case = tmp_path / "case"
    proc = collect(lab, case, user=lab.limited_user, password=lab.limited_password)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    missing = {m["source"]: m for m in json.loads((case / "case.json").read_text())["missing"]}
    assert {"tasks", "events", "providers"} <= set(missing)
    assert (
        "System.View" in missing["tasks"]["remedy"] and "StorageViews.View" in missing["providers"]["remedy"]
    )
    assert lab.limited_password not in proc.stdout + proc.stderr + "".join(texts_of(case))


def test_tls_is_verified_against_the_lab(lab_factory: Any, tmp_path: Path) -> None:
    lab = lab_factory("healthy")
    env = {**os.environ, "VVOLGUARD_PASSWORD": lab.password}
    proc = subprocess.run(
        [
            *VVOLGUARD,
            "collect",
            "--vcenter",
            lab.url,
            "--user",
            lab.user,
            "--host",
            lab.hosts[0],
            "-o",
            str(tmp_path / "c"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=TIMEOUT,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 2 and "not trusted" in proc.stderr
    assert lab.password not in proc.stdout + proc.stderr


def test_validate_and_back_returns_the_vm_to_the_host(lab_factory: Any, tmp_path: Path) -> None:
    lab = lab_factory("healthy")
    host = _busiest_host(lab)
    code, doc = validate(lab, host, tmp_path, "--batch", "2", "--and-back")
    assert (code, statuses(doc)) == (0, ["pass"] * 5), json.dumps(doc["layers"][3:])
    evidence = doc["layers"][3]["evidence"]
    vm = evidence[0].split()[1]  # "chose VM (vm-id): smallest powered-on VM"
    there = [e for e in evidence if e.startswith(f"{vm}: {host} -> ")]
    assert there, evidence
    dest = there[0].rsplit(" -> ", 1)[1]
    assert f"{vm}: {dest} -> {host}" in evidence, evidence
    assert _vm_hosts(lab)[vm] == host  # back where it started
    # both moves are in the case's drain journal, each with its vCenter task
    rows = (
        sqlite3.connect(tmp_path / "case" / ".validate" / "journal.sqlite")
        .execute(
            "SELECT r.source_host, v.state, v.task_id FROM drain_vms v JOIN drain_runs r USING (run_id) "
            "WHERE v.name = ? ORDER BY r.run_id",
            (vm,),
        )
        .fetchall()
    )
    assert [(src, state) for src, state, _ in rows[:2]] == [(host, "succeeded"), (dest, "succeeded")], rows
    assert all(task for _, _, task in rows)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_validate_interrupted_during_a_migration_waits_journals_and_keeps_the_case(
    lab_factory: Any, tmp_path: Path, signum: int
) -> None:
    lab = lab_factory("healthy")  # a lab relocation takes 2 s: the signal lands while it runs
    host = _busiest_host(lab)
    case = tmp_path / "case"
    proc = subprocess.Popen(
        validate_args(lab, host, case, tmp_path / "store.db"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "VVOLGUARD_PASSWORD": lab.password},
    )
    try:
        assert proc.stderr is not None
        seen: list[str] = []
        for line in proc.stderr:  # the checklist goes to stderr with --json
            seen.append(line)
            if line.startswith("[pass] 3"):
                break
        assert seen and seen[-1].startswith("[pass] 3"), "".join(seen)
        journal = case / ".validate" / "journal.sqlite"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not _journaled_tasks(journal):
            time.sleep(0.1)
        assert _journaled_tasks(journal), "layer 4 submitted no migration"
        proc.send_signal(signum)
        out, rest = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    stderr = "".join(seen) + rest
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and lab.password not in out + stderr
    assert "no new migrations; waiting for those in flight" in stderr and "interrupted" in stderr
    doc = json.loads(out)
    # layer 4's one migration was in flight: waited for, it ran clean; nothing new was started
    assert statuses(doc) == ["pass", "pass", "pass", "pass", "skipped"], json.dumps(doc["layers"][3:])
    assert doc["passed"] is False and doc["layers"][4]["evidence"] == ["not run: interrupted"]
    # the migration in flight was waited for and journaled with its task; the case is kept
    (vm, state, task) = _journaled_tasks(journal)[0]
    assert state == "succeeded" and task
    assert _vm_hosts(lab)[vm] != host
    manifest = json.loads((case / "case.json").read_text())
    assert manifest["hosts"] == [host]
    assert (case / "hosts" / host / "var" / "run" / "log" / "vvold.log").exists()


def _journaled_tasks(journal: Path) -> list[tuple[str, str, str]]:
    """(VM, state, task id) of every submitted migration in a validate case's journal."""
    if not journal.exists():
        return []
    try:
        with sqlite3.connect(journal) as conn:
            return conn.execute(
                "SELECT name, state, task_id FROM drain_vms WHERE task_id IS NOT NULL"
            ).fetchall()
    except sqlite3.OperationalError:  # created but not yet migrated to its schema
        return []
