"""A lab scenario: the simulator's run of an incident, moved to just before now, as the lab serves it.

The VASA simulator (:mod:`vvolguard.sim`) runs the scenario; this module turns its world into
(a) the JSON spec the Go vCenter simulator loads (``-lab``: inventory, task and event history,
SMS providers, vVol storage, fault knobs; field names in ``drain/vcsim/lab.go``) and (b) each
host's files, which the SSH endpoint serves (``var/run/log/vvold.log`` and its rotated files,
the ``esxcli storage vvol ... list`` outputs). Both come from the same writers ``simulate`` uses
for its evidence, so what the lab serves is what a collected bundle of that incident would hold.

The incident is placed so that it ends a few minutes before the lab starts: ``collect --since
2h`` covers it, and migrations started against the lab afterwards continue its vvold.log.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from vvolguard.sim.evidence import certs
from vvolguard.sim.evidence.vcenter import TaskRow, maintenance_row, migration_events
from vvolguard.sim.output import host_files, task_rows
from vvolguard.sim.run import SimulationResult, simulate
from vvolguard.sim.scenarios import SCENARIOS
from vvolguard.sim.world import DEFAULT_T0

#: How long before the lab starts the incident's simulated time ends.
ENDED_BEFORE_START = timedelta(minutes=5)
#: ``healthy`` simulates a whole day by default; the lab needs the last two hours of it.
HEALTHY_SPAN_S = 7200.0
#: Hosts and VMs of every lab (the scenario's defaults for ``simulate``).
LAB_HOSTS = 4
LAB_VMS = 48


@dataclass
class LabScenario:
    """What a lab serves for one scenario (``spec``: the Go simulator's ``-lab`` document)."""

    name: str
    expected_class: str
    hosts: list[str]
    spec: dict[str, Any]
    host_files: dict[str, dict[str, bytes]]  # host -> path under its root -> bytes
    window: tuple[datetime, datetime]  # the incident's simulated time span
    ceiling: int  # VASA operations in flight the provider sustains for later migrations (0: any)
    busy: int  # operations other work keeps in flight (they count against the ceiling)
    provider_down: bool  # later relocations fail: the provider is offline / untrusted
    provider_url: str = ""
    provider_listening: bool = True  # False: the provider service is down (nothing answers)
    provider_cert_pem: bytes = b""
    provider_key_pem: bytes = b""
    notes: list[str] = field(default_factory=list)


def _run(scenario: str, variant: str | None, seed: int, t0: datetime) -> SimulationResult:
    duration = HEALTHY_SPAN_S if scenario == "healthy" else None
    return simulate(
        scenario=scenario,
        variant=variant,
        hosts=LAB_HOSTS,
        vms=LAB_VMS,
        seed=seed,
        t0=t0,
        duration_s=duration,
    )


def _iso(ts: datetime | None) -> str | None:
    return None if ts is None else ts.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _fault_name(fault: str | None) -> str:
    """``vmodl.fault.SystemError`` -> ``SystemError`` (the vim type name the Go side builds)."""
    return (fault or "SystemError").rsplit(".", 1)[-1]


def _tasks(rows: list[TaskRow]) -> list[dict[str, Any]]:
    return [
        {
            "key": r.task_id,
            "name": "RelocateVM_Task",
            "descriptionId": r.description_id,
            "entityType": "VirtualMachine",
            "entity": r.vm,
            "state": r.state,
            "queued": _iso(r.queued),
            "started": _iso(r.start),
            "completed": _iso(r.end),
            "user": r.initiator,
            "chainId": r.chain_id,
            "error": None
            if r.state != "error"
            else {"type": _fault_name(r.fault), "message": r.error or "", "reason": r.fault_reason or ""},
            "hosts": [h for h in (r.source, r.dest) if h],
        }
        for r in rows
    ]


def _events(rows: list[TaskRow], morefs: dict[str, str], maintenance: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for e in migration_events(rows, morefs):
        kind = e["EventType"]
        reason = None
        if kind == "VmFailedMigrateEvent":
            row = next((r for r in rows if r.chain_id == e.get("ChainId")), None)
            reason = {
                "type": _fault_name(row.fault if row else None),
                "message": (row.error if row else None) or "A system error occurred.",
                "reason": (row.fault_reason if row else None) or "",
            }
        out.append(
            {
                "type": kind,
                "created": e["CreatedTime"],
                "user": e.get("UserName") or "",
                "chainId": e.get("ChainId") or 0,
                "vm": (e.get("Vm") or {}).get("Name", ""),
                "host": (e.get("Host") or {}).get("Name", ""),
                "sourceHost": (e.get("SourceHost") or {}).get("Name", ""),
                "destHost": (e.get("DestHost") or {}).get("Name", ""),
                "datastore": (e.get("Ds") or {}).get("Name", ""),
                "message": e.get("FullFormattedMessage", ""),
                "reason": reason,
            }
        )
    if maintenance is not None:
        common = {"user": maintenance.initiator, "chainId": maintenance.chain_id, "host": maintenance.host}
        out.append(
            {
                **common,
                "type": "TaskEvent",
                "created": _iso(maintenance.start),
                "task": maintenance.task_id,
                "message": "Task: Enter maintenance mode",
            }
        )
        out.append(
            {
                **common,
                "type": "EnteringMaintenanceModeEvent",
                "created": _iso(maintenance.start),
                "message": f"Host {maintenance.host} in {maintenance.datacenter} has started to enter "
                "maintenance mode",
            }
        )
        if maintenance.end is not None and maintenance.state == "success":
            out.append(
                {
                    **common,
                    "type": "EnteredMaintenanceModeEvent",
                    "created": _iso(maintenance.end),
                    "message": f"Host {maintenance.host} in {maintenance.datacenter} has entered "
                    "maintenance mode",
                }
            )
    out.sort(key=lambda ev: ev["created"])
    return out


def _maintenance_task(op: Any) -> dict[str, Any]:
    return {
        "key": op.task_id,
        "name": "EnterMaintenanceMode_Task",
        "descriptionId": "HostSystem.enterMaintenanceMode",
        "entityType": "HostSystem",
        "entity": op.host,
        "state": op.state,
        "queued": _iso(op.start),
        "started": _iso(op.start),
        "completed": _iso(op.end),
        "user": op.initiator,
        "chainId": op.chain_id,
        # vCenter ends the task in error when VMs could not be evacuated.
        "error": None
        if op.state != "error"
        else {"type": "Timedout", "message": "Operation timed out.", "reason": ""},
        "hosts": [op.host],
    }


def build_scenario(
    scenario: str, seed: int = 1, now: datetime | None = None, variant: str | None = None
) -> LabScenario:
    """Run ``scenario`` (its ``variant``, e.g. certificate ``near-expiry``) so that it ends
    :data:`ENDED_BEFORE_START` before ``now``."""
    spec_info = SCENARIOS.get(scenario)
    if spec_info is None:
        raise KeyError(f"unknown scenario {scenario!r}; known: {', '.join(SCENARIOS)}")
    if variant is not None and variant not in spec_info.variants:
        known = ", ".join(spec_info.variants) or "none"
        raise KeyError(f"scenario {scenario} has no variant {variant!r}; its variants: {known}")
    now = now or datetime.now(UTC)
    # The simulated span does not depend on t0, so a first run measures it and a second places it.
    span = _run(scenario, variant, seed, DEFAULT_T0).simulated_s
    t0 = (now - ENDED_BEFORE_START - timedelta(seconds=span)).replace(microsecond=0)
    result = _run(scenario, variant, seed, t0)
    world, plan = result.world, result.plan
    assert world is not None and plan is not None
    prof = world.profile
    morefs = {h: world.host_info[h].moref for h in world.hosts}
    rows = task_rows(world)
    source = plan.source_host or world.hosts[0]
    maintenance = maintenance_row(rows, plan.source_host, morefs.get(source, "host-0"))

    pem = certs.provider_certificate(
        plan.cert_variant, prof.vp_host, prof.vp_ip, world.t0, seed, not_after=plan.cert_not_after
    )
    expiry = x509.load_pem_x509_certificate(pem).not_valid_after_utc
    end = world.env.now
    last_sync = (
        world.ts(end)
        if plan.vcenter_status == "online"
        else world.ts(min([t for t, _ in plan.events] or [0]))
    )
    # SMS says why a provider is not online with a fault; its message is what admins read.
    status_fault = None
    if plan.status_fault:
        status_fault = {"type": "SystemError", "message": plan.status_fault, "reason": plan.status_fault}

    tasks = _tasks(rows)
    if maintenance is not None:
        tasks.insert(0, _maintenance_task(maintenance))
    hosts = [
        {
            "name": h,
            "vvoldPid": world.host_info[h].vvold_pid,
            "peState": plan.pe_state.get(h, "ok"),
            "datastore": prof.container_name,
        }
        for h in world.hosts
    ]
    spec: dict[str, Any] = {
        "hosts": hosts,
        "vms": [{"name": vm.name, "host": vm.host, "poweredOn": True} for vm in world.vms.values()],
        "vvold": {
            "shape": world.shape,
            "provider": prof.vp_name,
            "url": prof.url,
            "container": prof.container_uuid,
        },
        "tasks": tasks,
        "events": _events(rows, morefs, maintenance),
        "providers": [
            {
                "uid": f"{prof.array_id}:vp",
                "name": prof.vp_name,
                "url": prof.url,
                "version": prof.vp_version,
                "vasaVersion": "3.5",
                "status": plan.vcenter_status,
                "statusFault": status_fault,
                "certificate": pem.decode(),
                "certificateExpiryDate": _iso(expiry),
                "certificateStatus": plan.cert_status,
                "lastSyncTime": _iso(last_sync),
                "providerId": f"{prof.array_id}:vp",
                "arrays": [
                    {
                        "id": prof.array_id,
                        "name": prof.vp_host.split(".", 1)[0],
                        "vendorId": "PURE",
                        "modelId": "FlashArray",
                        "firmware": prof.vp_version,
                        "active": True,
                        "priority": 200,
                    }
                ],
            }
        ],
        "storage": {
            "datastore": prof.container_name,
            "url": f"ds:///vmfs/volumes/{prof.container_uuid}/",
            "containerId": prof.container_uuid,
            "capacity": 100 * 2**40,
            "free": 62 * 2**40,
            "peId": prof.pe_id,
            "arrayId": prof.array_id,
        },
        "knobs": {},
    }
    files = {host: host_files(world, plan, host) for host in world.hosts}
    key = certs.provider_private_key(plan.cert_variant, prof.vp_host, seed)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    down = plan.vcenter_status != "online"
    # After a saturation incident the provider is still nearly full with other work: one more
    # migration fits, a batch does not (where validate's batch layer must stop).
    ceiling = prof.session_connections if scenario == "saturation" else 0
    return LabScenario(
        name=scenario,
        expected_class=plan.expected_class,
        hosts=list(world.hosts),
        spec=spec,
        host_files=files,
        window=(world.ts(0), world.ts(end)),
        ceiling=ceiling,
        busy=max(0, ceiling - 1),
        provider_down=down,
        provider_url=prof.url,
        provider_listening=plan.variant != "offline",
        provider_cert_pem=pem,
        provider_key_pem=key_pem,
    )
