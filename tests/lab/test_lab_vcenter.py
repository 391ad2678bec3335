"""The lab's vCenter as pyVmomi sees it: TLS verified with the lab's CA, logins checked, and the
scenario's incident in the task and event history, paged and filtered as vCenter does."""

from __future__ import annotations

import json
import ssl
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from lab_fixture import all_of, connect, disconnect, host_named
from pyVim.connect import SmartConnect
from pyVmomi import vim, vmodl

from vvolguard.lab import LabInfo


@pytest.fixture(scope="module")
def lab(lab_factory: Any) -> LabInfo:
    return lab_factory("saturation")


@pytest.fixture(scope="module")
def si(lab: LabInfo) -> Any:
    si = connect(lab)
    yield si
    disconnect(si)


def spec(lab: LabInfo) -> dict[str, Any]:
    return json.loads((Path(lab.folder) / "lab-spec.json").read_text())


def read_all(collector: Any, read: str, page: int) -> list[Any]:
    collector.RewindCollector()
    out: list[Any] = []
    while batch := getattr(collector, read)(page):
        out += batch
    collector.DestroyCollector()
    return out


def window(lab: LabInfo) -> tuple[datetime, datetime]:
    start, end = (datetime.fromisoformat(t) for t in lab.window)
    return start - timedelta(minutes=1), end + timedelta(minutes=1)


def test_tls_is_verified_against_the_lab_ca_only(lab: LabInfo) -> None:
    si = connect(lab)  # verification on, the lab's CA
    assert si.RetrieveContent().about.apiType == "VirtualCenter"
    disconnect(si)
    with pytest.raises(ssl.SSLCertVerificationError):
        SmartConnect(
            host="127.0.0.1",
            port=lab.port,
            user=lab.user,
            pwd=lab.password,
            sslContext=ssl.create_default_context(),
        )


def test_only_the_printed_login_is_accepted(lab: LabInfo) -> None:
    with pytest.raises(vim.fault.InvalidLogin):
        connect(lab, password=lab.password + "x")
    with pytest.raises(vim.fault.InvalidLogin):
        connect(lab, user="administrator@vsphere.local")


def test_inventory_is_the_scenarios(lab: LabInfo, si: Any) -> None:
    assert sorted(h.name for h in all_of(si, vim.HostSystem)) == sorted(lab.hosts)
    wanted = {v["name"]: v["host"] for v in spec(lab)["vms"]}
    seen = {vm.name: vm.runtime.host.name for vm in all_of(si, vim.VirtualMachine)}
    assert seen == wanted


def test_task_history_holds_the_incident_paged_and_filtered_by_time(lab: LabInfo, si: Any) -> None:
    content = si.RetrieveContent()
    begin, end = window(lab)
    dc = all_of(si, vim.Datacenter)[0]
    flt = vim.TaskFilterSpec(
        time=vim.TaskFilterSpec.ByTime(timeType="startedTime", beginTime=begin, endTime=end),
        entity=vim.TaskFilterSpec.ByEntity(entity=dc, recursion="all"),
    )
    tasks = read_all(content.taskManager.CreateCollectorForTasks(flt), "ReadNextTasks", 5)
    expected = spec(lab)["tasks"]
    assert [t.key for t in tasks] == [t["key"] for t in expected]  # oldest first, every page
    failed = [t for t in tasks if t.state == "error"]
    assert failed and len(failed) == sum(t["state"] == "error" for t in expected)
    migrations = [t for t in failed if t.descriptionId == "Drm.ExecuteVMotionLRO"]
    assert migrations and all(t.error.msg == "A system error occurred." for t in migrations)
    assert all(isinstance(t.error, vmodl.fault.SystemError) for t in migrations)
    maintenance = next(t for t in tasks if t.descriptionId == "HostSystem.enterMaintenanceMode")
    assert maintenance.reason.userName == "VSPHERE.LOCAL\\Administrator"
    assert maintenance.entity.name == maintenance.entityName == "esx01.vvol.lab"
    assert all(t.queueTime and t.startTime and t.completeTime for t in tasks)

    # Nothing of the incident after it ended; the same collector's pages never overlap.
    later = vim.TaskFilterSpec(time=vim.TaskFilterSpec.ByTime(timeType="queuedTime", beginTime=end))
    keys = {t.key for t in read_all(content.taskManager.CreateCollectorForTasks(later), "ReadNextTasks", 100)}
    assert not keys & {t["key"] for t in expected}


def test_task_filters_by_entity_user_and_state(lab: LabInfo, si: Any) -> None:
    content = si.RetrieveContent()
    esx01 = host_named(si, "esx01.vvol.lab")
    own = vim.TaskFilterSpec(entity=vim.TaskFilterSpec.ByEntity(entity=esx01, recursion="self"))
    assert [
        t.descriptionId
        for t in read_all(content.taskManager.CreateCollectorForTasks(own), "ReadNextTasks", 50)
    ] == ["HostSystem.enterMaintenanceMode"]
    admin = vim.TaskFilterSpec(
        userName=vim.TaskFilterSpec.ByUsername(userList=["VSPHERE.LOCAL\\Administrator"])
    )
    by_admin = read_all(content.taskManager.CreateCollectorForTasks(admin), "ReadNextTasks", 50)
    assert {t.descriptionId for t in by_admin} == {"HostSystem.enterMaintenanceMode"}
    errors = vim.TaskFilterSpec(state=["error"])
    assert all(
        t.state == "error"
        for t in read_all(content.taskManager.CreateCollectorForTasks(errors), "ReadNextTasks", 50)
    )


