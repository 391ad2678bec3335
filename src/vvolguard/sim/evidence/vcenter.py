"""vCenter-side exports: Tasks CSV, ``Get-Task``, ``Get-VIEvent`` and ``Get-VasaProvider`` JSON.

* Tasks CSV (docs/evidence-formats.md §4.4) [RECONSTRUCTED there: no public sample]: the
  vSphere Client grid columns ``Task Name, Target, Status, Details, Initiator, Queued For,
  Start Time, Completion Time, Server``, en-US dates (``03/14/2024, 10:02:11 AM``), ``Completed``
  or the error text as status.
* ``Get-Task | ConvertTo-Json`` (§4.2): the PowerCLI Task properties (``Id`` ``Task-task-N``,
  ``State`` Success/Error, ``StartTime``…) plus the ``ExtensionData.Info`` TaskInfo fields that
  carry what the grid hides (``DescriptionId``, ``EventChainId``, ``Error.LocalizedMessage``).
  Enums are written as strings (``ConvertTo-Json -EnumsAsStrings``) and dates as ISO 8601 UTC.
* ``Get-VIEvent | ConvertTo-Json`` (§4.3): the verified VmMigratedEvent key set (``Key``,
  ``ChainId``, ``CreatedTime``, ``Vm{Name, Vm{Type, Value}}``, ``SourceHost`` …) and its verbatim
  message ``Migration of virtual machine <vm> from <src>, <ds> to <dst>, <ds> completed``. Each
  event also carries ``EventType`` (the .NET type name, as ``Select-Object *,
  @{N='EventType';E={$_.GetType().Name}}`` adds it) so a failed migration is recognisable.
* ``Get-VasaProvider | ConvertTo-Json`` (§4.1): the PowerCLI VasaProvider properties; certificate
  expiry and status come from the SMS ``VasaProviderInfo`` via ``ExtensionData``.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any

from vvolguard.sim.evidence.vvold import format_ts

CSV_COLUMNS = (
    "Task Name",
    "Target",
    "Status",
    "Details",
    "Initiator",
    "Queued For",
    "Start Time",
    "Completion Time",
    "Server",
)


@dataclass(frozen=True, slots=True)
class TaskRow:
    """One migration task as vCenter recorded it. ``state``: success / error / running / queued."""

    task_id: str  # task-1234
    vm: str
    vm_moref: str  # vm-42
    source: str
    dest: str
    state: str
    queued: datetime
    start: datetime | None
    end: datetime | None
    error: str | None = None
    fault: str | None = None  # vmodl.fault.SystemError
    fault_reason: str | None = None
    description_id: str = "Drm.ExecuteVMotionLRO"
    chain_id: int = 0
    initiator: str = "System"
    server: str = "vc01.vvol.lab"
    datastore: str = "vVol_DS"
    datacenter: str = "DC1"


def us_time(ts: datetime | None) -> str:
    """``03/14/2024, 10:02:11 AM``: the en-US vSphere Client rendering."""
    if ts is None:
        return ""
    hour = ts.hour % 12 or 12
    return f"{ts:%m/%d/%Y}, {hour:02d}:{ts:%M:%S} {'AM' if ts.hour < 12 else 'PM'}"


def iso(ts: datetime | None) -> str | None:
    return None if ts is None else format_ts(ts)


def _task_name(row: TaskRow) -> str:
    return (
        "Relocate virtual machine"
        if row.description_id == "VirtualMachine.relocate"
        else ("Migrate virtual machine")
    )


def _status(row: TaskRow) -> str:
    if row.state == "success":
        return "Completed"
    if row.state == "error":
        return row.error or "A general system error occurred."
    return row.state.capitalize()


def _csv_row(row: TaskRow, when: Callable[[datetime | None], str]) -> list[str]:
    """One task as the vSphere Client Tasks CSV shows it; ``when`` writes its times."""
    queued_ms = 0 if row.start is None else int((row.start - row.queued).total_seconds() * 1000)
    return [
        _task_name(row),
        row.vm,
        _status(row),
        f"Migrating {row.vm} from {row.source}, {row.datastore} to {row.dest}, {row.datastore}",
        row.initiator,
        f"{queued_ms} ms",
        when(row.start),
        when(row.end),
        row.server,
    ]


def tasks_csv(rows: list[TaskRow]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow(_csv_row(row, us_time))
    return out.getvalue()


def get_task_data(rows: list[TaskRow], user: str = "VSPHERE.LOCAL\\Administrator") -> list[dict[str, Any]]:
    data = []
    for row in rows:
        state = {"success": "Success", "error": "Error", "running": "Running"}.get(row.state, "Queued")
        error = None
        if row.state == "error":
            error = {
                "LocalizedMessage": row.error,
                "Fault": {
                    "TypeName": (row.fault or "vmodl.fault.SystemError").rsplit(".", 1)[-1],
                    "Reason": row.fault_reason,
                },
            }
        data.append(
            {
                "Id": f"Task-{row.task_id}",
                "Name": "MigrateVM_Task",
                "Description": _task_name(row),
                "State": state,
                "PercentComplete": 100 if row.end else 0,
                "IsCancelable": row.end is None,
                "StartTime": iso(row.start),
                "FinishTime": iso(row.end),
                "ObjectId": f"VirtualMachine-{row.vm_moref}",
                "Result": None,
                "Uid": f"/VIServer={user}@{row.server}:443/Task=Task-{row.task_id}/",
                "ExtensionData": {
                    "Info": {
                        "Key": row.task_id,
                        "Name": "MigrateVM_Task",
                        "DescriptionId": row.description_id,
                        "EntityName": row.vm,
                        "State": row.state,
                        "QueueTime": iso(row.queued),
                        "StartTime": iso(row.start),
                        "CompleteTime": iso(row.end),
                        "EventChainId": row.chain_id,
                        "Reason": {"TypeName": "TaskReasonSystem"}
                        if row.initiator == "System"
                        else {"TypeName": "TaskReasonUser", "UserName": row.initiator},
                        "Error": error,
                    }
                },
            }
        )
    return data


def get_task_json(rows: list[TaskRow]) -> str:
    return json.dumps(get_task_data(rows), indent=2) + "\n"


def _ref(kind: str, name: str, moref: str) -> dict[str, Any]:
    return {"Name": name, kind: {"Type": kind if kind != "Ds" else "Datastore", "Value": moref}}


def migration_events(rows: list[TaskRow], host_morefs: dict[str, str], key_start: int = 1000) -> list[dict]:
    """``VmBeingHotMigratedEvent`` at start, then ``VmMigratedEvent`` or ``VmFailedMigrateEvent``."""
    events: list[tuple[datetime, int, dict[str, Any]]] = []
    key = key_start
    for row in rows:
        if row.start is None:
            continue
        common = {
            "ChainId": row.chain_id,
            "UserName": "" if row.initiator == "System" else row.initiator,
            "Datacenter": {
                "Name": row.datacenter,
                "Datacenter": {"Type": "Datacenter", "Value": "datacenter-3"},
            },
            "ComputeResource": {
                "Name": "Cluster01",
                "ComputeResource": {"Type": "ClusterComputeResource", "Value": "domain-c8"},
            },
            "Vm": {"Name": row.vm, "Vm": {"Type": "VirtualMachine", "Value": row.vm_moref}},
            "Ds": {"Name": row.datastore, "Datastore": {"Type": "Datastore", "Value": "datastore-21"}},
            "Net": None,
            "Dvs": None,
            "ChangeTag": None,
            "Template": False,
        }
        src = {
            "Name": row.source,
            "Host": {"Type": "HostSystem", "Value": host_morefs.get(row.source, "host-0")},
        }
        dst = {"Name": row.dest, "Host": {"Type": "HostSystem", "Value": host_morefs.get(row.dest, "host-0")}}
        key += 1
        events.append(
            (
                row.start,
                key,
                {
                    "EventType": "VmBeingHotMigratedEvent",
                    "Key": key,
                    "CreatedTime": iso(row.start),
                    **common,
                    "Host": src,
                    "DestHost": dst,
                    "FullFormattedMessage": f"Migrating {row.vm} from {row.source}, {row.datastore} to "
                    f"{row.dest}, {row.datastore} in {row.datacenter}",
                },
            )
        )
        if row.end is None or row.state not in ("success", "error"):
            continue
        key += 1
        if row.state == "success":
            body = {
                "EventType": "VmMigratedEvent",
                "Host": dst,
                "SourceHost": src,
                "SourceDatacenter": common["Datacenter"],
                "SourceDatastore": common["Ds"],
                "FullFormattedMessage": f"Migration of virtual machine {row.vm} from {row.source}, "
                f"{row.datastore} to {row.dest}, {row.datastore} completed",
            }
        else:
            body = {
                "EventType": "VmFailedMigrateEvent",
                "Host": src,
                "DestHost": dst,
                "Reason": {"LocalizedMessage": row.error, "Fault": {"TypeName": "SystemError"}},
                "FullFormattedMessage": f"Cannot migrate {row.vm} from {row.source}, {row.datastore} to "
                f"{row.dest}, {row.datastore} in {row.datacenter}: {row.error}",
            }
        events.append((row.end, key, {**{"Key": key, "CreatedTime": iso(row.end)}, **common, **body}))
    events.sort(key=lambda item: (item[0], item[1]))
    # Get-VIEvent returns newest first.
    return [event for _, _, event in reversed(events)]


def get_vievent_json(rows: list[TaskRow], host_morefs: dict[str, str]) -> str:
    return json.dumps(migration_events(rows, host_morefs), indent=2) + "\n"


@dataclass(frozen=True, slots=True)
class VasaProviderExport:
    name: str
    url: str
    status: str  # online / offline / syncError ...
    provider_id: str
    last_sync: datetime | None
    certificate_expiry: datetime | None
    certificate_status: str  # valid / expirySoftLimitReached / expiryHardLimitReached / expired / invalid
    version: str = "2.0.0"
    vasa_version: str = "3.5"
    array_id: str = ""
    status_fault: str | None = None


def get_vasaprovider_json(rows: list[VasaProviderExport], server: str = "vc01.vvol.lab") -> str:
    data = [
        {
            "Name": row.name,
            "Id": f"VasaProvider-vasaprovider-{index + 3}",
            "Url": row.url,
            "Status": row.status,
            "LastSyncTime": iso(row.last_sync),
            "ProviderId": row.provider_id,
            "Namespace": "com.purestorage",
            "ProviderType": "VasaProvider",
            "VasaVersion": row.vasa_version,
            "Version": row.version,
            "Description": f"{row.name} VASA provider",
            "Uid": f"/VIServer=vsphere.local\\administrator@{server}:443/VasaProvider=VasaProvider-"
            f"vasaprovider-{index + 3}/",
            "ExtensionData": {
                "CertificateExpiryDate": iso(row.certificate_expiry),
                "CertificateStatus": row.certificate_status,
                "StatusFault": None if row.status_fault is None else {"LocalizedMessage": row.status_fault},
                "RelatedStorageArray": [
                    {"ArrayId": row.array_id, "Active": True, "Manageable": True, "Priority": 200}
                ],
            },
        }
        for index, row in enumerate(rows)
    ]
    return json.dumps(data, indent=2) + "\n"


# --------------------------------------------------------------------------------------------
# The shapes admins actually hand over (issue 10 C): Windows PowerShell 5.1 redirects, a vSphere
# Client export in the browser's local time, and the maintenance-mode task behind a DRS wave.
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HostOpRow:
    """The Enter maintenance mode task of a wave's source host (start: when DRS queued the wave)."""

    task_id: str
    host: str
    host_moref: str
    start: datetime
    end: datetime | None
    state: str  # success / error / running
    chain_id: int
    initiator: str = "VSPHERE.LOCAL\\Administrator"
    datacenter: str = "DC1"


