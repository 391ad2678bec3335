"""vCenter-side exports: Tasks CSV, ``Get-Task``, ``Get-VIEvent`` and ``Get-VasaProvider`` JSON.

* Tasks CSV (§4.4) [RECONSTRUCTED in the reference: no public sample]: the vSphere Client grid
  columns ``Task Name, Target, Status, Details, Initiator, Queued For, Start Time, Completion Time,
  Server``, en-US dates (``03/14/2024, 10:02:11 AM``), ``Completed`` or the error text as status.
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
from dataclasses import dataclass
from datetime import datetime
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


def tasks_csv(rows: list[TaskRow]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        queued_ms = 0 if row.start is None else int((row.start - row.queued).total_seconds() * 1000)
        writer.writerow(
            [
                _task_name(row),
                row.vm,
                _status(row),
                f"Migrating {row.vm} from {row.source}, {row.datastore} to {row.dest}, {row.datastore}",
                row.initiator,
                f"{queued_ms} ms",
                us_time(row.start),
                us_time(row.end),
                row.server,
            ]
        )
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
