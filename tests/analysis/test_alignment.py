"""Pressure and failures are placed against each other in time (a wrong zone moves the failures
by whole hours; pressure from another part of the day does not explain them)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from vvolguard.analysis.alignment import PressureApart

T = datetime(2026, 3, 14, 10, 0, tzinfo=UTC)


def apart(seconds: float) -> PressureApart:
    return PressureApart((T + timedelta(seconds=seconds),) * 2, (T, T + timedelta(seconds=30)), seconds)


@pytest.mark.parametrize(
    ("seconds", "zone"),
    [
        (3600, True),
        (-5 * 3600, True),
        (5.5 * 3600, True),  # India
        (5.75 * 3600 + 40, True),  # Nepal, and a clock a little off
        (52 * 60, False),
        (3 * 3600 + 7 * 60, False),
        (20 * 3600, False),  # no zone is that far from UTC
    ],
)
def test_a_gap_has_a_zones_size_only_in_quarter_hours_within_fourteen_hours(seconds, zone):
    assert apart(seconds).zone_sized is zone


def test_the_gap_says_which_way():
    assert apart(3600).gap_text() == "1 h 00 min after"
    assert apart(-47 * 60).gap_text() == "47 min before"
