"""Turn a finished simulation into evidence files, exactly as real collection would give them.

Layout under the output folder::

    esx-<host>-<YYYY-MM-DD>--<HH.MM>-<pid>/   one vm-support bundle per host (folder form)
        var/run/log/vvold.log, vvold.N.gz, hostd.log, vmkernel.log, vmkwarning.log
        commands/localcli_storage-vvol-*-list.txt, commands/localcli_system-hostname-get.txt
        json/localcli_storage-vvol-*-list.json
    archives/esx-....tgz                        the same bundles as vm-support .tgz files
    vcenter/tasks.csv                           vSphere Client Tasks export
    vcenter/get-task.json, get-vievent.json, get-vasaprovider.json   PowerCLI exports
    certs/<provider host>.pem                   the provider's certificate
    admin/putty-<host>.log, get-task-ps51.json, get-vievent-ps51.json, tasks-local.csv,
          vvold-grep-<host>.txt                 the same evidence in the shapes admins hand over
                                                (terminal paste, PowerShell 5.1, local-time CSV,
                                                grep -n -B1 -A1 / zgrep excerpts of vvold logs):
                                                diagnose this folder on its own, never with the rest
    ground-truth.json                           what really happened (ignored by analysis)

``vvold_from`` writes the admin shape of issue 10: each host's ``vvold.log`` as it was when it
was copied long after the incident, starting at that time (a rotation header first), with the
rotated ``vvold.N.gz`` files not sent. Such a log cannot see the failures, and diagnose must say
so instead of reading its calm as "no VASA pressure".

Both bundle forms hold the same evidence, so diagnose either the folders (with ``vcenter/`` and
``certs/``) or ``archives/`` (likewise), not both at once, or every host counts twice.
"""

from __future__ import annotations

import heapq
import json
import random
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from vvolguard.sim.evidence import bundle, certs, esxcli, hostlogs, vcenter
from vvolguard.sim.evidence.hostlogs import HostdRecord, VmkernelRecord, format_hostd, format_vmkernel
from vvolguard.sim.evidence.vvold import (
    ROTATE_BYTES,
    RotatingLog,
    format_record,
    header_line,
    host_excerpts,
)
from vvolguard.sim.scenarios import Plan
from vvolguard.sim.world import World

GROUND_TRUTH_KEY = "vvolguard_ground_truth"
GROUND_TRUTH_FILE = "ground-truth.json"
FORMATS = ("both", "folder", "tgz")


def host_files(
    world: World,
    plan: Plan,
    host: str,
    rotate_bytes: int = ROTATE_BYTES,
    vvold_from: datetime | None = None,
) -> dict[str, bytes]:
    """Every bundle member of one host, keyed by bundle-relative path (``vvold_from``: only
    the live vvold.log, starting then; see the module docstring)."""
    info = world.host_info[host]
    shape = info.shape
    started = world.t0 - timedelta(
        days=3 + info.index, hours=info.index * 5 % 24, seconds=info.vvold_pid % 3600
    )
    files: dict[str, bytes] = {}

    if vvold_from is not None:
        files[f"{bundle.LOG_DIR}/vvold.log"] = _late_vvold(world, host, started, vvold_from)
    else:
        vvold_log = RotatingLog("vvold", shape, info.vvold_pid, started, limit=rotate_bytes)
        for record in world.vvolds[host].records:
            vvold_log.write(record.ts, format_record(shape, record, info.vvold_pid))
        if not world.vvolds[host].records:
            vvold_log.write(world.t0, "")
        for name, data in vvold_log.files().items():
            files[f"{bundle.LOG_DIR}/{name}"] = data

    hostd_noise, kernel_noise = _routine_lines(world, host)
    hostd_log = RotatingLog("hostd", shape, info.hostd_pid, started, limit=rotate_bytes, app="Hostd")
    for hrec in heapq.merge(hostd_noise, world.hostd.get(host, []), key=lambda r: r.ts):
        hostd_log.write(hrec.ts, format_hostd(shape, hrec, info.hostd_pid))
    for name, data in hostd_log.files().items():
        files[f"{bundle.LOG_DIR}/{name}"] = data

    kernel = list(heapq.merge(kernel_noise, world.vmkernel.get(host, []), key=lambda r: r.ts))
    files[f"{bundle.LOG_DIR}/vmkernel.log"] = "".join(
        format_vmkernel(shape, k, "vmkernel") for k in kernel
    ).encode()
    warnings = [k for k in kernel if k.warning]
    if warnings:  # ESXi keeps vmkwarning.log; an empty one says nothing, so it is left out
        files[f"{bundle.LOG_DIR}/vmkwarning.log"] = "".join(
            format_vmkernel(shape, k, "vmkwarning") for k in warnings
        ).encode()

    files.update(esxcli.host_command_files(host, *esxcli_rows(world, plan, host)))
    return files


