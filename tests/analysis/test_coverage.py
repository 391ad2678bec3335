"""A conclusion from absence needs host evidence that covers the failure window (issue 10 B).

A vvold.log that starts hours after the failures cannot show the pressure that caused them: the
verdict is insufficient-evidence, naming the host, the uncovered window and the files that would
cover it, never not-control-plane. Coverage comes from the readers' EvidenceSpan records when they
yield them, else from the times of the records themselves.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import replace
from datetime import timedelta
from typing import Any

import jsonschema
from analysis_builders import T0, Vvold, pe, provider, span, wave

from vvolguard.analysis.engine import Analyzer
from vvolguard.analysis.model import Diagnosis, FailureClass
from vvolguard.analysis.thresholds import Thresholds
from vvolguard.report.json_schema import diagnosis_schema
from vvolguard.report.jsonout import to_json

HOUR = 3600


def run(records: Iterable[Any], thresholds: Thresholds | None = None) -> Diagnosis:
    an = Analyzer(now=T0 + timedelta(days=1), thresholds=thresholds)
    for r in records:
        an.add(r)
    return an.finish()


def quiet(host: str | None, start: float, seconds: float, file: str | None = None) -> Vvold:
    v = Vvold(host=host, file=file or f"{host}.tgz!var/run/log/vvold.log")
    v.quiet_traffic(start, seconds)
    return v


def hosts_ok() -> list[Any]:
    return [provider("online", "esx-01"), provider("online", "esx-02"), pe("esx-01"), pe("esx-02")]


def failures() -> list[Any]:
    """Four migrations from esx-01 to esx-02, two failing with vCenter's bare system error."""
    return wave(4, {1, 3}, source="esx-01", spacing=2.0)


def test_vvold_that_starts_hours_after_the_failures_gives_insufficient_evidence() -> None:
    late = [quiet("esx-01", 4 * HOUR, 900).frame(), quiet("esx-02", 4 * HOUR, 900).frame()]
    d = run([*late, *hosts_ok(), *failures()])
    assert d.verdict.cls == FailureClass.INSUFFICIENT_EVIDENCE, d.verdict.summary
    reason = d.primary.reason
    # the host, the window it misses and what would cover it
    assert "esx-01" in reason and "esx-02" in reason
    assert "starting 3 h 59 min after the first failure" in reason
    assert "2026-03-14 09:55:02Z" in reason  # 300 s (coverage margin) before the first failure
    assert "vvold.N.gz" in reason
    uses = {u.host: u for u in d.primary.coverage}
    assert uses["esx-01"].covers_window is False and uses["esx-01"].derived is True
    assert uses["esx-01"].start == T0 + timedelta(seconds=4 * HOUR)
    assert uses["esx-01"].needed == (T0 - timedelta(seconds=298), T0 + timedelta(seconds=6 + 90))
    wanted = [m for m in d.missing_evidence if m.artifact.startswith("vvold.log of esx-01 covering")]
    assert wanted and "vvold.*.gz" in wanted[0].command and "vm-support" in wanted[0].command
    assert "2026-03-14 09:55:02Z" in wanted[0].artifact


def test_the_same_quiet_vvold_covering_the_window_gives_not_control_plane() -> None:
    covering = [quiet("esx-01", -600, 1200).frame(), quiet("esx-02", -600, 1200).frame()]
    d = run([*covering, *hosts_ok(), *failures()])
    assert d.verdict.cls == FailureClass.NOT_CONTROL_PLANE
    assert "covers the failure window" in d.primary.reason
    vvold = [u for u in d.primary.coverage if u.kind == "vvold-log"]
    assert {u.host for u in vvold} == {"esx-01", "esx-02"}
    assert all(u.covers_window for u in vvold)
    # the whole report also lists what each host's evidence covers
    assert {(c.host, c.kind, c.covers_window) for c in d.coverage} >= {
        ("esx-01", "vvold-log", True),
        ("esx-02", "vvold-log", True),
    }


def test_a_log_that_starts_inside_the_margin_is_not_enough() -> None:
    """Starting 60 s before the first failure misses the build-up the margin asks for; a smaller
    margin (a named threshold) accepts it."""
    logs = [quiet("esx-01", -60, 900).frame(), quiet("esx-02", -60, 900).frame()]
    assert run([*logs, *hosts_ok(), *failures()]).verdict.cls == FailureClass.INSUFFICIENT_EVIDENCE
    small = Thresholds.from_overrides({"coverage_margin_seconds": 30})
    assert run([*logs, *hosts_ok(), *failures()], small).verdict.cls == FailureClass.NOT_CONTROL_PLANE


def test_rotated_files_join_but_a_missing_one_leaves_a_gap() -> None:
    older = quiet("esx-01", -1200, 1100, file="esx-01.tgz!var/run/log/vvold.1.gz")  # to -100
    newer = quiet("esx-01", -95, 900, file="esx-01.tgz!var/run/log/vvold.log")
    d = run([older.frame(), newer.frame(), *hosts_ok(), *failures()])
    assert d.verdict.cls == FailureClass.NOT_CONTROL_PLANE
    use = next(u for u in d.primary.coverage if u.host == "esx-01")
    assert len(use.files) == 2 and use.covers_window
    # vvold.1.gz ends an hour before the incident and vvold.log starts after it: vvold.0.gz missing
    oldest = quiet("esx-01", -3 * HOUR, HOUR, file="esx-01.tgz!var/run/log/vvold.1.gz")
    latest = quiet("esx-01", 200, 900, file="esx-01.tgz!var/run/log/vvold.log")
    d = run([oldest.frame(), latest.frame(), *hosts_ok(), *failures()])
    assert d.verdict.cls == FailureClass.INSUFFICIENT_EVIDENCE
    assert "uncovered: 2026-03-14 09:55:02Z to 2026-03-14 10:01:36Z" in d.primary.reason


