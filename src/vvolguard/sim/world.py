"""The simulated world: a provider, ESXi hosts with their vvold, VMs, and vCenter.

:func:`build_world` creates it in a SimPy environment; :func:`submit_migration` /
:func:`start_migration` move one VM; :func:`evacuate` is maintenance mode (every VM of a host at
once, paced only by vCenter's admission control) or, with ``concurrency``, a client-side batcher
that keeps at most that many migrations in flight (what the sweep and a drain do).

Everything random draws from one ``random.Random(seed)`` in a fixed order, and SimPy breaks
time ties by insertion order, so a seed gives the same run every time.
"""

from __future__ import annotations

import random
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import simpy

from vvolguard.sim.evidence.hostlogs import HostdRecord, VmkernelRecord
from vvolguard.sim.evidence.vvold import Shape
from vvolguard.sim.host import HostInfo, PressureSnapshot, Vvold, VvoldTail
from vvolguard.sim.migration import LINK_GBPS, STREAM_GBPS, run_migration
from vvolguard.sim.profiles import ProviderProfile
from vvolguard.sim.provider import Provider
from vvolguard.sim.vcenter import DEFAULT_HOST_LIMIT, MigrationResult, Task, VCenter
from vvolguard.sim.vmotion_net import VmotionNetwork

#: The default incident start. Fixed (not "now") so output is deterministic per seed.
DEFAULT_T0 = datetime(2026, 3, 14, 10, 0, 0, tzinfo=UTC)
DOMAIN = "vvol.lab"


@dataclass(eq=False)
class VM:
    id: str  # vm-1001
    name: str  # app-001
    index: int
    host: str
    memory_gb: int
    disks: int
    config_vvol: str
    swap_vvol: str


@dataclass
class Faults:
    """Scenario knobs outside the provider profile."""

    #: probability that a migration's switchover exceeds fsr.maxSwitchoverSeconds
    switchover_fail_rate: float = 0.0
    #: destination hosts for which every switchover fails (deterministic variant)
    switchover_hosts: set[str] = field(default_factory=set)

    def switchover_fails(self, task: Task, rng: random.Random) -> bool:
        draw = rng.random()  # drawn always, so the random stream does not depend on the knob
        return task.dest in self.switchover_hosts or draw < self.switchover_fail_rate


def shape_of(esxi: str | int) -> Shape:
    """``7``/``"7"``/``"esxi7"`` -> ``"esxi7"``; ``8`` -> ``"esxi8"``."""
    text = str(esxi).lower().removeprefix("esxi")
    if text.startswith("7") or text.startswith("6"):
        return "esxi7"
    if text.startswith("8"):
        return "esxi8"
    raise ValueError(f"unknown ESXi shape {esxi!r}: use 7 or 8")


