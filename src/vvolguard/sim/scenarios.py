"""The incident scenarios: what goes wrong, when, and what each host and vCenter then show.

Each scenario sets up the world (provider state changes, faults, PE presentation) and the
workload, and says how the esxcli and PowerCLI views of the provider must look, so the written
evidence is consistent with what happened. The runbook class it should be diagnosed as is in
:data:`SCENARIOS` (``expected_class``) and in the ground-truth file.

* ``saturation`` (KB 318662): esx01 enters maintenance mode; DRS submits every VM at once and
  vCenter admits 8 per host (cost model), more than the provider sustains (default profile
  ``midrange`` has its knee near 5). Provider online, PEs fine; busy answers, waits for a free
  connection, slow swap creates, some migrations fail with "A system error occurred.".
* ``registration``: halfway through the calm period the provider's certificate is replaced by
  a self-signed one for another host name that vCenter and the hosts do not trust (KB 372508,
  matthewschacherbauer.com). Every setContext and getEvents fails with TRANSPORT_FAULT / SSL;
  esxcli shows the provider ``offline``; the later maintenance-mode evacuation fails entirely.
  Variant ``offline``: the provider service is down (connects time out) instead.
* ``certificate``: the provider certificate expires (``expired``, default) halfway through the
  calm period, with the same SSL failures afterwards and the evacuation failing; or it is about
  to expire (``near-expiry``: 5 days left, everything still works, small calm migrations).
* ``pe-presentation``: the Protocol Endpoint is not presented to the last host (KB 409865):
  its ``protocolendpoint list`` lacks the PE (even seeds) or shows it ``Accessible: false`` (odd
  seeds) and its container is inaccessible. An admin moves six VMs off esx01 two at a time;
  those sent to that host fail after their binds (vmkernel: PE unreachable, vVol not found).
* ``not-control-plane``: provider calm, PEs fine; an admin moves eight VMs two at a time; every
  switchover to one destination (and a few elsewhere) exceeds fsr.maxSwitchoverSeconds
  (vmkernel 0xbad0109, hostd SystemError "Source detected that destination failed to resume.").
* ``healthy``: a storm-free day: getEvents polling and a handful of migrations, one at a time,
  all succeeding.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import simpy

from vvolguard.sim.evidence import hostlogs
from vvolguard.sim.vcenter import MigrationResult, Task
from vvolguard.sim.world import VM, World, evacuate, submit_migration

ADMIN = "VSPHERE.LOCAL\\Administrator"


@dataclass(frozen=True, slots=True)
class ScenarioSpec:
    name: str
    expected_class: str
    summary: str
    default_profile: str = "midrange"
    variants: tuple[str, ...] = ()
    default_duration_s: float = 0.0  # 0: as long as the workload needs


SCENARIOS: dict[str, ScenarioSpec] = {
    s.name: s
    for s in (
        ScenarioSpec(
            "saturation",
            "provider-saturation",
            "Maintenance-mode evacuation drives more VASA work than the provider sustains.",
        ),
        ScenarioSpec(
            "registration",
            "provider-registration",
            "The provider is offline/untrusted after a certificate change; migrations fail.",
            variants=("untrusted", "offline"),
        ),
        ScenarioSpec(
            "pe-presentation",
            "pe-presentation",
            "A Protocol Endpoint is not presented to one host; migrations to it fail.",
        ),
        ScenarioSpec(
            "certificate",
            "certificate-lifecycle",
            "The provider certificate expired (or is about to); SSL failures follow.",
            variants=("expired", "near-expiry"),
        ),
        ScenarioSpec(
            "not-control-plane",
            "not-control-plane",
            "Migrations fail on switchover time; the VASA control plane is calm.",
        ),
        ScenarioSpec(
            "healthy",
            "healthy",
            "A storm-free day: polling and a few calm migrations.",
            default_duration_s=24 * 3600.0,
        ),
    )
}


@dataclass
class Plan:
    """What the writers need to know beyond the world: the views of the provider and PEs."""

    scenario: str
    variant: str | None
    expected_class: str
    source_host: str | None = None
    esxcli_status: dict[str, str] = field(default_factory=dict)
    vcenter_status: str = "online"
    status_fault: str | None = None
    cert_variant: str = "valid"
    cert_not_after: datetime | None = None
    cert_status: str = "valid"
    pe_state: dict[str, str] = field(default_factory=dict)  # host -> ok | missing | inaccessible
    truth: list[str] = field(default_factory=list)  # sentences for the ground-truth file
    events: list[tuple[float, str]] = field(default_factory=list)  # (t, what happened)
    workload: simpy.Process | None = None
    calm_before_s: float = 600.0
    calm_after_s: float = 300.0
    end_s: float | None = None


def prepare(name: str, world: World, variant: str | None = None, duration_s: float | None = None) -> Plan:
    """Set up scenario ``name`` in ``world`` (nothing has run yet) and start its workload."""
    spec = SCENARIOS.get(name)
    if spec is None:
        raise KeyError(f"unknown scenario {name!r}; known: {', '.join(SCENARIOS)}")
    if variant is not None and variant not in spec.variants:
        raise ValueError(
            f"scenario {name!r} has no variant {variant!r} (has: {', '.join(spec.variants) or 'none'})"
        )
    variant = variant or (spec.variants[0] if spec.variants else None)
    plan = Plan(name, variant, spec.expected_class)
    plan.esxcli_status = {h: "online" for h in world.hosts}
    plan.pe_state = {h: "ok" for h in world.hosts}
    SETUP[name](world, plan, duration_s or spec.default_duration_s)
    return plan


# -- workloads -------------------------------------------------------------------------------


def _later(world: World, delay: float, body: Callable[[], Generator[Any, Any, Any]]) -> simpy.Process:
    def run() -> Generator[Any, Any, Any]:
        yield world.env.timeout(delay)
        result = yield world.env.process(body())
        return result

    return world.env.process(run())


def _maintenance(world: World, plan: Plan, host: str) -> Callable[[], Generator[Any, Any, Any]]:
    """Maintenance mode on ``host``: the hostd task, then DRS evacuates every VM at once."""

    def body() -> Generator[Any, Any, list[MigrationResult]]:
        task = (
            f"haTask-ha-host-vim.HostSystem.enterMaintenanceMode-{world.rng.randint(10_000_000, 99_999_999)}"
        )
        world.hostd_event(host, hostlogs.task_line(world.ts(), task, "created", world.new_opid(), "vpxuser"))
        plan.events.append((world.env.now, f"{host} enters maintenance mode; DRS evacuates its VMs"))
        results = yield evacuate(world, host)
        status = "success" if all(r.ok for r in results) else "error"
        world.hostd_event(host, hostlogs.task_line(world.ts(), task, status, None, "vpxuser"))
        return results

    return body


def _manual(
    world: World, vms: Sequence[VM], dests: Sequence[str], concurrency: int, gap_s: float = 0.0
) -> Callable[[], Generator[Any, Any, Any]]:
    """An admin migrates ``vms`` to ``dests`` (round-robin), ``concurrency`` at a time."""

    def body() -> Generator[Any, Any, list[MigrationResult]]:
        tasks: list[Task] = []
        in_flight: list[Task] = []
        for i, vm in enumerate(vms):
            while len(in_flight) >= concurrency:
                yield world.env.any_of([t.process for t in in_flight])
                in_flight = [t for t in in_flight if not t.done]
            if gap_s and i:
                yield world.env.timeout(gap_s * world.rng.uniform(0.6, 1.4))
            task = submit_migration(
                world, vm, dests[i % len(dests)], description_id="VirtualMachine.relocate", initiator=ADMIN
            )
            tasks.append(task)
            in_flight.append(task)
        if in_flight:
            yield world.env.all_of([t.process for t in in_flight])
        return [MigrationResult.of(t) for t in tasks]

    return body


def _set_provider_state(world: World, plan: Plan, at: float, state: str, why: str) -> None:
    def flip() -> Generator[Any, Any, None]:
        yield world.env.timeout(at)
        world.provider.state = state
        plan.events.append((world.env.now, why))

    world.env.process(flip())


# -- scenario set-ups ------------------------------------------------------------------------


def _saturation(world: World, plan: Plan, duration_s: float) -> None:
    src = world.hosts[0]
    plan.source_host = src
    plan.workload = _later(world, plan.calm_before_s, _maintenance(world, plan, src))
    plan.truth.append(
        f"{src} entered maintenance mode; vCenter admitted up to {world.vcenter.host_limit} vMotions "
        f"per host, more than provider profile '{world.profile.name}' sustains "
        f"({world.profile.concurrency} workers, queue {world.profile.queue_bound}, "
        f"{world.profile.session_connections} connections per host session)."
    )


def _registration(world: World, plan: Plan, duration_s: float) -> None:
    src = world.hosts[0]
    plan.source_host = src
    change = plan.calm_before_s / 2
    if plan.variant == "offline":
        _set_provider_state(world, plan, change, "offline", "the VASA provider service stops answering")
        plan.status_fault = "ProviderUnavailable: the provider did not respond"
        plan.truth.append("The VASA provider went offline (service down); hosts cannot reach it.")
    else:
        _set_provider_state(
            world, plan, change, "untrusted", "the provider certificate is replaced by an untrusted one"
        )
        plan.cert_variant = "wrong-hostname"
        plan.status_fault = "CertificateNotTrusted: the provider certificate is not trusted"
        plan.truth.append(
            "The provider certificate was replaced (self-signed, wrong host name); vCenter and hosts "
            "no longer trust it, so the provider is offline until it is re-registered."
        )
    plan.esxcli_status = {h: "offline" for h in world.hosts}
    plan.vcenter_status = "offline"
    plan.workload = _later(world, plan.calm_before_s, _maintenance(world, plan, src))


def _certificate(world: World, plan: Plan, duration_s: float) -> None:
    src = world.hosts[0]
    plan.source_host = src
    if plan.variant == "near-expiry":
        plan.cert_variant = "near-expiry"
        plan.cert_status = "expirySoftLimitReached"
        plan.cert_not_after = world.t0 + timedelta(days=5)
        plan.truth.append(
            "The provider certificate expires 5 days after the incident window; all still works."
        )
        vms = sorted(world.vms_on(src), key=lambda v: v.index)[:3]
        dests = [h for h in world.hosts if h != src] or [src]
        plan.workload = _later(world, plan.calm_before_s, _manual(world, vms, dests, 1, gap_s=120))
        return
    # The certificate ran out days ago (the "expired" certificate's default); vvold notices when
    # its sessions are set up again, halfway through the calm period, and TLS fails from then on.
    noticed = plan.calm_before_s / 2
    plan.cert_variant = "expired"
    plan.cert_status = "expired"
    plan.cert_not_after = world.t0 - timedelta(days=EXPIRED_DAYS_BEFORE)
    _set_provider_state(world, plan, noticed, "untrusted", "the provider certificate expires")
    plan.esxcli_status = {h: "offline" for h in world.hosts}
    plan.vcenter_status = "offline"
    plan.status_fault = "CertificateNotTrusted: the provider certificate has expired"
    evacuation = world.t0 + timedelta(seconds=plan.calm_before_s)
    failing = world.t0 + timedelta(seconds=noticed)
    plan.truth.append(
        f"The provider certificate expired {_span((evacuation - plan.cert_not_after).total_seconds())} "
        f"before the evacuation (not after {plan.cert_not_after:%Y-%m-%d %H:%M}Z); TLS to the provider "
        f"fails from {failing:%H:%M}Z, when vvold sets its sessions up again."
    )
    plan.workload = _later(world, plan.calm_before_s, _maintenance(world, plan, src))


#: Days before the simulated incident that the ``expired`` provider certificate ran out.
EXPIRED_DAYS_BEFORE = 5


def _span(seconds: float) -> str:
    """``5 minutes``, ``2 hours``, ``5 days``: the ground truth says what the numbers say."""
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            n = round(seconds / size)
            return f"{n} {unit}{'s' if n != 1 else ''}"
    return f"{seconds:.0f} seconds"


def _pe_presentation(world: World, plan: Plan, duration_s: float) -> None:
    src = world.hosts[0]
    plan.source_host = src
    bad = world.hosts[-1]
    seed_parity = world.host_info[bad].vvold_pid  # any per-seed value; parity picks the variant
    plan.pe_state[bad] = "missing" if seed_parity % 2 == 0 else "inaccessible"
    world.host_info[bad].pe_visible = False
    dests = [h for h in world.hosts if h != src] or [src]
    vms = sorted(world.vms_on(src), key=lambda v: v.index)[:6]
    plan.workload = _later(world, plan.calm_before_s, _manual(world, vms, dests, 2))
    plan.truth.append(
        f"The Protocol Endpoint {world.profile.pe_id} is not presented to {bad} "
        f"({plan.pe_state[bad]} in its protocolendpoint list); migrations to {bad} fail."
    )


def _not_control_plane(world: World, plan: Plan, duration_s: float) -> None:
    src = world.hosts[0]
    plan.source_host = src
    dests = [h for h in world.hosts if h != src] or [src]
    world.faults.switchover_hosts = {dests[-1]}
    world.faults.switchover_fail_rate = 0.1
    vms = sorted(world.vms_on(src), key=lambda v: v.index)[:8]
    plan.workload = _later(world, plan.calm_before_s, _manual(world, vms, dests, 2))
    plan.truth.append(
        f"Switchovers to {dests[-1]} (and about 10% elsewhere) exceed fsr.maxSwitchoverSeconds (vMotion "
        "network/data path); the VASA provider stays calm."
    )


def _healthy(world: World, plan: Plan, duration_s: float) -> None:
    src = world.hosts[0]
    dests = [h for h in world.hosts if h != src] or [src]
    vms = sorted(world.vms_on(src), key=lambda v: v.index)[:4]
    gap = max(60.0, (duration_s - plan.calm_before_s - plan.calm_after_s) / max(1, len(vms)) - 120)
    plan.workload = _later(world, plan.calm_before_s, _manual(world, vms, dests, 1, gap_s=gap))
    plan.end_s = duration_s or None
    plan.truth.append("A storm-free day: routine getEvents polling and a few migrations, one at a time.")


SETUP: dict[str, Callable[[World, Plan, float], None]] = {
    "saturation": _saturation,
    "registration": _registration,
    "certificate": _certificate,
    "pe-presentation": _pe_presentation,
    "not-control-plane": _not_control_plane,
    "healthy": _healthy,
}