def maintenance_row(rows: list[TaskRow], host: str | None, host_moref: str = "host-0") -> HostOpRow | None:
    """The maintenance-mode task implied by the migrations that left ``host`` (none without them).

    It starts a second before the first of them was queued and ends with the last; it fails when
    any of them failed, as vCenter's EnterMaintenanceMode_Task does when VMs stay behind.
    """
    wave = [r for r in rows if r.source == host]
    if not host or not wave:
        return None
    numbers = [int(r.task_id.rsplit("-", 1)[-1]) for r in rows if r.task_id.rsplit("-", 1)[-1].isdigit()]
    chains = [r.chain_id for r in rows]
    ends = [r.end for r in wave if r.end is not None]
    return HostOpRow(
        task_id=f"task-{min(numbers, default=1000) - 1}",
        host=host,
        host_moref=host_moref,
        start=min(r.queued for r in wave) - timedelta(seconds=1),
        end=max(ends) if len(ends) == len(wave) else None,
        state="running"
        if len(ends) < len(wave)
        else "error"
        if any(r.state == "error" for r in wave)
        else "success",
        chain_id=min(chains, default=100) - 1,
    )


def ms_date(ts: datetime | None) -> str | None:
    """``/Date(1710411722000)/``: a DateTime as Windows PowerShell 5.1's ConvertTo-Json writes it
    (after JSON's optional ``\\/`` escape, which :func:`ps51_json` adds back)."""
    return None if ts is None else f"/Date({int(ts.timestamp() * 1000)})/"


