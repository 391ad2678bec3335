"""The shared facts every renderer shows."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from vvolguard.analysis.model import Diagnosis, FailedMigration, PESummary, Verdict
from vvolguard.records import Citation
from vvolguard.report.view import (
    ceiling_text,
    certificate_facts,
    fmt_ms,
    key_facts,
    migration_signals,
    provider_rows,
)


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


# --- the signals of one failed migration, its own span only ----------------------------------

T0 = datetime(2026, 3, 14, 10, 0, tzinfo=UTC)


def _cell(seconds: int, host: str, **values: float) -> dict:
    base = {"no_free_conn": 0, "busy": 0, "timeout": 0, "failure": 0, "outstanding_max": 1, "ceiling": 5}
    return {"t": T0 + timedelta(seconds=seconds), "host": host, "vp": "vp-a", **base, **values}


def test_migration_signals_count_only_its_own_run_on_its_own_hosts() -> None:
    timeline = [
        _cell(0, "esx-03.corp.example", no_free_conn=50, busy=50),  # before it started
        _cell(60, "esx-03.corp.example", no_free_conn=4, busy=2, outstanding_max=5, create_ms_max=41_000),
        _cell(70, "esx-03.corp.example", no_free_conn=1),
        _cell(70, "esx-09", no_free_conn=99),  # another host
        _cell(200, "esx-03.corp.example", busy=77),  # after it failed
        _cell(60, "esx-01", busy=1, outstanding_max=2, create_ms_max=900),
    ]
    d = Diagnosis(
        verdict=Verdict(cls="provider-saturation", confidence=0.9, summary=""),
        signals={"bucket_seconds": 10, "timeline": timeline},
    )
    f = FailedMigration(
        "task-1", "vm-1", "ESX-03", "esx-01", T0 + timedelta(seconds=78), "A system error occurred.",
        start=T0 + timedelta(seconds=62),
    )  # fmt: skip
    sig = migration_signals(d, f)
    assert sig is not None
    assert sig.lines() == [
        "ESX-03 (source): 5 waits for a connection, 2 PROVIDER_BUSY, at its ceiling of 5 outstanding",
        "esx-01 (destination): 1 PROVIDER_BUSY, at most 2 of 5 outstanding",
        "slowest swap-vVol create: 41.0 s on ESX-03",
    ]
    assert sig.span == "10:01:00–10:01:20 (vvold.log in 10-s steps)"
    # a destination no vvold.log covers is said so, not called calm
    gone = replace(f, destination="esx-07")
    assert "esx-07 (destination): no vvold.log covers this time" in migration_signals(d, gone).lines()  # type: ignore[union-attr]


def test_certificate_facts_never_show_python_text() -> None:
    cert = {
        "subject": "CN=vp.example",
        "issuer": None,
        "not_after": datetime(2026, 3, 9, 10, 0, tzinfo=UTC),
        "days_left_at_incident": -5.01,
        "days_left_now": 20.4,
        "status_at_incident": "expired",
        "status_now": "hard-limit",
        "matches_provider": False,
        "provider": "vp-a",
        "provider_host": "10.0.0.9",
        "names": ["vp.example"],
        "source": "certificate",
        "citation": Citation("certs/vp.pem", 1, "-----BEGIN CERTIFICATE-----"),
        "serial_is_reused": True,
        "extra": {"a": None},
    }
    facts = dict(certificate_facts(cert, now=datetime(2026, 4, 1, tzinfo=UTC)))
    text = " ".join(facts.values())
    assert not re.search(r"Citation\(|\bTrue\b|\bFalse\b|\bNone\b|\{'|\['", text), text
    assert facts["Valid until"] == "2026-03-09 10:00:00Z"
    assert facts["At the incident"] == "expired 5 days before the incident"
    assert facts["As of 2026-04-01 00:00Z"].startswith("inside vCenter's red alarm")
    assert facts["Names the provider's host"] == "NO: the provider is reached as 10.0.0.9"
    assert facts["File"] == "certs/vp.pem:1"
    assert facts["Serial is reused"] == "yes" and facts["Extra"] == "a: —"


def test_at_ceiling_wording_agrees_with_the_plot_band(saturation: Diagnosis) -> None:
    rows = provider_rows(saturation)
    top = rows[0]
    assert ceiling_text(top) == "8.0 min"
    assert ceiling_text(replace(top, at_ceiling_seconds=0.2)) == "reached, < 1 s"
    assert ceiling_text(replace(top, max_outstanding=3)) == "—"


def test_a_certificate_expired_minutes_before_reads_expired() -> None:
    from vvolguard.report.view import certificate_summary

    cert = {
        "not_after": "2026-03-14T09:55:00Z",
        "days_left_at_incident": 0.0,
        "status_at_incident": "expired",
    }
    assert certificate_summary(cert) == "expired 2026-03-14 09:55Z (less than an hour before the incident)"
