"""vCenter tasks and events -> MigrationTask records (docs/evidence-formats.md §4.2-§4.4).

The Tasks CSV layout is [RECONSTRUCTED] from §4.4; the VmMigratedEvent JSON follows the verified
Event Broker shape in §4.3 (keys Key, ChainId, CreatedTime, UserName, Host, Vm, Ds, SourceHost,
FullFormattedMessage).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from vvolguard.evidence.events import EventExportReader
from vvolguard.evidence.sniff import sniff
from vvolguard.evidence.source import from_bytes
from vvolguard.evidence.tasks import TaskExportReader, task_state
from vvolguard.records import EvidenceKind, MigrationTask, TaskState

SYSTEM_ERROR = "A general system error occurred: Source detected that destination failed to resume."

TASKS_CSV_US = "\n".join(
    [
        "Task Name,Target,Status,Details,Initiator,Queued For,Start Time,Completion Time,Server",
        'Relocate virtual machine,app-01,Completed,"Migrating Virtual Machine active state",'
        'VSPHERE.LOCAL\\Administrator,3 ms,"03/14/2024, 10:02:11 AM","03/14/2024, 10:03:40 AM",vc01.corp',
        f'Relocate virtual machine,app-02,"{SYSTEM_ERROR}",,System,5 ms,'
        '"03/14/2024, 10:02:12 AM","03/14/2024, 10:04:02 AM",vc01.corp',
        'Power On virtual machine,app-03,Completed,,root,1 ms,"03/14/2024, 10:05:00 AM",'
        '"03/14/2024, 10:05:02 AM",vc01.corp',
        'Migrate virtual machine,app-04,Running,"Migrating to host esx-02.corp.example",'
        'System,2 ms,"03/14/2024, 1:06:00 PM",,vc01.corp',
        'Check relocate,app-05,Completed,,root,1 ms,"03/14/2024, 10:07:00 AM","03/14/2024, 10:07:01 AM",vc01',
    ]
)

TASKS_CSV_UK = "\n".join(
    [
        "Start Time;Task Name;Status;Target;Completion Time;Brand New Column",
        "14/03/2024 10:02:11;Relocate virtual machine;Failed;app-02;14/03/2024 10:04:02;x",
        "02/03/2024 09:00:00;Migrate virtual machine;Completed;app-01;02/03/2024 09:01:00;y",
    ]
)

GET_TASK_JSON = json.dumps(
    [
        {
            "Id": "Task-task-12345",
            "Name": "RelocateVM_Task",
            "Description": "Relocate virtual machine",
            "State": 3,
            "PercentComplete": 19,
            "StartTime": "\\/Date(1710410531000)\\/",
            "FinishTime": "2024-03-14T10:04:02Z",
            "ObjectId": "VirtualMachine-vm-56",
            "IsCancelable": False,
            "Result": None,
            "ExtensionData": {
                "Info": {
                    "Key": "task-12345",
                    "EntityName": "app-02",
                    "DescriptionId": "VirtualMachine.relocate",
                    "EventChainId": 5001,
                    "Error": {"LocalizedMessage": "A system error occurred."},
                }
            },
        },
        {
            "Id": "Task-task-12346",
            "Name": "Drm.ExecuteVMotionLRO",
            "State": "Success",
            "StartTime": "2024-03-14T10:02:11Z",
            "FinishTime": "2024-03-14T10:03:00Z",
            "ObjectId": "VirtualMachine-vm-57",
            "PercentComplete": 100,
        },
        {
            "Id": "Task-task-12347",
            "Name": "PowerOnVM_Task",
            "State": 2,
            "StartTime": "2024-03-14T10:02:11Z",
            "PercentComplete": 100,
        },
    ],
    indent=2,
).replace("\\\\/", "\\/")

T = datetime(2024, 3, 14, 10, 2, 11, tzinfo=UTC)


def vm_ref(name: str, moref: str) -> dict:
    return {"Name": name, "Vm": {"Type": "VirtualMachine", "Value": moref}}


def host_ref(name: str) -> dict:
    return {"Name": name, "Host": {"Type": "HostSystem", "Value": "host-1"}}


EVENTS = [
    {  # newest first, as Get-VIEvent returns them
        "Key": 9003,
        "ChainId": 5001,
        "CreatedTime": "2024-03-14T10:04:02.100Z",
        "UserName": "VSPHERE.LOCAL\\Administrator",
        "Host": host_ref("esx-01.corp.example"),
        "Vm": vm_ref("app-02", "vm-56"),
        "DestHost": host_ref("esx-02.corp.example"),
        "Reason": {"LocalizedMessage": SYSTEM_ERROR, "Fault": {}},
        "FullFormattedMessage": "Cannot migrate app-02 from esx-01.corp.example, vvol-ds to "
        "esx-02.corp.example, vvol-ds in DC1",
    },
    {
        "Key": 9002,
        "ChainId": 6001,
        "CreatedTime": "2021-05-05T09:26:33.252Z",
        "UserName": "VSPHERE.LOCAL\\Administrator",
        "Datacenter": {"Name": "vcqaDC", "Datacenter": {"Type": "Datacenter", "Value": "datacenter-2"}},
        "ComputeResource": {"Name": "cluster-1"},
        "Host": host_ref("10.184.168.169"),
        "Vm": vm_ref("test-vm-01", "vm-56"),
        "Ds": {"Name": "sharedVmfs-0"},
        "Net": None,
        "Dvs": None,
        "FullFormattedMessage": "Migration of virtual machine test-vm-01 from 10.184.167.152, sharedVmfs-0 "
        "to 10.184.168.169, sharedVmfs-0 completed",
        "ChangeTag": None,
        "Template": False,
        "SourceHost": host_ref("10.184.167.152"),
        "SourceDatacenter": {"Name": "vcqaDC"},
        "SourceDatastore": {"Name": "sharedVmfs-0"},
    },
    {
        "Key": 9001,
        "ChainId": 5001,
        "CreatedTime": "2024-03-14T10:02:11Z",
        "Host": host_ref("esx-01.corp.example"),
        "Vm": vm_ref("app-02", "vm-56"),
        "DestHost": host_ref("esx-02.corp.example"),
        "DestDatastore": {"Name": "vvol-ds"},
        "FullFormattedMessage": "Migrating app-02 from esx-01.corp.example, vvol-ds to esx-02.corp.example, "
        "vvol-ds in DC1",
    },
    {  # TaskEvent: Info is the TaskInfo at creation; it names the task of chain 5001
        "Key": 9000,
        "ChainId": 5001,
        "CreatedTime": "2024-03-14T10:02:10Z",
        "Info": {
            "Key": "task-12345",
            "Name": "RelocateVM_Task",
            "DescriptionId": "VirtualMachine.relocate",
            "EventChainId": 5001,
            "State": "queued",
        },
        "FullFormattedMessage": "Task: Relocate virtual machine",
    },
    {
        "Key": 8999,
        "ChainId": 4000,
        "CreatedTime": "2024-03-14T10:00:00Z",
        "Vm": vm_ref("app-03", "vm-58"),
        "Host": host_ref("esx-01"),
        "FullFormattedMessage": "app-03 on esx-01 in DC1 is powered on",
    },
    {
        "$type": "VMware.Vim.DrsVmMigratedEvent, VMware.Vim",
        "Key": 8998,
        "ChainId": 3999,
        "CreatedTime": "2024-03-14T09:59:00Z",
        "Vm": vm_ref("app-09", "vm-59"),
        "Host": "VMware.Vim.HostEventArgument",  # what ConvertTo-Json leaves past its -Depth
        "FullFormattedMessage": "DRS migrated app-09 from esx-01 to esx-03 in cluster c1 in DC1",
    },
]
EVENTS_JSON = json.dumps(EVENTS, indent=2)


def read(reader, name: str, data: str | bytes):
    raw = data.encode() if isinstance(data, str) else data
    ef = from_bytes(name, raw)
    return list(reader.read(ef)), ef.warnings


def test_vsphere_client_csv_us_locale():
    records, warnings = read(TaskExportReader(), "tasks.csv", TASKS_CSV_US)
    assert [r.vm for r in records] == ["app-01", "app-02", "app-04"]  # power-on and check dropped
    ok, failed, running = records
    assert ok.state == TaskState.SUCCESS and ok.error is None
    assert ok.start == T and ok.end == datetime(2024, 3, 14, 10, 3, 40, tzinfo=UTC)
    assert failed.state == TaskState.ERROR and failed.error == SYSTEM_ERROR
    assert failed.source_host is None and failed.dest_host is None  # the export does not say
    assert running.state == TaskState.RUNNING and running.dest_host == "esx-02.corp.example"
    assert running.start == datetime(2024, 3, 14, 13, 6, tzinfo=UTC) and running.end is None
    assert [r.citation.line for r in records] == [2, 3, 5]
    assert records[1].citation.text.startswith("Relocate virtual machine,app-02")
    assert [w.message for w in warnings] == [
        "times carry no time zone; they were taken as UTC (if the export was written in another zone, "
        "say which with --tz ZONE, e.g. --tz Europe/Berlin or --tz +02:00)"
    ]


def test_vsphere_client_csv_day_first_subset_and_unknown_columns():
    records, _ = read(TaskExportReader(), "tasks.csv", TASKS_CSV_UK)
    failed, ok = records
    assert failed.state == TaskState.ERROR and failed.error == "Failed" and failed.vm == "app-02"
    assert failed.start == T
    assert ok.start == datetime(2024, 3, 2, 9, 0, tzinfo=UTC)  # 02/03 is 2 March in this file


def test_get_task_json():
    records, warnings = read(TaskExportReader(), "get-task.json", GET_TASK_JSON)
    assert records == [
        MigrationTask(
            task_id="task-12345",
            vm="app-02",
            source_host=None,
            dest_host=None,
            state=TaskState.ERROR,
            start=T,
            end=datetime(2024, 3, 14, 10, 4, 2, tzinfo=UTC),
            error="A system error occurred.",
            description_id="VirtualMachine.relocate",
            event_chain_id="5001",
            citation=records[0].citation,
        ),
        MigrationTask(
            task_id="task-12346",
            vm="VirtualMachine-vm-57",
            source_host=None,
            dest_host=None,
            state=TaskState.SUCCESS,
            start=T,
            end=datetime(2024, 3, 14, 10, 3, tzinfo=UTC),
            citation=records[1].citation,
        ),
    ]
    assert [r.citation.line for r in records] == [2, 25]
    assert warnings == []


@pytest.mark.parametrize(
    ("value", "state"),
    [
        (0, TaskState.QUEUED),
        (1, TaskState.RUNNING),
        (2, TaskState.SUCCESS),
        (3, TaskState.ERROR),
        ("3", TaskState.ERROR),
        ("Success", TaskState.SUCCESS),
        ("Completed", TaskState.SUCCESS),
        ("error", TaskState.ERROR),
        ("45 %", TaskState.RUNNING),
        ("Operation timed out", TaskState.ERROR),
        ("Canceled", TaskState.ERROR),
        ("", TaskState.UNKNOWN),
        (7, TaskState.UNKNOWN),
        ({"value": "Running"}, TaskState.RUNNING),
    ],
)
def test_task_states(value, state):
    assert task_state(value)[0] == state


def test_events_joined_by_chain_id():
    records, warnings = read(EventExportReader(), "events.json", EVENTS_JSON)
    by_chain = {r.event_chain_id: r for r in records}
    assert set(by_chain) == {"5001", "6001", "3999"}  # the power-on event is not a migration
    failed = by_chain["5001"]
    assert failed.state == TaskState.ERROR
    assert failed.vm == "app-02"
    assert failed.source_host == "esx-01.corp.example" and failed.dest_host == "esx-02.corp.example"
    assert failed.start == T and failed.end == datetime(2024, 3, 14, 10, 4, 2, 100000, tzinfo=UTC)
    assert failed.error == SYSTEM_ERROR
    assert failed.datastore == "vvol-ds"
    assert (failed.task_id, failed.description_id) == ("task-12345", "VirtualMachine.relocate")
    assert failed.citation.line == 2 and failed.citation.text.startswith("Cannot migrate app-02")
    done = by_chain["6001"]
    assert (done.state, done.vm, done.source_host, done.dest_host, done.datastore) == (
        TaskState.SUCCESS,
        "test-vm-01",
        "10.184.167.152",
        "10.184.168.169",
        "sharedVmfs-0",
    )
    assert done.start is None and done.end == datetime(2021, 5, 5, 9, 26, 33, 252000, tzinfo=UTC)
    drs = by_chain["3999"]  # typed by $type; hosts only in the message (Host was cut by -Depth)
    assert (drs.state, drs.source_host, drs.dest_host) == (TaskState.SUCCESS, "esx-01", "esx-03")
    assert warnings == []


def test_event_begin_only_is_running_and_cloudevent_envelope():
    begin = dict(EVENTS[2], ChainId=7001)
    cloud = {
        "specversion": "1.0",
        "id": "x",
        "source": "https://vc01/sdk",
        "subject": "VmFailedMigrateEvent",
        "data": {
            "Key": 1,
            "ChainId": 7002,
            "CreatedTime": "2024-03-14T10:09:00Z",
            "Vm": {"Name": "app-07"},
            "Host": {"Name": "esx-01"},
            "DestHost": {"Name": "esx-05"},
            "Reason": {"LocalizedMessage": "A system error occurred."},
            "FullFormattedMessage": "Cannot migrate app-07",
        },
    }
    records, _ = read(EventExportReader(), "e.json", json.dumps([begin, cloud]))
    running, failed = records
    assert running.state == TaskState.RUNNING and running.start == T and running.end is None
    assert running.dest_host == "esx-02.corp.example"
    assert failed.state == TaskState.ERROR and failed.dest_host == "esx-05" and failed.vm == "app-07"
    assert failed.error == "A system error occurred."


def test_event_csv():
    csv_text = "\n".join(
        [
            "Description,Type,Date Time,Task,Target,User",
            '"Migration of virtual machine app-01 from esx-01, ds1 to esx-02, ds1 completed",Information,'
            "03/14/2024 10:03:40 AM,,app-01,root",
            '"Cannot migrate app-02 from esx-01, ds1 to esx-02, ds1 in DC1",Error,03/14/2024 10:04:02 AM,,'
            "app-02,root",
            "User root logged in,Information,03/14/2024 10:00:00 AM,,,root",
        ]
    )
    ef = from_bytes("events.csv", csv_text.encode())
    reader, _ = sniff(ef)
    assert reader is not None and reader.kind == EvidenceKind.VCENTER_EVENTS
    records = list(reader.read(ef))
    assert [(r.vm, r.state, r.source_host, r.dest_host) for r in records] == [
        ("app-01", TaskState.SUCCESS, "esx-01", "esx-02"),
        ("app-02", TaskState.ERROR, "esx-01", "esx-02"),
    ]
    assert records[1].end == datetime(2024, 3, 14, 10, 4, 2, tzinfo=UTC)


def test_damaged_task_and_event_exports_warn_and_keep_the_rest():
    cut_events = EVENTS_JSON[: EVENTS_JSON.index('"Key": 9001')]
    records, warnings = read(EventExportReader(), "events.json", cut_events)
    assert {r.event_chain_id for r in records} == {"5001", "6001"}
    assert len(warnings) == 1 and "cut off" in warnings[0].message

    wrong_types = json.dumps(
        [
            {
                "Name": "RelocateVM_Task",
                "State": [1, 2],
                "StartTime": {"x": 1},
                "ExtensionData": "VMware.Vim.Task",
            },
            {"Name": "RelocateVM_Task", "State": "Success", "StartTime": "not a date"},
            42,
        ]
    )
    records, warnings = read(TaskExportReader(), "t.json", wrong_types)
    assert [r.state for r in records] == [TaskState.UNKNOWN, TaskState.SUCCESS]
    assert records[1].start is None
    assert len(warnings) == 3  # two unusable dates and the number entry

    for data in ("", "\x00\xff" * 500, "Task Name,Target\n" + "x" * 200_000 + "\n"):
        for reader in (TaskExportReader(), EventExportReader()):
            records, warnings = read(reader, "t.csv", data)
            assert records == [] and warnings, (reader, data[:20])


@pytest.mark.parametrize(
    ("name", "data", "kind"),
    [
        ("tasks.csv", TASKS_CSV_US, EvidenceKind.VCENTER_TASKS),
        ("export.csv", TASKS_CSV_UK, EvidenceKind.VCENTER_TASKS),
        ("get-task.json", GET_TASK_JSON, EvidenceKind.VCENTER_TASKS),
        ("out.json", GET_TASK_JSON, EvidenceKind.VCENTER_TASKS),
        ("events.json", EVENTS_JSON, EvidenceKind.VCENTER_EVENTS),
        ("out.json", EVENTS_JSON, EvidenceKind.VCENTER_EVENTS),
    ],
)
def test_sniffing(name, data, kind):
    reader, confidence = sniff(from_bytes(name, data.encode()))
    assert reader is not None and reader.kind == kind and confidence >= 60


def test_ten_megabyte_line_in_csv_and_json_costs_only_its_entry():
    huge = "x" * (10 * 1024 * 1024)
    csv_text = TASKS_CSV_US.replace("Power On virtual machine,app-03", f"Power On virtual machine,{huge}")
    records, warnings = read(TaskExportReader(), "tasks.csv", csv_text)
    assert [r.vm for r in records] == ["app-01", "app-02", "app-04"]
    assert any(w.line == 4 and "CSV row" in w.message for w in warnings)

    events = [dict(EVENTS[1], FullFormattedMessage=huge), *EVENTS[2:]]
    records, _ = read(EventExportReader(), "events.json", json.dumps(events))
    assert {r.event_chain_id for r in records} == {"6001", "5001", "3999"}
    assert all(len(r.citation.text) <= 400 for r in records)


def test_get_vievent_export_csv_with_type_line():
    """Export-Csv flattens nested objects to their type names; the message still has the hosts."""
    header = '"SourceHost","Key","ChainId","CreatedTime","UserName","Host","Vm","Ds","FullFormattedMessage"'
    migrated = (
        '"VMware.Vim.HostEventArgument","9002","6001","5/5/2021 9:26:33 AM","VSPHERE.LOCAL\\Administrator",'
        '"VMware.Vim.HostEventArgument","VMware.Vim.VmEventArgument","VMware.Vim.DatastoreEventArgument",'
        '"Migration of virtual machine test-vm-01 from 10.184.167.152, sharedVmfs-0 to 10.184.168.169, '
        'sharedVmfs-0 completed"'
    )
    other = '"","9003","6002","5/5/2021 9:27:33 AM","root","","","","vm2 powered on"'
    text = "\n".join(["#TYPE VMware.Vim.VmMigratedEvent", header, migrated, other])
    ef = from_bytes("export.csv", text.encode())
    reader, confidence = sniff(ef)
    assert reader is not None and reader.kind == EvidenceKind.VCENTER_EVENTS and confidence >= 90
    (task,) = reader.read(ef)
    assert (task.vm, task.source_host, task.dest_host, task.state, task.event_chain_id) == (
        "test-vm-01",
        "10.184.167.152",
        "10.184.168.169",
        TaskState.SUCCESS,
        "6001",
    )
    assert task.end == datetime(2021, 5, 5, 9, 26, 33, tzinfo=UTC) and task.citation.line == 3


def test_exports_made_by_the_commands_vvolguard_suggests():
    """escalate/manifest.py tells users to run these exact Select-Object | Export-Csv pipelines."""
    events_csv = "\n".join(
        [
            '"CreatedTime","ChainId","UserName","FullFormattedMessage","Type"',
            '"3/14/2024 10:04:02 AM","5001","VSPHERE.LOCAL\\Administrator",'
            '"Cannot migrate app-02 from esx-01, vvol-ds to esx-02, vvol-ds in DC1","VmFailedMigrateEvent"',
            '"3/14/2024 10:02:11 AM","5001","VSPHERE.LOCAL\\Administrator",'
            '"Migrating app-02 from esx-01, vvol-ds to esx-02, vvol-ds in DC1","VmBeingHotMigratedEvent"',
            '"3/14/2024 10:01:00 AM","4999","root","app-03 on esx-01 is powered on","VmPoweredOnEvent"',
        ]
    )
    tasks_csv = "\n".join(
        [
            '"Id","Name","State","StartTime","FinishTime","ObjectId","Description"',
            '"Task-task-12345","RelocateVM_Task","Error","3/14/2024 10:02:11 AM","3/14/2024 10:04:02 AM",'
            '"VirtualMachine-vm-56","Relocate virtual machine"',
            '"Task-task-12347","PowerOnVM_Task","Success","3/14/2024 10:05:00 AM","3/14/2024 10:05:02 AM",'
            '"VirtualMachine-vm-58","Power On virtual machine"',
        ]
    )
    for name, data, kind in (
        ("out-1.csv", events_csv, EvidenceKind.VCENTER_EVENTS),
        ("out-2.csv", tasks_csv, EvidenceKind.VCENTER_TASKS),
    ):
        ef = from_bytes(name, data.encode())
        reader, _ = sniff(ef)
        assert reader is not None and reader.kind == kind
    (event_task,) = read(EventExportReader(), "vcenter-events.csv", events_csv)[0]
    assert (event_task.state, event_task.vm, event_task.source_host, event_task.dest_host) == (
        TaskState.ERROR,
        "app-02",
        "esx-01",
        "esx-02",
    )
    assert event_task.start == T and event_task.end == datetime(2024, 3, 14, 10, 4, 2, tzinfo=UTC)
    (task,) = read(TaskExportReader(), "vcenter-tasks.csv", tasks_csv)[0]
    assert (task.task_id, task.state, task.start, task.vm) == (
        "task-12345",
        TaskState.ERROR,
        T,
        "VirtualMachine-vm-56",
    )