def ps51_json(data: Any) -> bytes:
    """``ConvertTo-Json ... > file.json`` in Windows PowerShell 5.1: four-space indentation with two
    spaces after each colon, dates as ``"\\/Date(ms)\\/"``, CRLF, UTF-16LE with a BOM."""
    text = json.dumps(data, indent=4, separators=(",", ":  "), ensure_ascii=False)
    text = text.replace('"/Date(', '"\\/Date(').replace(')/"', ')\\/"')
    return b"\xff\xfe" + (text.replace("\n", "\r\n") + "\r\n").encode("utf-16-le")


def get_task_ps51_data(rows: list[TaskRow], maintenance: HostOpRow | None = None) -> list[dict[str, Any]]:
    """``Get-Task | Select-Object Id, Name, Description, State, StartTime, FinishTime,
    @{N='Entity';E={$_.ExtensionData.Info.EntityName}}, @{N='Error';E={...Error.LocalizedMessage}},
    @{N='DescriptionId';...}, @{N='EventChainId';...}``: calculated properties flatten what the
    default ``-Depth 2`` would cut off. State is written as text (``"$($_.State)"``): the numeric
    values of PowerCLI's TaskState enum are not documented, so the simulator does not invent them."""
    out: list[dict[str, Any]] = []
    if maintenance is not None:
        out.append(
            {
                "Id": f"Task-{maintenance.task_id}",
                "Name": "EnterMaintenanceMode_Task",
                "Description": "Enter maintenance mode",
                "State": maintenance.state.capitalize(),
                "StartTime": ms_date(maintenance.start),
                "FinishTime": ms_date(maintenance.end),
                "Entity": maintenance.host,
                "Error": None,
                "DescriptionId": "HostSystem.enterMaintenanceMode",
                "EventChainId": maintenance.chain_id,
            }
        )
    for row in rows:
        out.append(
            {
                "Id": f"Task-{row.task_id}",
                "Name": "MigrateVM_Task",
                "Description": _task_name(row),
                "State": {"success": "Success", "error": "Error", "running": "Running"}.get(
                    row.state, "Queued"
                ),
                "StartTime": ms_date(row.start),
                "FinishTime": ms_date(row.end),
                "Entity": row.vm,
                "Error": row.error if row.state == "error" else None,
                "DescriptionId": row.description_id,
                "EventChainId": row.chain_id,
            }
        )
    return out


