"""Scenario evidence: deterministic bytes, real rotations and archives, faithful content."""

from __future__ import annotations

import gzip
import json
import tarfile
from datetime import datetime
from pathlib import Path

import pytest
from cryptography import x509

from vvolguard.sim import simulate
from vvolguard.sim.evidence.vvold import ROTATE_BYTES


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _bundle(out: Path, host_prefix: str) -> Path:
    return next(out.glob(f"esx-{host_prefix}*"))


def test_same_seed_gives_byte_identical_output(tmp_path: Path) -> None:
    a = simulate(scenario="saturation", hosts=3, vms=24, esxi=8, seed=11, out=tmp_path / "a")
    b = simulate(scenario="saturation", hosts=3, vms=24, esxi=8, seed=11, out=tmp_path / "b")
    c = simulate(scenario="saturation", hosts=3, vms=24, esxi=8, seed=12, out=tmp_path / "c")
    files_a, files_b, files_c = _files(tmp_path / "a"), _files(tmp_path / "b"), _files(tmp_path / "c")
    assert a.migrations == b.migrations and len(files_a) > 20
    assert files_a == files_b  # every byte, .tgz and certificate included
    vvold_a = {k: v for k, v in files_a.items() if k.endswith("vvold.log")}
    vvold_c = {k: v for k, v in files_c.items() if k.endswith("vvold.log")}
    assert sorted(vvold_a.values()) != sorted(vvold_c.values())
    del c


def test_vvold_rotates_at_one_mib_into_real_gzip(tmp_path: Path) -> None:
    simulate(
        scenario="healthy",
        hosts=2,
        vms=4,
        esxi=7,
        seed=3,
        out=tmp_path,
        duration_s=8 * 3600,
        formats="folder",
    )
    logs = _bundle(tmp_path, "esx01") / "var/run/log"
    rotated = sorted(logs.glob("vvold.*.gz"))
    assert rotated, "an 8-hour day of polling passes 1 MiB"
    for gz in rotated:
        text = gzip.decompress(gz.read_bytes())
        assert 0.9 * ROTATE_BYTES < len(text) <= ROTATE_BYTES
        assert b"Section for VMware ESX" in text.splitlines()[0]
    live = (logs / "vvold.log").read_bytes()
    assert len(live) <= ROTATE_BYTES and b"last log rotation time" in live.splitlines()[0]
    # rotations hold older lines than the live file, newest generation first
    first_ts = [gzip.decompress(g.read_bytes()).splitlines()[1][:23] for g in rotated]
    assert first_ts == sorted(first_ts, reverse=True) and live.splitlines()[1][:23] > first_ts[0]


def test_tgz_is_a_real_vm_support_tar(tmp_path: Path) -> None:
    simulate(scenario="pe-presentation", hosts=3, vms=18, esxi=8, seed=2, out=tmp_path, formats="tgz")
    archives = sorted((tmp_path / "archives").glob("*.tgz"))
    assert len(archives) == 3 and not list(tmp_path.glob("esx-*/"))
    with tarfile.open(archives[0], "r:gz") as tar:
        names = tar.getnames()
        top = archives[0].name.removesuffix(".tgz")
        assert f"{top}/var/run/log/vvold.log" in names
        assert f"{top}/commands/localcli_storage-vvol-vasaprovider-list.txt" in names
        assert f"{top}/json/localcli_storage-vvol-protocolendpoint-list.json" in names
        member = tar.extractfile(f"{top}/var/run/log/vvold.log")
        assert member is not None and b"VVold[" in member.read()


def _truth(out: Path) -> dict:
    return json.loads((out / "ground-truth.json").read_text())


def test_registration_evidence(tmp_path: Path) -> None:
    simulate(scenario="registration", hosts=3, vms=18, esxi=7, seed=1, out=tmp_path, formats="folder")
    b = _bundle(tmp_path, "esx02")
    assert (
        json.loads((b / "json/localcli_storage-vvol-vasaprovider-list.json").read_text())[0]["Status"]
        == "offline"
    )
    log = (b / "var/run/log/vvold.log").read_text()
    assert (
        "failed [connectionState: TransportError]: TRANSPORT_FAULT "
        "(Timeout / SSL_connect() failed in tcp_connect())" in log
    )
    assert "GetEndPoint: failed to get endpoint, err=SSL Exception" in log
    truth = _truth(tmp_path)
    assert truth["migrations"]["failed"] == truth["migrations"]["total"] > 0
    cert = x509.load_pem_x509_certificate(next((tmp_path / "certs").glob("*.pem")).read_bytes())
    start = datetime.fromisoformat(truth["window"]["start"])
    assert cert.not_valid_after_utc > start  # the trust, not the dates, is the problem


