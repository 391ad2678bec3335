"""Each failure class is chosen in its own situation, from records built in code."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

import pytest
from analysis_builders import (
    ARRAY,
    NOW,
    T0,
    Vvold,
    certificate,
    days,
    host_event,
    pe,
    provider,
    task,
    wave,
)

from vvolguard.analysis.engine import Analyzer
from vvolguard.analysis.model import Diagnosis, FailureClass, InputFile
from vvolguard.analysis.thresholds import Thresholds
from vvolguard.records import EvidenceKind, HostEventKind, TaskState


def run(
    records: Iterable[Any], inputs: Iterable[InputFile] = (), thresholds: Thresholds | None = None
) -> Diagnosis:
    an = Analyzer(now=NOW, thresholds=thresholds or Thresholds())
    for r in records:
        an.add(r)
    for i in inputs:
        an.add_input(i)
    return an.finish()


def healthy_hosts() -> list[Any]:
    return [provider("online", "esx-01"), provider("online", "esx-02"), pe("esx-01"), pe("esx-02")]


def saturated_vvold(host: str = "esx-01") -> Vvold:
    """KB 318662 as a script: quiet polling, then a wave whose swap creates queue at 5/5."""
    v = Vvold(host=host, file=f"{host}.tgz!var/run/log/vvold.log")
    v.quiet_traffic(-600, 600)
    for i in range(8):
        v.op(2 * i, "createVirtualVolume", 30_000 + 2_000 * i, outstanding=5)
    for s in (3, 5, 9, 14, 20, 26):
        v.no_free_conn(s)
    v.busy(11)
    v.busy(17)
    v.op(30, "createVirtualVolume", 60_000, outstanding=5, fault="TIMEOUT", final_elapsed=False)
    v.quiet_traffic(200, 300)
    return v


def quiet_vvold(host: str) -> Vvold:
    v = Vvold(host=host, file=f"{host}.tgz!var/run/log/vvold.log")
    v.quiet_traffic(-300, 900)
    return v


def classes(d: Diagnosis) -> list[str]:
    return [f.id for f in d.findings]


def test_saturation_is_chosen_with_pressure_and_failed_migrations() -> None:
    v = saturated_vvold()
    d = run([v.frame(), quiet_vvold("esx-02").frame(), *healthy_hosts(), *wave(8, {2, 5, 6})])
    assert d.verdict.cls == FailureClass.PROVIDER_SATURATION
    primary = d.primary
    assert primary is not None and primary.citations
    texts = " ".join(c.text for c in primary.citations)
    assert "GetFreeConn: No free connections" in texts and "PROVIDER_BUSY" in texts
    assert all(c.line for c in primary.citations)
    assert primary.next_moves and "maintenance" in primary.next_moves[0]
    assert d.verdict.confidence >= 0.7
    # the failed migrations carry the pressure seen on their (short-named) source host
    failed = d.migrations.failed
    assert len(failed) == 3 and d.migrations.succeeded == 5
    nearby = failed[0].nearby_signals
    assert nearby["esx-01"]["no_free_conn"] == 6 and nearby["esx-01"]["busy"] >= 2
    assert "esx-02" in nearby and nearby["esx-02"]["no_free_conn"] == 0
    # the wave is a storm: 8 migrations of 90 s started 2 s apart
    assert d.migrations.peak_concurrency["esx-01"] == 8
    assert d.migrations.storms and d.migrations.storms[0].peak_concurrency == 8
    assert d.migrations.storms[0].failed == 3
    # provider summary knows the ceiling and the incident window is the failures' span
    summary = next(p for p in d.providers if p.name == "pure-ct0")
    assert summary.ceiling == 5 and summary.max_outstanding_seen == 5
    assert summary.status == {"esx-01": "online", "esx-02": "online"}
    assert d.incident_window == (T0 + timedelta(seconds=4), T0 + timedelta(seconds=12 + 90))
    assert d.hosts == ["esx-01", "esx-02"]


def test_saturation_from_vvold_alone_when_vasa_ops_fail() -> None:
    d = run([saturated_vvold().frame()])
    assert d.verdict.cls == FailureClass.PROVIDER_SATURATION
    artifacts = " ".join(m.artifact for m in d.missing_evidence)
    assert "vCenter migration tasks" in artifacts and "protocolendpoint" in artifacts


def test_one_stray_busy_that_succeeded_on_retry_is_not_saturation() -> None:
    v = quiet_vvold("esx-01")
    v.busy(100)
    v.op(101, "bindVirtualVolume", 120)
    d = run([v.frame(), quiet_vvold("esx-02").frame(), *healthy_hosts(), *wave(3, set(), spacing=200)])
    assert d.verdict.cls == FailureClass.HEALTHY
    assert FailureClass.PROVIDER_SATURATION not in classes(d)
    per = {p["host"]: p for p in d.signals["per_provider"]}
    assert per["esx-01"]["counts"]["busy"] == 1


def test_stray_busy_with_a_failed_migration_points_away_from_the_control_plane() -> None:
    v = quiet_vvold("esx-01")
    v.busy(100)
    records = [v.frame(), quiet_vvold("esx-02").frame(), *healthy_hosts(), *wave(3, {1}, spacing=200)]
    records.append(
        host_event(
            HostEventKind.SWITCHOVER_EXCEEDED,
            290,
            host="esx-01",
            message="Migrate: 296: D: Failed: Maximum switchover time for migration exceeded",
        )
    )
    d = run(records)
    assert d.verdict.cls == FailureClass.NOT_CONTROL_PLANE
    assert any("switchover" in c.text for c in d.primary.citations)


def test_sustained_pressure_without_failures_is_only_a_secondary_finding() -> None:
    v = saturated_vvold()
    v.rows = [r for r in v.rows if r["kind"] != "failure"]
    d = run([v.frame(), quiet_vvold("esx-02").frame(), *healthy_hosts(), *wave(3, set(), spacing=200)])
    assert d.verdict.cls == FailureClass.HEALTHY
    secondary = [f for f in d.findings if f.id == FailureClass.PROVIDER_SATURATION]
    assert secondary and secondary[0].severity == "low"


def test_offline_provider_is_registration_and_outranks_pressure() -> None:
    v = saturated_vvold()
    v.line(
        40,
        "setcontext-failure",
        fault="TRANSPORT_FAULT",
        url="https://vp01.corp.example:8084/vasa",
        text="VasaSession::DoSetContext: setContext for VP pure-ct0 "
        "(url: https://vp01.corp.example:8084/vasa) "
        "failed [connectionState: TransportError]: TRANSPORT_FAULT (Timeout / SSL_connect() failed)",
    )
    records = [
        v.frame(),
        provider("offline", "esx-01"),
        provider("syncError", "vcenter"),
        pe("esx-01"),
        *wave(4, {0, 1}),
    ]
    d = run(records)
    assert d.verdict.cls == FailureClass.PROVIDER_REGISTRATION
    assert FailureClass.PROVIDER_SATURATION in classes(d)
    assert "offline" in d.primary.reason and "syncError" in d.primary.reason
    assert any("Status: offline" in c.text for c in d.primary.citations)
    assert d.providers[0].status == {"esx-01": "offline", "vcenter": "syncError"}


def test_repeated_setcontext_failures_without_pressure_are_registration() -> None:
    v = quiet_vvold("esx-01")
    for s in (10, 70, 130, 190):
        v.line(
            s,
            "setcontext-failure",
            fault="TRANSPORT_FAULT",
            text=f"VasaSession::DoSetContext: setContext for VP pure-ct0 failed at {s}: TRANSPORT_FAULT",
        )
    d = run([v.frame(), *wave(2, {1})])
    assert d.verdict.cls == FailureClass.PROVIDER_REGISTRATION
    assert any("DoSetContext" in c.text for c in d.primary.citations)


def test_transport_errors_during_pressure_stay_with_saturation() -> None:
    v = saturated_vvold()
    for s in (12, 13, 15):
        v.line(
            s,
            "transport",
            fault="TRANSPORT_FAULT",
            text=f"TRANSPORT_FAULT (Timeout / SSL_connect() failed) {s}",
        )
    d = run([v.frame(), *healthy_hosts(), *wave(8, {2, 5})])
    assert d.verdict.cls == FailureClass.PROVIDER_SATURATION


def test_inaccessible_pe_is_pe_presentation() -> None:
    records = [
        quiet_vvold("esx-01").frame(),
        quiet_vvold("esx-02").frame(),
        provider("online", "esx-01"),
        provider("online", "esx-02"),
        pe("esx-01"),
        pe("esx-02", accessible=False),
        *wave(3, {1}),
    ]
    d = run(records)
    assert d.verdict.cls == FailureClass.PE_PRESENTATION
    assert "esx-02" in d.primary.reason and "inaccessible" in d.primary.reason
    assert any("Accessible: false" in c.text for c in d.primary.citations)
    assert [p.accessible for p in d.protocol_endpoints] == [True, False]


def test_empty_pe_list_for_a_host_using_the_array_is_pe_presentation() -> None:
    records = [quiet_vvold("esx-02").frame(), provider("online", "esx-02"), *wave(2, {0})]
    inputs = [
        InputFile(
            "esx-02.tgz!commands/localcli_storage-vvol-protocolendpoint-list.txt",
            EvidenceKind.PROTOCOLENDPOINT_LIST.value,
            "esx-02",
            0,
        )
    ]
    d = run(records, inputs)
    assert d.verdict.cls == FailureClass.PE_PRESENTATION
    assert ARRAY in d.primary.reason
    # without the PE list there is nothing to say about PEs: not-control-plane instead
    assert run(records).verdict.cls == FailureClass.NOT_CONTROL_PLANE


def test_pe_for_another_array_only_is_missing_presentation() -> None:
    records = [
        quiet_vvold("esx-02").frame(),
        provider("online", "esx-02"),
        pe("esx-02", array="com.other:1"),
        *wave(2, {0}),
    ]
    d = run(records)
    assert d.verdict.cls == FailureClass.PE_PRESENTATION


def test_certificate_expired_at_incident_outranks_offline_provider() -> None:
    cert = certificate(T0 - days(3))
    records = [
        cert,
        quiet_vvold("esx-01").frame(),
        provider("offline", "esx-01"),
        pe("esx-01"),
        *wave(2, {0, 1}),
    ]
    d = run(records)
    assert d.verdict.cls == FailureClass.CERTIFICATE_LIFECYCLE
    assert FailureClass.PROVIDER_REGISTRATION in classes(d)
    entry = d.certificates[0]
    assert entry["matches_provider"] is True and entry["provider"] == "pure-ct0"
    assert -4 < entry["days_left_at_incident"] < -2
    assert entry["days_left_now"] < entry["days_left_at_incident"]
    assert d.primary.severity == "critical"
    assert d.providers[0].certificate is not None
    # the certificate explains the offline provider: surer than the symptom it causes
    assert d.verdict.confidence >= 0.8 and d.verdict.confidence == d.primary.confidence
    assert all(f.confidence <= 0.8 for f in d.findings[1:])


def test_certificate_expired_since_the_incident_outranks_healthy_but_not_an_explanation() -> None:
    cert = certificate(T0 + days(5))  # NOW is 18 days after T0
    d = run([cert, quiet_vvold("esx-01").frame(), *healthy_hosts(), *wave(2, set(), spacing=200)])
    assert d.verdict.cls == FailureClass.CERTIFICATE_LIFECYCLE
    assert d.primary.severity == "high" and "expired since" in d.primary.title
    # with failed migrations that the certificate (valid then) cannot explain, it is secondary
    d = run(
        [cert, quiet_vvold("esx-01").frame(), quiet_vvold("esx-02").frame(), *healthy_hosts(), *wave(2, {1})]
    )
    assert d.verdict.cls == FailureClass.NOT_CONTROL_PLANE
    assert FailureClass.CERTIFICATE_LIFECYCLE in classes(d)


@pytest.mark.parametrize(
    ("left", "verdict", "severity"),
    [(20, FailureClass.CERTIFICATE_LIFECYCLE, "medium"), (100, FailureClass.HEALTHY, "low")],
)
def test_near_expiry_uses_kb323232_limits(left: int, verdict: FailureClass, severity: str) -> None:
    cert = certificate(NOW + days(left))
    d = run([cert, quiet_vvold("esx-01").frame(), *healthy_hosts()])
    assert d.verdict.cls == verdict
    finding = next(f for f in d.findings if f.id == FailureClass.CERTIFICATE_LIFECYCLE)
    assert finding.severity == severity


def test_certificate_not_naming_the_provider_is_a_mismatch() -> None:
    cert = certificate(NOW + days(300), dns=("other.corp.example",), cn="other.corp.example")
    d = run([cert, quiet_vvold("esx-01").frame(), *healthy_hosts()])
    assert d.certificates[0]["matches_provider"] is False
    assert any(f.id == FailureClass.PROVIDER_REGISTRATION and f.severity == "medium" for f in d.findings)


def test_provider_reported_expiry_without_a_certificate_file() -> None:
    records = [
        quiet_vvold("esx-01").frame(),
        provider("offline", "vcenter", expiry=T0 - days(1)),
        *wave(1, {0}),
    ]
    d = run(records)
    assert d.verdict.cls == FailureClass.CERTIFICATE_LIFECYCLE
    assert d.certificates[0]["source"] == "provider"


def test_failures_with_quiet_control_plane_are_not_control_plane() -> None:
    records = [
        quiet_vvold("esx-01").frame(),
        quiet_vvold("esx-02").frame(),
        *healthy_hosts(),
        *wave(4, {1, 3}),
    ]
    records.append(
        host_event(
            HostEventKind.DEST_FAILED_RESUME,
            100,
            host="esx-02",
            source="hostd",
            message="Source detected that destination failed to resume.",
        )
    )
    d = run(records)
    assert d.verdict.cls == FailureClass.NOT_CONTROL_PLANE
    assert d.primary.citations and "vvold.log" in " ".join(c.file for c in d.primary.citations)
    assert "look elsewhere" in d.primary.next_moves[0]


def test_healthy_needs_host_evidence() -> None:
    d = run([quiet_vvold("esx-01").frame(), *healthy_hosts(), *wave(5, set(), spacing=100)])
    assert d.verdict.cls == FailureClass.HEALTHY
    assert [f.id for f in d.findings] == [FailureClass.HEALTHY]
    assert d.primary.citations
    assert run(wave(5, set(), spacing=100)).verdict.cls == FailureClass.INSUFFICIENT_EVIDENCE


def test_only_a_task_export_with_failures_is_insufficient_and_says_what_to_collect() -> None:
    d = run(wave(6, {1, 2, 4}))
    assert d.verdict.cls == FailureClass.INSUFFICIENT_EVIDENCE
    assert d.primary.citations  # the failed tasks themselves
    commands = "\n".join(m.command for m in d.missing_evidence)
    assert "esx-01.corp.example" in commands
    assert "GetFreeConn" in commands and "/var/run/log/vvold.log" in commands
    assert "esxcli storage vvol vasaprovider list" in commands
    assert "esxcli storage vvol protocolendpoint list" in commands
    assert "Get-VasaProvider -Refresh" in commands
    assert d.incident_window is not None


def test_vvold_from_an_unrelated_host_does_not_clear_the_failure() -> None:
    records = [quiet_vvold("esx-09").frame(), *wave(3, {1})]
    d = run(records)
    assert d.verdict.cls == FailureClass.INSUFFICIENT_EVIDENCE
    assert any(m.artifact == "vvold.log from esx-01.corp.example" for m in d.missing_evidence)


def test_nothing_at_all_is_insufficient() -> None:
    d = run([])
    assert d.verdict.cls == FailureClass.INSUFFICIENT_EVIDENCE
    assert d.missing_evidence


def test_partial_task_records_merge_and_fqdn_matches_short_names() -> None:
    started = task(1, TaskState.RUNNING, 0, None, source="ESX-01.corp.example.")
    finished = task(1, TaskState.ERROR, 0, 40, source=None)  # same task id, from an event
    v = saturated_vvold()
    d = run([started, finished, v.frame(), *healthy_hosts()])
    assert d.migrations.total == 1 and len(d.migrations.failed) == 1
    failed = d.migrations.failed[0]
    assert failed.source == "esx-01"  # the bundle's name wins over vCenter's FQDN
    assert failed.nearby_signals["esx-01"]["no_free_conn"] == 6


def test_warnings_are_passed_through() -> None:
    from vvolguard.records import ReadWarning

    w = ReadWarning("vvold.log", 7, "unparsed line")
    d = run([w, quiet_vvold("esx-01").frame()])
    assert d.warnings == [w]


def test_a_vvold_log_without_a_host_name_still_counts_as_host_evidence() -> None:
    v = quiet_vvold("esx-01")
    v.host = None
    v.rows = [{**r, "host": None} for r in v.rows]
    d = run([v.frame(), *wave(3, {1})])
    assert d.verdict.cls == FailureClass.NOT_CONTROL_PLANE
    assert not any(m.artifact.startswith("vvold.log") for m in d.missing_evidence)
    saturated = saturated_vvold()
    saturated.rows = [{**r, "host": None} for r in saturated.rows]
    assert run([saturated.frame(), *wave(8, {2, 5})]).verdict.cls == FailureClass.PROVIDER_SATURATION


def test_pe_trouble_on_an_uninvolved_host_is_only_secondary() -> None:
    records = [
        quiet_vvold("esx-01").frame(),
        quiet_vvold("esx-02").frame(),
        *healthy_hosts(),
        pe("esx-09", accessible=False),
        *wave(3, {1}),
    ]
    d = run(records)
    assert d.verdict.cls == FailureClass.NOT_CONTROL_PLANE
    secondary = next(f for f in d.findings if f.id == FailureClass.PE_PRESENTATION)
    assert secondary.severity == "medium" and "another host" in secondary.title


def test_pressure_on_an_uninvolved_host_does_not_explain_the_failures() -> None:
    busy_elsewhere = saturated_vvold("esx-09")
    busy_elsewhere.rows = [r for r in busy_elsewhere.rows if r["kind"] != "failure"]
    records = [
        busy_elsewhere.frame(),
        quiet_vvold("esx-01").frame(),
        quiet_vvold("esx-02").frame(),
        *healthy_hosts(),
        *wave(3, {1}, spacing=60),
    ]
    d = run(records)
    assert d.verdict.cls == FailureClass.NOT_CONTROL_PLANE
    pressure = next(f for f in d.findings if f.id == FailureClass.PROVIDER_SATURATION)
    assert pressure.severity == "low" and "esx-09" in pressure.reason


def test_a_vvold_log_that_gave_no_records_does_not_vouch_for_a_calm_control_plane() -> None:
    unreadable = InputFile("esx-01.tgz!var/run/log/vvold.log", EvidenceKind.VVOLD_LOG.value, "esx-01", 0)
    d = run([*healthy_hosts(), *wave(3, {1})], inputs=[unreadable])
    assert d.verdict.cls == FailureClass.INSUFFICIENT_EVIDENCE
    assert any(m.artifact == "vvold.log from esx-01" for m in d.missing_evidence)


def test_vcenters_provider_list_alone_is_not_enough_to_call_it_healthy() -> None:
    d = run([provider("online", "vcenter"), *wave(2, set(), spacing=100)])
    assert d.verdict.cls == FailureClass.INSUFFICIENT_EVIDENCE
    assert (
        run([provider("online", "esx-01"), *wave(2, set(), spacing=100)]).verdict.cls == FailureClass.HEALTHY
    )


def test_config_vvol_limit_is_a_look_alike_outside_the_control_plane() -> None:
    records = [quiet_vvold("esx-01").frame(), quiet_vvold("esx-02").frame(), *healthy_hosts()]
    records.append(
        host_event(
            HostEventKind.CONFIG_VVOL_LIMIT,
            50,
            host="esx-02",
            source="hostd",
            message="config vVol of vm-07 would exceed 4 GB",
        )
    )
    d = run(records)
    assert d.verdict.cls == FailureClass.NOT_CONTROL_PLANE
    assert any("4 GB" in c.text for c in d.primary.citations)


def test_container_offline_events_support_registration() -> None:
    records = [quiet_vvold("esx-01").frame(), provider("offline", "esx-01"), *wave(1, {0})]
    records.append(
        host_event(
            HostEventKind.CONTAINER_OFFLINE,
            20,
            host="esx-01",
            source="vobd",
            message="esx.problem.vvol.container.offline vVol_DS",
        )
    )
    d = run(records)
    assert d.verdict.cls == FailureClass.PROVIDER_REGISTRATION
    assert "container offline" in d.primary.reason


def test_a_retry_that_succeeds_after_the_storm_supports_saturation() -> None:
    first = wave(8, {2, 5})
    retry = task(2, TaskState.SUCCESS, 600, 660)
    retry = retry.__class__(**{**{n: getattr(retry, n) for n in retry.__slots__}, "task_id": "task-2002"})
    base = run([saturated_vvold().frame(), *healthy_hosts(), *first])
    d = run([saturated_vvold().frame(), *healthy_hosts(), *first, retry])
    assert d.verdict.cls == FailureClass.PROVIDER_SATURATION
    assert "moved fine on a later retry" in d.primary.reason
    assert d.verdict.confidence >= base.verdict.confidence


def test_pressure_without_failures_is_not_called_calm(tmp_path) -> None:
    """Four waits for a free connection in five seconds and a 32 s swap create, but no failed
    migration: not saturation, yet the healthy summary must not read 'shows no saturation'."""
    from datetime import UTC, datetime

    from vvolguard.pipeline import diagnose

    head = "2026-03-14T10:10:0{s}.000Z warning vvold[2099154] [Originator@6876 sub=Default OpId=a{s}] "
    wait = (
        "VasaSession::GetFreeConn: No free connections to VP pure-ct0 "
        "(url: https://10.21.88.113:8084/vasa) [#outstanding 5/5] - waiting\n"
    )
    lines = [
        "2026-03-14T10:09:58.120Z info vvold[2099154] [Originator@6876 sub=Default OpId=a1] "
        "VasaOp::CreateVirtualVolume [#89844]: ===> Issuing 'createVirtualVolume' to VP pure-ct0 "
        "(#outstanding 5/5)\n",
        *(head.format(s=s) + wait for s in range(4)),
        "2026-03-14T10:10:30.000Z info vvold[2099154] [Originator@6876 sub=Default OpId=a1] "
        "VasaOp::CreateVirtualVolume [#89844]: ===> FINAL SUCCESS createVirtualVolume VP (pure-ct0) "
        "Container (abc) timeElapsed=32000 msecs (#outstanding 5)\n",
    ]
    log = tmp_path / "vvold.log"
    log.write_text("".join(lines))
    d = diagnose([log], now=datetime(2026, 3, 15, tzinfo=UTC))
    assert d.verdict.cls == "healthy"
    assert "no saturation" not in d.verdict.summary
    assert "VASA pressure" in d.verdict.summary
    assert any(f.id == "provider-saturation" and f.severity == "low" for f in d.findings)
