"""The evidence writers produce the shapes of docs/evidence-formats.md, as real files."""

from __future__ import annotations

import gzip
import io
import json
import re
import tarfile
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509

from vvolguard.sim.evidence import bundle, certs, esxcli, hostlogs, vcenter, vvold

T0 = datetime(2026, 3, 14, 10, 2, 11, 418000, tzinfo=UTC)

# The tolerant line regex of docs/evidence-formats.md §1.5, verbatim.
LINE = re.compile(
    r"""^(?P<ts>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:Z|[+-]\d{2}:\d{2}))\s+
 (?P<level>[A-Z][a-z]\(\d{1,3}\)\+?|info|warning|error|verbose|trivia|panic)\s+
 (?P<app>[A-Za-z][\w.-]*)\[(?P<pid>\d+)\]:?\s*
 (?:(?P<cont>-->)\s?)?
 (?:\[(?P<meta>Originator@6876[^\[\]]*(?:\[[^\[\]]*\][^\[\]]*)*)\]\s?)?
 (?P<msg>.*)$""",
    re.VERBOSE,
)


def test_esxi7_record_matches_pure_sample_layout() -> None:
    rec = vvold.VvoldRecord(T0, "info", vvold.msg_issue(89844, "queryVirtualVolume", "sn1-ct1", 0, 5))
    text = vvold.format_record("esxi7", rec, 2099041)
    assert text == (
        "2026-03-14T10:02:11.418Z info vvold[2099041] [Originator@6876 sub=Default]\n"
        "--> VasaOp::QueryVirtualVolumeInt [#89844]: ===> Issuing 'queryVirtualVolume' to VP sn1-ct1 "
        "(#outstanding 0/5) [session state: Connected]\n"
    )
    head = LINE.match(text.splitlines()[0])
    assert head and head["app"] == "vvold" and head["msg"] == ""


def test_esxi8_record_one_line_with_error_level_and_plus_continuation() -> None:
    msg = vvold.msg_setcontext_failure(
        "pure-ct0",
        "https://10.0.0.1:8084/vasa",
        "TransportError",
        "TRANSPORT_FAULT",
        vvold.SSL_CONNECT_DETAIL,
    )
    rec = vvold.VvoldRecord(T0, "error", msg, more=("Result: retry later",), opid="Session")
    lines = vvold.format_record("esxi8", rec, 2255518).splitlines()
    assert lines[0] == (
        "2026-03-14T10:02:11.418Z Er(163) VVold[2255518]: [Originator@6876 sub=Default OpId=Session] "
        "VasaSession::DoSetContext: setContext for VP pure-ct0 (url: https://10.0.0.1:8084/vasa) failed "
        "[connectionState: TransportError]: TRANSPORT_FAULT (Timeout / SSL_connect() failed in tcp_connect())"
    )
    second = LINE.match(lines[1])
    assert second and second["level"] == "Er(163)+" and second["cont"] == "-->"
    assert all(LINE.match(line) for line in lines)


def test_final_failure_and_no_free_conn_vocabulary() -> None:
    fail = vvold.msg_final_failure(
        90215, "createVirtualVolume", "TIMEOUT", "Operation timed out", "pure-ct0", "b487", 60012, 5
    )
    assert "===> FINAL FAILURE createVirtualVolume, error (TIMEOUT / Operation timed out)" in fail
    assert fail.endswith("timeElapsed=60012 msecs (#outstanding 5)")
    busy = vvold.msg_no_free_conn("pure-ct0", "https://10.1.1.10:8084/vasa", 5, 5)
    assert re.search(r"GetFreeConn", busy) and re.search(r"(?i)no free conn", busy)
    assert "[#outstanding 5/5]" in busy


def test_rotation_at_limit_writes_real_gzip_generations() -> None:
    log = vvold.RotatingLog("vvold", "esxi7", 4242, T0, limit=4096, generations=3)
    record_text = vvold.format_record("esxi7", vvold.VvoldRecord(T0, "info", "x" * 200), 4242)
    for i in range(200):
        log.write(T0 + timedelta(seconds=i), record_text)
    files = log.files()
    assert set(files) == {"vvold.log", "vvold.0.gz", "vvold.1.gz", "vvold.2.gz"}
    for name in ("vvold.0.gz", "vvold.1.gz", "vvold.2.gz"):
        text = gzip.decompress(files[name]).decode()
        assert len(text.encode()) <= 4096
        assert "Section for VMware ESX, pid=4242, version=7.0.3" in text.splitlines()[0]
    assert files["vvold.log"].startswith(b"2026-03-14T10:")
    assert b"last log rotation time" in files["vvold.log"].splitlines()[0]
    assert log.rotations > 3  # older generations were dropped, as ESXi does


def test_write_vvold_log_is_deterministic() -> None:
    recs = [vvold.VvoldRecord(T0 + timedelta(seconds=i), "info", f"line {i}") for i in range(5000)]
    a = vvold.write_vvold_log(recs, "esxi8", 1, T0, limit=16384)
    b = vvold.write_vvold_log(recs, "esxi8", 1, T0, limit=16384)
    assert a == b and len(a) > 2


