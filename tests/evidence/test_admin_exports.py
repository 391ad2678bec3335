"""vCenter exports as admins really make them: Windows PowerShell 5.1 and 7, Export-Csv in
several locales, the vSphere Client task grid with failures in its Status column, and local
times that need ``--tz``.

Shapes: docs/evidence-formats.md §4.1-§4.4. PowerShell 5.1 ``>`` writes UTF-16LE with a BOM;
``ConvertTo-Json`` writes dates as ``\\/Date(ms)\\/``, stops at ``-Depth 2`` (deeper objects become
their .NET type name) and indents with four spaces and two after the colon. The client CSV
layout is [RECONSTRUCTED]; the German headers are unverified guesses, which is why the reader is
driven by header names and tolerates any subset and order.
"""

# ruff: noqa: E501  (export rows are kept whole, as the tools write them)

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from vvolguard.evidence.dates import parse_tz
from vvolguard.evidence.sniff import sniff
from vvolguard.evidence.source import from_bytes
from vvolguard.evidence.tasks import task_state
from vvolguard.pipeline import diagnose
from vvolguard.records import (
    EvidenceKind,
    HostOperation,
    MigrationTask,
    ProviderRecord,
    TaskState,
)

T0 = datetime(2026, 3, 14, 10, 2, 11, tzinfo=UTC)
SYSTEM_ERROR = "A general system error occurred: Source detected that destination failed to resume."


def ms(ts: datetime) -> str:
    return f"/Date({int(ts.timestamp() * 1000)})/"


def ps51_json(data: object) -> bytes:
    """ConvertTo-Json as Windows PowerShell 5.1 writes it, redirected with ``>``."""
    text = json.dumps(data, indent=4, separators=(",", ":  "))
    text = text.replace("/Date(", "\\/Date(").replace(")/", ")\\/")
    return b"\xff\xfe" + text.replace("\n", "\r\n").encode("utf-16-le")


def read(name: str, data: bytes, tz=None):
    ef = from_bytes(name, data)
    ef.assume_tz = tz
    reader, _ = sniff(ef)
    assert reader is not None, (name, ef.warnings)
    return list(reader.read(ef)), ef


# --------------------------------------------------------------------------------------------
# Get-Task
# --------------------------------------------------------------------------------------------

GET_TASK_FLAT = [  # Get-Task | Select-Object Id, Name, State, StartTime, FinishTime, @{N='Entity'...}, @{N='Error'...}
    {
        "Id": "Task-task-901",
        "Name": "RelocateVM_Task",
        "State": "Error",
        "StartTime": ms(T0),
        "FinishTime": ms(T0 + timedelta(seconds=122)),
        "Entity": "app-01",
        "Error": SYSTEM_ERROR,
        "ExtensionData": "VMware.Vim.Task",
    },
    {
        "Id": "Task-task-902",
        "Name": "RelocateVM_Task",
        "State": 2,  # 5.1 writes enums as numbers: 2 = success
        "StartTime": ms(T0 + timedelta(seconds=5)),
        "FinishTime": ms(T0 + timedelta(seconds=65)),
        "Entity": "app-02",
        "Error": None,
    },
    {
        "Id": "Task-task-900",
        "Name": "EnterMaintenanceMode_Task",
        "State": "Success",
        "StartTime": ms(T0 - timedelta(seconds=30)),
        "FinishTime": ms(T0 + timedelta(minutes=20)),
        "Entity": "esx-03.lab.local",
        "Error": None,
    },
    {
        "Id": "Task-task-903",
        "Name": "RelocateVM_Task",
        "State": "Error",
        "StartTime": "/Date(1773482600000+0100)/",
        "FinishTime": None,
        "Entity": "app-03",
        "Error": "VMware.Vim.LocalizedMethodFault",  # past -Depth: a type name, not a message
    },
]


