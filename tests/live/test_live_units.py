"""The small rules of the live commands: windows, which vvold generations hold the window,
case folders that refuse to mix incidents, and the serialised shapes the readers take back."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from vvolguard.evidence.events import EventExportReader
from vvolguard.evidence.source import from_bytes
from vvolguard.evidence.tasks import TaskExportReader
from vvolguard.live.case import Case, CaseError
from vvolguard.live.hostlogs import pick_generations
from vvolguard.live.window import Window, parse_duration, parse_window

NOW = datetime(2026, 3, 14, 12, 0, tzinfo=UTC)


def test_windows() -> None:
    assert parse_window("90m", None, NOW) == Window(NOW - timedelta(minutes=90), NOW)
    assert parse_window(None, None, NOW).start == NOW - timedelta(hours=2)
    w = parse_window(None, "2026-03-14T09:00Z..2026-03-14T10:30:00+01:00", NOW)
    assert (w.start, w.end) == (
        datetime(2026, 3, 14, 9, tzinfo=UTC),
        datetime(2026, 3, 14, 9, 30, tzinfo=UTC),
    )
    assert parse_window(None, "2026-03-14T09:00..", NOW).end == NOW
    assert parse_duration("1.5h") == timedelta(minutes=90)
    for since, window in [
        ("2h", "a..b"),
        ("soon", None),
        ("0", None),
        (None, "2026-03-14T10:00Z..2026-03-14T09:00Z"),
        (None, "2026-03-14"),
    ]:
        with pytest.raises(ValueError):
            parse_window(since, window, NOW)


def test_generations_that_can_hold_the_window() -> None:
    window = Window(NOW - timedelta(hours=2), NOW)
    old, recent = (NOW - timedelta(days=3)).timestamp(), (NOW - timedelta(minutes=30)).timestamp()
    listing = [
        ("vvold.log", old),
        ("vvold.0.gz", recent),
        ("vvold.1.gz", old),
        ("hostd.log", recent),
        ("vvold.2.gz", None),
    ]
    # the live file always; a rotated one unless last written before the window; unknown times kept
    assert pick_generations(listing, window) == ["vvold.0.gz", "vvold.2.gz", "vvold.log"]


def test_a_case_folder_is_new_or_empty(tmp_path: Path) -> None:
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "notes.txt").write_text("mine")
    with pytest.raises(CaseError, match="not an empty folder"):
        Case.create(tmp_path / "used", "vc:443", [], Window(NOW, NOW))
    assert (tmp_path / "used" / "notes.txt").read_text() == "mine"
    case = Case.create(tmp_path / "new", "vc:443", ["esx-01"], Window(NOW, NOW))
    with pytest.raises(ValueError):
        case.path("../escape.txt")
    with case.open("hosts/esx-01/var/run/log/vvold.log") as fh:
        fh.write(b"half")
    case.discard("hosts/esx-01/var/run/log/vvold.log")
    assert not (tmp_path / "new" / "hosts").exists()  # no empty folders that look like evidence
    assert json.loads((tmp_path / "new" / "case.json").read_text())["vvolguard_case"] == "vvolguard.case/v1"


def test_serialised_tasks_and_events_read_back_as_migrations() -> None:
    """Real pyVmomi data objects through the serialisers, then through the readers."""
    from pyVmomi import vim, vmodl

    from vvolguard.live.serialize import event_json, task_json

    vm = vim.VirtualMachine("vm-42")
    src, dst = vim.HostSystem("host-1"), vim.HostSystem("host-2")
    fault = vmodl.fault.SystemError(msg="A system error occurred.", reason="A system error occurred.")
    info = vim.TaskInfo(
        key="task-901",
        name=None,
        descriptionId="Drm.ExecuteVMotionLRO",
        entity=vm,
        entityName="app-01",
        state="error",
        error=fault,
        queueTime=NOW,
        startTime=NOW,
        completeTime=NOW + timedelta(seconds=70),
        eventChainId=77,
        cancelable=False,
        cancelled=False,
        reason=vim.TaskReasonSystem(),
    )
    tasks = json.dumps([task_json(info, "vc01:443")])
    [task] = list(TaskExportReader().read(from_bytes("get-task.json", tasks.encode())))
    assert (task.task_id, task.vm, task.state.value, task.error) == (
        "task-901",
        "app-01",
        "error",
        "A system error occurred.",
    )

    failed = vim.event.VmFailedMigrateEvent(
        key=5,
        chainId=77,
        createdTime=NOW + timedelta(seconds=70),
        userName="",
        vm=vim.event.VmEventArgument(vm=vm, name="app-01"),
        host=vim.event.HostEventArgument(host=src, name="esx-01.lab"),
        destHost=vim.event.HostEventArgument(host=dst, name="esx-02.lab"),
        reason=fault,
        fullFormattedMessage="Cannot migrate app-01 from esx-01.lab to esx-02.lab",
    )
    events = json.dumps([event_json(failed)])
    [migration] = [
        r
        for r in EventExportReader().read(from_bytes("get-vievent.json", events.encode()))
        if hasattr(r, "dest_host")
    ]
    assert (migration.vm, migration.source_host, migration.dest_host) == (
        "app-01",
        "esx-01.lab",
        "esx-02.lab",
    )
    assert migration.error == "A system error occurred."
