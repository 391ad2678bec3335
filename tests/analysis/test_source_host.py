"""When the exports do not say where the failed migrations came from, the source host is inferred
from the overlapping Enter-maintenance-mode task or event (or the rest of the wave), named in the
verdict and in the commands to run, never left as a placeholder (issue 10 B)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from analysis_builders import NOW, maintenance, task

from vvolguard.analysis.engine import Analyzer
from vvolguard.analysis.model import Diagnosis, FailureClass, NoteKind
from vvolguard.records import TaskState


def run(records: Iterable[Any]) -> Diagnosis:
    an = Analyzer(now=NOW)
    for r in records:
        an.add(r)
    return an.finish()


def anonymous_wave(n: int = 6, failed: frozenset[int] = frozenset({1, 4})) -> list[Any]:
    """A vSphere Client export: VM, destination and times, but no source host."""
    return [
        replace(
            task(i, TaskState.ERROR if i in failed else TaskState.SUCCESS, 60 + 3 * i, 150 + 3 * i),
            source_host=None,
            dest_host=f"esx-0{2 + i % 2}.corp.example",
        )
        for i in range(n)
    ]


def test_without_evidence_of_the_source_it_is_not_guessed() -> None:
    d = run(anonymous_wave())
    assert d.verdict.cls == FailureClass.INSUFFICIENT_EVIDENCE
    assert not any("esx-01" in m.command for m in d.missing_evidence)


def test_the_host_entering_maintenance_mode_is_named_as_the_source() -> None:
    d = run([maintenance("esx-01.corp.example", 0, 900, task_id="task-777"), *anonymous_wave()])
    assert "source host esx-01.corp.example" in d.verdict.summary
    assert "Enter maintenance mode on esx-01.corp.example (task-777)" in d.verdict.summary
    commands = "\n".join(m.command for m in d.missing_evidence)
    assert "ssh root@esx-01.corp.example" in commands and "<source host" not in commands
    assert all(m.source == "esx-01.corp.example" for m in d.migrations.failed)
    assert all("task-777" in (m.source_inferred_from or "") for m in d.migrations.failed)
    assert d.migrations.peak_concurrency == {"esx-01.corp.example": 6}
    (note,) = [n for n in d.notes if n.kind == NoteKind.SOURCE_HOST_INFERRED]
    assert "6 migration(s)" in note.text and note.citations


def test_an_open_ended_maintenance_event_counts_within_its_window() -> None:
    d = run([maintenance("esx-01", 0, None, as_event=True), *anonymous_wave()])
    assert all(m.source == "esx-01" for m in d.migrations.failed)
    late = [replace(t, start=t.start.replace(hour=13), end=None) for t in anonymous_wave()]
    d = run([maintenance("esx-01", 0, None, as_event=True), *late])
    assert all(m.source is None for m in d.migrations.failed)


def test_two_hosts_entering_maintenance_at_once_are_ambiguous() -> None:
    records = [maintenance("esx-01", 0, 900), maintenance("esx-05", 10, 900, task_id="task-778")]
    d = run([*records, *anonymous_wave()])
    assert all(m.source is None for m in d.migrations.failed)
    assert not [n for n in d.notes if n.kind == NoteKind.SOURCE_HOST_INFERRED]


def test_the_rest_of_the_wave_names_the_source() -> None:
    wave = anonymous_wave()
    named = replace(wave[0], source_host="esx-01.corp.example", task_id="task-5000")
    d = run([named, *wave[1:]])
    assert all(m.source == "esx-01.corp.example" for m in d.migrations.failed)
    assert "the other migrations of the same wave" in d.verdict.summary


def test_the_host_whose_hostd_logs_the_vmotion_failure_is_the_source() -> None:
    """hostd on the source writes "[MIGRATE] ... vMotion failed" (sub=Vcsvc.VMotionSrc) when the
    task fails; the destination's own line is not a source-side one."""
    from datetime import timedelta

    from analysis_builders import host_event

    from vvolguard.records import HostEventKind

    wave = anonymous_wave()
    lines = [
        host_event(
            HostEventKind.VMOTION_FAILED,
            (t.end - wave[0].start).total_seconds() + 60 + 0.4,
            host="esx-01",
            source="hostd",
            message="[MIGRATE] (1773483000000020) vMotion failed: vmodl.fault.SystemError",
        )
        for t in wave
        if t.state == TaskState.ERROR and t.end is not None
    ]
    d = run([*wave, *lines])
    assert [m.source for m in d.migrations.failed] == ["esx-01", "esx-01"]
    assert "vMotion failure in esx-01's hostd.log" in d.verdict.summary
    # a line minutes away from the failure says nothing about it
    shifted = [replace(e, ts=e.ts + timedelta(minutes=5)) for e in lines]
    assert all(m.source is None for m in run([*wave, *shifted]).migrations.failed)