class World:
    """Everything one simulation run holds. Attributes are public for controllers and writers."""

    def __init__(
        self,
        env: simpy.Environment,
        profile: ProviderProfile,
        rng: random.Random,
        t0: datetime,
        shape: Shape,
        host_limit: int,
        keep_records: bool,
    ) -> None:
        self.env = env
        self.profile = profile
        self.rng = rng
        self.t0 = t0
        self.shape = shape
        self.provider = Provider(env, profile, rng)
        self.vcenter = VCenter(env, host_limit=host_limit)
        self.vmotion = VmotionNetwork(env, LINK_GBPS, STREAM_GBPS)
        self.hosts: list[str] = []
        self.host_info: dict[str, HostInfo] = {}
        self.vvolds: dict[str, Vvold] = {}
        self.vms: dict[str, VM] = {}
        self.faults = Faults()
        self.hostd: dict[str, list[HostdRecord]] = {}
        self.vmkernel: dict[str, list[VmkernelRecord]] = {}
        self.keep_records = keep_records
        self._opid_counter = rng.randint(0x10000000, 0x7FFFFFFF)

    # -- time and small helpers --------------------------------------------------------------

    def ts(self, t: float | None = None) -> datetime:
        return self.t0 + timedelta(seconds=self.env.now if t is None else t)

    def epoch_ms(self, t: float) -> float:
        return (self.t0.timestamp() + t) * 1000

    def cpu(self) -> int:
        return self.rng.randrange(0, 32)

    def new_opid(self) -> str:
        self._opid_counter += self.rng.randint(1, 4096)
        return f"{self._opid_counter:08x}-{self.rng.randint(1, 99):02d}"

    def hostd_event(self, host: str, record: HostdRecord) -> None:
        if self.keep_records:
            self.hostd.setdefault(host, []).append(record)

    def vmkernel_event(self, host: str, record: VmkernelRecord) -> None:
        if self.keep_records:
            self.vmkernel.setdefault(host, []).append(record)

    # -- what a controller polls -------------------------------------------------------------

    def pressure(self, host: str) -> PressureSnapshot:
        """The VASA pressure one host sees now (counters, outstanding vs ceiling, create latency)."""
        return self.vvolds[host].snapshot()

    def tail(self, host: str) -> VvoldTail:
        """A LogSource-like reader of this host's vvold.log as it grows."""
        return VvoldTail(self.vvolds[host])

    def vms_on(self, host: str) -> list[VM]:
        return [vm for vm in self.vms.values() if vm.host == host]

    def tasks(self) -> list[Task]:
        """Every migration task so far, in submission order."""
        return list(self.vcenter.tasks.values())

    def log_record_count(self) -> int:
        return sum(v.record_count for v in self.vvolds.values())


class CountingEnvironment(simpy.Environment):
    """A SimPy environment that counts the events it processes (for the scale benchmark)."""

    def __init__(self, initial_time: float = 0) -> None:
        super().__init__(initial_time)
        self.steps = 0

    def step(self) -> None:
        self.steps += 1
        super().step()


def build_world(
    env: simpy.Environment,
    profile: ProviderProfile,
    hosts: int,
    vms: int,
    seed: int,
    esxi: str | int = 8,
    t0: datetime = DEFAULT_T0,
    host_limit: int = DEFAULT_HOST_LIMIT,
    keep_records: bool = True,
    pollers: bool = True,
    placement: Sequence[int] | None = None,
) -> World:
    """Create hosts ``esx01.vvol.lab`` …, VMs spread round-robin (or per ``placement``: VM i on
    host ``placement[i % len(placement)]``), the provider, vCenter, and start the pollers."""
    if hosts < 1:
        raise ValueError("at least one host is needed")
    rng = random.Random(seed)
    shape = shape_of(esxi)
    world = World(env, profile, rng, t0, shape, host_limit, keep_records)
    pid_base = 2_099_000 if shape == "esxi7" else 2_255_000
    for i in range(hosts):
        name = f"esx{i + 1:02d}.{DOMAIN}"
        info = HostInfo(
            name=name,
            index=i,
            moref=f"host-{10 + i * 3}",
            shape=shape,
            vvold_pid=pid_base + rng.randint(0, 9999),
            hostd_pid=pid_base + 2000 + rng.randint(0, 9999),
            vmkernel_world=2_097_000 + rng.randint(0, 5000),
            bundle_pid=2_800_000 + rng.randint(0, 99_999),
        )
        world.hosts.append(name)
        world.host_info[name] = info
        world.vvolds[name] = Vvold(env, info, world.provider, rng, t0, keep_records)
    for i in range(vms):
        host_index = placement[i % len(placement)] if placement else i % hosts
        vm = VM(
            id=f"vm-{1001 + i}",
            name=f"app-{i + 1:03d}",
            index=i,
            host=world.hosts[host_index % hosts],
            memory_gb=rng.choice((4, 8, 8, 8, 16, 16, 32)),
            disks=rng.randint(1, 3),
            config_vvol=_uuid(rng),
            swap_vvol=_uuid(rng),
        )
        world.vms[vm.id] = vm
    if pollers:
        for vvold in world.vvolds.values():
            env.process(vvold.poller())
        env.process(_vcenter_poller(world))
    if profile.background:
        env.process(world.provider.background())
    return world