def test_latest_page_and_reading_backwards(lab: LabInfo, si: Any) -> None:
    content = si.RetrieveContent()
    begin, end = window(lab)
    flt = vim.TaskFilterSpec(
        time=vim.TaskFilterSpec.ByTime(timeType="queuedTime", beginTime=begin, endTime=end)
    )
    collector = content.taskManager.CreateCollectorForTasks(flt)
    collector.SetCollectorPageSize(3)
    keys = [t["key"] for t in spec(lab)["tasks"]]
    assert [t.key for t in collector.latestPage] == keys[::-1][:3]  # newest first
    collector.ResetCollector()
    backwards: list[str] = []
    while batch := collector.ReadPreviousTasks(4):
        backwards += [t.key for t in batch]
    assert backwards == keys[::-1][3:]  # everything older than the latest page, newest first
    collector.DestroyCollector()


def test_event_history_holds_the_incident(lab: LabInfo, si: Any) -> None:
    content = si.RetrieveContent()
    begin, end = window(lab)
    dc = all_of(si, vim.Datacenter)[0]
    flt = vim.event.EventFilterSpec(
        time=vim.event.EventFilterSpec.ByTime(beginTime=begin, endTime=end),
        entity=vim.event.EventFilterSpec.ByEntity(entity=dc, recursion="all"),
    )
    events = read_all(content.eventManager.CreateCollectorForEvents(flt), "ReadNextEvents", 7)
    expected = spec(lab)["events"]
    assert len(events) == len(expected)
    assert [e.createdTime for e in events] == sorted(e.createdTime for e in events)
    kinds = {type(e).__name__.rsplit(".", 1)[-1] for e in events}
    assert {"VmFailedMigrateEvent", "VmMigratedEvent", "EnteringMaintenanceModeEvent", "TaskEvent"} <= kinds
    failed = [e for e in events if isinstance(e, vim.event.VmFailedMigrateEvent)]
    assert failed and all(e.reason.msg == "A system error occurred." for e in failed)
    assert all(e.destHost.name in lab.hosts and e.host.name == "esx01.vvol.lab" for e in failed)
    entering = next(e for e in events if isinstance(e, vim.event.EnteringMaintenanceModeEvent))
    assert entering.userName == "VSPHERE.LOCAL\\Administrator" and entering.host.name == "esx01.vvol.lab"
    task_event = next(e for e in events if isinstance(e, vim.event.TaskEvent))
    assert task_event.info.descriptionId == "HostSystem.enterMaintenanceMode"

    by_type = vim.event.EventFilterSpec(eventTypeId=["VmFailedMigrateEvent"])
    assert len(content.eventManager.QueryEvents(by_type)) == len(failed)
    users = vim.event.EventFilterSpec(
        time=vim.event.EventFilterSpec.ByTime(beginTime=begin, endTime=end),
        userName=vim.event.EventFilterSpec.ByUsername(userList=["VSPHERE.LOCAL\\Administrator"]),
    )
    assert {type(e).__name__.rsplit(".", 1)[-1] for e in content.eventManager.QueryEvents(users)} <= {
        "TaskEvent",
        "EnteringMaintenanceModeEvent",
        "EnteredMaintenanceModeEvent",
    }
    esx03 = host_named(si, "esx03.vvol.lab")
    on_host = vim.event.EventFilterSpec(
        time=vim.event.EventFilterSpec.ByTime(beginTime=begin, endTime=end),
        entity=vim.event.EventFilterSpec.ByEntity(entity=esx03, recursion="self"),
    )
    for e in content.eventManager.QueryEvents(on_host):
        names = {getattr(getattr(e, a, None), "name", None) for a in ("host", "destHost", "sourceHost")}
        assert "esx03.vvol.lab" in names


def test_a_migration_started_now_joins_the_history_and_vvold_log(lab: LabInfo, si: Any) -> None:
    content = si.RetrieveContent()
    vm = next(v for v in all_of(si, vim.VirtualMachine) if v.runtime.host.name == "esx02.vvol.lab")
    dest = host_named(si, "esx03.vvol.lab")
    log = Path(lab.host_root("esx03.vvol.lab")) / "var/run/log/vvold.log"
    size = log.stat().st_size
    started = datetime.now().astimezone() - timedelta(seconds=5)
    task = vm.RelocateVM_Task(vim.vm.RelocateSpec(host=dest, pool=vm.resourcePool))
    deadline = time.monotonic() + 60
    while task.info.state in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert task.info.state == "success", task.info.error
    grown = log.read_bytes()[size:].decode()
    assert (
        "Issuing 'createVirtualVolume' to VP pure-ct0" in grown
        and "FINAL SUCCESS createVirtualVolume" in grown
    )
    assert "VVold[" in grown  # the scenario's ESXi 8 shape, continued
    flt = vim.TaskFilterSpec(time=vim.TaskFilterSpec.ByTime(timeType="queuedTime", beginTime=started))
    assert task.info.key in [
        t.key for t in read_all(content.taskManager.CreateCollectorForTasks(flt), "ReadNextTasks", 20)
    ]
    events = content.eventManager.QueryEvents(
        vim.event.EventFilterSpec(
            time=vim.event.EventFilterSpec.ByTime(beginTime=started), eventTypeId=["VmMigratedEvent"]
        )
    )
    assert [e.vm.name for e in events] == [vm.name]
    assert events[0].userName == lab.user