def test_windows_powershell_51_get_task_utf16_with_ms_dates():
    records, ef = read("export.json", ps51_json(GET_TASK_FLAT))
    assert ef.kind == EvidenceKind.VCENTER_TASKS
    migrations = [r for r in records if isinstance(r, MigrationTask)]
    ops = [r for r in records if isinstance(r, HostOperation)]
    assert [(m.task_id, m.vm, m.state) for m in migrations] == [
        ("task-901", "app-01", TaskState.ERROR),
        ("task-902", "app-02", TaskState.SUCCESS),
        ("task-903", "app-03", TaskState.ERROR),
    ]
    first, _, third = migrations
    assert first.error == SYSTEM_ERROR
    assert (first.start, first.end) == (T0, T0 + timedelta(seconds=122))
    assert third.error == "Error" and "VMware.Vim" not in (third.error or "")
    assert third.start == datetime.fromtimestamp(1773482600, UTC)  # the ms are UTC; +0100 is display
    (op,) = ops
    assert (op.operation, op.host, op.state, op.task_id) == (
        "enter-maintenance-mode",
        "esx-03.lab.local",
        TaskState.SUCCESS,
        "task-900",
    )
    assert (op.start, op.end) == (T0 - timedelta(seconds=30), T0 + timedelta(minutes=20))
    assert not [w for w in ef.warnings if "time zone" in w.message]  # /Date(ms)/ is absolute


def test_get_task_json_is_cited_by_the_fields_that_matter():
    records, _ = read("export.json", ps51_json(GET_TASK_FLAT))
    first = records[0]
    text = first.citation.text
    for part in (
        "task-901",
        "RelocateVM_Task",
        "app-01",
        "error",
        "2026-03-14T10:02:11Z",
        "2026-03-14T10:04:13Z",
    ):
        assert part in text
    assert SYSTEM_ERROR in text
    assert "{" not in text and "ExtensionData" not in text
    assert first.citation.line == 2  # where the object starts ("[" is line 1)


@pytest.mark.parametrize(
    "encode",
    [
        pytest.param(lambda t: b"\xef\xbb\xbf" + t.encode("utf-8"), id="utf-8 BOM"),
        pytest.param(lambda t: t.encode("utf-16-le"), id="utf-16 without BOM"),
        pytest.param(lambda t: b"\xfe\xff" + t.encode("utf-16-be"), id="utf-16-be BOM"),
    ],
)
def test_other_encodings_of_the_same_export(encode):
    text = json.dumps(GET_TASK_FLAT[:2], indent=2)
    records, _ef = read("tasks-export.txt", encode(text))
    assert [(r.task_id, r.state) for r in records] == [
        ("task-901", TaskState.ERROR),
        ("task-902", TaskState.SUCCESS),
    ]


def test_powershell_7_iso_offsets_and_full_taskinfo():
    data = [
        {
            "Id": "Task-task-77",
            "Name": "RelocateVM_Task",
            "State": "Error",
            "StartTime": "2026-03-14T11:02:11.1234567+01:00",
            "FinishTime": "2026-03-14T11:04:13+01:00",
            "ExtensionData": {
                "Info": {
                    "Key": "task-77",
                    "EntityName": "app-77",
                    "DescriptionId": "Drm.ExecuteVMotionLRO",
                    "Error": {"LocalizedMessage": "Operation timed out"},
                }
            },
        }
    ]
    records, _ef = read("x.json", json.dumps(data).encode())
    (task,) = records
    assert task.start == T0 + timedelta(microseconds=123456)
    assert (task.vm, task.error, task.description_id) == (
        "app-77",
        "Operation timed out",
        "Drm.ExecuteVMotionLRO",
    )


