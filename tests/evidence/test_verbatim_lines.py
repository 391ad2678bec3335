# ruff: noqa: E501  (verbatim lines and their readings are kept whole, one per line)
"""Every log line that docs/evidence-formats.md marks [VERBATIM] (vvold, hostd, vmkernel, vpxd, sps and
the syslog-wrapped shape) with the reading an expert would give it, through the real readers
(issue #10 C). Lines quoted without a time (KB 307365's excerpts, KB 305768's masked times) are
framed with one; that framing is the only addition, and it is marked."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from vvolguard.evidence.hostlogs import HostdReader, VmkernelReader
from vvolguard.evidence.source import from_bytes
from vvolguard.evidence.vcenterlogs import SpsLogReader, VpxdLogReader
from vvolguard.evidence.vvold import VvoldReader
from vvolguard.records import (
    EvidenceSpan,
    HostIdentity,
    HostLogEvent,
    MigrationTask,
    ProviderEvent,
    VasaFrame,
)

T = datetime


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


PURE = (  # Pure Storage KB, §1.2
    "--> VasaOp::QueryVirtualVolumeInt [#89844]: ===> Issuing 'queryVirtualVolume' to VP sn1-m20-c12-25-ct1 "
    "(#outstanding 0/5) [session state: Connected]\n"
    "2019-05-16T23:48:21.212Z error vvold[2099041] [Originator@6876 sub=Default]\n"
    "--> VasaOp::ThrowFromSessionError [#89844]: ===> FINAL SUCCESS queryVirtualVolume VP (sn1-m20-c12-25-ct1) "
    "Container (b487b73a-6128-3ad2-873b-8ddb1ba45d4f) timeElapsed=154 msecs (#outstanding 0)\n"
    "2019-05-16T23:48:21.212Z info vvold[2099041] [Originator@6876 sub=Default] SI::QueryVirtualVolumeInt "
    "Empty response\n"
    "--> VasaOp::EventPollerCB [#89845]: ===> Issuing 'getEvents' to VP sn1-m...\n"
)
KB412434 = (  # Broadcom KB 412434, §1.3: a restart between the two (new pid)
    "2025-08-08T12:17:14.610Z Er(163) VVold[2255518]: [Originator@6876 sub=Default OpId=Session] "
    "VasaSession::DoSetContext: setContext for VP XXX (url: https://XXX:8443/vasa/services/vasaService?version=4) "
    "failed [connectionState: TransportError]: TRANSPORT_FAULT (Timeout / SSL_connect() failed in tcp_connect())\n"
    "25331:2025-08-08T17:37:07.849Z Er(163) VVold[2317367]: [Originator@6876 sub=Default OpId=Session] "
    "VasaSession::DoSetContext: setContext for VP XXX (url: https://XXXX/axis2/services/vasa2) failed "
    "[connectionState: Connected]: STORAGE_FAULT (ADB conversion error. Details: Invalid Fault Id / )\n"
)
# §1.1 headers: 6.7 and 7.0.3 message parts (framed with a time, as the file has them), and the
# 8.0.3 hostd header.
HEADER67 = (
    "2019-05-16T23:00:00.000Z - time the service was last started, Section for VMware ESX, pid=2098599, "
    "version=6.7.0, build=14320388, option=Release\n"
)
HEADER703 = (
    "2022-11-09T09:15:36.354Z - last log rotation time, 2022-11-09T09:15:36.354Z - time the service was last "
    "started 2022-11-09T09:15:36.339Z, Section for VMware ESX, pid=2099676, version=7.0.3, build=20328353, "
    "option=Release\n"
)
HOSTD803 = (
    "2025-10-28T08:36:40.939Z In(166) Hostd[132083]: - time the service was last started "
    "2025-10-28T08:36:40.939Z, Section for VMware ESX, pid=132083, version=8.0.3, build=24677879, "
    "option=Release\n"
)
HOSTD_OTHER = (  # §1.2 and §1.3: routine hostd lines, no event
    "2023-02-21T08:44:19.711Z error hostd[2101004] [Originator@6876 sub=Default opID=esxui-d48c-26a4] "
    "[module:pam_lsass]pam_do_authenticate: error [login:root][error code:2]\n"
    "2023-12-05T14:31:48.557Z In(166) Hostd[1050748]: [Originator@6876 sub=Vimsvc.HaSessionManager "
    "opID=esxui-8c02-9b39 sid=52f0e556] Accepted password for user root from 192.168.127.10 - "
    "session=52f0e556-5be4-83d4-8d71-8f9d8a43791c\n"
)
# KB 307365 excerpts (§1.11), quoted without their time: framed with one [framing added].
KB307365_HOSTD = (
    "2020-04-14T12:48:16.306Z info hostd[2101004] [Originator@6876 sub=Vcsvc.VMotionSrc] "
    "[MIGRATE] (migrateidentifier) vMotion failed: vmodl.fault.SystemError\n"
    '-->    msg = "A general system error occurred: Source detected that destination failed to resume."\n'
)
KB307365_VMK = (
    "2020-04-14T12:48:10.306Z cpu12:2097152)WARNING: Migrate: 296: xxx D: Failed: Maximum switchover time "
    "for migration exceeded(0xbad0109)\n"
)
VPXD_ERROR = (  # §1.2 [VERBATIM]: an ERROR of a non-migration task, no MigrationTask
    "2020-04-14T12:48:16.306-06:00 info vpxd[10394] [Originator@6876 sub=Default opID=faf1555] [VpxLRO] -- "
    "ERROR lro-134510 -- SessionManager -- vim.SessionManager.impersonateUser: vim.fault.InvalidLogin:\n"
    "   --> Result:\n"
    "   --> (vim.fault.InvalidLogin) {\n"
)
VPXD_BEGIN = (  # KB 305768 (times masked there; framed with one)
    "2024-03-14T10:00:00.000Z info vpxd[10578] [Originator@6876 sub=vpxLro opID=25c4c0e0-01] [VpxLRO] -- "
    "BEGIN task-238296 -- Resources -- ResourcePool.ImportVAppLRO --\n"
)
SPS = (  # KB 402809 and KB 320568 (times masked / not quoted; framed with one)
    "2024-05-02T10:11:12 [pool-29-thread-2] WARN  opId=sps-Main-12345-678 "
    "com.vmware.vim.sms.provider.vasa.VersionHandler - [isLegacyProvider] Failed to retrieve version "
    "information from provider - https://esxihost.example.com:9080/version.xml: certificate_unknown(46)\n"
    "2024-05-02T10:11:14 [pool-29-thread-4] ERROR opId=sps-Main-605481-414 "
    "com.vmware.vim.sms.client.VasaClientImpl - Setcontext() was interrupted\n"
    "java.lang.InterruptedException: org.apache.axis2.AxisFault: self signed certificate\n"
    "2024-05-02T10:11:15 [pool-29-thread-4] ERROR opId=sps-Main-605481-415 "
    "com.vmware.vim.sms.provider.vasa.VasaProviderImpl - SetContext failed!\n"
)
SYSLOG = (  # §8: the ESXi 6.x/7.0 forwarded shape (plaso), with a vvold and a hostd line in it
    "<166>2019-05-21T19:27:32.479Z esxi.example Vvold: warning vvold[2100874] [Originator@6876 sub=Default] "
    "VasaSession::GetFreeConn: No free connections to VP pure-ct0\n"
    "<166>2019-05-21T19:27:33.000Z esxi.example Hostd: info hostd[123] [Originator@6876 sub=Vcsvc] "
    "[MIGRATE] (1) vMotion failed: vmodl.fault.SystemError\n"
)

VVOLD_FIELDS = ("kind", "line", "ts", "pid", "op", "opseq", "vp", "fault", "outstanding", "elapsed_ms")

CASES: list[tuple[str, Any, str, list[dict[str, Any]]]] = [
    ("pure-kb", VvoldReader(), PURE, [
        dict(kind="issue", line=1, ts=utc(2019, 5, 16, 23, 48, 21, 212000), pid=2099041, op="queryVirtualVolume",
             opseq=89844, vp="sn1-m20-c12-25-ct1", fault=None, outstanding=0, elapsed_ms=None),
        dict(kind="success", line=3, ts=utc(2019, 5, 16, 23, 48, 21, 212000), pid=2099041, op="queryVirtualVolume",
             opseq=89844, vp="sn1-m20-c12-25-ct1", fault=None, outstanding=0, elapsed_ms=154),
        dict(kind="issue", line=5, ts=utc(2019, 5, 16, 23, 48, 21, 212000), pid=2099041, op="getEvents",
             opseq=89845, vp="sn1-m...", fault=None, outstanding=None, elapsed_ms=None),
    ]),
    ("kb412434-restart", VvoldReader(), KB412434, [
        dict(kind="setcontext-failure", line=1, ts=utc(2025, 8, 8, 12, 17, 14, 610000), pid=2255518,
             op="setContext", opseq=None, vp="XXX", fault="TRANSPORT_FAULT", outstanding=None, elapsed_ms=None),
        dict(kind="setcontext-failure", line=2, ts=utc(2025, 8, 8, 17, 37, 7, 849000), pid=2317367,
             op="setContext", opseq=None, vp="XXX", fault="STORAGE_FAULT", outstanding=None, elapsed_ms=None),
    ]),
    ("header-6.7", VvoldReader(), HEADER67, [
        dict(identity=("6.7.0", "14320388"), line=1),
        dict(kind="service-start", line=1, ts=utc(2019, 5, 16, 23), pid=2098599, op=None, opseq=None, vp=None,
             fault=None, outstanding=None, elapsed_ms=None),
    ]),
    ("header-7.0.3", VvoldReader(), HEADER703, [
        dict(identity=("7.0.3", "20328353"), line=1),
        dict(kind="service-start", line=1, ts=utc(2022, 11, 9, 9, 15, 36, 354000), pid=2099676, op=None,
             opseq=None, vp=None, fault=None, outstanding=None, elapsed_ms=None),
    ]),
    ("syslog-vvold", VvoldReader(), SYSLOG, [
        dict(kind="no-free-conn", line=1, ts=utc(2019, 5, 21, 19, 27, 32, 479000), pid=2100874, op=None,
             opseq=None, vp="pure-ct0", fault=None, outstanding=None, elapsed_ms=None),
    ]),
    ("hostd-8.0.3-header", HostdReader(), HOSTD803, [dict(identity=("8.0.3", "24677879"), line=1)]),
    ("hostd-routine", HostdReader(), HOSTD_OTHER, []),
    ("kb307365-hostd", HostdReader(), KB307365_HOSTD, [
        dict(event="vmotion-failed", line=1, ts=utc(2020, 4, 14, 12, 48, 16, 306000)),
        dict(event="destination-failed-resume", line=2, ts=utc(2020, 4, 14, 12, 48, 16, 306000)),
    ]),
    ("kb307365-vmkernel", VmkernelReader(), KB307365_VMK, [
        dict(event="switchover-exceeded", line=1, ts=utc(2020, 4, 14, 12, 48, 10, 306000)),
    ]),
    ("syslog-hostd", HostdReader(), SYSLOG, [
        dict(event="vmotion-failed", line=2, ts=utc(2019, 5, 21, 19, 27, 33)),
    ]),
    ("vpxd-error-not-a-migration", VpxdLogReader(), VPXD_ERROR, []),
    ("vpxd-begin-not-a-migration", VpxdLogReader(), VPXD_BEGIN, []),
    ("sps", SpsLogReader(), SPS, [
        dict(provider_event="certificate", line=1, ts=utc(2024, 5, 2, 10, 11, 12),
             url="https://esxihost.example.com:9080/version.xml"),
        dict(provider_event="setcontext-failure", line=2, ts=utc(2024, 5, 2, 10, 11, 14), url=None),
        dict(provider_event="certificate", line=3, ts=utc(2024, 5, 2, 10, 11, 14), url=None),
        dict(provider_event="setcontext-failure", line=4, ts=utc(2024, 5, 2, 10, 11, 15), url=None),
    ]),
]  # fmt: skip


def reading(reader: Any, text: str) -> tuple[list[dict[str, Any]], list[EvidenceSpan]]:
    ef = from_bytes("evidence.log", text.encode(), host="esx01")
    out: list[dict[str, Any]] = []
    spans: list[EvidenceSpan] = []
    for rec in reader.read(ef):
        if isinstance(rec, VasaFrame):
            out += [{k: row[k] for k in VVOLD_FIELDS} for row in rec.frame.to_dicts()]
        elif isinstance(rec, HostIdentity):
            assert rec.citation is not None
            out.append(dict(identity=(rec.esxi_version, rec.build), line=rec.citation.line))
        elif isinstance(rec, HostLogEvent):
            out.append(dict(event=rec.kind.value, line=rec.citation.line, ts=rec.ts))
        elif isinstance(rec, ProviderEvent):
            out.append(dict(provider_event=rec.kind.value, line=rec.citation.line, ts=rec.ts, url=rec.url))
        elif isinstance(rec, MigrationTask):
            out.append(dict(task=rec.task_id, state=rec.state.value))
        elif isinstance(rec, EvidenceSpan):
            spans.append(rec)
    assert ef.warnings == []
    return out, spans


@pytest.mark.parametrize(("name", "reader", "text", "expected"), CASES, ids=[c[0] for c in CASES])
def test_verbatim_line_reads_as_an_expert_would(name: str, reader: Any, text: str, expected: list) -> None:
    got, spans = reading(reader, text)
    assert got == expected
    assert len(spans) == 1 and spans[0].lines >= 1  # every file of timed lines says what it covers


def test_kb412434_restart_is_visible_in_the_pids() -> None:
    """The two setContext failures of KB 412434 come from two vvold processes: the pid changes,
    which is how the analysis sees the restart between them."""
    got, _ = reading(VvoldReader(), HEADER703 + KB412434)
    assert [(r["kind"], r["pid"]) for r in got if "kind" in r] == [
        ("service-start", 2099676),
        ("setcontext-failure", 2255518),
        ("setcontext-failure", 2317367),
    ]
