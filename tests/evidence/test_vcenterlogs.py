"""vCenter-side logs (issue #10 A): sps.log (the SMS view of each provider) and vpxd.log (the task
lifecycle), read loose, renamed, gzipped and from inside a vc-support bundle."""

from __future__ import annotations

import gzip
import io
import tarfile
from datetime import UTC, datetime

import pytest

from vvolguard.evidence.collect import Collector
from vvolguard.evidence.sniff import sniff
from vvolguard.evidence.source import from_bytes
from vvolguard.evidence.vcenterlogs import SPS_RULES, SpsLogReader, VpxdLogReader, classify_sps
from vvolguard.records import (
    EvidenceKind,
    EvidenceSpan,
    HostOperation,
    MigrationTask,
    ProviderEvent,
    ProviderEventKind,
    TaskState,
)

# [VERBATIM] KB 402809 (its time masked as YYYY-MM-DDTHH:MM:SS, here filled in) and KB 320568.
SPS = (
    "2024-05-02T10:11:12 [pool-29-thread-2] WARN  opId=sps-Main-12345-678 "
    "com.vmware.vim.sms.provider.vasa.VersionHandler - [isLegacyProvider] Failed to retrieve version "
    "information from provider - https://esxihost.example.com:9080/version.xml: certificate_unknown(46)\n"
    "2024-05-02T10:11:13.250Z [pool-29-thread-3] INFO  opId=sps-Main-1-1 com.vmware.vim.sms.Foo - routine\n"
    "2024-05-02T10:11:14 [pool-29-thread-4] ERROR opId=sps-Main-605481-414 "
    "com.vmware.vim.sms.client.VasaClientImpl - Setcontext() was interrupted\n"
    "java.lang.InterruptedException: org.apache.axis2.AxisFault: self signed certificate\n"
    "\tat com.vmware.vim.sms.client.VasaClientImpl.setContext(VasaClientImpl.java:100)\n"
    "2024-05-02T10:11:15 [pool-29-thread-4] ERROR opId=sps-Main-605481-415 "
    "com.vmware.vim.sms.provider.vasa.VasaProviderImpl - SetContext failed!\n"
)
# vpxd 7.0 framing [VERBATIM shape, docs/evidence-formats.md §1.2/§1.11]; the relocate and
# maintenance tasks are [RECONSTRUCTED] in that shape, the ImportVApp BEGIN line is KB 305768's [VERBATIM].
VPXD = (
    "2024-03-14T10:00:00.000Z info vpxd[10578] [Originator@6876 sub=vpxLro opID=25c4c0e0-01] "
    "[VpxLRO] -- BEGIN task-238296 -- Resources -- ResourcePool.ImportVAppLRO --\n"
    "2024-03-14T10:01:00.000Z info vpxd[10578] [Originator@6876 sub=vpxLro opID=mm-1] "
    "[VpxLRO] -- BEGIN task-500 -- host-12 -- vim.HostSystem.enterMaintenanceMode -- 52a1(52b2)\n"
    "2024-03-14T10:01:05.000Z info vpxd[10578] [Originator@6876 sub=vpxLro opID=r-1] "
    "[VpxLRO] -- BEGIN task-501 -- vm-101 -- vim.VirtualMachine.relocate -- 52a1(52b2)\n"
    "2024-03-14T10:01:06.000Z info vpxd[10578] [Originator@6876 sub=vpxLro opID=r-2] "
    "[VpxLRO] -- BEGIN task-502 -- vm-102 -- vim.VirtualMachine.relocate -- 52a1(52b2)\n"
    "2024-03-14T10:02:42.500-06:00 error vpxd[10578] [Originator@6876 sub=vpxLro opID=r-1] "
    "[VpxLRO] -- ERROR task-501 -- vm-101 -- vim.VirtualMachine.relocate: vmodl.fault.SystemError:\n"
    "   --> Result:\n"
    "   --> (vmodl.fault.SystemError) {\n"
    '   -->    msg = "A system error occurred."\n'
    "   --> }\n"
    "2024-03-14T16:02:43.000Z info vpxd[10578] [Originator@6876 sub=vpxLro opID=r-1] "
    "[VpxLRO] -- FINISH task-501\n"
    "2024-03-14T16:03:00.000Z info vpxd[10578] [Originator@6876 sub=vpxLro opID=r-2] "
    "[VpxLRO] -- FINISH task-502\n"
    "2024-03-14T16:04:00.000Z info vpxd[10578] [Originator@6876 sub=vpxLro opID=25c4c0e0-01] "
    "[VpxLRO] -- FINISH task-238296\n"
)


def read(reader, data: str | bytes, name: str) -> tuple[list, list]:
    raw = data.encode() if isinstance(data, str) else data
    ef = from_bytes(name, raw)
    return list(reader.read(ef)), ef.warnings


