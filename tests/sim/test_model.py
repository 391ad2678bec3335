"""The SimPy model: admission, connection ceiling, retries, pressure signals, determinism."""

from __future__ import annotations

import simpy

from vvolguard.sim import build_world, evacuate, get_profile, start_migration, submit_migration
from vvolguard.sim.evidence.vvold import format_record


def _run(profile: str, concurrency: int | None, seed: int = 1, vms: int = 48, hosts: int = 4):
    env = simpy.Environment()
    world = build_world(
        env, get_profile(profile), hosts=hosts, vms=vms, seed=seed, host_limit=max(8, concurrency or 8)
    )
    proc = evacuate(world, world.hosts[0], concurrency=concurrency)
    env.run(until=proc)
    return world, proc.value


def test_single_migration_succeeds_and_moves_the_vm() -> None:
    env = simpy.Environment()
    world = build_world(env, get_profile("midrange"), hosts=2, vms=4, seed=3)
    vm = world.vms_on(world.hosts[0])[0]
    task = submit_migration(world, vm, dst=world.hosts[1])
    assert task.state == "queued"
    env.run(until=task.process)
    result = task.process.value
    assert result.ok and result.error is None and task.state == "success"
    assert vm.host == world.hosts[1]
    ops = [r.message for r in world.vvolds[world.hosts[1]].records]
    assert any("Issuing 'createVirtualVolume'" in m for m in ops)
    assert any("FINAL SUCCESS bindVirtualVolume" in m for m in ops)
    src_ops = [r.message for r in world.vvolds[world.hosts[0]].records]
    assert any("FINAL SUCCESS deleteVirtualVolume" in m for m in src_ops)


def test_start_migration_returns_process_with_result() -> None:
    env = simpy.Environment()
    world = build_world(env, get_profile("enterprise"), hosts=3, vms=6, seed=5)
    vm = world.vms_on(world.hosts[0])[0]
    proc = start_migration(world, vm, None, world.hosts[2])
    env.run(until=proc)
    assert proc.value.ok and proc.value.dest == world.hosts[2]


def test_vcenter_admits_at_most_eight_per_host() -> None:
    env = simpy.Environment()
    world = build_world(env, get_profile("enterprise"), hosts=3, vms=60, seed=2)
    proc = evacuate(world, world.hosts[0])
    peak = 0
    while not proc.triggered:
        env.step()
        peak = max(peak, world.vcenter.running_on(world.hosts[0]))
    assert peak == 8


def test_storm_beyond_capacity_fails_migrations_with_system_error_and_pressure() -> None:
    world, results = _run("midrange", None)
    failed = [r for r in results if not r.ok]
    assert failed and all(r.error == "A system error occurred." for r in failed)
    pressure = world.pressure(world.hosts[0])
    assert pressure.ceiling == 5
    assert pressure.conn_waits > 0
    total_busy = sum(world.pressure(h).busy_faults for h in world.hosts)
    assert total_busy > 0 and world.provider.stats.busy >= total_busy  # vCenter's poller gets busy too
    text = "".join(format_record("esxi7", r, 1) for r in world.vvolds[world.hosts[0]].records)
    assert "No free connections to VP pure-ct0" in text and "[#outstanding 5/5]" in text


def test_one_at_a_time_is_calm() -> None:
    world, results = _run("midrange", 1, vms=16)
    assert all(r.ok for r in results)
    assert world.provider.stats.busy == 0
    assert all(world.pressure(h).conn_waits == 0 for h in world.hosts)


def test_same_seed_same_run_other_seed_differs() -> None:
    def fingerprint(seed: int) -> list[tuple]:
        _world, results = _run("midrange", None, seed=seed, vms=24)
        return [(r.vm, r.dest, r.ok, r.finished_at) for r in results]

    assert fingerprint(4) == fingerprint(4)
    assert fingerprint(4) != fingerprint(5)


def test_tail_serves_growing_log_in_host_shape() -> None:
    env = simpy.Environment()
    world = build_world(env, get_profile("midrange"), hosts=2, vms=2, seed=1, esxi=7)
    tail = world.tail(world.hosts[0])
    first = tail.read()
    assert b"Section for VMware ESX" in first
    env.run(until=25)
    more = tail.read()
    assert b"Issuing 'getEvents'" in more and b"vvold[" in more
    assert tail.read() == b""
