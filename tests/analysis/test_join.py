"""Several exports of the same migrations join without inflating the counts or the per-host
concurrency, which never exceeds vCenter's admission (issue 10 B)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from analysis_builders import NOW, T0, task

from vvolguard.analysis.engine import Analyzer
from vvolguard.analysis.migrations import HostNames, MigrationLedger
from vvolguard.analysis.model import NoteKind
from vvolguard.records import MigrationTask, TaskState


def back_to_back(n: int = 16) -> list[MigrationTask]:
    """vCenter's evacuation: 8 at once, each queued one starting the instant a slot frees
    (millisecond times, as PowerCLI and the events keep them)."""
    out = []
    for i in range(n):
        slot, wave = i % 8, i // 8
        start = T0 + timedelta(seconds=wave * 40.123 + slot * 0.25)
        end = T0 + timedelta(seconds=(wave + 1) * 40.123 + slot * 0.25)
        out.append(replace(task(i, TaskState.SUCCESS, 0, 0), start=start, end=end))
    return out


def csv_copy(t: MigrationTask) -> MigrationTask:
    """The vSphere Client CSV row of the same task: whole seconds, no id, no hosts."""
    assert t.start is not None and t.end is not None
    return replace(
        t,
        task_id=None,
        source_host=None,
        start=t.start.replace(microsecond=0),
        end=t.end.replace(microsecond=0),
        event_chain_id=None,
    )


def event_copy(t: MigrationTask) -> MigrationTask:
    """The Get-VIEvent view: chain id and hosts, no task id."""
    return replace(t, task_id=None, event_chain_id=f"chain-{t.vm}")


def summary(tasks: list[MigrationTask]) -> tuple[int, dict[str, int]]:
    ledger = MigrationLedger(3.0)
    for t in tasks:
        ledger.add(t)
    out, _ = ledger.summarise(HostNames(), 4)  # no admission cap: the join alone must hold
    return out.total, out.peak_concurrency


def test_three_exports_of_one_evacuation_count_as_one() -> None:
    tasks = back_to_back()
    alone = summary(tasks)
    assert alone == (16, {"esx-01.corp.example": 8})
    for order in ([*map(csv_copy, tasks), *tasks], [*tasks, *map(csv_copy, tasks), *map(event_copy, tasks)]):
        assert summary(order) == alone


def test_a_retry_of_the_same_vm_within_the_tolerance_is_another_migration() -> None:
    first = replace(task(1, TaskState.ERROR, 0, 1), task_id=None)
    retry = replace(task(1, TaskState.SUCCESS, 2.5, 60), task_id=None)
    ledger = MigrationLedger(3.0)
    ledger.add(first)
    ledger.add(retry)
    assert len(ledger) == 2 and ledger.retries() == (1, 0)


def test_more_in_flight_than_vcenter_admits_is_counted_at_the_limit_and_reported() -> None:
    """An export whose 'start' is the queue time shows 12 at once; vCenter ran at most 8."""
    queued = [task(i, TaskState.SUCCESS, 0, 100) for i in range(12)]
    an = Analyzer(now=NOW)
    for t in queued:
        an.add(t)
    d = an.finish()
    assert d.migrations.peak_concurrency == {"esx-01.corp.example": 8}
    assert max(p["in_flight"] for p in d.signals["migrations_in_flight"]) == 8
    (note,) = [n for n in d.notes if n.kind == NoteKind.ADMISSION_LIMIT]
    assert "up to 12 migrations" in note.text


def test_a_csv_written_in_local_time_without_an_offset_joins_the_other_exports() -> None:
    """The vSphere Client CSV of a browser in UTC+01:00, taken as UTC, is an hour late: the
    whole file lines up with the Get-Task export at that offset, so each migration counts once."""
    tasks = back_to_back()
    local = [
        replace(csv_copy(t), start=t.start + timedelta(hours=1), end=t.end + timedelta(hours=1))
        for t in tasks
    ]
    local = [replace(t, citation=replace(t.citation, file="tasks-local.csv")) for t in local]
    an = Analyzer(now=NOW)
    for t in [*tasks, *local]:
        an.add(t)
    d = an.finish()
    assert d.migrations.total == 16 and d.migrations.peak_concurrency == {"esx-01.corp.example": 8}
    (note,) = [n for n in d.notes if n.kind == NoteKind.TIMES_ALIGNED]
    assert note.text.startswith("tasks-local.csv: its times are 1 h later") and "UTC+01:00" in note.text
    # alone, the same file is taken as it is (nothing to line it up with)
    an = Analyzer(now=NOW)
    for t in local:
        an.add(t)
    d = an.finish()
    assert d.migrations.total == 16 and not d.notes
    assert min(m.start for m in local) == T0 + timedelta(hours=1)