def test_sps_verbatim_lines() -> None:
    records, warnings = read(SpsLogReader(), SPS, "sps.log")
    events = [r for r in records if isinstance(r, ProviderEvent)]
    assert [(e.kind, e.citation.line) for e in events] == [
        (ProviderEventKind.CERTIFICATE, 1),
        (ProviderEventKind.SETCONTEXT_FAILURE, 3),
        (ProviderEventKind.CERTIFICATE, 4),  # the stack line: its record's time
        (ProviderEventKind.SETCONTEXT_FAILURE, 6),
    ]
    assert events[0].url == "https://esxihost.example.com:9080/version.xml"
    assert events[0].ts == datetime(2024, 5, 2, 10, 11, 12, tzinfo=UTC)  # no zone: UTC
    assert events[2].ts == events[1].ts == datetime(2024, 5, 2, 10, 11, 14, tzinfo=UTC)
    assert all(e.observer == "vcenter" and e.citation.file == "sps.log" for e in events)
    span = records[-1]
    assert isinstance(span, EvidenceSpan)
    assert (span.host, span.kind, span.lines) == ("vcenter", EvidenceKind.SPS_LOG, 4)
    assert (span.start, span.end) == (events[0].ts, datetime(2024, 5, 2, 10, 11, 15, tzinfo=UTC))
    assert warnings == []


@pytest.mark.parametrize("rule", SPS_RULES, ids=[r.kind.value for r in SPS_RULES])
def test_every_sps_rule_sample_reads_as_its_kind(rule) -> None:
    records, _ = read(SpsLogReader(), rule.sample + "\n", "sps.log")
    (event,) = [r for r in records if isinstance(r, ProviderEvent)]
    assert event.kind == rule.kind


def test_sps_routine_lines_are_not_events() -> None:
    assert classify_sps("Provider sync completed in 120 ms") is None
    assert classify_sps("Fetched 12 storage containers") is None


def test_vpxd_tasks() -> None:
    records, warnings = read(VpxdLogReader(), VPXD, "vpxd-12.log")
    tasks = [r for r in records if isinstance(r, MigrationTask)]
    ops = [r for r in records if isinstance(r, HostOperation)]
    failed, ok = tasks
    assert (failed.task_id, failed.vm, failed.state) == ("task-501", "vm-101", TaskState.ERROR)
    assert failed.error == "vmodl.fault.SystemError: A system error occurred."
    assert failed.start == datetime(2024, 3, 14, 10, 1, 5, tzinfo=UTC)
    assert failed.end == datetime(2024, 3, 14, 16, 2, 43, tzinfo=UTC)
    assert failed.citation is not None and failed.citation.line == 5  # the ERROR line
    assert failed.description_id == "vim.VirtualMachine.relocate"
    assert (ok.task_id, ok.state, ok.error) == ("task-502", TaskState.SUCCESS, None)
    (mm,) = ops
    assert (mm.operation, mm.host, mm.state, mm.task_id) == (
        "enter-maintenance-mode",
        "host-12",
        TaskState.RUNNING,  # begun, not finished in this log
        "task-500",
    )
    assert mm.start == datetime(2024, 3, 14, 10, 1, tzinfo=UTC)
    span = records[-1]
    assert isinstance(span, EvidenceSpan) and span.kind == EvidenceKind.VPXD_LOG and span.host == "vcenter"
    assert span.lines == 8
    assert warnings == []


def test_sniff_by_content_and_name() -> None:
    assert SpsLogReader().sniff("renamed.txt", SPS.encode()) >= 80
    assert SpsLogReader().sniff("sps.log", b"") >= 50
    assert VpxdLogReader().sniff("renamed.txt", VPXD.encode()) >= 80
    assert VpxdLogReader().sniff("vpxd-12.log", b"") >= 50
    for reader in (SpsLogReader(), VpxdLogReader()):
        assert reader.sniff("vvold.log", b"2024-03-14T10:02:11.418Z warning vvold[1] x") < 30
    for data, kind in ((SPS, EvidenceKind.SPS_LOG), (VPXD, EvidenceKind.VPXD_LOG)):
        ef = from_bytes("evidence.txt", data.encode())
        reader, _ = sniff(ef)
        assert reader is not None and reader.kind == kind


def test_from_a_vc_support_bundle(tmp_path) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in (
            ("vc-support-vcsa01/var/log/vmware/vmware-sps/sps.log", SPS.encode()),
            ("vc-support-vcsa01/var/log/vmware/vpxd/vpxd-12.log.gz", gzip.compress(VPXD.encode())),
            ("vc-support-vcsa01/var/log/vmware/other/noise.log", b"noise\n"),
            ("vc-support-vcsa01/commands/uptime.txt", b"up\n"),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    path = tmp_path / "vc-support-vcsa01.tgz"
    path.write_bytes(buf.getvalue())
    with Collector([path]) as collector:
        files = list(collector)
        kinds = {}
        for ef in files:
            reader, _ = sniff(ef)
            assert reader is not None, ef.display
            kinds[ef.display.rsplit("/", 1)[-1]] = (reader.kind, len(list(reader.read(ef))))
    assert kinds["sps.log"] == (EvidenceKind.SPS_LOG, 5)
    assert kinds["vpxd-12.log.gz"] == (EvidenceKind.VPXD_LOG, 4)
    assert set(kinds) == {"sps.log", "vpxd-12.log.gz"}
