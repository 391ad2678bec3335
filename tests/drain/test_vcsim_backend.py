"""The pyVmomi backend against the govmomi vCenter simulator: TLS, inventory, checks, timed
relocations, the pressure failure, crash reconciliation, maintenance mode, and the same drain
controller the simulated world uses, driven through the Python API."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from pyVmomi import vim
from vcsim_fixture import (
    SOURCE,
    Vcsim,
    assert_backed_off,
    journal_events,
    vcsim_binary,
    vcsim_factory,
    wait_for,
)

from vvolguard.drain.backends.base import Backend, RelocateState, is_pressure_failure
from vvolguard.drain.backends.vsphere import VSphereBackend, VSphereError, connect
from vvolguard.drain.controller import DrainController, DrainOptions
from vvolguard.drain.journal import Journal, VmState
from vvolguard.drain.limits import Admission, AIMDLimit, GradientLimit, make_limit
from vvolguard.drain.pressure import PressureMonitor, PressureThresholds
from vvolguard.evidence.vvold import VvoldStream

__all__ = ["vcsim_binary", "vcsim_factory"]  # fixtures used by name below

pytestmark = pytest.mark.vcsim

PASSWORD = "pw-Zq8!never-shown"


def _backend(sim: Vcsim) -> VSphereBackend:
    return connect(sim.url, "administrator@vsphere.local", PASSWORD, ca_file=sim.cert)


def test_tls_is_verified_by_default_and_the_message_says_what_to_do(vcsim_factory) -> None:
    sim = vcsim_factory(vms=2)
    with pytest.raises(VSphereError) as err:
        connect(sim.url, "administrator@vsphere.local", PASSWORD)
    message = str(err.value)
    assert "not trusted" in message and "--ca-file" in message and "--insecure" in message
    assert PASSWORD not in message

    trusted = connect(sim.url, "administrator@vsphere.local", PASSWORD, ca_file=sim.cert)
    assert trusted.notes == []
    assert PASSWORD not in trusted.endpoint and trusted.endpoint == f"127.0.0.1:{sim.port}"
    assert not any(PASSWORD in str(v) for v in vars(trusted).values())
    trusted.close()

    insecure = connect(sim.url, "administrator@vsphere.local", PASSWORD, insecure=True)
    assert any("verification is OFF" in n for n in insecure.notes)
    insecure.close()


def test_inventory_by_short_name_or_fqdn_and_destinations(vcsim_factory) -> None:
    sim = vcsim_factory(vms=5, powered_off=2)
    b = _backend(sim)
    assert isinstance(b, Backend)
    assert b.canonical_host("esx-01") == b.canonical_host("ESX-01.vcsim.test") == "esx-01.vcsim.test"

    vms = b.list_vms(SOURCE)
    assert sorted(v.name for v in vms) == [f"app-{i:02d}" for i in range(1, 6)]
    assert [v.powered_on for v in vms] == [True, True, True, False, False]  # powered-on first
    assert all(v.host == "esx-01.vcsim.test" and v.datastores for v in vms)  # one spelling

    # Default: the other connected hosts of the source's cluster (not the isolated standalone).
    assert b.resolve_targets(SOURCE, []) == ["esx-02.vcsim.test", "esx-03.vcsim.test", "esx-04.vcsim.test"]
    assert b.resolve_targets(SOURCE, ["DC0_C0"]) == b.resolve_targets(SOURCE, [])
    assert b.resolve_targets(SOURCE, ["esx-03", "esx-01.VCSIM.test"]) == ["esx-03.vcsim.test"]
    with pytest.raises(LookupError, match="no host or cluster named 'esx-77'"):
        b.resolve_targets(SOURCE, ["esx-77"])

    sim.host("esx-04").EnterMaintenanceMode_Task(timeout=0)
    wait_for(lambda: sim.host("esx-04").runtime.inMaintenanceMode)
    assert "esx-04.vcsim.test" not in b.resolve_targets(SOURCE, [])
    with pytest.raises(LookupError, match="maintenance mode"):
        b.resolve_targets(SOURCE, ["esx-04"])
    b.close()


def test_destination_is_least_loaded_and_compatible(vcsim_factory) -> None:
    sim = vcsim_factory(vms=3, other_vms=2)
    b = _backend(sim)
    vm = b.list_vms(SOURCE)[0]
    # The isolated host is empty, but it does not mount the VM's datastore: never preferred.
    candidates = ["esx-isolated", "esx-02", "esx-03"]
    assert b.pick_destination(vm, candidates) in ("esx-02", "esx-03")
    problems = b.check_relocate(vm, "esx-isolated")
    assert problems and "LocalDS_0" in problems[0]

    # A move in flight towards esx-02 counts as load there, so the next VM goes elsewhere.
    sim.set(relocateSeconds=2)
    first = b.pick_destination(vm, ["esx-02", "esx-03"])
    b.submit_relocate(vm, first)
    second = b.pick_destination(b.list_vms(SOURCE)[1], ["esx-02", "esx-03"])
    assert {first, second} == {"esx-02", "esx-03"}
    b.close()


def test_check_relocate_goes_through_the_provisioning_checker(vcsim_factory) -> None:
    sim = vcsim_factory(vms=2)
    b = _backend(sim)
    vm = b.list_vms(SOURCE)[0]
    assert b.check_relocate(vm, "esx-02") == []
    checks = [
        t.info
        for t in sim.content.taskManager.recentTask
        if t.info.descriptionId == "VirtualMachine.checkRelocate" and t.info.entity._moId == vm.id
    ]
    assert checks and checks[-1].state == "success"
    b.close()


def test_relocation_runs_in_the_background_and_really_moves_the_vm(vcsim_factory) -> None:
    sim = vcsim_factory(vms=2, relocate_seconds=2.0)
    b = _backend(sim)
    vm = b.list_vms(SOURCE)[0]
    started = time.monotonic()
    task = b.submit_relocate(vm, "esx-03")
    assert time.monotonic() - started < 1.5  # returned before the move finished
    assert b.poll(task).state is RelocateState.RUNNING
    assert b.vm_host(vm.id) == b.canonical_host(SOURCE) == "esx-01.vcsim.test"

    outcome = wait_for(lambda: (o := b.poll(task)).state.done and o)
    assert outcome.state is RelocateState.SUCCESS
    assert b.vm_host(vm.id) == "esx-03.vcsim.test"
    assert vm.name in sim.host_lists()["esx-03"] and vm.name not in sim.host_lists()["esx-01"]
    assert sim.relocations() == {vm.name: 1}
    events = sim.content.eventManager.QueryEvents(
        vim.event.EventFilterSpec(eventTypeId=["VmMigratedEvent"], maxCount=50)
    )
    assert [e.vm.name for e in events] == [vm.name]
    assert "esx-01.vcsim.test" in events[0].fullFormattedMessage
    assert b.poll("task-999999").state is RelocateState.MISSING
    b.close()


def test_saturation_fails_with_system_error_and_counts_as_pressure(vcsim_factory, tmp_path: Path) -> None:
    sim = vcsim_factory(vms=3, relocate_seconds=2.0, fail_seconds=0.2, ceiling=1, vvold_dir=tmp_path)
    b = _backend(sim)
    first, second = b.list_vms(SOURCE)[:2]
    ok_task = b.submit_relocate(first, "esx-02")
    bad_task = b.submit_relocate(second, "esx-03")  # two in flight, the provider sustains one
    bad = wait_for(lambda: (o := b.poll(bad_task)).state.done and o)
    assert bad.state is RelocateState.ERROR
    assert bad.fault == "vmodl.fault.SystemError" and bad.error == "A system error occurred."
    assert is_pressure_failure(bad)
    good = wait_for(lambda: (o := b.poll(ok_task)).state.done and o)
    assert good.state is RelocateState.SUCCESS and not is_pressure_failure(good)
    assert b.vm_host(second.id) == "esx-01.vcsim.test"  # a failed move leaves the VM in place
    failed_events = sim.content.eventManager.QueryEvents(
        vim.event.EventFilterSpec(eventTypeId=["VmFailedMigrateEvent"], maxCount=50)
    )
    assert [e.vm.name for e in failed_events] == [second.name]
    assert failed_events[0].reason.msg == "A system error occurred."
    b.close()

    # The destination hosts' vvold.log tell the same story, as the project's own reader parses it
    # (what `diagnose` and the drain's live tail see): a create that succeeded on esx-02, and on
    # esx-03 a wait for a free connection followed by a transient failure.
    ok_log = _vvold_records(tmp_path / "esx-02.vvold.log")
    assert [r["kind"] for r in ok_log] == ["issue", "success"]
    assert ok_log[0]["outstanding"] == 0 and ok_log[0]["outstanding_max"] == 1
    assert ok_log[1]["op"] == "createVirtualVolume" and ok_log[1]["elapsed_ms"] >= 1900
    busy_log = _vvold_records(tmp_path / "esx-03.vvold.log")
    assert [r["kind"] for r in busy_log] == ["no-free-conn", "failure"]
    assert busy_log[1]["fault"] == "RESOURCE_BUSY"


def _vvold_records(path: Path) -> list[dict]:
    stream = VvoldStream(path.name, host=path.name.split(".")[0])
    frames = list(stream.feed_all([path.read_bytes()], parallel=False))
    return [row for frame in frames for row in frame.frame.iter_rows(named=True)]


def test_a_restarted_process_finds_the_task_it_never_journaled(vcsim_factory) -> None:
    sim = vcsim_factory(vms=2, relocate_seconds=3.0)  # long enough for a loaded CI machine
    first = _backend(sim)
    vm = first.list_vms(SOURCE)[0]
    task = first.submit_relocate(vm, "esx-02")
    first.close()  # the process "dies" here, before writing the task id down

    second = _backend(sim)  # a new session, as a rerun has
    assert second.find_relocate_task(vm.id) == task
    assert second.find_relocate_task(second.list_vms(SOURCE)[-1].id) is None
    wait_for(lambda: second.poll(task).state.done, timeout=10)
    assert second.find_relocate_task(vm.id) is None  # done: nothing to wait for any more
    second.close()


def test_enter_maintenance_mode(vcsim_factory) -> None:
    sim = vcsim_factory(vms=0, other_vms=1)
    b = _backend(sim)
    b.enter_maintenance(SOURCE)
    assert sim.host("esx-01").runtime.inMaintenanceMode
    assert sim.stats()["maintenanceVms.esx-01.vcsim.test"] == 0
    b.close()


@pytest.mark.parametrize("policy", ["aimd", "gradient"])
def test_the_drain_controller_empties_the_host_through_the_python_api(
    vcsim_factory, tmp_path: Path, policy: str
) -> None:
    """One controller, two worlds: the controller the simulated backend drives, on pyVmomi.
    The provider sustains 2 relocations; the drain must find that out, back off and finish."""
    sim = vcsim_factory(vms=10, powered_off=1, relocate_seconds=0.4, fail_seconds=0.2, ceiling=2)
    before = {n for n, h in sim.placement().items() if h == "esx-01"}
    b = _backend(sim)
    journal, resumed = Journal.open(
        tmp_path / "journal.db", endpoint=b.endpoint, source_host=SOURCE, targets=[], options={}
    )
    assert not resumed
    options = DrainOptions(source=SOURCE, cooldown=0.3, poll_interval=0.05, spacing=0.05)
    monitor = PressureMonitor(b.clock, PressureThresholds(clear_after=0.8))  # scaled down like the moves
    # The limit's waits scaled down like the simulator's relocations (seconds, not minutes).
    kind = {"aimd": AIMDLimit, "gradient": GradientLimit}[policy]
    limit = Admission(kind(b.host_limit(SOURCE)), release_jitter=0.3, max_idle_hold=5.0)
    controller = DrainController(b, journal, limit, options, monitor=monitor)
    result = controller.run()
    b.close()

    assert not result.interrupted and not result.left
    assert sorted(result.moved) == sorted(before)
    placement = sim.placement()
    assert all(placement[n] != "esx-01" for n in before)
    assert sim.host_lists()["esx-01"] == []
    assert sim.relocations() == dict.fromkeys(before, 1)  # every VM moved exactly once
    assert all(e.state is VmState.SUCCEEDED for e in journal.entries())
    timeline = assert_backed_off(journal_events(tmp_path / "journal.db"))
    assert result.failed_tasks == len(timeline.failures) == sim.stats()["failed"]


def test_a_lost_connection_while_polling_is_not_the_end_of_the_drain(vcsim_factory) -> None:
    """vCenter keeps running the task whatever the client sees; a poll that cannot reach it
    says "still running" so the controller looks again instead of crashing or giving up."""
    sim = vcsim_factory(vms=1, relocate_seconds=5)
    b = _backend(sim)
    task = b.submit_relocate(b.list_vms(SOURCE)[0], "esx-02")
    sim.stop()
    assert b.poll(task).state is RelocateState.RUNNING


def test_resume_after_a_death_between_submit_and_journal_does_not_submit_again(
    vcsim_factory, tmp_path: Path
) -> None:
    """The worst kill -9 moment: RelocateVM_Task was sent, its id never written. The rerun must
    find the running task through vCenter and wait for it, not relocate the VM a second time."""
    sim = vcsim_factory(vms=4, relocate_seconds=0.5)
    sim.set(relocateSeconds=6)  # only the victim's move is slow: still running at the rerun
    db = tmp_path / "journal.db"
    first = _backend(sim)
    journal, _ = Journal.open(db, endpoint=first.endpoint, source_host=SOURCE, targets=[], options={})
    journal.plan(first.list_vms(SOURCE))
    victim = first.list_vms(SOURCE)[0]
    journal.submitting(victim.id, "esx-02")
    first.submit_relocate(victim, "esx-02")  # ... and the process dies before journal.submitted()
    sim.set(relocateSeconds=0.5)
    journal.close()
    first.close()

    second = _backend(sim)
    assert second.find_relocate_task(victim.id)  # still running: the path under test
    journal, resumed = Journal.open(db, endpoint=second.endpoint, source_host=SOURCE, targets=[], options={})
    assert resumed
    options = DrainOptions(source=SOURCE, cooldown=0.3, poll_interval=0.05, spacing=0.05)
    result = DrainController(second, journal, make_limit("aimd", 8), options, resumed=True).run()
    second.close()

    assert not result.left and len(result.moved) == 4
    assert sim.relocations() == dict.fromkeys(result.moved, 1)
    assert sim.stats()[f"attempts.{victim.id}"] == 1
    assert sim.placement()[victim.name] == "esx-02"
