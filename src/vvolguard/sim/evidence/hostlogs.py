"""hostd and vmkernel lines on the incident timeline (docs/evidence-formats.md §1.11).

* hostd uses the same Vmacore framing as vvold: ``<ts> info hostd[<pid>] [Originator@6876
  sub=<sub> opID=<id>] <msg>`` with ``--> `` continuations (7.0), or ``<ts> In(166)
  Hostd[<pid>]: [Originator@6876 sub=<sub> opID=<id>] <msg>`` (8.0, hostd keeps ``opID=``).
* The vMotion failure in hostd is KB 307365's ``[MIGRATE] (<id>) vMotion failed:
  vmodl.fault.SystemError`` with the fault body as continuation lines [VERBATIM message, body
  layout RECONSTRUCTED after the vpxd ``--> (vim.fault.InvalidLogin) {`` sample].
* vmkernel writes ``<ts> cpu<n>:<world>)<msg>`` (7.0); in 8.0 the syslog framing adds
  ``In(182) vmkernel:`` / ``Wa(180) vmkwarning:`` [RECONSTRUCTED: the framing follows the 8.0
  ABNF; the PRI values assume facility local6]. The switchover line is KB 307365's
  ``WARNING: Migrate: 296: <id> D: Failed: Maximum switchover time for migration
  exceeded(0xbad0109)`` [VERBATIM].
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from vvolguard.sim.evidence.vvold import Shape, format_ts

_ESXI8_HOSTD_LEVEL = {"error": "Er(163)", "warning": "Wa(164)", "info": "In(166)", "verbose": "Db(167)"}


@dataclass(frozen=True, slots=True)
class HostdRecord:
    ts: datetime
    level: str
    sub: str
    message: str
    more: tuple[str, ...] = ()
    opid: str | None = None
    user: str | None = None


def format_hostd(shape: Shape, record: HostdRecord, pid: int) -> str:
    ts = format_ts(record.ts)
    meta = f"Originator@6876 sub={record.sub}" + (f" opID={record.opid}" if record.opid else "")
    if record.user:
        meta += f" user={record.user}"
    if shape == "esxi7":
        out = [f"{ts} {record.level} hostd[{pid}] [{meta}] {record.message}"]
        out.extend(f"--> {extra}" for extra in record.more)
    else:
        level = _ESXI8_HOSTD_LEVEL.get(record.level, "In(166)")
        out = [f"{ts} {level} Hostd[{pid}]: [{meta}] {record.message}"]
        out.extend(f"{ts} {level}+ Hostd[{pid}]: --> {extra}" for extra in record.more)
    return "\n".join(out) + "\n"


def vmotion_failed_hostd(
    ts: datetime, migrate_id: str, reason: str, opid: str | None, side: str = "Src"
) -> HostdRecord:
    """KB 307365's hostd failure line, with the SystemError fault body (``side``: Src or Dst)."""
    return HostdRecord(
        ts=ts,
        level="error",
        sub=f"Vcsvc.VMotion{side}",
        message=f"[MIGRATE] ({migrate_id}) vMotion failed: vmodl.fault.SystemError",
        more=(
            "(vmodl.fault.SystemError) {",
            "   faultCause = (vmodl.MethodFault) null,",
            "   faultMessage = <unset>,",
            f'   reason = "{reason}"',
            f'   msg = "A general system error occurred: {reason}"',
            "}",
        ),
        opid=opid,
    )


def task_line(ts: datetime, task: str, state: str, opid: str | None, user: str) -> HostdRecord:
    """``Task Created : <task>`` / ``Task Completed : <task> Status <state>`` (§1.11)."""
    message = f"Task Created : {task}" if state == "created" else f"Task Completed : {task} Status {state}"
    return HostdRecord(ts=ts, level="info", sub="Vimsvc.TaskManager", message=message, opid=opid, user=user)


@dataclass(frozen=True, slots=True)
class VmkernelRecord:
    ts: datetime
    cpu: int
    world: int
    message: str  # "WARNING: ..." for warnings, as vmkernel prints them
    warning: bool = False


def format_vmkernel(shape: Shape, record: VmkernelRecord, log: str = "vmkernel") -> str:
    """One vmkernel (``log="vmkernel"``) or vmkwarning (``log="vmkwarning"``) line."""
    ts = format_ts(record.ts)
    body = f"cpu{record.cpu}:{record.world}){record.message}"
    if shape == "esxi7":
        return f"{ts} {body}\n"
    level = "Wa(180)" if record.warning else "In(182)"
    return f"{ts} {level} {log}: {body}\n"


def switchover_exceeded(ts: datetime, cpu: int, world: int, migrate_id: str) -> VmkernelRecord:
    """[VERBATIM, KB 307365] with the masked ``xxx`` replaced by the migration id."""
    return VmkernelRecord(
        ts,
        cpu,
        world,
        f"WARNING: Migrate: 296: {migrate_id} D: Failed: Maximum switchover time for migration "
        "exceeded(0xbad0109)",
        warning=True,
    )


def vvol_not_found(ts: datetime, cpu: int, world: int, vvol_id: str) -> VmkernelRecord:
    """``Could not find VVol`` (aakittel/ESXinfo token) [line layout RECONSTRUCTED]."""
    return VmkernelRecord(ts, cpu, world, f"WARNING: VVol: 2131: Could not find VVol {vvol_id}", warning=True)


def pe_unreachable(ts: datetime, cpu: int, world: int, pe_id: str, container: str) -> VmkernelRecord:
    """A bind whose Protocol Endpoint the host cannot see [RECONSTRUCTED; ``unreachpe`` after the
    ``badpath.unreachpe`` vob named in records.HostEventKind]."""
    return VmkernelRecord(
        ts,
        cpu,
        world,
        f"WARNING: VVol: 1814: Protocol Endpoint {pe_id} for container {container} is not accessible "
        "(badpath.unreachpe)",
        warning=True,
    )


def catalog_sync_task(ts: datetime, task_number: int, opid: str, completed: bool) -> HostdRecord:
    """Routine SPS catalog sync seen in every vVol-era hostd log (shape from the 7.0.3 line of
    §1.11: ``Task Completed : haTask--vim.vslm.host.CatalogSyncManager.queryCatalogChange-N``)."""
    task = f"haTask--vim.vslm.host.CatalogSyncManager.queryCatalogChange-{task_number}"
    return HostdRecord(
        ts=ts,
        level="info",
        sub="Vimsvc.TaskManager",
        message=f"Task Completed : {task} Status success" if completed else f"Task Created : {task}",
        opid=opid,
        user="vpxuser:VSPHERE.LOCAL\\vpxd-extension-b37a7345-2d6e-4a4f-9d2b-7c1f0e5a1f21",
    )


def nmp_throttle(ts: datetime, cpu: int, world: int, device: str) -> VmkernelRecord:
    """A routine NMP log-throttling line (vmkernel is never silent) [RECONSTRUCTED]."""
    return VmkernelRecord(
        ts,
        cpu,
        world,
        f"NMP: nmp_ResetDeviceLogThrottling:3782: last error status from device {device} repeated 1 times",
    )


def migrate_info(ts: datetime, cpu: int, world: int, migrate_id: str, text: str) -> VmkernelRecord:
    """An ordinary ``Migrate:`` progress line (noise that real logs carry)."""
    return VmkernelRecord(ts, cpu, world, f"Migrate: {migrate_id}: {text}")
