"""The timeline axis: zoomed on the incident, step functions that keep peaks and drops."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from vvolguard.analysis.model import Diagnosis
from vvolguard.report.plots import _Grid, _steps, timeline_note, timeline_plots

T = datetime(2026, 3, 10, 14, 0, tzinfo=UTC)


def at(s: float) -> datetime:
    return T + timedelta(seconds=s)


def test_steps_keep_short_peaks_and_later_drops() -> None:
    grid = _Grid(T, 10.0, 4)
    # 1 at 0 s; a 2-second peak of 8 at 12 s; back to 0 at 14 s; nothing after.
    series = _steps([(at(0), 1), (at(12), 8), (at(14), 0)], grid)
    assert series.tolist() == [1, 8, 0, 0]


def test_steps_start_from_the_value_in_force_before_the_axis() -> None:
    grid = _Grid(at(100), 10.0, 3)
    series = _steps([(at(0), 5), (at(115), 2)], grid)
    assert series.tolist() == [5, 5, 2]


def test_axis_zooms_on_the_incident_and_says_so(saturation: Diagnosis) -> None:
    assert timeline_note(saturation) is None  # the sample's incident covers all its data
    narrow = replace(saturation, incident_window=(at(300), at(480)))
    note = timeline_note(narrow)
    assert note is not None
    assert "around the incident" in note and "the evidence covers 2026-03-10 14:00:00Z" in note
    inflight = next(p for p in timeline_plots(narrow) if p.id == "plot-inflight").svg or ""
    # esx-01's single migration at 14:15 lies outside the zoomed axis, so it is not drawn
    assert ">esx-01<" not in inflight and ">esx-03<" in inflight
    full = next(p for p in timeline_plots(saturation) if p.id == "plot-inflight").svg or ""
    assert ">esx-01<" in full


def test_incident_outside_the_data_still_gets_an_axis(saturation: Diagnosis) -> None:
    late = replace(saturation, incident_window=(at(7200), at(7260)))
    plots = timeline_plots(late)
    assert all(p.svg for p in plots)
