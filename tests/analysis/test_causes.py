"""Failures whose error text (or a host fault near them) names a cause outside VASA are cited as
the reason for not-control-plane, with the fault names vCenter uses (issue 10 B)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest
from analysis_builders import NOW, Vvold, host_event, task

from vvolguard.analysis.causes import CAUSE_TABLE, OutsideCause, classify_error
from vvolguard.analysis.engine import Analyzer
from vvolguard.analysis.model import Diagnosis, FailureClass
from vvolguard.records import HostEventKind, TaskState


def run(records: Iterable[Any]) -> Diagnosis:
    an = Analyzer(now=NOW)
    for r in records:
        an.add(r)
    return an.finish()


@pytest.mark.parametrize(
    ("text", "cause"),
    [
        (
            "File [vVol_DS] app-07/app-07.vmdk is larger than the maximum size supported by "
            "datastore 'vVol_DS'",
            OutsideCause.FILE_TOO_LARGE,
        ),
        ("vim.fault.FileTooLarge", OutsideCause.FILE_TOO_LARGE),
        (
            "A general system error occurred: Migrate: 296: Failed: Maximum switchover time for migration "
            "exceeded(0xbad0109)",
            OutsideCause.SWITCHOVER,
        ),
        (
            "A general system error occurred: Source detected that destination failed to resume.",
            OutsideCause.DESTINATION_RESUME,
        ),
        (
            "The vMotion failed because the destination host did not receive data from the source host on "
            "the vMotion network.",
            OutsideCause.VMOTION_NETWORK,
        ),
        (
            "A general system error occurred: Failed waiting for data. Error 16. Invalid argument.",
            OutsideCause.VMOTION_NETWORK,
        ),
        (
            "Insufficient resources to satisfy configured failover level for vSphere HA.",
            OutsideCause.INSUFFICIENT_RESOURCES,
        ),
        ("vim.fault.InsufficientResourcesFault", OutsideCause.INSUFFICIENT_RESOURCES),
        ("The operation is not allowed in the current state.", OutsideCause.INVALID_STATE),
        ("InvalidState", OutsideCause.INVALID_STATE),
        ("Permission to perform this operation was denied.", OutsideCause.NO_PERMISSION),
        ("vim.fault.NoPermission", OutsideCause.NO_PERMISSION),
    ],
)
def test_the_cause_table_reads_vcenters_fault_names_and_messages(text: str, cause: OutsideCause) -> None:
    rule = classify_error(text)
    assert rule is not None and rule.cause == cause


@pytest.mark.parametrize(
    "text", [None, "", "A system error occurred.", "A general system error occurred: ", "Operation timed out"]
)
def test_errors_that_name_nothing_stay_unclassified(text: str | None) -> None:
    assert classify_error(text) is None


def test_every_row_names_a_vcenter_fault() -> None:
    assert {rule.cause for rule in CAUSE_TABLE} == set(OutsideCause)
    assert all(rule.fault and rule.label for rule in CAUSE_TABLE)


def failed(i: int, error: str, start: float = 0.0) -> Any:
    return task(i, TaskState.ERROR, start + 2 * i, start + 2 * i + 20, error=error)


def test_task_errors_naming_other_causes_are_not_control_plane_without_any_vvold() -> None:
    records = [
        failed(0, "File app-00.vmdk is larger than the maximum size supported by datastore 'vVol_DS'"),
        failed(1, "vim.fault.InsufficientResourcesFault: Insufficient resources."),
        task(2, TaskState.SUCCESS, 4, 60),
    ]
    d = run(records)
    assert d.verdict.cls == FailureClass.NOT_CONTROL_PLANE, d.verdict.summary
    reason = d.primary.reason
    assert "2 of 2 failures name a cause outside VASA" in reason
    assert "FileTooLarge" in reason and "InsufficientResourcesFault" in reason
    assert "no vvold.log covers the failure window" in reason
    cited = " ".join(c.text for c in d.primary.citations)
    assert '"Key": "task-1000"' in cited and '"Key": "task-1001"' in cited
    assert [m.cause for m in d.migrations.failed] == ["FileTooLarge", "InsufficientResourcesFault"]


def test_a_bare_system_error_among_them_leaves_the_incident_undecided() -> None:
    records = [failed(0, "vim.fault.NoPermission"), failed(1, "A system error occurred.")]
    d = run(records)
    assert d.verdict.cls == FailureClass.INSUFFICIENT_EVIDENCE
    assert [m.cause for m in d.migrations.failed] == ["NoPermission", None]


def test_a_host_fault_near_a_bare_failure_names_its_cause() -> None:
    message = "vMotion migration [...] failed: Connection reset by peer on the vMotion network"
    records = [
        failed(0, "A system error occurred."),
        host_event(HostEventKind.VMOTION_NETWORK, 15, host="esx-02", source="vmkernel", message=message),
    ]
    d = run(records)
    assert d.verdict.cls == FailureClass.NOT_CONTROL_PLANE
    assert "vMotion network error" in d.primary.reason
    assert any("Connection reset by peer" in c.text for c in d.primary.citations)
    # the same fault on a host the migration did not touch explains nothing
    elsewhere = host_event(HostEventKind.VMOTION_NETWORK, 15, host="esx-07", message=message)
    assert (
        run([failed(0, "A system error occurred."), elsewhere]).verdict.cls
        == FailureClass.INSUFFICIENT_EVIDENCE
    )


def test_named_causes_do_not_outrank_vasa_pressure_on_the_same_host() -> None:
    """Pressure with failures it does not explain is near the limit, not the explanation: the
    named causes are; yet an unexplained failure next to pressure is saturation."""
    v = Vvold(host="esx-01", file="esx-01.tgz!var/run/log/vvold.log")
    v.quiet_traffic(-600, 1200)
    for s in (3, 5, 9, 14, 20, 26):
        v.no_free_conn(s)
    named = [failed(0, "vim.fault.FileTooLarge"), failed(1, "vim.fault.FileTooLarge")]
    d = run([v.frame(), *named])
    assert d.verdict.cls == FailureClass.NOT_CONTROL_PLANE
    assert FailureClass.PROVIDER_SATURATION in [f.id for f in d.findings]
    d = run([v.frame(), *named, failed(2, "A system error occurred.")])
    assert d.verdict.cls == FailureClass.PROVIDER_SATURATION