def esxcli_rows(
    world: World, plan: Plan, host: str
) -> tuple[list[esxcli.VasaProviderRow], list[esxcli.StorageContainerRow], list[esxcli.ProtocolEndpointRow]]:
    """What ``esxcli storage vvol ... list`` shows on ``host`` (bundle outputs and pastes alike)."""
    prof = world.profile
    providers = [
        esxcli.VasaProviderRow(
            prof.vp_name,
            prof.url,
            plan.esxcli_status.get(host, "online"),
            (esxcli.ArrayRow(prof.array_id, True, 200),),
        )
    ]
    pe_state = plan.pe_state.get(host, "ok")
    containers = [
        esxcli.StorageContainerRow(
            prof.container_name, prof.container_uuid, prof.array_id, accessible=pe_state == "ok"
        )
    ]
    endpoints = (
        []
        if pe_state == "missing"
        else [
            esxcli.ProtocolEndpointRow(
                prof.pe_id,
                prof.array_id,
                (prof.container_uuid,),
                accessible=pe_state == "ok",
                configured=True,
            )
        ]
    )
    return providers, containers, endpoints


def _late_vvold(world: World, host: str, started: datetime, since: datetime) -> bytes:
    """The live vvold.log of a host whose log rotated at ``since``: a rotation header, then the
    lines from then on (the earlier ones went to vvold.N.gz files that were not sent)."""
    info = world.host_info[host]
    records = [r for r in world.vvolds[host].records if r.ts >= since]
    opened = records[0].ts if records else since
    parts = [header_line(info.shape, opened, started, info.vvold_pid, rotated=True)]
    parts += [format_record(info.shape, r, info.vvold_pid) for r in records]
    return "".join(parts).encode()


def _routine_lines(world: World, host: str) -> tuple[list[HostdRecord], list[VmkernelRecord]]:
    """The background every real hostd/vmkernel log carries, from a per-host RNG (so adding it
    never changes the simulation's own random stream)."""
    info = world.host_info[host]
    rng = random.Random(f"{info.vvold_pid}:{host}")
    end = world.env.now
    hostd: list[HostdRecord] = []
    t = rng.uniform(0, 300)
    task_number = rng.randint(100_000_000, 900_000_000)
    while t < end:
        opid = f"sps-Main-{rng.randint(100000, 999999)}-{rng.randint(10, 99)}-{rng.randint(100000, 999999)}"
        task_number += rng.randint(1, 50)
        hostd.append(hostlogs.catalog_sync_task(world.ts(t), task_number, opid, completed=False))
        hostd.append(
            hostlogs.catalog_sync_task(world.ts(t + rng.uniform(0.01, 0.4)), task_number, opid, True)
        )
        t += rng.uniform(240, 360)
    kernel: list[VmkernelRecord] = []
    t = rng.uniform(0, 400)
    while t < end:
        kernel.append(
            hostlogs.nmp_throttle(world.ts(t), rng.randrange(32), info.vmkernel_world, world.profile.pe_id)
        )
        t += rng.uniform(300, 900)
    return hostd, kernel


def task_rows(world: World) -> list[vcenter.TaskRow]:
    rows = []
    for task in world.tasks():
        rows.append(
            vcenter.TaskRow(
                task_id=task.task_id,
                vm=task.vm_name,
                vm_moref=task.vm_id,
                source=task.source,
                dest=task.dest,
                state=task.state,
                queued=world.ts(task.queued_at),
                start=None if task.started_at is None else world.ts(task.started_at),
                end=None if task.finished_at is None else world.ts(task.finished_at),
                error=task.error,
                fault=task.fault,
                fault_reason=task.fault_reason,
                description_id=task.description_id,
                chain_id=task.chain_id,
                initiator=task.initiator,
                datastore=world.profile.container_name,
            )
        )
    return rows