def test_certificate_evidence_expired_at_the_incident(tmp_path: Path) -> None:
    simulate(scenario="certificate", hosts=3, vms=18, esxi=8, seed=1, out=tmp_path, formats="folder")
    truth = _truth(tmp_path)
    cert = x509.load_pem_x509_certificate(next((tmp_path / "certs").glob("*.pem")).read_bytes())
    first_failure = min(datetime.fromisoformat(f["at"]) for f in truth["failed_migrations"])
    assert cert.not_valid_after_utc < first_failure
    provider = json.loads((tmp_path / "vcenter/get-vasaprovider.json").read_text())[0]
    assert provider["ExtensionData"]["CertificateStatus"] == "expired"
    log = (_bundle(tmp_path, "esx01") / "var/run/log/vvold.log").read_text()
    assert "Er(163) VVold[" in log and "SSL Exception" in log


def test_pe_presentation_evidence(tmp_path: Path) -> None:
    simulate(scenario="pe-presentation", hosts=3, vms=18, esxi=7, seed=1, out=tmp_path, formats="folder")
    truth = _truth(tmp_path)
    bad = next(h for h, state in truth["protocol_endpoints"].items() if state != "ok")
    bad_pes = json.loads(
        (
            _bundle(tmp_path, bad.split(".")[0]) / "json/localcli_storage-vvol-protocolendpoint-list.json"
        ).read_text()
    )
    assert bad_pes == [] or bad_pes[0]["Accessible"] is False
    good = json.loads(
        (_bundle(tmp_path, "esx01") / "json/localcli_storage-vvol-protocolendpoint-list.json").read_text()
    )
    assert good[0]["Accessible"] is True
    container = json.loads(
        (
            _bundle(tmp_path, bad.split(".")[0]) / "json/localcli_storage-vvol-storagecontainer-list.json"
        ).read_text()
    )
    assert container[0]["Accessible"] is False
    failed = truth["failed_migrations"]
    assert failed and {f["destination"] for f in failed} == {bad}
    assert (
        "Could not find VVol"
        in (_bundle(tmp_path, bad.split(".")[0]) / "var/run/log/vmkernel.log").read_text()
    )
    assert truth["provider"]["busy_answers"] == 0


def test_not_control_plane_evidence(tmp_path: Path) -> None:
    simulate(scenario="not-control-plane", hosts=4, vms=32, esxi=8, seed=1, out=tmp_path, formats="folder")
    truth = _truth(tmp_path)
    assert truth["migrations"]["failed_by_cause"].get("switchover", 0) >= 1
    assert set(truth["migrations"]["failed_by_cause"]) == {"switchover"}
    assert truth["provider"]["busy_answers"] == 0
    warnings = "".join(
        (b / "var/run/log/vmkwarning.log").read_text()
        for b in tmp_path.glob("esx-*")
        if (b / "var/run/log/vmkwarning.log").exists()
    )
    assert "Failed: Maximum switchover time for migration exceeded(0xbad0109)" in warnings
    hostd = (_bundle(tmp_path, "esx01") / "var/run/log/hostd.log").read_text()
    assert "vMotion failed: vmodl.fault.SystemError" in hostd
    assert "No free connections" not in "".join(
        p.read_text() for p in tmp_path.glob("esx-*/var/run/log/vvold.log")
    )


def test_healthy_day_is_calm(tmp_path: Path) -> None:
    result = simulate(scenario="healthy", hosts=3, vms=12, esxi=7, seed=4, out=tmp_path, duration_s=2 * 3600)
    truth = _truth(tmp_path)
    assert result.migrations >= 3 and result.failed == 0
    assert truth["provider"]["busy_answers"] == 0
    logs = "".join(p.read_text() for p in tmp_path.glob("esx-*/var/run/log/vvold.log"))
    assert "Issuing 'getEvents'" in logs and "FINAL FAILURE" not in logs and "GetFreeConn" not in logs


def test_unknown_scenario_and_variant_are_refused() -> None:
    with pytest.raises(KeyError):
        simulate(scenario="meltdown")
    with pytest.raises(ValueError):
        simulate(scenario="saturation", variant="offline")


def test_public_api_without_the_cli(tmp_path: Path) -> None:
    import vvolguard

    result = vvolguard.simulate(scenario="healthy", hosts=2, vms=4, seed=1, out=tmp_path, duration_s=1800)
    assert result.expected_class == "healthy" and (tmp_path / "ground-truth.json").is_file()
