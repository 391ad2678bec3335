"""setContext, transport, SSL and certificate failures are never "healthy" (issue 10 B), vvold
restarts are reported, and vCenter's own view of the providers (sps.log) counts as registration
and trust evidence. The KB 412434 lines alone, read by the real reader, get the answer an expert
would give.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from analysis_builders import NOW, T0, Vvold, pe, provider, sps_event, wave

from vvolguard.analysis.engine import Analyzer
from vvolguard.analysis.model import Diagnosis, FailureClass, NoteKind
from vvolguard.pipeline import diagnose
from vvolguard.records import ProviderEventKind

#: Broadcom KB 412434, quoted in docs/evidence-formats.md §1.3 [VERBATIM]; the second line keeps the
#: ``25331:`` prefix of the ``grep -n`` it was copied from.
KB_412434 = (
    "2025-08-08T12:17:14.610Z Er(163) VVold[2255518]: [Originator@6876 sub=Default OpId=Session] "
    "VasaSession::DoSetContext: setContext for VP XXX (url: https://XXX:8443/vasa/services/vasaService?"
    "version=4) failed [connectionState: TransportError]: TRANSPORT_FAULT (Timeout / SSL_connect() failed "
    "in tcp_connect())",
    "25331:2025-08-08T17:37:07.849Z Er(163) VVold[2317367]: [Originator@6876 sub=Default OpId=Session] "
    "VasaSession::DoSetContext: setContext for VP XXX (url: https://XXXX/axis2/services/vasa2) failed "
    "[connectionState: Connected]: STORAGE_FAULT (ADB conversion error. Details: Invalid Fault Id / )",
)


def run(records: Iterable[Any]) -> Diagnosis:
    an = Analyzer(now=NOW)
    for r in records:
        an.add(r)
    return an.finish()


def quiet(host: str = "esx-01") -> Vvold:
    v = Vvold(host=host, file=f"{host}.tgz!var/run/log/vvold.log")
    v.quiet_traffic(-600, 1200)
    return v


def setcontext(v: Vvold, sec: float, fault: str = "TRANSPORT_FAULT") -> None:
    v.line(
        sec,
        "setcontext-failure",
        fault=fault,
        level="error",
        url="https://vp01.corp.example:8084/vasa",
        text=f"VasaSession::DoSetContext: setContext for VP {v.vp} (url: https://vp01.corp.example:8084/"
        f"vasa) failed [connectionState: TransportError]: {fault} (Timeout / SSL_connect() failed in "
        "tcp_connect())",
    )


def test_the_kb_412434_lines_alone_are_registration_naming_the_provider_and_the_restart(
    tmp_path: Path,
) -> None:
    log = tmp_path / "vvold.log"
    log.write_text("\n".join(KB_412434) + "\n", encoding="utf-8")
    d = diagnose([log], now=datetime(2025, 8, 9, tzinfo=UTC))
    assert d.verdict.cls == FailureClass.PROVIDER_REGISTRATION, d.verdict.summary
    assert FailureClass.HEALTHY not in [f.id for f in d.findings]
    primary = d.primary
    assert primary.providers == ["XXX"]
    assert "TRANSPORT_FAULT" in primary.reason and "STORAGE_FAULT" in primary.reason
    assert "2 setContext/transport failures" in primary.reason
    assert "XXX (https://XXX:8443/vasa/services/vasaService?version=4)" in primary.reason
    assert "KB 412434" in primary.reason
    assert {c.line for c in primary.citations} == {1, 2}
    assert any("Fix provider registration/trust" in move for move in primary.next_moves)
    # the two lines come from two vvold processes: a restart between them, reported with both lines
    (restart,) = [n for n in d.notes if n.kind == NoteKind.VVOLD_RESTART]
    assert "2255518 -> 2317367" in restart.text and "2025-08-08 12:17:14Z" in restart.text
    assert [c.line for c in restart.citations] == [1, 2]
    assert "vvold restart" in primary.reason


def test_one_setcontext_failure_is_never_healthy() -> None:
    v = quiet()
    setcontext(v, 100)
    healthy = [provider("online", "esx-01"), pe("esx-01"), *wave(3, set(), spacing=200)]
    d = run([v.frame(), *healthy])
    assert d.verdict.cls == FailureClass.PROVIDER_REGISTRATION
    assert d.primary.severity == "medium"
    assert any("DoSetContext" in c.text for c in d.primary.citations)
    # without it, the same evidence is healthy
    assert run([quiet().frame(), *healthy]).verdict.cls == FailureClass.HEALTHY


def test_setcontext_failures_inside_a_pressure_storm_are_named_as_the_kb_412434_storm() -> None:
    v = quiet()
    for i in range(8):
        v.op(2 * i, "createVirtualVolume", 30_000 + 2_000 * i, outstanding=5)
    for s in (3, 5, 9, 14, 20, 26):
        v.no_free_conn(s)
    v.op(30, "createVirtualVolume", 60_000, outstanding=5, fault="TIMEOUT", final_elapsed=False)
    for s in (12, 13, 15, 16):
        setcontext(v, s)
    d = run([v.frame(), provider("online", "esx-01"), pe("esx-01"), *wave(8, {2, 5})])
    assert d.verdict.cls == FailureClass.PROVIDER_SATURATION
    assert "setContext storm of KB 412434" in d.primary.reason
    assert any("DoSetContext" in c.text for c in d.primary.citations)
    assert FailureClass.PROVIDER_REGISTRATION not in [f.id for f in d.findings]


def test_vcenters_certificate_errors_are_trust_evidence_with_their_lines() -> None:
    message = (
        "[isLegacyProvider] Failed to retrieve version information from provider - "
        "https://vp01.corp.example:8084/version.xml: certificate_unknown(46)"
    )
    records = [quiet().frame(), quiet("esx-02").frame(), provider("online", "esx-01"), pe("esx-01")]
    records += wave(3, {1})
    d = run([*records, sps_event(ProviderEventKind.CERTIFICATE, -120, message)])
    assert d.verdict.cls == FailureClass.PROVIDER_REGISTRATION
    assert d.primary.severity == "high"
    assert "seen by vCenter (sps.log: certificate)" in d.primary.reason
    assert any("certificate_unknown(46)" in c.text for c in d.primary.citations)
    assert "pure-ct0" in d.primary.providers


def test_a_provider_outage_that_ended_before_the_incident_does_not_explain_it() -> None:
    records = [quiet().frame(), quiet("esx-02").frame(), provider("online", "esx-01"), pe("esx-01")]
    records += wave(3, {1})
    outage = [
        sps_event(ProviderEventKind.SETCONTEXT_FAILURE, -3000 - 60 * i, "SetContext failed!")
        for i in range(4)
    ]
    assert run([*records, *outage]).verdict.cls == FailureClass.PROVIDER_REGISTRATION
    back = sps_event(ProviderEventKind.ONLINE, -1000, "provider pure-ct0 is online")
    assert run([*records, *outage, back]).verdict.cls == FailureClass.NOT_CONTROL_PLANE


def test_a_service_start_header_inside_the_evidence_is_a_restart_and_a_rotation_header_is_not() -> None:
    def header(v: Vvold, sec: float, started: datetime, pid: int) -> None:
        v.line(
            sec,
            "service-start",
            pid=None,
            text=f"- time the service was last started {started:%Y-%m-%dT%H:%M:%S.000Z}, Section for VMware "
            f"ESX, pid={pid}, version=8.0.3, build=24677879, option=Release",
        )

    rotated = quiet()
    header(rotated, -600, T0 - timedelta(days=3), rotated.pid)
    header(rotated, 300, T0 - timedelta(days=3), rotated.pid)
    assert not run([rotated.frame()]).notes
    restarted = quiet()
    header(restarted, 300, T0 + timedelta(seconds=300), restarted.pid + 7)
    (note,) = run([restarted.frame()]).notes
    assert note.kind == NoteKind.VVOLD_RESTART and "esx-01" in note.text and "10:05:00Z" in note.text


def test_an_esxi_67_header_opening_each_rotated_file_is_not_a_restart() -> None:
    """The 6.7 header prints no start time; it opens the log (and, like the 7.0 rotation header,
    can open a rotated file) while the same process goes on: no restart."""
    v = quiet()
    for sec in (-600, 0):
        v.line(
            sec,
            "service-start",
            pid=None,
            text=f"time the service was last started, Section for VMware ESX, pid={v.pid}, version=6.7.0, "
            "build=14320388, option=Release",
        )
    assert not run([v.frame()]).notes


def test_the_kb_lines_alone_ask_for_vcenters_side_and_the_providers_certificate(tmp_path: Path) -> None:
    log = tmp_path / "vvold.log"
    log.write_text("\n".join(KB_412434) + "\n", encoding="utf-8")
    d = diagnose([log], now=datetime(2025, 8, 9, tzinfo=UTC))
    commands = {m.artifact: m.command for m in d.missing_evidence}
    assert "/var/log/vmware/vmware-sps/sps.log" in commands["vCenter's sps.log (Storage Monitoring Service)"]
    assert "-connect xxx:8443" in commands["VASA provider certificate"].lower()
    assert all("<source host of a failed migration>" not in c for c in commands.values())
