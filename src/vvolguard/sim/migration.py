"""The VASA sequence of one vVol vMotion, on the source and the destination host.

The sequence modelled (compute-only vMotion; the VM's vVols stay on the shared vVol datastore):

1. vCenter admits the task (cost model, :mod:`vvolguard.sim.vcenter`).
2. **Source**: ``queryVirtualVolumeInfo`` on the VM's vVols (the pre-check of its bindings).
3. **Destination**: ``createVirtualVolume`` for the new **swap vVol** (the swap follows the
   running VM and is created where it will run; KB 318662's slow operation, docs/evidence-formats.md §1.7).
4. **Destination**: ``bindVirtualVolume`` for the config, data and new swap vVols (one batched
   call; heavier with more disks), so the destination can reach them through its Protocol
   Endpoint. A destination without the PE presented cannot use the binding: vmkernel reports
   the PE unreachable and the vVol not found, and the migration fails.
5. Memory pre-copy over the vMotion network (no VASA): 3 s of setup, then memory × 1.2
   (re-sent dirty pages) at min(9 Gbps, 10 Gbps ÷ the pre-copies on the busier of the source's
   and the destination's links), re-shared whenever a pre-copy starts or ends
   (:mod:`vvolguard.sim.vmotion_net`), as TCP shares a real vMotion vmknic.
6. Switchover (stun, transfer, resume). Normally under a second; when the scenario says so it
   exceeds ``fsr.maxSwitchoverSeconds`` (100 s, KB 307365), which is a failure outside the
   control plane: vmkernel ``Maximum switchover time for migration exceeded(0xbad0109)`` on the
   destination, hostd ``vMotion failed: vmodl.fault.SystemError`` on the source.
7. **Source**: ``unbindVirtualVolume`` (config, data, old swap) and ``deleteVirtualVolume`` of
   the old swap vVol. The VM already runs on the destination, so a failure here is logged but
   does not fail the task (a leaked swap vVol, cleaned up later).

A VASA step that fails after vvold's retries (2-4) fails the task with "A system error
occurred." (KB 318662). The destination then deletes the swap vVol it created (best effort),
which is more load on the provider: failures feed the storm.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from vvolguard.sim.evidence import hostlogs
from vvolguard.sim.vcenter import SYSTEM_ERROR, MigrationResult, Task

if TYPE_CHECKING:
    from vvolguard.sim.world import World

SWITCHOVER_LIMIT_S = 100.0  # fsr.maxSwitchoverSeconds default (KB 307365)
LINK_GBPS = 10.0
STREAM_GBPS = 9.0
SETUP_S = 3.0
DIRTY_FACTOR = 1.2
RESUME_FAILED = "Source detected that destination failed to resume."


def run_migration(world: World, task: Task) -> Generator[Any, Any, MigrationResult]:
    env = world.env
    vm = world.vms[task.vm_id]
    yield world.vcenter.admit(task)
    task.state = "running"
    task.started_at = env.now
    src = world.vvolds[task.source]
    dst = world.vvolds[task.dest]
    dst_info = world.host_info[task.dest]
    migrate_id = f"{int(world.epoch_ms(env.now))}{vm.index % 1000:03d}"
    opid = task.opid
    try:
        result = yield env.process(src.call("queryVirtualVolumeInfo", opid))
        if not result.ok:
            return _fail(world, task, "queryVirtualVolumeInfo", migrate_id, SYSTEM_ERROR, "vasa")
        result = yield env.process(dst.call("createVirtualVolume", opid))
        if not result.ok:
            return _fail(world, task, "createVirtualVolume", migrate_id, SYSTEM_ERROR, "vasa")
        result = yield env.process(dst.call("bindVirtualVolume", opid, weight=1.0 + 0.25 * vm.disks))
        if not result.ok:
            env.process(dst.call("deleteVirtualVolume", opid))
            return _fail(world, task, "bindVirtualVolume", migrate_id, SYSTEM_ERROR, "vasa")
        if not dst_info.pe_visible:
            yield env.timeout(world.rng.uniform(1.0, 4.0))
            world.vmkernel_event(
                task.dest,
                hostlogs.pe_unreachable(
                    world.ts(),
                    world.cpu(),
                    dst_info.vmkernel_world,
                    world.profile.pe_id,
                    world.profile.container_uuid,
                ),
            )
            world.vmkernel_event(
                task.dest,
                hostlogs.vvol_not_found(world.ts(), world.cpu(), dst_info.vmkernel_world, vm.swap_vvol),
            )
            env.process(dst.call("unbindVirtualVolume", opid))
            return _fail(
                world, task, "open vVols through the Protocol Endpoint", migrate_id, SYSTEM_ERROR, "pe"
            )

        yield env.timeout(SETUP_S)
        yield env.process(world.vmotion.transfer(task.source, task.dest, vm.memory_gb * 8 * DIRTY_FACTOR))

        if world.faults.switchover_fails(task, world.rng):
            yield env.timeout(SWITCHOVER_LIMIT_S)
            world.vmkernel_event(
                task.dest,
                hostlogs.switchover_exceeded(world.ts(), world.cpu(), dst_info.vmkernel_world, migrate_id),
            )
            env.process(dst.call("unbindVirtualVolume", opid))
            env.process(dst.call("deleteVirtualVolume", opid))
            return _fail(
                world,
                task,
                "switchover",
                migrate_id,
                f"A general system error occurred: {RESUME_FAILED}",
                "switchover",
                reason=RESUME_FAILED,
            )
        yield env.timeout(world.rng.uniform(0.2, 0.9))
        vm.host = task.dest
        world.vmkernel_event(
            task.dest,
            hostlogs.migrate_info(
                world.ts(), world.cpu(), dst_info.vmkernel_world, migrate_id, "Migration completed."
            ),
        )
        yield env.process(src.call("unbindVirtualVolume", opid, weight=1.0 + 0.25 * vm.disks))
        yield env.process(src.call("deleteVirtualVolume", opid))
        task.state = "success"
        task.finished_at = env.now
        return MigrationResult.of(task)
    finally:
        if task.started_at is not None:
            world.vcenter.release(task)


def _fail(
    world: World,
    task: Task,
    step: str,
    migrate_id: str,
    error: str,
    cause: str,
    reason: str | None = None,
) -> MigrationResult:
    env = world.env
    task.state = "error"
    task.finished_at = env.now
    task.error = error
    task.fault = "vmodl.fault.SystemError"
    task.fault_reason = reason or error
    task.failed_step = step
    task.cause = cause
    world.hostd_event(
        task.source,
        hostlogs.vmotion_failed_hostd(world.ts(), migrate_id, reason or error, task.opid, side="Src"),
    )
    return MigrationResult.of(task)