def test_export_csv_german_locale_with_type_line_and_semicolons():
    csv_text = (
        "#TYPE Selected.VMware.VimAutomation.ViCore.Impl.V1.Task.TaskImpl\r\n"
        '"Id";"Name";"State";"StartTime";"FinishTime";"Entity";"Error"\r\n'
        f'"Task-task-1";"RelocateVM_Task";"Error";"14.03.2026 11:02:11";"14.03.2026 11:04:13";"app-01";"{SYSTEM_ERROR}"\r\n'
        '"Task-task-2";"EnterMaintenanceMode_Task";"Success";"14.03.2026 11:01:41";"14.03.2026 11:22:11";"esx-03";""\r\n'
    )
    records, ef = read("tasks.csv", csv_text.encode("utf-8-sig"), tz=ZoneInfo("Europe/Berlin"))
    migration, op = records
    assert isinstance(migration, MigrationTask) and isinstance(op, HostOperation)
    assert (migration.start, migration.error) == (T0, SYSTEM_ERROR)  # 11:02 CET is 10:02 UTC
    assert (op.host, op.start) == ("esx-03", T0 - timedelta(seconds=30))
    assert ["taken as Europe/Berlin" in w.message for w in ef.warnings] == [True]


# --------------------------------------------------------------------------------------------
# vSphere Client task CSV
# --------------------------------------------------------------------------------------------

CLIENT_CSV = f"""Task Name,Target,Status,Details,Initiator,Queued For,Start Time,Completion Time,Server
Enter maintenance mode,esx-03.lab.local,Completed,,VSPHERE.LOCAL\\Administrator,3 ms,"03/14/2026, 10:01:41 AM","03/14/2026, 10:22:11 AM",vc01
Relocate virtual machine,app-01,{SYSTEM_ERROR.replace(",", "")},,System,5 ms,"03/14/2026, 10:02:11 AM","03/14/2026, 10:04:13 AM",vc01
Relocate virtual machine,app-02,The operation is not allowed in the current state.,,System,5 ms,"03/14/2026, 10:02:12 AM","03/14/2026, 10:02:14 AM",vc01
Relocate virtual machine,app-03,Cancelled,,System,5 ms,"03/14/2026, 10:02:13 AM","03/14/2026, 10:03:00 AM",vc01
Relocate virtual machine,app-04,Failed,"Insufficient resources to satisfy
configured failover level for vSphere HA.",System,5 ms,"03/14/2026, 10:02:14 AM","03/14/2026, 10:05:00 AM",vc01
Relocate virtual machine,app-05,Completed,,System,5 ms,"03/14/2026, 10:02:15 AM","03/14/2026, 10:03:15 AM",vc01
Relocate virtual machine,app-06,In progress,,System,5 ms,"03/14/2026, 10:02:16 AM",,vc01
Power On virtual machine,app-07,Completed,,System,5 ms,"03/14/2026, 10:02:17 AM","03/14/2026, 10:02:18 AM",vc01
"""


def test_client_csv_any_status_but_success_or_running_is_a_failure_with_its_text():
    records, ef = read("Tasks.csv", CLIENT_CSV.encode())
    ops = [r for r in records if isinstance(r, HostOperation)]
    migrations = {r.vm: r for r in records if isinstance(r, MigrationTask)}
    assert [(o.operation, o.host, o.state) for o in ops] == [
        ("enter-maintenance-mode", "esx-03.lab.local", TaskState.SUCCESS)
    ]
    assert sorted(migrations) == ["app-01", "app-02", "app-03", "app-04", "app-05", "app-06"]
    assert migrations["app-01"].state == TaskState.ERROR
    assert migrations["app-01"].error.startswith("A general system error occurred")
    assert migrations["app-02"].state == TaskState.ERROR
    assert migrations["app-02"].error == "The operation is not allowed in the current state."
    assert (migrations["app-03"].state, migrations["app-03"].error) == (TaskState.ERROR, "Cancelled")
    assert migrations["app-04"].error.startswith("Insufficient resources to satisfy\nconfigured")
    assert migrations["app-05"].state == TaskState.SUCCESS and migrations["app-05"].error is None
    assert migrations["app-06"].state == TaskState.RUNNING
    assert migrations["app-05"].citation.line == 8  # after the two-line row of app-04
    # one warning, and it is a caveat: the file was used
    assert [w.caveat for w in ef.warnings if "no time zone" in w.message] == [True]