def get_task_ps51(rows: list[TaskRow], maintenance: HostOpRow | None = None) -> bytes:
    return ps51_json(get_task_ps51_data(rows, maintenance))


def _maintenance_events(op: HostOpRow, key: int) -> list[tuple[datetime, int, dict[str, Any]]]:
    """TaskEvent, EnteringMaintenanceModeEvent and (when done) EnteredMaintenanceModeEvent, with
    the messages of vCenter's event catalogue."""
    host = {"Name": op.host, "Host": {"Type": "HostSystem", "Value": op.host_moref}}
    dc = {"Name": op.datacenter, "Datacenter": {"Type": "Datacenter", "Value": "datacenter-3"}}
    common = {"ChainId": op.chain_id, "UserName": op.initiator, "Datacenter": dc, "Host": host}
    events = [
        (
            op.start,
            key + 1,
            {
                "Key": key + 1,
                "CreatedTime": iso(op.start),
                **common,
                "Info": {
                    "Key": op.task_id,
                    "Name": "EnterMaintenanceMode_Task",
                    "DescriptionId": "HostSystem.enterMaintenanceMode",
                    "EntityName": op.host,
                    "State": "queued",
                    "EventChainId": op.chain_id,
                },
                "FullFormattedMessage": "Task: Enter maintenance mode",
            },
        ),
        (
            op.start,
            key + 2,
            {
                "Key": key + 2,
                "CreatedTime": iso(op.start),
                **common,
                "FullFormattedMessage": f"Host {op.host} in {op.datacenter} "
                "has started to enter maintenance mode",
            },
        ),
    ]
    if op.end is not None and op.state == "success":
        events.append(
            (
                op.end,
                key + 3,
                {
                    "Key": key + 3,
                    "CreatedTime": iso(op.end),
                    **common,
                    "FullFormattedMessage": f"Host {op.host} in {op.datacenter} has entered maintenance mode",
                },
            )
        )
    return events


