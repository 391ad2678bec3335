"""The shared facts every renderer shows."""

from __future__ import annotations

from dataclasses import replace

from vvolguard.analysis.model import Diagnosis, PESummary
from vvolguard.report.view import fmt_ms, key_facts, provider_rows


def test_key_facts_tell_the_saturation_story(saturation: Diagnosis) -> None:
    assert key_facts(saturation) == [
        "esx-03: 8 migrations, peak 8 at once, 14:02:05–14:09:35",
        "vasa-a01 on esx-03 at its ceiling of 5 for 8.0 min; 83 waits for a connection",
        "createVirtualVolume up to 41.2 s (p95 40.0 s) on vasa-a01 on esx-03",
        "3 failed migrations (14:06:10–14:09:05)",
    ]


def test_key_facts_name_offline_providers_and_broken_pes(healthy: Diagnosis) -> None:
    provider = replace(
        healthy.providers[0], status={"esx-01": "syncError", "esx-02": "syncError", "vcenter": "online"}
    )
    pe = PESummary("naa.6000", "esx-02", "array-a", accessible=False, configured=True)
    facts = key_facts(replace(healthy, providers=[provider], protocol_endpoints=[pe]))
    assert "vasa-a01 syncError as seen by esx-01, esx-02" in facts
    assert "PE naa.6000 on esx-02: not accessible" in facts


def test_nothing_to_say_says_nothing(insufficient: Diagnosis, healthy: Diagnosis) -> None:
    assert key_facts(insufficient) == []
    assert key_facts(healthy) == []  # flat latency, nothing at the ceiling, no failures


def test_provider_rows_put_the_saturated_pair_first(saturation: Diagnosis) -> None:
    rows = provider_rows(saturation)
    assert (rows[0].vp, rows[0].host, rows[0].saturated) == ("vasa-a01", "esx-03", True)
    assert not any(r.saturated for r in rows[1:])


def test_fmt_ms_units() -> None:
    assert [fmt_ms(v) for v in (None, float("nan"), 850, 40_122, 750_000)] == [
        "—",
        "—",
        "850 ms",
        "40.1 s",
        "12.5 min",
    ]
