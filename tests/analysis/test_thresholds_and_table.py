"""Thresholds are named, explained and overridable; the decision table is data that mirrors the
runbook's Stage 4 table."""

from __future__ import annotations

import pytest
from analysis_builders import NOW, Vvold, pe, provider, wave

from vvolguard.analysis.decision import CONDITIONS, DECISION_TABLE, decide
from vvolguard.analysis.engine import Analyzer
from vvolguard.analysis.model import FailureClass
from vvolguard.analysis.thresholds import Thresholds


def test_every_threshold_has_a_reason() -> None:
    why = Thresholds.explain()
    assert set(why) == set(Thresholds.names())
    assert all(len(text.split()) >= 8 for text in why.values())
    assert Thresholds().cert_soft_limit_days == 182 and Thresholds().cert_hard_limit_days == 30


def test_overrides_by_name_and_clear_errors() -> None:
    t = Thresholds.from_overrides({"storm_in_flight": "6", "create-p95-ms": 2500})
    assert t.storm_in_flight == 6 and isinstance(t.storm_in_flight, int)
    assert t.create_p95_ms == 2500.0
    assert Thresholds().storm_in_flight == 4  # defaults untouched
    with pytest.raises(ValueError, match=r"unknown threshold 'storm'.*storm_in_flight"):
        Thresholds.from_overrides({"storm": 3})
    with pytest.raises(ValueError, match="needs a number"):
        Thresholds.from_overrides({"storm_in_flight": "many"})
    with pytest.raises(ValueError, match="whole number"):
        Thresholds.from_overrides({"storm_in_flight": 2.5})
    with pytest.raises(ValueError, match="negative"):
        Thresholds.from_overrides({"create_p95_ms": -1})


def _borderline_records() -> list[object]:
    """Three no-free-connection waits and a failed create: saturation at the default K=3."""
    v = Vvold()
    v.quiet_traffic(-300, 600)  # lines every few seconds: each wait holds the ceiling only briefly
    for s in (1.5, 30.5, 60.5):
        v.no_free_conn(s)
    v.op(70, "createVirtualVolume", 2000, outstanding=3, fault="TIMEOUT")
    return [v.frame(), provider(), pe(), *wave(2, {1}, spacing=100)]


def _diagnose(thresholds: Thresholds) -> str:
    an = Analyzer(now=NOW, thresholds=thresholds)
    for r in _borderline_records():
        an.add(r)
    d = an.finish()
    assert d.thresholds == thresholds.as_dict()
    return d.verdict.cls


def test_overriding_a_threshold_changes_the_verdict() -> None:
    assert _diagnose(Thresholds()) == FailureClass.PROVIDER_SATURATION
    assert _diagnose(Thresholds.from_overrides({"pressure_events": 4})) == FailureClass.NOT_CONTROL_PLANE
    # a window too short to hold the three waits (1 s .. 60 s) is not pressure either
    assert (
        _diagnose(Thresholds.from_overrides({"pressure_window_seconds": 20}))
        == FailureClass.NOT_CONTROL_PLANE
    )


def test_table_mirrors_runbook_stage_4() -> None:
    by_condition = {r.condition: r for r in DECISION_TABLE}
    assert by_condition["provider_saturated"].cls == FailureClass.PROVIDER_SATURATION
    assert by_condition["provider_offline_or_untrusted"].cls == FailureClass.PROVIDER_REGISTRATION
    assert by_condition["pe_not_presented"].cls == FailureClass.PE_PRESENTATION
    assert by_condition["certificate_expired_at_incident"].cls == FailureClass.CERTIFICATE_LIFECYCLE
    assert by_condition["failures_without_control_plane_signal"].cls == FailureClass.NOT_CONTROL_PLANE
    primaries = [r for r in DECISION_TABLE if r.primary]
    assert {r.cls for r in primaries} == set(FailureClass)
    assert len({r.precedence for r in DECISION_TABLE}) == len(DECISION_TABLE)
    assert "No free connections" in by_condition["provider_saturated"].runbook


def test_decide_orders_by_precedence_and_keeps_one_finding_per_class() -> None:
    conditions = dict.fromkeys(CONDITIONS, False)
    conditions.update(provider_saturated=True, provider_offline_or_untrusted=True, migration_storm=True)
    conditions["nothing_to_judge"] = True
    primary, secondary = decide(conditions)
    assert primary.cls == FailureClass.PROVIDER_REGISTRATION
    assert [r.cls for r in secondary] == [FailureClass.PROVIDER_SATURATION]
    with pytest.raises(KeyError):
        decide({"made_up": True})
    only_fallback = decide({"nothing_to_judge": True})
    assert only_fallback[0].cls == FailureClass.INSUFFICIENT_EVIDENCE and only_fallback[1] == []
