"""The drain controller on the simulator: limits respected, lone retries, VMs left in place,
CheckRelocate problems, dry run, resume reconciliation and the recorded operational limit."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from vvolguard.drain.backends.simulated import SimulatedBackend
from vvolguard.drain.controller import DrainController, DrainOptions, plan_drain
from vvolguard.drain.journal import Journal, VmState
from vvolguard.drain.limits import Admission, make_limit

SOURCE = "esx01.vvol.lab"


def drain(
    backend: SimulatedBackend,
    limit: Admission,
    journal_path: Path | str = ":memory:",
    **opts: object,
):
    journal, resumed = Journal.open(
        journal_path, endpoint=backend.endpoint, source_host=SOURCE, targets=[], options={}
    )
    options = DrainOptions(source=SOURCE, **opts)  # type: ignore[arg-type]
    controller = DrainController(
        backend, journal, limit, options, log_sources=backend.log_sources([SOURCE]), resumed=resumed
    )
    return controller, controller.run(), journal


def overlaps(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def test_adaptive_drain_empties_the_host_and_never_exceeds_max() -> None:
    backend = SimulatedBackend.open(None, profile="midrange", vms=16, seed=3)
    _, result, journal = drain(backend, make_limit("aimd", 8), max_inflight=3)
    assert result.complete and len(result.moved) == 16 and not result.left
    assert backend.world.vms_on(SOURCE) == []
    assert result.ceiling == 3
    assert result.peak_inflight <= 3
    assert max(n for _, _, n in result.limit_trace) <= 3
    # the world agrees: never more than 3 relocations of this host running at once
    tasks = [(t.queued_at, t.finished_at) for t in backend.world.tasks()]
    for start, _ in tasks:
        assert sum(1 for s, f in tasks if s <= start < f) <= 3
    assert all(e.state is VmState.SUCCEEDED for e in journal.entries())
    # the first submission is a probe of one
    assert result.limit_trace[0][1] == 1


def test_maintenance_mode_style_fixed_8_fails_where_adaptive_does_not() -> None:
    fixed = SimulatedBackend.open(None, profile="slow-entry", vms=16, seed=1)
    _, r_fixed, _ = drain(fixed, make_limit("fixed", 8, fixed=8), cooldown=60.0, spacing=0.0)
    adaptive = SimulatedBackend.open(None, profile="slow-entry", vms=16, seed=1)
    _, r_adaptive, _ = drain(adaptive, make_limit("aimd", 8), cooldown=60.0)
    assert r_fixed.failed_tasks > 0  # the KB 318662 storm
    assert r_adaptive.failed_tasks == 0
    assert len(r_adaptive.moved) == 16


def test_failed_vms_are_retried_alone_after_the_cooldown_then_left_in_place() -> None:
    backend = SimulatedBackend.open(None, profile="midrange", vms=4, seed=2)
    # Every switchover to any destination fails (a cause outside the control plane).
    backend.world.faults.switchover_hosts = set(backend.world.hosts)
    _, result, journal = drain(backend, make_limit("fixed", 8, fixed=4), cooldown=90.0)
    assert sorted(name for name, _ in result.left) == ["app-001", "app-002", "app-003", "app-004"]
    assert all("failed 2 times" in why for _, why in result.left)
    assert result.failed_tasks == 8
    assert [e.attempts for e in journal.entries()] == [2, 2, 2, 2]
    tasks = backend.world.tasks()
    first = {t.vm_id: t for t in reversed(tasks)}  # earliest task per VM
    retries = [t for t in tasks if first[t.vm_id] is not t]
    assert len(retries) == 4
    for r in retries:
        span = (r.queued_at, r.finished_at)
        others = [t for t in tasks if t is not r and overlaps(span, (t.queued_at, t.finished_at))]
        assert others == [], f"retry of {r.vm_name} ran alongside {[t.vm_name for t in others]}"
        assert r.queued_at >= first[r.vm_id].finished_at + 90.0
    assert backend.world.vms_on(SOURCE)  # left in place, as promised


def test_checkrelocate_problems_leave_the_vm_and_report_why() -> None:
    backend = SimulatedBackend.open(
        None, profile="midrange", vms=3, seed=1, problems={"vm-1002": "CD-ROM connected to a host device"}
    )
    moves = plan_drain(backend, DrainOptions(source=SOURCE))
    assert [m.problems != () for m in moves] == [False, True, False]
    assert backend.task_rows() == []  # the plan touched nothing
    _, result, _ = drain(backend, make_limit("aimd", 8))
    assert result.left and result.left[0][0] == "app-002" and "CD-ROM" in result.left[0][1]
    assert len(result.moved) == 2


def test_resume_adopts_a_task_submitted_just_before_a_crash(tmp_path: Path) -> None:
    world = tmp_path / "world.db"
    jpath = tmp_path / "journal.db"
    backend = SimulatedBackend.open(world, profile="midrange", vms=3, seed=5)
    journal, _ = Journal.open(jpath, endpoint=backend.endpoint, source_host=SOURCE, targets=[], options={})
    vms = backend.list_vms(SOURCE)
    journal.plan(vms)
    # The process "dies" between RelocateVM_Task returning and the journal write.
    journal.submitting(vms[0].id, "esx02.vvol.lab")
    backend.submit_relocate(vms[0], "esx02.vvol.lab")
    journal.close()
    backend.close()

    backend2 = SimulatedBackend.open(world)
    _, result, _ = drain(backend2, make_limit("aimd", 8), journal_path=jpath)
    assert result.resumed and len(result.moved) == 3
    moved = [vm for vm, *_ in backend2.relocations()]
    assert sorted(moved) == ["vm-1001", "vm-1002", "vm-1003"]
    assert [state for _, _, state in backend2.task_rows()].count("rejected") == 0


def test_known_safe_limit_speeds_up_the_next_drain() -> None:
    cold = SimulatedBackend.open(None, profile="enterprise", vms=16, seed=4)
    _, r_cold, _ = drain(cold, make_limit("aimd", 8))
    warm = SimulatedBackend.open(None, profile="enterprise", vms=16, seed=4)
    _, r_warm, _ = drain(warm, make_limit("aimd", 8, known_safe=r_cold.safe_limit))
    assert r_cold.safe_limit and r_cold.safe_limit >= 2
    assert r_warm.failed_tasks == 0
    # after the probe it jumps to the known limit instead of climbing 1, 2, 3...
    assert r_warm.limit_trace[1][1] == min(8, r_cold.safe_limit)


@pytest.mark.parametrize("policy", ["aimd", "gradient"])
def test_both_adaptive_policies_run_the_same_controller(policy: str) -> None:
    backend = SimulatedBackend.open(None, profile="enterprise", vms=8, seed=1)
    _, result, _ = drain(backend, make_limit(policy, 8))
    assert len(result.moved) == 8 and result.failed_tasks == 0


def test_failures_that_name_another_cause_do_not_count_as_vasa_pressure() -> None:
    """A switchover that exceeds its limit fails with "destination failed to resume": the data
    path, not the provider. It is retried like any failure, but it does not cut the wave."""
    backend = SimulatedBackend.open(None, profile="midrange", vms=12, seed=2)
    backend.world.faults.switchover_fail_rate = 0.25
    controller, result, _ = drain(backend, make_limit("aimd", 8), cooldown=60.0)
    assert result.failed_tasks > 0
    counts = controller.monitor.counts
    assert counts["migration failed outside the VASA control plane"] == result.failed_tasks
    assert not [reason for reason in counts if reason.startswith("migration of")]


def test_time_lost_to_another_tenants_clone_storm_is_counted_apart() -> None:
    """On a provider shared with a clone storm the drain does not grow for busy answers that
    come as often with one of ours in flight: that time is reported as someone else's
    (``foreign_seconds``); a provider without other load reports none, and nothing fails."""
    storm = SimulatedBackend.open(None, profile="clone-storm", vms=8, seed=1)
    _, stormy, _ = drain(storm, make_limit("gradient", 8))
    quiet = SimulatedBackend.open(None, profile="enterprise", vms=8, seed=1)
    _, calm_run, _ = drain(quiet, make_limit("gradient", 8))
    assert stormy.complete and calm_run.complete and not stormy.failed_tasks
    assert stormy.foreign_seconds > 0.3 * stormy.makespan
    assert calm_run.foreign_seconds == 0.0
    assert stormy.foreign_seconds <= sum(stormy.phase_seconds.values())


class RoundTripBackend(SimulatedBackend):
    """A backend whose RelocateVM_Task call takes virtual time to return, as a real vCenter's
    round trip does, so the clock moves on between two submissions of the same tick."""

    round_trip = 0.25

    def submit_relocate(self, vm, dest):  # type: ignore[no-untyped-def]
        task_id = super().submit_relocate(vm, dest)
        self.env.run(until=self.env.now + self.round_trip)
        return task_id


@pytest.mark.parametrize("spacing", [0.0, 1.0])
def test_spacing_is_measured_from_the_last_submission_not_the_ticks_start(spacing: float) -> None:
    """With spacing 0 a fixed limit of 4 submits 4 migrations in its first tick, one round trip
    apart, however long each call takes; with 1 s, one a tick (a 2 s poll after a 0.25 s call)."""
    backend = RoundTripBackend.open(None, profile="enterprise", vms=8, seed=1)
    _, result, _ = drain(backend, make_limit("fixed", 8, fixed=4), spacing=spacing, poll_interval=2.0)
    assert len(result.moved) == 8 and not result.failed_tasks
    first = sorted(t.queued_at for t in backend.world.tasks())[:4]
    gaps = [b - a for a, b in pairwise(first)]
    if spacing == 0.0:
        assert gaps == pytest.approx([RoundTripBackend.round_trip] * 3)
    else:
        assert gaps == pytest.approx([2.0 + RoundTripBackend.round_trip] * 3)


def _create_gated(vms: int, **controller: Any) -> tuple[SimulatedBackend, DrainController]:
    """An adaptive drain whose monitor has no room for a create of ours before 100 s."""
    from vvolguard.drain.pressure import PressureMonitor

    class Gated(PressureMonitor):
        def room_for_a_create(self) -> bool:
            return self.clock.now() >= 100.0

    backend = SimulatedBackend.open(None, profile="midrange", vms=vms, seed=2)
    journal, _ = Journal.open(
        ":memory:", endpoint=backend.endpoint, source_host=SOURCE, targets=[], options={}
    )
    drain = DrainController(
        backend,
        journal,
        make_limit("aimd", 8),
        DrainOptions(source=SOURCE, spacing=0.0),
        monitor=Gated(backend.clock),
        log_sources=backend.log_sources([SOURCE]),
        **controller,
    )
    return backend, drain


def test_no_migration_starts_while_the_monitor_has_no_room_for_another_create() -> None:
    """The create gate (``PressureMonitor.room_for_a_create``) holds an adaptive drain's
    submissions back, even with free slots: nothing is submitted before it opens."""
    backend, controller = _create_gated(4)
    result = controller.run()
    assert len(result.moved) == 4
    assert min(t.queued_at for t in backend.world.tasks()) >= 100.0


def test_a_drain_waiting_for_a_create_says_so_and_why() -> None:
    """A drain held back by the create cap would otherwise read as a limit of 8 with nothing in
    flight, like a hang: the progress says it waits for a swap-vVol create of ours, and why."""
    from vvolguard.drain.progress import line

    seen: list[tuple[float, str]] = []
    backend, controller = _create_gated(2, on_progress=lambda p: seen.append((backend.clock.now(), line(p))))
    controller.monitor.create_cap = 1
    controller.monitor.create_cap_reason = "the provider answered busy with 2 of ours at once"
    assert len(controller.run().moved) == 2
    early = [text for at, text in seen if at < 100.0]
    assert early and all(
        "waiting: at most one swap-vVol create of ours at once (the provider answered busy with 2" in text
        for text in early
    )
    assert "waiting:" not in seen[-1][1]  # nothing left to start