def test_a_readers_span_is_used_when_the_records_alone_would_not_cover() -> None:
    """A reader knows the file's first line even when no kept line is that early (the records it
    yields are only the lines that matter): its EvidenceSpan counts; without it, the derived span
    from the records is narrower, and not enough."""
    v = quiet("esx-01", 200, 900)
    base = [v.frame(), *hosts_ok(), *wave(4, {1, 3}, source="esx-01", spacing=2.0)]
    assert run(base).verdict.cls == FailureClass.INSUFFICIENT_EVIDENCE
    d = run([*base, span("esx-01", -1800, 1100)])
    assert d.verdict.cls == FailureClass.NOT_CONTROL_PLANE
    use = next(u for u in d.primary.coverage if u.host == "esx-01")
    assert use.derived is False and use.start == T0 - timedelta(seconds=1800)


def test_an_unnamed_vvold_log_is_judged_by_its_times_too() -> None:
    v = quiet(None, 4 * HOUR, 900, file="vvold.log")
    v.rows = [{**r, "host": None} for r in v.rows]
    d = run([v.frame(), *failures()])
    assert d.verdict.cls == FailureClass.INSUFFICIENT_EVIDENCE
    assert "the vvold.log of the host covers" in d.primary.reason
    early = quiet(None, -600, 1200, file="vvold.log")
    early.rows = [{**r, "host": None} for r in early.rows]
    assert run([early.frame(), *failures()]).verdict.cls == FailureClass.NOT_CONTROL_PLANE


def test_without_failures_or_migrations_there_is_no_window_to_cover() -> None:
    d = run([quiet("esx-01", 4 * HOUR, 900).frame(), *hosts_ok()])
    assert d.verdict.cls == FailureClass.HEALTHY
    assert d.primary.coverage and all(u.needed is None for u in d.primary.coverage)


def test_coverage_is_in_the_json_and_the_document_validates() -> None:
    late = [quiet("esx-01", 4 * HOUR, 900).frame(), quiet("esx-02", 4 * HOUR, 900).frame()]
    doc = json.loads(to_json(run([*late, *hosts_ok(), *failures()])))
    jsonschema.Draft202012Validator(diagnosis_schema()).validate(doc)
    finding = doc["findings"][0]
    assert finding["coverage"][0]["covers_window"] is False
    assert finding["coverage"][0]["needed"] == ["2026-03-14T09:55:02Z", "2026-03-14T10:01:36Z"]
    assert {c["host"] for c in doc["coverage"]} == {"esx-01", "esx-02"}


def test_failures_without_times_cannot_be_cleared_by_any_log() -> None:
    undated = [replace(t, start=None, end=None) for t in failures()]
    d = run([quiet("esx-01", -600, 1200).frame(), quiet("esx-02", -600, 1200).frame(), *hosts_ok(), *undated])
    assert d.verdict.cls == FailureClass.INSUFFICIENT_EVIDENCE
    assert "carry no time" in d.primary.reason


def test_healthy_says_when_vvold_did_not_see_the_migrations() -> None:
    calm = [*hosts_ok(), *wave(3, set(), spacing=200)]
    seen = run([quiet("esx-01", -600, 1800).frame(), *calm])
    late = run([quiet("esx-01", 4 * HOUR, 900).frame(), *calm])
    assert seen.verdict.cls == late.verdict.cls == FailureClass.HEALTHY
    assert "vvold.log shows no saturation" in seen.primary.reason
    assert "not all the migrations that ran" in late.primary.reason
    assert late.verdict.confidence < seen.verdict.confidence
    assert [u.covers_window for u in late.primary.coverage] == [False]
    assert [u.covers_window for u in seen.primary.coverage] == [True]


def test_an_esxcli_output_is_dated_by_its_bundle_and_judged_as_a_snapshot() -> None:
    """The esxcli outputs of a vm-support bundle were taken when the bundle was (its name says
    when): within a day after the failures they speak for them, a week later they do not."""
    from vvolguard.analysis.model import InputFile
    from vvolguard.records import EvidenceKind

    def with_pe_list(bundle: str) -> Diagnosis:
        an = Analyzer(now=T0 + timedelta(days=30))
        for r in [quiet("esx-01", -600, 1200).frame(), quiet("esx-02", -600, 1200).frame(), *hosts_ok()]:
            an.add(r)
        for r in failures():
            an.add(r)
        member = (
            f"{bundle}!{bundle.removesuffix('.tgz')}/commands/localcli_storage-vvol-protocolendpoint-list.txt"
        )
        an.add_input(InputFile(member, EvidenceKind.PROTOCOLENDPOINT_LIST.value, "esx-01", 1))
        return an.finish()

    same_day = with_pe_list("esx-esx-01-2026-03-14--10.20-2815455.tgz")
    week_later = with_pe_list("esx-esx-01-2026-03-21--10.20-2815455.tgz")
    for d, timely in ((same_day, True), (week_later, False)):
        assert d.verdict.cls == FailureClass.NOT_CONTROL_PLANE
        (use,) = [u for u in d.primary.coverage if u.kind == "esxcli-protocolendpoint-list"]
        assert use.covers_window is timely and use.start == use.end
    assert same_day.primary.coverage[-1].start == T0 + timedelta(minutes=20)
