"""The smaller pieces: host-name matching, certificate name checks, migration merging and storms."""

from __future__ import annotations

from datetime import timedelta

from analysis_builders import NOW, T0, Vvold, certificate, days, pe, provider, task, wave

from vvolguard.analysis.certificates import assess, expiry_status, name_matches, url_host
from vvolguard.analysis.engine import Analyzer, _thin_in_flight
from vvolguard.analysis.migrations import HostNames, MigrationLedger, host_key
from vvolguard.analysis.model import FailureClass
from vvolguard.records import ProtocolEndpointRecord, TaskState


def test_host_key_matches_fqdn_and_short_names_but_not_ips_by_label() -> None:
    assert host_key("ESX-03.corp.example.") == host_key("esx-03") == "esx-03"
    assert host_key("10.1.1.5") == "10.1.1.5" != host_key("10.1.1.6")
    assert host_key(None) == host_key("") == ""
    names = HostNames()
    names.see("esx-03.corp.example", 1)
    names.see("esx-03", 3)
    names.see("ESX-03.CORP.EXAMPLE", 1)
    assert names.display("esx-03.corp.example") == "esx-03"
    assert names.all() == ["esx-03"]


def test_certificate_name_rules() -> None:
    assert url_host("https://VP01.corp.example:8084/vasa/version.xml") == "vp01.corp.example"
    assert url_host("10.1.1.10:8084") == "10.1.1.10"
    assert name_matches("*.corp.example", "vp01.corp.example")
    assert not name_matches("*.corp.example", "a.vp01.corp.example")
    assert name_matches("10.1.1.10", "10.1.1.10") and not name_matches("10.1.1.10", "10.1.1.11")
    assert expiry_status(-1, 182, 30) == "expired"
    assert expiry_status(29.9, 182, 30) == "hard-limit"
    assert expiry_status(100, 182, 30) == "soft-limit"
    assert expiry_status(200, 182, 30) == "valid"


def test_certificate_expired_minutes_before_the_incident_is_expired() -> None:
    """Rounded to two decimals, five minutes past notAfter is -0.0 days: the status must be judged
    on the exact time, and the number reported must not read '-0'."""
    (judged,) = assess([certificate(T0 - timedelta(minutes=5))], [], T0, NOW, 182, 30)
    assert judged.status_at_incident == "expired"
    assert judged.days_left_at_incident == 0.0 and str(judged.days_left_at_incident) == "0.0"
    (soon,) = assess([certificate(T0 + timedelta(minutes=5))], [], T0, NOW, 182, 30)
    assert soon.status_at_incident == "hard-limit"


def test_certificate_by_ip_san_or_cn_and_no_guess_with_several_providers() -> None:
    by_ip = certificate(NOW + days(400), dns=("10.21.88.113",), cn="array")
    cn_only = certificate(NOW + days(400), dns=(), cn="vp02.corp.example")
    one = provider(url="https://10.21.88.113:8084/vasa")
    two = provider(name="other-vp", url="https://vp02.corp.example:8084/vasa")
    judged = assess([by_ip, cn_only], [one, two], T0, NOW, 182, 30)
    assert [(a.provider, a.matches_provider) for a in judged] == [("pure-ct0", True), ("other-vp", True)]
    stranger = certificate(NOW + days(400), dns=("x.example",), cn="x.example")
    (alone,) = assess([stranger], [one, two], T0, NOW, 182, 30)
    assert alone.provider is None and alone.matches_provider is None
    (unknown,) = assess([stranger], [], T0, NOW, 182, 30)
    assert unknown.matches_provider is None and unknown.status_now == "valid"


def test_ledger_merges_a_task_and_its_events_by_chain_id() -> None:
    ledger = MigrationLedger()
    started = task(1, TaskState.RUNNING, 0, None)
    ledger.add(started.__class__(**{**_fields(started), "task_id": None, "event_chain_id": "77"}))
    ledger.add(
        task(1, TaskState.ERROR, 0, 30).__class__(
            **{**_fields(task(1, TaskState.ERROR, 0, 30)), "event_chain_id": "77"}
        )
    )
    assert len(ledger) == 1
    (merged,) = ledger.tasks()
    assert merged.state == TaskState.ERROR and merged.end is not None and merged.task_id == "task-1001"


def _fields(t: object) -> dict[str, object]:
    return {name: getattr(t, name) for name in t.__slots__}  # type: ignore[attr-defined]


def test_back_to_back_migrations_do_not_overlap_and_storms_end() -> None:
    ledger = MigrationLedger()
    for t in wave(6, set(), spacing=10, duration=10):  # each ends as the next starts
        ledger.add(t)
    out, series = ledger.summarise(HostNames(), storm_in_flight=2)
    assert out.peak_concurrency == {"esx-01.corp.example": 1} and out.storms == []
    ledger = MigrationLedger()
    for t in [*wave(4, {3}, spacing=1, duration=20), *wave(2, set(), start=100, spacing=1, duration=5)]:
        ledger.add(t.__class__(**{**_fields(t), "task_id": f"{t.task_id}-{t.start.timestamp()}"}))
    out, series = ledger.summarise(HostNames(), storm_in_flight=3)
    (storm,) = out.storms
    assert storm.peak_concurrency == 4 and storm.migrations == 4 and storm.failed == 1
    assert storm.start == T0 + timedelta(seconds=2)  # the third start reaches 3 in flight
    assert series[-1]["in_flight"] == 0


def test_in_flight_thinning_keeps_peaks() -> None:
    points = [
        {"t": T0 + days(i / 86400), "source_host": "h", "in_flight": 1 + (i == 777) * 9} for i in range(5000)
    ]
    thin = _thin_in_flight(points, 1000)
    assert len(thin) <= 1000 and max(p["in_flight"] for p in thin) == 10


def test_pe_missing_for_a_container_that_vvold_uses() -> None:
    v = Vvold(host="esx-02", file="esx-02.tgz!var/run/log/vvold.log")
    v.quiet_traffic(0, 300)  # its FINAL lines name container b487b73a-...
    other = ProtocolEndpointRecord(
        **{**_fields(pe("esx-02")), "storage_containers": ("vvol:0000000000000001-0000000000000002",)}
    )
    an = Analyzer(now=NOW)
    for r in (v.frame(), provider("online", "esx-02"), other, *wave(2, {0})):
        an.add(r)
    d = an.finish()
    assert d.verdict.cls == FailureClass.PE_PRESENTATION
    assert "b487b73a61283ad2873b8ddb1ba45d4f" in d.primary.reason