def test_client_csv_in_another_order_with_missing_and_extra_columns():
    text = (
        "Completion Time,Status,Target,Task Name,Extra,Start Time\n"
        '"03/14/2026, 10:04:13 AM",Operation timed out,app-01,Migrate virtual machine,x,"03/14/2026, 10:02:11 AM"\n'
    )
    (task,), _ = read("export (3).csv", text.encode())
    assert (task.vm, task.state, task.error, task.start) == (
        "app-01",
        TaskState.ERROR,
        "Operation timed out",
        T0,
    )


GERMAN_CLIENT_CSV = (  # headers: unverified guesses at the German client's grid labels
    "Aufgabenname;Ziel;Status;Details;Initiator;In Warteschlange für;Gestartet;Abgeschlossen;Server\r\n"
    f"Virtuelle Maschine migrieren;app-01;{SYSTEM_ERROR};;System;5 ms;14.03.2026, 11:02:11;"
    "14.03.2026, 11:04:13;vc01\r\n"
    "Virtuelle Maschine migrieren;app-02;Abgeschlossen;;System;5 ms;14.03.2026, 11:02:12;14.03.2026, 11:03:12;vc01\r\n"
    "In den Wartungsmodus wechseln;esx-03;Abgeschlossen;;Administrator;1 ms;14.03.2026, 11:01:41;"
    "14.03.2026, 11:22:11;vc01\r\n"
)


def test_german_client_csv_with_tz():
    records, ef = read("Aufgaben.csv", GERMAN_CLIENT_CSV.encode("utf-8-sig"), tz=parse_tz("Europe/Berlin"))
    assert ef.kind == EvidenceKind.VCENTER_TASKS
    migrations = [r for r in records if isinstance(r, MigrationTask)]
    (op,) = [r for r in records if isinstance(r, HostOperation)]
    assert [(m.vm, m.state, m.start) for m in migrations] == [
        ("app-01", TaskState.ERROR, T0),
        ("app-02", TaskState.SUCCESS, T0 + timedelta(seconds=1)),
    ]
    assert migrations[0].error == SYSTEM_ERROR
    assert (op.operation, op.host, op.start) == (
        "enter-maintenance-mode",
        "esx-03",
        T0 - timedelta(seconds=30),
    )


@pytest.mark.parametrize(
    ("value", "state", "error"),
    [
        ("Completed", TaskState.SUCCESS, None),
        ("Abgeschlossen", TaskState.SUCCESS, None),
        ("Terminé", TaskState.SUCCESS, None),
        ("完了", TaskState.SUCCESS, None),
        ("In progress", TaskState.RUNNING, None),
        ("Wird ausgeführt", TaskState.RUNNING, None),
        ("Queued", TaskState.QUEUED, None),
        ("Failed", TaskState.ERROR, None),
        ("Canceled", TaskState.ERROR, "Canceled"),
        ("Abgebrochen", TaskState.ERROR, "Abgebrochen"),
        (
            "A specified parameter was not correct: spec",
            TaskState.ERROR,
            "A specified parameter was not correct: spec",
        ),
        ("File vm-01.vmdk is larger than the maximum size supported by datastore", TaskState.ERROR, None),
        ("VMware.VimAutomation.Sdk.Types.V1.TaskState", TaskState.UNKNOWN, None),
    ],
)
def test_status_words(value, state, error):
    got_state, got_error = task_state(value)
    assert got_state == state
    if error is not None or state != TaskState.ERROR:
        assert got_error == error
    else:
        assert got_error == value or got_error is None


