"""pyVmomi data objects as PowerCLI's ``ConvertTo-Json`` writes them (docs/evidence-formats.md §4).

Why this shape: the readers already know ``Get-Task``, ``Get-VIEvent`` and ``Get-VasaProvider``
exports, and an admin or a vendor recognises them. Keys are PascalCase, dates ISO 8601 UTC,
managed-object references ``{"Type", "Value"}``, and an entity argument of an event
``{"Name", "<Kind>": {"Type", "Value"}}`` as in the VMware Event Broker sample (§4.3).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

#: Depth past which nested data objects are written as their type name, as ConvertTo-Json does.
MAX_DEPTH = 5


def pascal(name: str) -> str:
    return name[:1].upper() + name[1:]


def type_name(obj: Any) -> str:
    """``VmMigratedEvent`` for a ``vim.event.VmMigratedEvent`` (the class, as ``EventType``)."""
    return type(obj).__name__.rsplit(".", 1)[-1]


def iso(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _is_moref(value: Any) -> bool:
    return hasattr(value, "_moId") and hasattr(value, "_wsdlName")


def to_plain(value: Any, depth: int = 0) -> Any:
    """A pyVmomi value as JSON-ready data: data objects to dicts of PascalCase keys, references to
    ``{"Type", "Value"}``, enums and strings as text, dates as ISO. Unset properties are left out
    (``ConvertTo-Json`` writes ``null``; the readers treat both alike)."""
    from pyVmomi import VmomiSupport

    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, bytes):
        return None  # binary blobs (certificates as DER) are written as files, not inline
    if _is_moref(value):
        return {"Type": value._wsdlName, "Value": value._moId}
    if isinstance(value, list | tuple):
        return [to_plain(v, depth + 1) for v in value]
    if isinstance(value, VmomiSupport.DataObject):
        if depth >= MAX_DEPTH:
            return f"VMware.Vim.{type_name(value)}"
        out: dict[str, Any] = {}
        for prop in value._GetPropertyList():
            if prop.name in ("dynamicType", "dynamicProperty"):
                continue
            item = getattr(value, prop.name, None)
            if item is None or (isinstance(item, list) and not item):
                continue
            out[pascal(prop.name)] = to_plain(item, depth + 1)
        return out
    return str(value)


def entity_argument(arg: Any, kind: str) -> dict[str, Any] | None:
    """An event's ``host``/``vm``/``ds`` argument: ``{"Name", "<Kind>": {"Type", "Value"}}``."""
    if arg is None:
        return None
    ref = getattr(arg, kind[:1].lower() + kind[1:], None)
    out: dict[str, Any] = {"Name": getattr(arg, "name", None)}
    if ref is not None and _is_moref(ref):
        out[kind] = {"Type": ref._wsdlName, "Value": ref._moId}
    return out


_ARGUMENTS = {
    "datacenter": "Datacenter",
    "computeResource": "ComputeResource",
    "host": "Host",
    "vm": "Vm",
    "ds": "Datastore",
    "destHost": "Host",
    "sourceHost": "Host",
    "destDatacenter": "Datacenter",
    "sourceDatacenter": "Datacenter",
    "destDatastore": "Datastore",
    "sourceDatastore": "Datastore",
}


def fault_json(fault: Any) -> dict[str, Any]:
    """A fault as PowerCLI shows a LocalizedMethodFault: ``{"LocalizedMessage", "Fault": {"TypeName"}}``.

    pyVmomi hands ``TaskInfo.error`` and an event's ``reason`` over as the MethodFault itself
    (its ``msg`` is the localized message); an older binding may still wrap it."""
    inner = getattr(fault, "fault", None)
    if inner is not None and hasattr(fault, "localizedMessage"):  # a LocalizedMethodFault
        return {
            "LocalizedMessage": fault.localizedMessage or getattr(inner, "msg", None),
            "Fault": {"TypeName": type_name(inner)},
        }
    message = getattr(fault, "msg", None) or getattr(fault, "localizedMessage", None)
    if not message and getattr(fault, "faultMessage", None):
        message = "; ".join(m.message for m in fault.faultMessage if getattr(m, "message", None))
    return {"LocalizedMessage": message or type_name(fault), "Fault": {"TypeName": type_name(fault)}}


def event_json(event: Any) -> dict[str, Any]:
    """One ``vim.event.Event`` as ``Get-VIEvent | Select *, EventType | ConvertTo-Json`` writes it."""
    out: dict[str, Any] = {"EventType": type_name(event)}
    for prop in event._GetPropertyList():
        name = prop.name
        if name in ("dynamicType", "dynamicProperty"):
            continue
        value = getattr(event, name, None)
        if value is None:
            continue
        if name in _ARGUMENTS:
            out[pascal(name)] = entity_argument(value, _ARGUMENTS[name])
        elif name == "reason" and (hasattr(value, "msg") or hasattr(value, "localizedMessage")):
            out["Reason"] = fault_json(value)
        else:
            out[pascal(name)] = to_plain(value, 1)
    return out


def method_name(value: Any) -> str | None:
    """``TaskInfo.name`` is a pyVmomi ManagedMethod: its WSDL name (``RelocateVM_Task``) is what
    ``Get-Task`` shows as ``Name``."""
    if value is None or isinstance(value, str):
        return value
    info = getattr(value, "info", None)
    return str(getattr(info, "wsdlName", None) or getattr(info, "name", None) or value)


def task_json(info: Any, server: str) -> dict[str, Any]:
    """One ``vim.TaskInfo`` as ``Get-Task | ConvertTo-Json`` (the PowerCLI Task properties plus
    ``ExtensionData.Info``, where the descriptionId, chain and error live)."""
    state = str(info.state)
    error = fault_json(info.error) if info.error is not None else None
    reason = info.reason
    reason_json: dict[str, Any] | None = None
    if reason is not None:
        reason_json = {"TypeName": type_name(reason)}
        if getattr(reason, "userName", None):
            reason_json["UserName"] = reason.userName
    entity = info.entity
    finished = info.completeTime is not None
    name = method_name(info.name)
    return {
        "Id": f"Task-{info.key}",
        "Name": name,
        "Description": info.descriptionId,
        "State": {"success": "Success", "error": "Error", "running": "Running"}.get(state, "Queued"),
        "PercentComplete": 100 if finished else (info.progress or 0),
        "IsCancelable": bool(info.cancelable),
        "StartTime": iso(info.startTime) if info.startTime else None,
        "FinishTime": iso(info.completeTime) if info.completeTime else None,
        "ObjectId": f"{entity._wsdlName}-{entity._moId}" if entity is not None else None,
        "Result": None,
        "Uid": f"/VIServer={server}:443/Task=Task-{info.key}/",
        "ExtensionData": {
            "Info": {
                "Key": info.key,
                "Name": name,
                "DescriptionId": info.descriptionId,
                "Entity": to_plain(entity),
                "EntityName": info.entityName,
                "State": state,
                "QueueTime": iso(info.queueTime) if info.queueTime else None,
                "StartTime": iso(info.startTime) if info.startTime else None,
                "CompleteTime": iso(info.completeTime) if info.completeTime else None,
                "EventChainId": info.eventChainId,
                "Reason": reason_json,
                "Error": error,
            }
        },
    }