def write_evidence(
    world: World,
    plan: Plan,
    out: Path,
    seed: int,
    formats: str = "both",
    rotate_bytes: int = ROTATE_BYTES,
    vvold_from: datetime | None = None,
) -> dict[str, Any]:
    """Write everything under ``out``; returns the ground-truth document it wrote."""
    if formats not in FORMATS:
        raise ValueError(f"formats must be one of {', '.join(FORMATS)}")
    out.mkdir(parents=True, exist_ok=True)
    end = world.env.now
    bundles: list[str] = []
    vvold_logs: dict[str, dict[str, bytes]] = {}  # host -> vvold file name -> bytes
    for host in world.hosts:
        info = world.host_info[host]
        when = world.ts(end + 240 + 60 * info.index)
        files = host_files(world, plan, host, rotate_bytes, vvold_from)
        vvold_logs[host] = {
            name.rsplit("/", 1)[-1]: data
            for name, data in files.items()
            if name.startswith(f"{bundle.LOG_DIR}/vvold.")
        }
        folder, tgz = bundle.write_bundle(
            out,
            host,
            when,
            info.bundle_pid,
            files,
            folder=formats in ("both", "folder"),
            tgz_dir=out / "archives" if formats in ("both", "tgz") else None,
        )
        bundles += [str(p.relative_to(out)) for p in (folder, tgz) if p is not None]

    rows = task_rows(world)
    vc = out / "vcenter"
    vc.mkdir(exist_ok=True)
    (vc / "tasks.csv").write_bytes(vcenter.tasks_csv(rows).encode("utf-8"))
    (vc / "get-task.json").write_text(vcenter.get_task_json(rows), encoding="utf-8")
    morefs = {h: world.host_info[h].moref for h in world.hosts}
    (vc / "get-vievent.json").write_text(vcenter.get_vievent_json(rows, morefs), encoding="utf-8")

    admin_files = write_admin_shapes(world, plan, out / ADMIN_DIR, rows, morefs, vvold_logs)

    prof = world.profile
    pem = certs.provider_certificate(
        plan.cert_variant, prof.vp_host, prof.vp_ip, world.t0, seed, not_after=plan.cert_not_after
    )
    cert_dir = out / "certs"
    cert_dir.mkdir(exist_ok=True)
    (cert_dir / f"{prof.vp_host}.pem").write_bytes(pem)
    from cryptography import x509

    expiry = x509.load_pem_x509_certificate(pem).not_valid_after_utc
    last_sync = (
        world.ts(end)
        if plan.vcenter_status == "online"
        else world.ts(min([t for t, _ in plan.events] or [0]))
    )
    provider_row = vcenter.VasaProviderExport(
        name=prof.vp_name,
        url=prof.url,
        status=plan.vcenter_status,
        provider_id=f"{prof.array_id}:vp",
        last_sync=last_sync,
        certificate_expiry=expiry,
        certificate_status=plan.cert_status,
        version=prof.vp_version,
        array_id=prof.array_id,
        status_fault=plan.status_fault,
    )
    (vc / "get-vasaprovider.json").write_text(vcenter.get_vasaprovider_json([provider_row]), encoding="utf-8")

    truth = ground_truth(world, plan, seed, bundles)
    truth["files"] += [f"{ADMIN_DIR}/{name}" for name in admin_files]
    truth["admin_local_zone"] = ADMIN_ZONE
    if vvold_from is not None:
        truth["vvold_from"] = vvold_from.isoformat()
        truth["what_happened"] = [
            *truth["what_happened"],
            f"Each host's vvold.log was copied starting {vvold_from.isoformat()}, after the failures; "
            "the rotated vvold.N.gz files were not sent, so vvold cannot show the incident.",
        ]
    (out / GROUND_TRUTH_FILE).write_text(json.dumps(truth, indent=2) + "\n", encoding="utf-8")
    return truth


#: Where the admin-shaped copies go, and the zone of the analyst's PC that made them.
ADMIN_DIR = "admin"
ADMIN_ZONE = "Europe/Berlin"