# --------------------------------------------------------------------------------------------
# Get-VIEvent and Get-VasaProvider from Windows PowerShell 5.1
# --------------------------------------------------------------------------------------------


def ref(kind: str, name: str, value: str) -> dict:
    return {"Name": name, kind: {"Type": kind if kind != "Vm" else "VirtualMachine", "Value": value}}


GET_VIEVENT_51 = [  # newest first; no EventType column (Get-VIEvent does not add one)
    {
        "Key": 5005,
        "ChainId": 700,
        "CreatedTime": ms(T0 + timedelta(minutes=20)),
        "Host": ref("Host", "esx-03.lab.local", "host-10"),
        "FullFormattedMessage": "Host esx-03.lab.local in DC1 has entered maintenance mode",
    },
    {
        "Key": 5004,
        "ChainId": 801,
        "CreatedTime": ms(T0 + timedelta(seconds=122)),
        "Host": ref("Host", "esx-03.lab.local", "host-10"),
        "Vm": ref("Vm", "app-01", "vm-41"),
        "DestHost": ref("Host", "esx-04.lab.local", "host-11"),
        "Reason": {"LocalizedMessage": SYSTEM_ERROR, "Fault": "VMware.Vim.SystemError"},
        "FullFormattedMessage": f"Cannot migrate app-01 from esx-03.lab.local, vVol_DS to esx-04.lab.local, vVol_DS in DC1: {SYSTEM_ERROR}",
    },
    {
        "Key": 5002,
        "ChainId": 801,
        "CreatedTime": ms(T0),
        "Host": ref("Host", "esx-03.lab.local", "host-10"),
        "Vm": ref("Vm", "app-01", "vm-41"),
        "DestHost": ref("Host", "esx-04.lab.local", "host-11"),
        "FullFormattedMessage": "Migrating app-01 from esx-03.lab.local, vVol_DS to esx-04.lab.local, vVol_DS in DC1",
    },
    {
        "Key": 5001,
        "ChainId": 700,
        "CreatedTime": ms(T0 - timedelta(seconds=29)),
        "Host": ref("Host", "esx-03.lab.local", "host-10"),
        "FullFormattedMessage": "Host esx-03.lab.local in DC1 has started to enter maintenance mode",
    },
    {
        "Key": 5000,
        "ChainId": 700,
        "CreatedTime": ms(T0 - timedelta(seconds=30)),
        "Info": {
            "Key": "task-900",
            "Name": "EnterMaintenanceMode_Task",
            "DescriptionId": "HostSystem.enterMaintenanceMode",
            "EntityName": "esx-03.lab.local",
            "State": "queued",
        },
        "FullFormattedMessage": "Task: Enter maintenance mode",
    },
]


def test_windows_powershell_51_get_vievent_with_maintenance_mode():
    records, ef = read("events.json", ps51_json(GET_VIEVENT_51))
    assert ef.kind == EvidenceKind.VCENTER_EVENTS
    (migration,) = [r for r in records if isinstance(r, MigrationTask)]
    (op,) = [r for r in records if isinstance(r, HostOperation)]
    assert (migration.vm, migration.source_host, migration.dest_host, migration.state) == (
        "app-01",
        "esx-03.lab.local",
        "esx-04.lab.local",
        TaskState.ERROR,
    )
    assert (migration.start, migration.end, migration.error) == (
        T0,
        T0 + timedelta(seconds=122),
        SYSTEM_ERROR,
    )
    assert (op.operation, op.host, op.state, op.task_id) == (
        "enter-maintenance-mode",
        "esx-03.lab.local",
        TaskState.SUCCESS,
        "task-900",
    )
    assert (op.start, op.end) == (T0 - timedelta(seconds=30), T0 + timedelta(minutes=20))


