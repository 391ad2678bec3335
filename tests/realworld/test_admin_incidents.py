"""Incidents as admins really hand them over, written by hand (not by our simulator), each with
the answer an expert would sign: the class, and the hosts, providers and causes an expert names.

The shapes follow the evidence formats the readers accept (docs: a ``grep -n`` pasted from a
terminal, a vSphere Client CSV with the error in its Status column, an esxcli paste with its
prompt, vCenter's sps.log lines quoted by KB 402809 / KB 320568, a Windows PowerShell 5.1 export,
the vmkernel switchover line of KB 307365, a central syslog archive)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from vvolguard.analysis.model import Diagnosis
from vvolguard.pipeline import diagnose

NOW = datetime(2026, 3, 20, tzinfo=UTC)

CSV_HEAD = '"Task Name","Target","Status","Initiator","Queued For","Start Time","Completion Time","Server"\n'


def _csv(*rows: tuple[str, str, str, str, str]) -> str:
    body = "".join(
        f'"{task}","{target}","{status}","CORP\\jdoe","3 ms","{start}","{end}","vcsa01.corp.local"\n'
        for task, target, status, start, end in rows
    )
    return CSV_HEAD + body


FAILED_PAIR = _csv(
    (
        "Relocate virtual machine",
        "db-01",
        "A system error occurred.",
        "3/14/2026 10:10:01 AM",
        "3/14/2026 10:10:41 AM",
    ),
    (
        "Relocate virtual machine",
        "db-02",
        "A system error occurred.",
        "3/14/2026 10:10:03 AM",
        "3/14/2026 10:10:43 AM",
    ),
)


def _wait(ts: str, n: int) -> str:
    return (
        f"{ts} warning vvold[2099154] [Originator@6876 sub=Default OpId=a{n}] VasaSession::GetFreeConn: "
        "No free connections to VP pure-ct0 (url: https://10.21.88.113:8084/vasa) "
        "[#outstanding 5/5] - waiting"
    )


def _case(tmp_path: Path, files: dict[str, str | bytes], tz: str | None = None) -> Diagnosis:
    for name, data in files.items():
        path = tmp_path / name
        if isinstance(data, bytes):
            path.write_bytes(data)
        else:
            path.write_text(data, encoding="utf-8")
    return diagnose([tmp_path], now=NOW, tz=tz)


def test_grep_pasted_from_the_host_and_a_client_csv_name_saturation_on_the_evacuated_host(tmp_path):
    grep = "\n".join(
        [
            '[root@esx-07:~] grep -n "No free" /var/run/log/vvold.log',
            "1201:" + _wait("2026-03-14T10:10:05.100Z", 2),
            "1207:" + _wait("2026-03-14T10:10:06.100Z", 3),
            "1302:" + _wait("2026-03-14T10:10:40.100Z", 4),
            "1400:" + _wait("2026-03-14T10:11:30.100Z", 5),
            "[root@esx-07:~]",
            "",
        ]
    )
    tasks = _csv(
        (
            "Relocate virtual machine",
            "app-01",
            "A system error occurred.",
            "03/14/2026, 10:10:01 AM",
            "03/14/2026, 10:11:41 AM",
        ),
        (
            "Relocate virtual machine",
            "app-02",
            "Completed",
            "03/14/2026, 10:10:02 AM",
            "03/14/2026, 10:10:52 AM",
        ),
        (
            "Relocate virtual machine",
            "app-03",
            "A system error occurred.",
            "03/14/2026, 10:10:02 AM",
            "03/14/2026, 10:11:44 AM",
        ),
        (
            "Enter maintenance mode",
            "esx-07.corp.local",
            "Completed",
            "03/14/2026, 10:09:58 AM",
            "03/14/2026, 10:30:00 AM",
        ),
    )
    d = _case(tmp_path, {"vvold-esx-07.txt": grep, "tasks.csv": tasks})
    assert d.verdict.cls == "provider-saturation", d.verdict.summary
    assert "esx-07" in d.verdict.summary and "pure-ct0" in d.verdict.summary
    assert d.migrations.total == 3 and len(d.migrations.failed) == 2
    assert {f.source for f in d.migrations.failed} == {"esx-07"}  # from the maintenance-mode task
    cited = {(c.file.rsplit("/", 1)[-1], c.line) for f in d.findings for c in f.citations}
    assert ("vvold-esx-07.txt", 2) in cited


def test_an_esxcli_paste_showing_the_provider_offline_is_registration(tmp_path):
    paste = (
        "[root@esx-12:~] esxcli storage vvol vasaprovider list\r\n"
        "VP Name: array01-vp\r\n   URL: https://vp01.corp.local:8443/vasa/version.xml\r\n"
        "   Status: offline\r\n   Arrays:\r\n         Array Id: com.vendor:abc123\r\n"
        "         Is Active: true\r\n         Priority: 100\r\n"
        "\r\n[root@esx-12:~] esxcli storage vvol protocolendpoint list\r\n"
        "naa.600a098038314c4a5a3f4d7a6f2d4b31\r\n   Array Id: com.vendor:abc123\r\n   Type: SCSI\r\n"
        "   Accessible: true\r\n   Configured: true\r\n   Lun Id: naa.600a098038314c4a5a3f4d7a6f2d4b31\r\n"
        "[root@esx-12:~]\r\n"
    )
    d = _case(tmp_path, {"esxcli.txt": paste, "tasks.csv": FAILED_PAIR})
    assert d.verdict.cls == "provider-registration", d.verdict.summary
    assert "array01-vp" in d.verdict.summary and "esx-12" in d.verdict.summary
    assert "unnamed-esxi-host" not in d.verdict.summary  # the prompt named the host


def test_vcenter_sps_log_lines_from_the_kbs_are_trust_evidence(tmp_path):
    sps = (
        "2026-03-14T10:09:40.123Z [pool-29-thread-2] WARN  opId=sps-Main-11111-222 "
        "com.vmware.vim.sms.provider.vasa.VersionHandler - [isLegacyProvider] Failed to retrieve version "
        "information from provider - https://vp01.corp.local:8443/version.xml: certificate_unknown(46)\n"
        "2026-03-14T10:09:41.456Z [pool-29-thread-2] ERROR opId=sps-Main-605481-414 "
        "com.vmware.vim.sms.client.VasaClientImpl - Setcontext() was interrupted\n"
        "java.lang.InterruptedException: org.apache.axis2.AxisFault: self signed certificate\n"
        "2026-03-14T10:09:41.789Z [pool-29-thread-2] ERROR opId=sps-Main-605481-414 "
        "com.vmware.vim.sms.provider.vasa.VasaProviderImpl - SetContext failed!\n"
    )
    d = _case(tmp_path, {"sps.log": sps, "tasks.csv": FAILED_PAIR})
    assert d.verdict.cls == "provider-registration", d.verdict.summary
    assert "vp01.corp.local" in d.verdict.summary
    files = {c.file.rsplit("/", 1)[-1] for f in d.findings for c in f.citations}
    assert "sps.log" in files


def test_a_vvold_log_copied_hours_later_cannot_clear_the_provider(tmp_path):
    late = (
        "2026-03-14T16:00:00.000Z info vvold[2099154] [Originator@6876 sub=Default] - time the service was "
        "last started 2026-03-01T09:00:00.000Z, Section for VMware ESX, pid=2099154, version=7.0.3, "
        "build=20328353, option=Release\n"
        "2026-03-14T16:00:05.000Z info vvold[2099154] [Originator@6876 sub=Default OpId=EventPoller] "
        "VasaOp::EventPollerCB [#1]: ===> Issuing 'getEvents' to VP array01-vp (#outstanding 0/5) "
        "[session state: Connected]\n"
    )
    d = _case(tmp_path, {"vvold.log": late, "tasks.csv": FAILED_PAIR})
    assert d.verdict.cls == "insufficient-evidence", d.verdict.summary
    assert "16:00:00Z" in d.verdict.summary and "10:10:43Z" in d.verdict.summary
    assert any("vvold" in m.artifact for m in d.missing_evidence)


def test_a_powershell_51_export_whose_error_names_another_cause_is_not_the_control_plane(tmp_path):
    rows = [
        {
            "Name": "RelocateVM_Task",
            "State": "Error",
            "StartTime": "/Date(1773483001000)/",
            "FinishTime": "/Date(1773483041000)/",
            "Entity": "web-07",
            "Id": "Task-task-9001",
            "ExtensionData": "VMware.Vim.Task",
            "Error": "The operation is not allowed in the current state.",
        },
        {
            "Name": "RelocateVM_Task",
            "State": "Success",
            "StartTime": "/Date(1773483002000)/",
            "FinishTime": "/Date(1773483032000)/",
            "Entity": "web-08",
            "Id": "Task-task-9002",
            "ExtensionData": "VMware.Vim.Task",
            "Error": None,
        },
    ]
    # Windows PowerShell 5.1: '>' writes UTF-16LE with a BOM and CRLF; ConvertTo-Json escapes '/'.
    text = (
        json.dumps(rows, indent=4).replace("/Date(", "\\/Date(").replace(")/", ")\\/").replace("\n", "\r\n")
    )
    d = _case(tmp_path, {"tasks.json": b"\xff\xfe" + text.encode("utf-16-le")})
    assert d.verdict.cls == "not-control-plane", d.verdict.summary
    assert "current state" in d.verdict.summary
    assert [f.vm for f in d.migrations.failed] == ["web-07"]


def test_a_switchover_timeout_with_a_calm_vvold_that_covers_it_is_not_the_control_plane(tmp_path):
    polls = []
    for s in range(0, 1200, 20):
        ts = f"2026-03-14T10:{s // 60:02d}:{s % 60:02d}.000Z"
        head = (
            f"{ts} info vvold[2099154] [Originator@6876 sub=Default OpId=EventPoller] "
            f"VasaOp::EventPollerCB [#{s}]: ===> "
        )
        polls.append(
            head + "Issuing 'getEvents' to VP array01-vp (#outstanding 0/5) [session state: Connected]\n"
        )
        polls.append(
            head
            + "FINAL SUCCESS getEvents VP (array01-vp) Container (N/A) timeElapsed=12 msecs "
            + "(#outstanding 0)\n"
        )
    vmkernel = (
        "2026-03-14T10:11:40.001Z cpu12:2099999)WARNING: Migrate: 296: 1773483001000000 D: Failed: "
        "Maximum switchover time for migration exceeded(0xbad0109)\n"
    )
    tasks = _csv(
        (
            "Relocate virtual machine",
            "sql-01",
            "A system error occurred.",
            "3/14/2026 10:10:01 AM",
            "3/14/2026 10:11:41 AM",
        ),
        (
            "Enter maintenance mode",
            "esx-03.corp.local",
            "Completed",
            "3/14/2026 10:09:50 AM",
            "3/14/2026 10:40:00 AM",
        ),
    )
    d = _case(
        tmp_path, {"vvold-esx-03.log": "".join(polls), "vmkernel-esx-03.log": vmkernel, "tasks.csv": tasks}
    )
    assert d.verdict.cls == "not-control-plane", d.verdict.summary
    assert "switchover" in d.verdict.summary and "esx-03" in d.verdict.summary
    cited = {c.file.rsplit("/", 1)[-1] for f in d.findings for c in f.citations}
    assert "vmkernel-esx-03.log" in cited


def test_a_central_syslog_archive_names_the_host_under_pressure(tmp_path):
    def forwarded(ts: str, host: str, pid: int, n: int) -> str:
        wait = _wait(ts, n).split(" ", 1)[1].replace("vvold[2099154]", f"vvold[{pid}]")
        return f"<166>{ts} {host} Vvold: {wait}\n"

    lines = [
        forwarded(f"2026-03-14T10:10:{s:02d}.000Z", "esx-21.corp.local", 2099154, s) for s in range(0, 50, 5)
    ]
    lines += [forwarded("2026-03-14T10:10:20.000Z", "esx-22.corp.local", 2099777, 99)]
    tasks = _csv(
        (
            "Relocate virtual machine",
            "fs-01",
            "A system error occurred.",
            "3/14/2026 10:10:01 AM",
            "3/14/2026 10:11:41 AM",
        ),
        (
            "Enter maintenance mode",
            "esx-21.corp.local",
            "Completed",
            "3/14/2026 10:09:50 AM",
            "3/14/2026 10:40:00 AM",
        ),
    )
    d = _case(tmp_path, {"syslog-2026-03-14.log": "".join(sorted(lines)), "tasks.csv": tasks})
    assert d.verdict.cls == "provider-saturation", d.verdict.summary
    assert "esx-21" in d.verdict.summary and "esx-22" not in d.verdict.summary


def _evacuation_grep() -> str:
    return "\n".join(
        [
            '[root@esx-07:~] grep -n "No free" /var/run/log/vvold.log',
            "1201:" + _wait("2026-03-14T10:10:05.100Z", 2),
            "1207:" + _wait("2026-03-14T10:10:06.100Z", 3),
            "1302:" + _wait("2026-03-14T10:10:40.100Z", 4),
            "1400:" + _wait("2026-03-14T10:11:30.100Z", 5),
            "",
        ]
    )


def _berlin_csv() -> str:
    """The same evacuation as exported by a browser in Berlin: local time, no zone in the file."""
    return _csv(
        (
            "Relocate virtual machine",
            "app-01",
            "A system error occurred.",
            "03/14/2026, 11:10:01 AM",
            "03/14/2026, 11:11:41 AM",
        ),
        (
            "Relocate virtual machine",
            "app-03",
            "A system error occurred.",
            "03/14/2026, 11:10:02 AM",
            "03/14/2026, 11:11:44 AM",
        ),
        (
            "Enter maintenance mode",
            "esx-07.corp.local",
            "Completed",
            "03/14/2026, 11:09:58 AM",
            "03/14/2026, 11:30:00 AM",
        ),
    )


def test_a_client_csv_read_in_its_own_zone_lines_up_with_vvold(tmp_path):
    d = _case(
        tmp_path, {"vvold-esx-07.txt": _evacuation_grep(), "tasks.csv": _berlin_csv()}, tz="Europe/Berlin"
    )
    assert d.verdict.cls == "provider-saturation", d.verdict.summary
    assert not [n for n in d.notes if n.kind == "times-apart"]


def test_a_client_csv_read_in_the_wrong_zone_is_not_tied_to_pressure_an_hour_away(tmp_path):
    """Read as UTC, the Berlin CSV's failures land an hour after the waits: an expert would not
    blame the waits for them, and would say the gap looks like a time zone."""
    d = _case(tmp_path, {"vvold-esx-07.txt": _evacuation_grep(), "tasks.csv": _berlin_csv()}, tz="UTC")
    assert d.verdict.cls != "provider-saturation", d.verdict.summary
    (note,) = [n for n in d.notes if n.kind == "times-apart"]
    assert "1 h 00 min after" in note.text and "--tz" in note.text
    assert "esx-07" in note.hosts
    assert [c.file.rsplit("/", 1)[-1] for c in note.citations] == ["vvold-esx-07.txt"]  # the first wait
    # the saturation the waits show on their own clock is still reported, not as the cause
    assert all(f.id != "provider-saturation" or f.confidence <= 0.8 for f in d.findings)
