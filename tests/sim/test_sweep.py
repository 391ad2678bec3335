"""The sweep shows the knee: calm while the provider keeps up, failures beyond it."""

from __future__ import annotations

import pytest

from vvolguard.sim.sweep import parse_concurrency, sweep

LEVELS = (1, 2, 3, 4, 6, 8, 12, 16)


@pytest.mark.parametrize(
    ("profile", "calm_up_to", "fails_from"),
    [
        ("midrange", 4, 8),  # 3 workers + queue of 2: sustains about 5
        ("enterprise", 8, 16),  # 8 workers + queue of 6: sustains about 13
    ],
)
def test_sweep_has_a_knee(profile: str, calm_up_to: int, fails_from: int) -> None:
    result = sweep(profile, LEVELS, seeds=(1, 2), hosts=6, vms_per_host=16)
    rows = {r.concurrency: r for r in result.rows}
    assert all(rows[c].failed == 0 for c in LEVELS if c <= calm_up_to)
    assert all(rows[c].failed > 0 for c in LEVELS if c >= fails_from)
    assert result.knee is not None and calm_up_to <= result.knee < fails_from
    # pressure shows up before failures do: the provider queues (busy answers) near the knee
    assert rows[1].busy == 0 and rows[fails_from].busy > 0


def test_knees_differ_between_providers() -> None:
    small = sweep("entry", LEVELS, seeds=(1,), hosts=6, vms_per_host=16)
    big = sweep("enterprise", LEVELS, seeds=(1,), hosts=6, vms_per_host=16)
    assert small.knee is not None and big.knee is not None and small.knee < big.knee


def test_parse_concurrency() -> None:
    assert parse_concurrency("1..4") == [1, 2, 3, 4]
    assert parse_concurrency("1-3,8,16") == [1, 2, 3, 8, 16]
    assert parse_concurrency("5") == [5]
    with pytest.raises(ValueError):
        parse_concurrency("0..3")
    with pytest.raises(ValueError):
        parse_concurrency("many")