def test_esxcli_text_and_json_agree() -> None:
    vp = esxcli.VasaProviderRow(
        "pure-ct0", "https://10.21.88.113:8084", "syncError", (esxcli.ArrayRow("com.purestorage:2dcf"),)
    )
    text = esxcli.vasaprovider_list_text([vp])
    assert text.splitlines()[:3] == [
        "VP Name: pure-ct0",
        "   URL: https://10.21.88.113:8084",
        "   Status: syncError",
    ]
    assert "         Array Id: com.purestorage:2dcf" in text
    data = json.loads(esxcli.vasaprovider_list_json([vp]))
    assert data == [
        {
            "VP Name": "pure-ct0",
            "URL": "https://10.21.88.113:8084",
            "Status": "syncError",
            "Arrays": [{"ArrayId": "com.purestorage:2dcf", "Is Active": True, "Priority": 200}],
        }
    ]
    pe = esxcli.ProtocolEndpointRow("naa.624a9370", "com.purestorage:2dcf", ("vvol:aa-bb",), accessible=False)
    assert "   Accessible: false" in esxcli.protocolendpoint_list_text([pe])
    assert json.loads(esxcli.protocolendpoint_list_json([pe]))[0]["Accessible"] is False
    files = esxcli.host_command_files("esx01.lab", [vp], [], [pe])
    assert "commands/localcli_storage-vvol-protocolendpoint-list.txt" in files
    assert "json/localcli_storage-vvol-vasaprovider-list.json" in files


def test_hostd_and_vmkernel_lines() -> None:
    rec = hostlogs.vmotion_failed_hostd(
        T0, "1710410531418", "Source detected that destination failed to resume.", "a1b2"
    )
    text = hostlogs.format_hostd("esxi7", rec, 2101004)
    assert "[MIGRATE] (1710410531418) vMotion failed: vmodl.fault.SystemError" in text.splitlines()[0]
    assert text.splitlines()[1].startswith("--> (vmodl.fault.SystemError) {")
    sw = hostlogs.format_vmkernel(
        "esxi8", hostlogs.switchover_exceeded(T0, 12, 2099041, "1710410531418"), "vmkwarning"
    )
    assert sw.startswith("2026-03-14T10:02:11.418Z Wa(180) vmkwarning: cpu12:2099041)WARNING: Migrate: 296:")
    assert sw.rstrip().endswith("Failed: Maximum switchover time for migration exceeded(0xbad0109)")


def test_vcenter_exports() -> None:
    row = vcenter.TaskRow(
        "task-101",
        "app-01",
        "vm-42",
        "esx01.lab",
        "esx02.lab",
        "error",
        T0,
        T0,
        T0 + timedelta(seconds=70),
        error="A system error occurred.",
    )
    ok = vcenter.TaskRow(
        "task-102", "app-02", "vm-43", "esx01.lab", "esx02.lab", "success", T0, T0, T0 + timedelta(seconds=30)
    )
    csv_text = vcenter.tasks_csv([row, ok])
    lines = csv_text.splitlines()
    assert (
        lines[0] == "Task Name,Target,Status,Details,Initiator,Queued For,Start Time,Completion Time,Server"
    )
    assert "A system error occurred." in lines[1] and "03/14/2026, 10:02:11 AM" in lines[1]
    assert ",Completed," in lines[2]
    tasks = json.loads(vcenter.get_task_json([row, ok]))
    assert tasks[0]["Id"] == "Task-task-101" and tasks[0]["State"] == "Error"
    assert tasks[0]["ExtensionData"]["Info"]["Error"]["LocalizedMessage"] == "A system error occurred."
    events = json.loads(vcenter.get_vievent_json([row, ok], {"esx01.lab": "host-10", "esx02.lab": "host-11"}))
    kinds = sorted(e["EventType"] for e in events)
    assert kinds == [
        "VmBeingHotMigratedEvent",
        "VmBeingHotMigratedEvent",
        "VmFailedMigrateEvent",
        "VmMigratedEvent",
    ]
    done = next(e for e in events if e["EventType"] == "VmMigratedEvent")
    assert done["FullFormattedMessage"] == (
        "Migration of virtual machine app-02 from esx01.lab, vVol_DS to esx02.lab, vVol_DS completed"
    )


@pytest.mark.parametrize("variant", ["valid", "near-expiry", "expired", "wrong-hostname"])
def test_certificates_are_real_and_deterministic(variant: str) -> None:
    pem = certs.provider_certificate(variant, "pure-ct0.lab", "10.0.0.5", T0, seed=7)
    assert pem == certs.provider_certificate(variant, "pure-ct0.lab", "10.0.0.5", T0, seed=7)
    assert pem != certs.provider_certificate(variant, "pure-ct0.lab", "10.0.0.5", T0, seed=8)
    cert = x509.load_pem_x509_certificate(pem)
    expiry = cert.not_valid_after_utc
    if variant == "expired":
        assert expiry < T0
    elif variant == "near-expiry":
        assert T0 < expiry < T0 + timedelta(days=30)
    else:
        assert expiry > T0 + timedelta(days=30)
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.DNSName
    )
    assert ("pure-ct0.lab" in names) is (variant != "wrong-hostname")


def test_bundle_folder_and_tgz(tmp_path) -> None:
    files = {"var/run/log/vvold.log": b"hello\n", "commands/localcli_system-hostname-get.txt": b"x\n"}
    folder, tgz = bundle.write_bundle(
        tmp_path, "esx01.lab", T0, 2831891, files, tgz_dir=tmp_path / "archives"
    )
    assert folder is not None and folder.name == "esx-esx01.lab-2026-03-14--10.02-2831891"
    assert (folder / "var/run/log/vvold.log").read_bytes() == b"hello\n"
    assert tgz is not None
    with tarfile.open(tgz, "r:gz") as tar:
        member = tar.extractfile(f"{folder.name}/var/run/log/vvold.log")
        assert member is not None and member.read() == b"hello\n"
    again = bundle.tgz_bytes(folder.name, files, T0)
    assert again == tgz.read_bytes()
    with tarfile.open(fileobj=io.BytesIO(again)) as tar:
        assert tar.getnames()[0] == folder.name
