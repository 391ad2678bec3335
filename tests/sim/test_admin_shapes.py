"""The simulator's admin-shaped evidence diagnoses like its canonical exports (issue 10 C).

The simulator writes, beside ``vcenter/``, the same tasks and events as admins often hand them
over (``admin/``): a PuTTY log of the source host's esxcli lists, Windows PowerShell 5.1
``Get-Task`` / ``Get-VIEvent`` redirects (UTF-16LE, ``\\/Date(ms)\\/``, no event class column),
and a vSphere Client Tasks CSV in a Berlin browser's local time. Each is diagnosed in place of
its canonical twin and must give the same verdict and the same migrations.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from vvolguard.analysis.model import Diagnosis
from vvolguard.evidence.collect import Collector
from vvolguard.evidence.sniff import sniff
from vvolguard.pipeline import diagnose
from vvolguard.records import EvidenceKind, EvidenceSpan, HostOperation, ProviderRecord, TaskState
from vvolguard.sim import simulate

CASES = [("saturation", 8, 3), ("not-control-plane", 7, 1), ("pe-presentation", 8, 6), ("registration", 7, 2)]


@pytest.fixture(scope="module", params=CASES, ids=[c[0] for c in CASES])
def incident(request, tmp_path_factory) -> tuple[Path, dict]:
    scenario, esxi, seed = request.param
    out = tmp_path_factory.mktemp(scenario)
    result = simulate(
        scenario=scenario, hosts=4, vms=32, esxi=esxi, seed=seed, out=out, formats="tgz", duration_s=2 * 3600
    )
    return out, result.ground_truth


def _diagnose(out: Path, truth: dict, exports: list[Path], tz: str | None = None) -> Diagnosis:
    common = [out / "archives", out / "vcenter" / "get-vasaprovider.json", out / "certs"]
    end = datetime.fromisoformat(truth["window"]["end"])
    return diagnose([*common, *exports], now=end, tz=tz)


def _migrations(d: Diagnosis, precision_s: float = 0.0) -> tuple:
    m = d.migrations
    failed = sorted((f.vm, f.source, f.destination, f.error, _round(f.time, precision_s)) for f in m.failed)
    return m.total, m.succeeded, failed, dict(m.peak_concurrency)


def _round(ts: datetime | None, precision_s: float) -> datetime | None:
    if ts is None or not precision_s:
        return ts
    return ts.replace(microsecond=0)


def test_powershell_51_exports_diagnose_like_the_canonical_ones(incident):
    out, truth = incident
    canonical = _diagnose(
        out, truth, [out / "vcenter" / "get-task.json", out / "vcenter" / "get-vievent.json"]
    )
    ps51 = _diagnose(
        out, truth, [out / "admin" / "get-task-ps51.json", out / "admin" / "get-vievent-ps51.json"]
    )
    assert canonical.verdict.cls == truth["expected_class"]
    assert ps51.verdict.cls == canonical.verdict.cls, ps51.verdict.summary
    assert _migrations(ps51) == _migrations(canonical)
    assert _migrations(canonical)[0] == truth["migrations"]["total"]
    kinds = {i.file.rsplit("/", 1)[-1]: i.kind for i in ps51.inputs}
    assert kinds["get-task-ps51.json"] == EvidenceKind.VCENTER_TASKS
    assert kinds["get-vievent-ps51.json"] == EvidenceKind.VCENTER_EVENTS


def test_local_time_client_csv_needs_tz_and_then_agrees(incident):
    out, truth = incident
    canonical = _diagnose(
        out, truth, [out / "vcenter" / "get-task.json", out / "vcenter" / "get-vievent.json"]
    )
    local = _diagnose(out, truth, [out / "admin" / "tasks-local.csv"], tz=truth["admin_local_zone"])
    assert local.verdict.cls == canonical.verdict.cls, local.verdict.summary
    # the CSV shows whole seconds; everything else is the same, failures with their Status text
    assert _migrations(local, 1) == _migrations(canonical, 1)
    assert any("taken as Europe/Berlin" in w.message for w in local.warnings)

    naive = _diagnose(out, truth, [out / "admin" / "tasks-local.csv"])
    assert any("--tz ZONE" in w.message for w in naive.warnings)
    shifted = {f.vm: f.time for f in naive.migrations.failed}
    right = {f.vm: f.time for f in local.migrations.failed}
    assert shifted and all(shifted[vm] - right[vm] == timedelta(hours=1) for vm in right)  # CET = UTC+1


def test_putty_log_names_its_host_and_dates_the_snapshot(incident):
    out, truth = incident
    (paste,) = sorted((out / "admin").glob("putty-*.log"))
    exports = [out / "vcenter" / "get-task.json", out / "vcenter" / "get-vievent.json"]
    canonical = _diagnose(out, truth, exports)
    with_paste = _diagnose(out, truth, [*exports, paste], tz=truth["admin_local_zone"])
    assert with_paste.verdict.cls == canonical.verdict.cls
    assert _migrations(with_paste) == _migrations(canonical)

    with Collector([paste]) as files:
        (ef,) = list(files)
        ef.assume_tz = __import__("zoneinfo").ZoneInfo(truth["admin_local_zone"])
        reader, _ = sniff(ef)
        records = list(reader.read(ef))
    source = truth["source_host"] or truth["hosts"][0]
    providers = [r for r in records if isinstance(r, ProviderRecord)]
    assert providers and {p.observer for p in providers} == {source}  # the FQDN from hostname get
    spans = [r for r in records if isinstance(r, EvidenceSpan)]
    end = datetime.fromisoformat(truth["window"]["end"])
    assert len(spans) == 3 and {s.start for s in spans} == {
        (end + timedelta(seconds=120)).replace(microsecond=0)
    }


def test_maintenance_mode_of_the_source_host_is_in_both_admin_exports(incident):
    out, truth = incident
    source = truth["source_host"]
    if source is None:
        pytest.skip("this scenario has no evacuation")
    first_failure = min(datetime.fromisoformat(f["at"]) for f in truth["failed_migrations"])
    for name in ("get-task-ps51.json", "get-vievent-ps51.json", "tasks-local.csv"):
        with Collector([out / "admin" / name]) as files:
            (ef,) = list(files)
            reader, _ = sniff(ef)
            ops = [r for r in reader.read(ef) if isinstance(r, HostOperation)]
        assert [(o.operation, o.host) for o in ops] == [("enter-maintenance-mode", source)], name
        assert ops[0].start is not None and ops[0].start < first_failure.astimezone(UTC) + timedelta(hours=2)
        if name != "tasks-local.csv":  # the CSV's local times are read as UTC here (no --tz)
            assert ops[0].start < first_failure
        assert ops[0].state in (TaskState.SUCCESS, TaskState.ERROR, TaskState.RUNNING)


def test_admin_folder_alone_diagnoses_like_the_bundles(incident):
    """The whole ``admin/`` folder as a case on its own (PowerShell 5.1 exports, the local-time
    CSV, a PuTTY paste and ``grep``/``zgrep`` excerpts of each host's vvold logs instead of the
    bundles): the same verdict, the same source host and the same migrations as the bundles."""
    out, truth = incident
    canonical = _diagnose(
        out, truth, [out / "vcenter" / "get-task.json", out / "vcenter" / "get-vievent.json"]
    )
    end = datetime.fromisoformat(truth["window"]["end"])
    admin = diagnose([out / "admin"], now=end, tz=truth["admin_local_zone"])
    if truth["scenario"] == "pe-presentation":
        # The PE is missing on a destination host: the paste holds only the source host's esxcli
        # lists and the excerpts show no failure there, so nothing here can name the PE. An expert
        # asks for more, naming the destination every failure went to.
        bad = [h for h, state in truth["protocol_endpoints"].items() if state != "ok"]
        assert admin.verdict.cls == "insufficient-evidence", admin.verdict.summary
        assert all(h.split(".", 1)[0] in admin.verdict.summary for h in bad), admin.verdict.summary
        asks = [m.artifact for m in admin.missing_evidence]
        for h in bad:  # the list that would show the missing PE is asked for, by host
            assert any("protocolendpoint list" in a and h.split(".", 1)[0] in a for a in asks), asks
        return
    assert admin.verdict.cls == canonical.verdict.cls, admin.verdict.summary
    assert admin.migrations.total == canonical.migrations.total
    assert len(admin.migrations.failed) == len(canonical.migrations.failed)
    assert dict(admin.migrations.peak_concurrency) == dict(canonical.migrations.peak_concurrency)
    excerpts = sorted(p.name for p in (out / "admin").glob("vvold-grep-*.txt"))
    assert len(excerpts) == 4  # one per host: each is read as that host's vvold log
    kinds = {i.file.rsplit("/", 1)[-1]: i.kind for i in admin.inputs}
    assert all(kinds[name] == EvidenceKind.VVOLD_LOG for name in excerpts)
    assert "unnamed-esxi-host" not in admin.verdict.summary
    source = truth["source_host"].split(".", 1)[0] if truth.get("source_host") else None
    if source and canonical.verdict.cls == "provider-saturation":
        assert source in admin.verdict.summary