def test_maintenance_events_without_chain_ids_pair_by_host():
    events = [
        {
            "CreatedTime": "2026-03-14T10:01:42Z",
            "FullFormattedMessage": "Host esx-05 in DC1 has started to enter maintenance mode",
        },
        {
            "CreatedTime": "2026-03-14T10:01:43Z",
            "FullFormattedMessage": "Host esx-06 in DC1 has started to enter maintenance mode",
        },
        {
            "CreatedTime": "2026-03-14T10:30:00Z",
            "FullFormattedMessage": "Host esx-05 in DC1 has entered maintenance mode",
        },
        {
            "CreatedTime": "2026-03-14T11:00:00Z",
            "FullFormattedMessage": "Host esx-05 in DC1 has exited maintenance mode",
        },
    ]
    text = json.dumps([{"Key": i, **e, "ChainId": None, "UserName": ""} for i, e in enumerate(events)])
    records, _ = read("vievent.json", text.encode())
    seen = sorted(
        (r.operation, r.host, r.state, r.start.minute, r.end.minute if r.end else None) for r in records
    )
    assert seen == [
        ("enter-maintenance-mode", "esx-05", TaskState.SUCCESS, 1, 30),
        ("enter-maintenance-mode", "esx-06", TaskState.RUNNING, 1, None),
        ("exit-maintenance-mode", "esx-05", TaskState.SUCCESS, 0, 0),
    ]


def test_windows_powershell_51_get_vasaprovider():
    data = {
        "Name": "pure-ct0",
        "Id": "VasaProvider-vasaprovider-3",
        "Url": "https://10.21.88.113:8084",
        "Status": "online",
        "LastSyncTime": ms(T0),
        "ProviderId": "x",
        "VasaVersion": "3.5",
        "Namespace": "com.purestorage",
        "ExtensionData": "VMware.VimAutomation.Storage.Interop.V1.Sms.VasaProviderInfo",
    }
    records, _ef = read("vp.txt", ps51_json(data))
    (provider,) = records
    assert isinstance(provider, ProviderRecord)
    assert (provider.name, provider.status, provider.last_sync, provider.observer) == (
        "pure-ct0",
        "online",
        T0,
        "vcenter",
    )


# --------------------------------------------------------------------------------------------
# --tz
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "offset"),
    [
        ("UTC", timedelta(0)),
        ("Z", timedelta(0)),
        ("+02:00", timedelta(hours=2)),
        ("-0530", timedelta(hours=-5, minutes=-30)),
        ("UTC+2", timedelta(hours=2)),
        ("Europe/Berlin", timedelta(hours=1)),  # in March 2026, before the switch to summer time
        ("America/New_York", timedelta(hours=-4)),  # after the US switch on 8 March
    ],
)
def test_parse_tz(text, offset):
    assert parse_tz(text).utcoffset(datetime(2026, 3, 14, 10)) == offset


@pytest.mark.parametrize("text", ["Mars/Olympus", "+25:00", "", "../../etc/passwd"])
def test_parse_tz_refuses_what_is_not_a_zone(text):
    with pytest.raises(ValueError):
        parse_tz(text)


def test_diagnose_tz_moves_local_times_of_a_client_csv(tmp_path: Path):
    (tmp_path / "tasks.csv").write_text(CLIENT_CSV, encoding="utf-8")
    now = datetime(2026, 3, 15, tzinfo=UTC)
    plain = diagnose([tmp_path], now=now)
    shifted = diagnose([tmp_path], now=now, tz="+02:00")
    times = {f.vm: f.time for f in plain.migrations.failed}
    moved = {f.vm: f.time for f in shifted.migrations.failed}
    assert set(times) == set(moved) and len(times) == 4
    assert all(moved[vm] == times[vm] - timedelta(hours=2) for vm in times)
    assert any("--tz" in w.message for w in plain.warnings)
    assert any("taken as UTC+02:00" in w.message for w in shifted.warnings)
    assert datetime(2026, 3, 14, 10, 4, 13, tzinfo=timezone(timedelta(hours=2))) in moved.values()


