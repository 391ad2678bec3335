"""One migration exported twice (vSphere Client CSV without a task id, PowerCLI JSON with one)
must count once; two migrations of the same VM at different times must count twice."""

from __future__ import annotations

from datetime import UTC, datetime

from vvolguard.analysis.migrations import MigrationLedger
from vvolguard.records import MigrationTask, TaskState

START = datetime(2026, 3, 14, 10, 10, 0, 412000, tzinfo=UTC)


def _csv_row(vm: str, start: datetime, state: TaskState) -> MigrationTask:
    return MigrationTask(None, vm, None, "esx02.vvol.lab", state, start.replace(microsecond=0), None)


def _json_task(task_id: str, vm: str, start: datetime, state: TaskState) -> MigrationTask:
    return MigrationTask(
        task_id, vm, "esx01.vvol.lab", None, state, start, None, error="A system error occurred."
    )


def test_csv_and_json_copies_of_one_migration_merge() -> None:
    ledger = MigrationLedger()
    ledger.add(_json_task("task-101", "app-001", START, TaskState.ERROR))
    ledger.add(_csv_row("APP-001", START, TaskState.ERROR))
    (task,) = ledger.tasks()
    assert task.task_id == "task-101"
    assert task.source_host == "esx01.vvol.lab" and task.dest_host == "esx02.vvol.lab"


def test_same_vm_moved_twice_counts_twice() -> None:
    ledger = MigrationLedger()
    ledger.add(_csv_row("app-001", START, TaskState.ERROR))
    ledger.add(_csv_row("app-001", START.replace(minute=25), TaskState.SUCCESS))
    assert len(ledger) == 2
    assert ledger.retries() == (1, 0)