def get_vievent_ps51(
    rows: list[TaskRow], host_morefs: dict[str, str], maintenance: HostOpRow | None = None
) -> bytes:
    """``Get-VIEvent ... | ConvertTo-Json > events.json`` from Windows PowerShell 5.1: newest first,
    dates as ``\\/Date(ms)\\/``, and no ``EventType`` column (Get-VIEvent does not add one), so
    readers must tell the event classes apart by their fields and messages."""
    events: list[tuple[datetime, int, dict[str, Any]]] = []
    for event in migration_events(rows, host_morefs):
        body = {k: v for k, v in event.items() if k != "EventType"}
        when = datetime.fromisoformat(body["CreatedTime"])
        events.append((when, int(body["Key"]), body))
    if maintenance is not None:
        events += _maintenance_events(maintenance, max((k for _, k, _ in events), default=1000) + 1)
    events.sort(key=lambda item: (item[0], item[1]), reverse=True)
    out = []
    for when, _, body in events:
        out.append({**body, "CreatedTime": ms_date(when)})
    return ps51_json(out)


def local_time(ts: datetime | None, zone: tzinfo) -> str:
    """``14.03.2026, 11:02:11``: a German-locale browser's rendering, in the browser's own zone."""
    return "" if ts is None else ts.astimezone(zone).strftime("%d.%m.%Y, %H:%M:%S")


def tasks_csv_local(rows: list[TaskRow], zone: tzinfo, maintenance: HostOpRow | None = None) -> bytes:
    """The vSphere Client Tasks export from a browser in another zone and locale: the grid's
    English column names, day-first 24-hour times in ``zone`` without an offset, failures as
    their error text in Status, and the Enter maintenance mode task of the wave's host. A reader
    without ``--tz`` can only take these times as UTC (and must say so)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    if maintenance is not None:
        writer.writerow(
            [
                "Enter maintenance mode",
                maintenance.host,
                "Completed" if maintenance.state == "success" else maintenance.state.capitalize(),
                "",
                maintenance.initiator,
                "2 ms",
                local_time(maintenance.start, zone),
                local_time(maintenance.end, zone),
                "vc01.vvol.lab",
            ]
        )
    for row in rows:
        writer.writerow(_csv_row(row, lambda when: local_time(when, zone)))
    return ("\ufeff" + out.getvalue()).encode("utf-8")