def write_admin_shapes(
    world: World,
    plan: Plan,
    folder: Path,
    rows: list[vcenter.TaskRow],
    morefs: dict[str, str],
    vvold_logs: dict[str, dict[str, bytes]] | None = None,
) -> list[str]:
    """The same evidence as admins often hand it over (issue 10 C): a PuTTY log of the source
    host's esxcli lists, Windows PowerShell 5.1 ``Get-Task`` / ``Get-VIEvent`` redirects, a
    vSphere Client Tasks CSV in the analyst's local time, and a ``grep -n -B1 -A1`` / ``zgrep``
    excerpt of each host's vvold logs (``vvold_logs``: host -> file name -> bytes) in place of the
    logs. Kept apart from ``vcenter/`` and the bundles: they describe the same tasks and lines, so
    this folder is diagnosed on its own (with ``--tz Europe/Berlin`` for the CSV)."""
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(ADMIN_ZONE)
    folder.mkdir(parents=True, exist_ok=True)
    source = plan.source_host or world.hosts[0]
    maintenance = vcenter.maintenance_row(rows, plan.source_host, morefs.get(source, "host-0"))
    snapshot = world.ts(world.env.now + 120).astimezone(zone).replace(tzinfo=None)
    files = {
        f"putty-{source.split('.', 1)[0]}.log": esxcli.terminal_paste(
            source, *esxcli_rows(world, plan, source), snapshot
        ),
        "get-task-ps51.json": vcenter.get_task_ps51(rows, maintenance),
        "get-vievent-ps51.json": vcenter.get_vievent_ps51(rows, morefs, maintenance),
        "tasks-local.csv": vcenter.tasks_csv_local(rows, zone, maintenance),
    }
    for host, logs in (vvold_logs or {}).items():
        grep, _tail = host_excerpts(logs)
        if grep:
            files[f"vvold-grep-{host.split('.', 1)[0]}.txt"] = grep
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return sorted(files)


def ground_truth(world: World, plan: Plan, seed: int, bundles: list[str]) -> dict[str, Any]:
    tasks = world.tasks()
    failed = [t for t in tasks if t.state == "error"]
    causes: dict[str, int] = {}
    for t in failed:
        causes[t.cause or "unknown"] = causes.get(t.cause or "unknown", 0) + 1
    stats = world.provider.stats
    prof = world.profile
    return {
        GROUND_TRUTH_KEY: 1,
        "scenario": plan.scenario,
        "variant": plan.variant,
        "expected_class": plan.expected_class,
        "seed": seed,
        "esxi_shape": world.shape,
        "window": {"start": world.ts(0).isoformat(), "end": world.ts().isoformat()},
        "what_happened": plan.truth,
        "timeline": [{"at": world.ts(t).isoformat(), "event": what} for t, what in sorted(plan.events)],
        "hosts": world.hosts,
        "source_host": plan.source_host,
        "provider": {
            "profile": prof.name,
            "name": prof.vp_name,
            "url": prof.url,
            "session_connections": prof.session_connections,
            "concurrency": prof.concurrency,
            "queue_bound": prof.queue_bound,
            "esxcli_status": plan.esxcli_status,
            "vcenter_status": plan.vcenter_status,
            "certificate": plan.cert_variant,
            "requests": stats.requests,
            "busy_answers": stats.busy,
            "max_queue_length": stats.queue_len_max,
            "mean_queue_wait_s": round(stats.mean_queue_wait, 3),
            "max_queue_wait_s": round(stats.queue_wait_max, 3),
        },
        "protocol_endpoints": plan.pe_state,
        "hosts_pressure": {
            h: {
                "conn_waits": (p := world.pressure(h)).conn_waits,
                "busy_faults": p.busy_faults,
                "timeouts": p.timeouts,
                "transport_faults": p.transport_faults,
                "retries": p.retries,
                "vasa_failures": p.failures,
            }
            for h in world.hosts
        },
        "migrations": {
            "total": len(tasks),
            "succeeded": sum(t.state == "success" for t in tasks),
            "failed": len(failed),
            "failed_by_cause": causes,
        },
        "failed_migrations": [
            {
                "task": t.task_id,
                "vm": t.vm_name,
                "source": t.source,
                "destination": t.dest,
                "failed_step": t.failed_step,
                "cause": t.cause,
                "error": t.error,
                "at": world.ts(t.finished_at or 0).isoformat(),
            }
            for t in failed
        ],
        "files": [
            *sorted(bundles),
            "vcenter/tasks.csv",
            "vcenter/get-task.json",
            "vcenter/get-vievent.json",
            "vcenter/get-vasaprovider.json",
            f"certs/{prof.vp_host}.pem",
        ],
    }