def _uuid(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"rfc4122.{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _vcenter_poller(world: World) -> Generator[Any, Any, None]:
    """vCenter (SMS) also polls getEvents every 10 s (Pure KB); it has no vvold log here."""
    env = world.env
    yield env.timeout(world.rng.uniform(0, world.profile.poll_interval_s))
    while True:
        yield env.process(world.provider.handle("getEvents"))
        yield env.timeout(world.profile.poll_interval_s)


def submit_migration(
    world: World,
    vm: VM | str,
    dst: str,
    src: str | None = None,
    description_id: str = "Drm.ExecuteVMotionLRO",
    initiator: str = "System",
) -> Task:
    """Queue a migration with vCenter now; the returned :class:`Task` tracks it (``.process``
    is the SimPy process whose value is a :class:`MigrationResult`)."""
    vm_obj = world.vms[vm] if isinstance(vm, str) else vm
    task_id, chain = world.vcenter.new_task_id()
    task = Task(
        task_id=task_id,
        vm_id=vm_obj.id,
        vm_name=vm_obj.name,
        source=src or vm_obj.host,
        dest=dst,
        queued_at=world.env.now,
        opid=world.new_opid(),
        chain_id=chain,
        description_id=description_id,
        initiator=initiator,
    )
    world.vcenter.tasks[task_id] = task
    task.process = world.env.process(run_migration(world, task))
    return task


def start_migration(world: World, vm: VM | str, src: str | None, dst: str) -> simpy.Process:
    """Start one migration and return its process; its value is a :class:`MigrationResult`."""
    return submit_migration(world, vm, dst, src).process


def pick_destination(world: World, candidates: Sequence[str]) -> str:
    """DRS-like choice: the candidate with the fewest VMs (ties by name order)."""
    counts = {h: 0 for h in candidates}
    for vm in world.vms.values():
        if vm.host in counts:
            counts[vm.host] += 1
    for task in world.vcenter.tasks.values():
        if not task.done and task.dest in counts:
            counts[task.dest] += 1
    return min(candidates, key=lambda h: (counts[h], candidates.index(h)))


def evacuate(
    world: World,
    host: str,
    dests: Sequence[str] | None = None,
    concurrency: int | None = None,
    description_id: str = "Drm.ExecuteVMotionLRO",
) -> simpy.Process:
    """Move every VM off ``host``. Without ``concurrency``: maintenance mode (all submitted at
    once). With it: at most that many in flight, the next one submitted when one finishes.
    The process value is the list of :class:`MigrationResult` in submission order."""
    targets = list(dests) if dests else [h for h in world.hosts if h != host]
    return world.env.process(_evacuate(world, host, targets, concurrency, description_id))


def _evacuate(
    world: World, host: str, targets: list[str], concurrency: int | None, description_id: str
) -> Generator[Any, Any, list[MigrationResult]]:
    vms = sorted(world.vms_on(host), key=lambda v: v.index)
    tasks: list[Task] = []
    if concurrency is None:
        for vm in vms:
            tasks.append(submit_migration(world, vm, pick_destination(world, targets), host, description_id))
        yield world.env.all_of([t.process for t in tasks])
    else:
        in_flight: list[Task] = []
        for vm in vms:
            while len(in_flight) >= concurrency:
                yield world.env.any_of([t.process for t in in_flight])
                in_flight = [t for t in in_flight if not t.done]
            task = submit_migration(world, vm, pick_destination(world, targets), host, description_id)
            tasks.append(task)
            in_flight.append(task)
        if in_flight:
            yield world.env.all_of([t.process for t in in_flight])
    return [MigrationResult.of(t) for t in tasks]
