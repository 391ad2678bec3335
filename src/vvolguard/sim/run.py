"""``simulate``: run one scenario in virtual time and (optionally) write its evidence.

Kept separate from the model so that library users, the CLI, the demo and the tests all run a
scenario the same way: build the world, prepare the scenario, run until the workload is done
plus a calm tail (or the scenario's duration), write the evidence.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from vvolguard.sim.evidence.vvold import ROTATE_BYTES
from vvolguard.sim.output import write_evidence
from vvolguard.sim.profiles import ProviderProfile, get_profile
from vvolguard.sim.scenarios import SCENARIOS, Plan, prepare
from vvolguard.sim.world import DEFAULT_T0, CountingEnvironment, World, build_world


@dataclass
class SimulationResult:
    scenario: str
    variant: str | None
    expected_class: str
    seed: int
    esxi_shape: str
    hosts: int
    vms: int
    migrations: int
    failed: int
    simulated_s: float
    sim_events: int
    wall_s: float
    out: Path | None
    ground_truth: dict[str, Any] = field(default_factory=dict)
    world: World | None = field(default=None, repr=False)
    plan: Plan | None = field(default=None, repr=False)


def simulate(
    scenario: str = "saturation",
    hosts: int = 4,
    vms: int = 48,
    esxi: str | int = 8,
    seed: int = 1,
    out: str | Path | None = None,
    profile: str | ProviderProfile | None = None,
    variant: str | None = None,
    duration_s: float | None = None,
    formats: str = "both",
    t0: datetime = DEFAULT_T0,
    rotate_bytes: int = ROTATE_BYTES,
    host_limit: int | None = None,
    late_vvold_s: float | None = None,
) -> SimulationResult:
    """Simulate ``scenario`` and, when ``out`` is given, write its evidence there.

    ``profile`` is a name from :data:`vvolguard.sim.profiles.PROFILES` or a
    :class:`ProviderProfile`; by default the scenario's own. ``duration_s`` bounds (or for
    ``healthy`` sets) the simulated time. ``late_vvold_s`` writes each host's vvold.log as copied
    that many seconds after the workload ended, without its rotated files (the calm tail is
    lengthened to reach it). Same arguments, same bytes.
    """
    spec = SCENARIOS.get(scenario)
    if spec is None:
        raise KeyError(f"unknown scenario {scenario!r}; known: {', '.join(SCENARIOS)}")
    if hosts < 2:
        raise ValueError("a migration needs at least 2 hosts")
    prof = profile if isinstance(profile, ProviderProfile) else get_profile(profile or spec.default_profile)
    started = time.perf_counter()
    env = CountingEnvironment()
    world = build_world(
        env, prof, hosts=hosts, vms=vms, seed=seed, esxi=esxi, t0=t0, host_limit=host_limit or 8
    )
    plan = prepare(scenario, world, variant, duration_s)
    if plan.workload is not None:
        env.run(until=plan.workload)
    vvold_from = None
    if late_vvold_s is not None:
        vvold_from = world.ts(env.now + late_vvold_s)
        plan.calm_after_s = max(plan.calm_after_s, late_vvold_s + 1800.0)
    end = max(env.now + plan.calm_after_s, plan.end_s or 0.0)
    if duration_s and scenario != "healthy":
        end = min(end, max(duration_s, env.now))
    env.run(until=end)
    tasks = world.tasks()
    pushed_back = world.provider.stats.busy + sum(
        v.pressure.failures + v.pressure.timeouts for v in world.vvolds.values()
    )
    if scenario == "saturation" and tasks and pushed_back == 0 and not any(t.state == "error" for t in tasks):
        # A provider given enough capacity (say with --workers) keeps up: it never answered busy,
        # nothing timed out or failed. The incident did not happen, and the ground truth must
        # say so rather than repeat the scenario's intent. (Busy answers that vvold's retries
        # absorbed are still the provider refusing work: saturation signals, as the runbook's
        # PROVIDER_BUSY row says, even when every migration survived them.)
        plan.expected_class = "healthy"
        plan.truth.append("The provider kept up: it never answered busy, and nothing timed out or failed.")
    truth: dict[str, Any] = {}
    out_path = Path(out) if out is not None else None
    if out_path is not None:
        truth = write_evidence(world, plan, out_path, seed, formats, rotate_bytes, vvold_from)
    return SimulationResult(
        scenario=scenario,
        variant=plan.variant,
        expected_class=plan.expected_class,
        seed=seed,
        esxi_shape=world.shape,
        hosts=hosts,
        vms=vms,
        migrations=len(tasks),
        failed=sum(t.state == "error" for t in tasks),
        simulated_s=env.now,
        sim_events=env.steps,
        wall_s=time.perf_counter() - started,
        out=out_path,
        ground_truth=truth,
        world=world,
        plan=plan,
    )
