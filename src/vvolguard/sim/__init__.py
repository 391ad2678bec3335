"""The VASA control-plane simulator (SimPy, virtual time).

Why it exists: the real VASA provider cannot run here and no vCenter simulator models one. The
simulator (a) writes realistic incident evidence (support bundles, vCenter exports, provider
certificates and a ground-truth file) that ``diagnose`` reads exactly as it reads a real host's,
(b) answers what-if questions (``simulate sweep``: how many migrations at once can this host run
against this provider?), and (c) is the proving ground for the adaptive drain.

Model, one module per part (each docstring says what is modelled and on what source):

* :mod:`.profiles`: :class:`ProviderProfile` and the named presets (:data:`PROFILES`).
* :mod:`.provider`: admission control (busy past a queue bound), workers, service times,
  contention, slow-downs, background storms, online/offline/untrusted states.
* :mod:`.host`: one vvold per host: session connection pool (``#outstanding n/max``), waits for
  a free connection, deadlines, retries, getEvents polling, the vvold log, pressure counters.
* :mod:`.vcenter`: migration tasks and vCenter's cost-model admission (8 per host on 10 GbE).
* :mod:`.migration`: the VASA sequence of one vMotion on the source and destination hosts.
* :mod:`.world`: builds it all; evacuations and batched drains.
* :mod:`.scenarios`: the six incident scenarios; :mod:`.run`: run one; :mod:`.output`: write
  its evidence (layout in that module's docstring) and the ground truth.
* :mod:`.sweep`: the concurrency sweep (capacity planning).
* :mod:`.evidence`: writers for every evidence shape, usable without a simulation.

Model API (for the drain's simulated backend and other controllers)::

    import simpy
    from vvolguard.sim import build_world, get_profile, submit_migration, start_migration

    env = simpy.Environment()
    world = build_world(env, get_profile("midrange"), hosts=4, vms=40, seed=1, esxi=8)
    vm = world.vms_on(world.hosts[0])[0]
    task = submit_migration(world, vm, dst=world.hosts[1])   # queued with vCenter now
    env.run(until=env.now + 5)                                # advance virtual time
    world.pressure(world.hosts[0])   # PressureSnapshot: outstanding/ceiling, conn_waits,
                                     # busy_faults, timeouts, retries, failures, create latency
    task.state                       # queued | running | success | error; task.error text
    env.run(until=task.process)      # value: MigrationResult(ok, error, fault, failed_step, ...)
    proc = start_migration(world, vm, src=None, dst=world.hosts[2])   # same, returns the process

* ``world.tail(host).read()`` returns the new vvold.log bytes since the last read, in the host's
  ESXi shape (what a LogSource gives the drain).
* ``world.vcenter.tasks`` maps task ids to :class:`Task`; ``world.vcenter.host_limit`` is the
  per-host vMotion limit (8); ``world.vms``/``world.vms_on(host)`` the inventory, ``vm.host``
  where a VM is now.
* Profiles: ``get_profile(name)``, ``profile.variant(concurrency=6, queue_bound=4, ...)``,
  ``profile.scaled(2.0)``; slow-downs and storms via ``Slowdown``/``BackgroundLoad``.
* Determinism: one ``random.Random(seed)`` drives the run; same seed, same run.

Incident API: :func:`simulate` (``vvolguard.simulate(scenario=..., out=...)``) writes a
scenario's evidence and returns a summary; :func:`sweep` runs the capacity sweep.
"""

from __future__ import annotations

from typing import Any

from vvolguard.sim.host import OpResult, PressureSnapshot, VvoldTail
from vvolguard.sim.profiles import (
    PROFILES,
    BackgroundLoad,
    ProviderProfile,
    ServiceTime,
    Slowdown,
    get_profile,
)
from vvolguard.sim.vcenter import MigrationResult, Task
from vvolguard.sim.world import (
    VM,
    CountingEnvironment,
    World,
    build_world,
    evacuate,
    pick_destination,
    start_migration,
    submit_migration,
)


def simulate(**options: Any) -> Any:
    """Simulate a scenario and write its evidence (see :func:`vvolguard.sim.run.simulate`)."""
    from vvolguard.sim.run import simulate as _simulate

    return _simulate(**options)


def sweep(**options: Any) -> Any:
    """Run the concurrency sweep (see :func:`vvolguard.sim.sweep.sweep`)."""
    from vvolguard.sim.sweep import sweep as _sweep

    return _sweep(**options)


__all__ = [
    "PROFILES",
    "VM",
    "BackgroundLoad",
    "CountingEnvironment",
    "MigrationResult",
    "OpResult",
    "PressureSnapshot",
    "ProviderProfile",
    "ServiceTime",
    "Slowdown",
    "Task",
    "VvoldTail",
    "World",
    "build_world",
    "evacuate",
    "get_profile",
    "pick_destination",
    "simulate",
    "start_migration",
    "submit_migration",
    "sweep",
]