def test_cli_tz_option(tmp_path: Path):
    import subprocess
    import sys

    (tmp_path / "tasks.csv").write_text(CLIENT_CSV, encoding="utf-8")
    base = [
        sys.executable,
        "-m",
        "vvolguard.cli.main",
        "diagnose",
        str(tmp_path),
        "--json",
        "--now",
        "2026-03-15T00:00:00Z",
    ]
    bad = subprocess.run([*base, "--tz", "Mars/Olympus"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "Mars/Olympus" in bad.stderr and "Traceback" not in bad.stderr
    good = subprocess.run([*base, "--tz", "Europe/Berlin"], capture_output=True, text=True, timeout=120)
    assert good.returncode == 0, good.stderr
    document = json.loads(good.stdout)
    assert any("Europe/Berlin" in w["message"] for w in document["warnings"])


def test_event_csv_with_german_headers():
    """A client event export from a German browser (column names are unverified guesses); the
    messages themselves stay in English when vCenter's own locale is English."""
    text = (
        "Beschreibung;Typ;Datum/Uhrzeit;Aufgabe;Ziel;Benutzer\r\n"
        "Host esx-03 in DC1 has started to enter maintenance mode;Informationen;14.03.2026, 11:01:41;;esx-03;Administrator\r\n"
        "Migrating app-01 from esx-03, vVol_DS to esx-04, vVol_DS in DC1;Informationen;14.03.2026, 11:02:11;;app-01;\r\n"
        f"Cannot migrate app-01 from esx-03, vVol_DS to esx-04, vVol_DS in DC1: {SYSTEM_ERROR};Fehler;14.03.2026, 11:04:13;;app-01;\r\n"
    )
    records, ef = read("Ereignisse.csv", text.encode("utf-8-sig"), tz=ZoneInfo("Europe/Berlin"))
    assert ef.kind == EvidenceKind.VCENTER_EVENTS
    (migration,) = [r for r in records if isinstance(r, MigrationTask)]
    (op,) = [r for r in records if isinstance(r, HostOperation)]
    assert (migration.vm, migration.source_host, migration.dest_host, migration.state) == (
        "app-01",
        "esx-03",
        "esx-04",
        TaskState.ERROR,
    )
    assert (migration.start, migration.end) == (T0, T0 + timedelta(seconds=122))
    assert (op.host, op.state, op.start) == ("esx-03", TaskState.RUNNING, T0 - timedelta(seconds=30))


def test_get_vasaprovider_extension_data_and_compact_citation():
    """Certificate expiry and status live under ExtensionData (VasaProviderInfo) in a
    Get-VasaProvider object; the citation names the provider's fields, not the whole object."""
    from vvolguard.sim.evidence.vcenter import VasaProviderExport, get_vasaprovider_json

    row = VasaProviderExport(
        name="pure-ct0",
        url="https://10.21.88.113:8084",
        status="syncError",
        provider_id="p",
        last_sync=T0,
        certificate_expiry=T0 + timedelta(days=20),
        certificate_status="expiryHardLimitReached",
        array_id=ARRAY_ID,
    )
    records, _ = read("vp.json", get_vasaprovider_json([row]).encode())
    (provider,) = records
    assert provider.certificate_expiry == T0 + timedelta(days=20)
    assert provider.certificate_status == "expiryHardLimitReached"
    assert [a.array_id for a in provider.arrays] == [ARRAY_ID]
    text = provider.citation.text
    assert text.startswith(
        "pure-ct0 https://10.21.88.113:8084 syncError 2.0.0 · sync 2026-03-14T10:02:11.000Z"
    )
    assert "cert 2026-04-03T10:02:11.000Z expiryHardLimitReached" in text and "{" not in text
    assert provider.citation.line == 2


ARRAY_ID = "com.purestorage:2dcf29ad-6aca-4913-b62e-a15875c6635f"
