"""hostd / vmkernel readers: the look-alike events next to the VASA evidence
(docs/evidence-formats.md §1.11)."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime

import pytest

from vvolguard.evidence.hostlogs import HostdReader, VmkernelReader
from vvolguard.evidence.source import from_bytes
from vvolguard.records import EvidenceKind, EvidenceSpan, HostEventKind, HostIdentity, HostLogEvent

# hostd 7.0 framing [VERBATIM shape, §1.2] around the KB 307365 excerpt [VERBATIM message text].
HOSTD7 = (
    "2020-04-14T12:48:15.000Z info hostd[2101004] [Originator@6876 sub=Default] starting\n"
    "2020-04-14T12:48:16.306Z info hostd[2101004] [Originator@6876 sub=Vcsvc.VMotion opID=faf1555] "
    "[MIGRATE] (migrateidentifier) vMotion failed: vmodl.fault.SystemError\n"
    "-->    (vmodl.fault.SystemError) {\n"
    '-->       msg = "A general system error occurred: Source detected that destination failed to resume."\n'
    "-->    }\n"
)
# [VERBATIM] hostd 8.0 line and header message (§1.1, §1.3).
HOSTD8 = (
    "2025-10-28T08:36:40.939Z In(166) Hostd[132083]: - time the service was last started "
    "2025-10-28T08:36:40.939Z, Section for VMware ESX, pid=132083, version=8.0.3, build=24677879, "
    "option=Release\n"
    "2023-12-05T14:31:48.557Z In(166) Hostd[1050748]: [Originator@6876 sub=Vimsvc.HaSessionManager "
    "opID=esxui-8c02-9b39 sid=52f0e556] Accepted password for user root from 192.168.127.10\n"
)
# [VERBATIM] vmkernel switchover line (KB 307365); the others are [RECONSTRUCTED] around verbatim
# tokens (aakittel/ESXinfo "Could not find VVol"; ESXi event ids for PE paths and containers).
VMKERNEL = (
    "2020-04-14T12:48:10.306Z cpu12:2097152)WARNING: Migrate: 296: xxx D: Failed: "
    "Maximum switchover time for migration exceeded(0xbad0109)\n"
    "2020-04-14T12:48:11.000Z cpu3:2097153)ScsiPath: 100: vmhba64:C0:T1:L0 esx.problem.scsi.scsipath.badpath."
    "unreachpe\n"
    "2020-04-14T12:48:12.000Z cpu3:2097153)VVol: 500: esx.problem.vvol.container.offline "
    "vvol:e0ad83893ead3681\n"
    "2020-04-14T12:48:13.000Z cpu3:2097153)WARNING: VVol: 1234: Could not find VVol rfc4122.0b1c\n"
    "2020-04-14T12:48:14.000Z cpu3:2097153)WARNING: VVol: 88: Config-VVol for vm-42 exceeds the 4GB limit\n"
    "2020-04-14T12:48:15.000Z cpu3:2097153)NMP: nothing to see here\n"
)


def read(reader, data: bytes | str, name: str, host: str | None = "esx01"):
    raw = data.encode() if isinstance(data, str) else data
    ef = from_bytes(name, raw, host=host)
    records = list(reader.read(ef))
    spans = [r for r in records if isinstance(r, EvidenceSpan)]
    assert len(spans) <= 1 and (not spans or records[-1] is spans[0])  # one per file, at the end
    return [r for r in records if not isinstance(r, EvidenceSpan)], ef.warnings


def test_hostd_vmotion_failure_and_its_continuation_fault() -> None:
    records, warnings = read(HostdReader(), HOSTD7, "hostd.log")
    assert warnings == []
    failed, resume = records
    assert isinstance(failed, HostLogEvent) and isinstance(resume, HostLogEvent)
    assert failed.kind == HostEventKind.VMOTION_FAILED and failed.citation.line == 2
    assert failed.ts == datetime(2020, 4, 14, 12, 48, 16, 306000, tzinfo=UTC)
    assert failed.message.startswith("[MIGRATE] (migrateidentifier) vMotion failed")
    # The fault body is on a --> line: its own line number, its record's time.
    assert resume.kind == HostEventKind.DEST_FAILED_RESUME and resume.citation.line == 4
    assert resume.ts == failed.ts
    assert (resume.host, resume.source) == ("esx01", "hostd")


def test_hostd_8_header_gives_identity() -> None:
    records, _ = read(HostdReader(), HOSTD8 + HOSTD7, "hostd.log")
    identity = records[0]
    assert isinstance(identity, HostIdentity)
    assert (identity.host, identity.esxi_version, identity.build) == ("esx01", "8.0.3", "24677879")
    assert identity.citation is not None and identity.citation.line == 1
    assert [r.kind for r in records[1:]] == [HostEventKind.VMOTION_FAILED, HostEventKind.DEST_FAILED_RESUME]


def test_vmkernel_events() -> None:
    records, warnings = read(VmkernelReader(), VMKERNEL, "vmkernel.log")
    assert warnings == []
    assert [(r.kind, r.citation.line) for r in records] == [
        (HostEventKind.SWITCHOVER_EXCEEDED, 1),
        (HostEventKind.PE_PATH_BAD, 2),
        (HostEventKind.CONTAINER_OFFLINE, 3),
        (HostEventKind.VVOL_NOT_FOUND, 4),
        (HostEventKind.CONFIG_VVOL_LIMIT, 5),
    ]
    assert all(r.source == "vmkernel" for r in records)
    assert records[0].ts == datetime(2020, 4, 14, 12, 48, 10, 306000, tzinfo=UTC)


def test_grep_prefixed_crlf_gzip_vmkwarning() -> None:
    text = "".join(f"vmkwarning.log:{n}:{line}\r\n" for n, line in enumerate(VMKERNEL.splitlines(), 1))
    records, warnings = read(VmkernelReader(), gzip.compress(text.encode()), "vmkwarning.0.gz")
    assert len(records) == 5 and warnings == []
    assert not records[0].citation.text.endswith("\r")


def test_events_spanning_block_boundaries_keep_line_numbers() -> None:
    filler = "2020-04-14T12:00:00.000Z cpu1:1)NMP: path ok\n" * 300_000  # > one 8 MiB block
    records, _ = read(VmkernelReader(), filler + VMKERNEL + filler + VMKERNEL, "vmkernel.log")
    lines = [r.citation.line for r in records]
    assert lines[:5] == [300_001, 300_002, 300_003, 300_004, 300_005]
    assert lines[5:] == [n + 300_000 + 6 for n in lines[:5]]


def test_continuation_at_start_of_file_is_reported_not_raised() -> None:
    records, warnings = read(HostdReader(), '-->  msg = "destination failed to resume."\n', "hostd.log")
    assert records == []
    assert [w.line for w in warnings] == [1]


@pytest.mark.parametrize(
    "data", [b"", bytes(range(256)) * 100, b"[2011-04-01 15:14:34.203 F5A5AB90 info 'x'] vMotion failed\n"]
)
def test_damaged_or_legacy_input_never_raises(data: bytes) -> None:
    records, warnings = read(HostdReader(), data, "hostd.log")
    assert records == []
    if data.startswith(b"[2011"):
        assert "pre-6.5" in warnings[0].message


def test_sniff() -> None:
    assert HostdReader().sniff("hostd.log", b"") >= 50
    assert HostdReader().sniff("renamed.txt", HOSTD8.encode()) >= 70
    assert VmkernelReader().sniff("vmkernel.log", b"") >= 50
    assert VmkernelReader().sniff("vmkwarning.3", b"") >= 50
    assert VmkernelReader().sniff("renamed.txt", VMKERNEL.encode()) >= 70
    assert VmkernelReader().sniff("hostd.log", HOSTD8.encode()) < 30
    assert HostdReader().sniff("vmkernel.log", VMKERNEL.encode()) < 30


def test_one_span_per_file_from_first_and_last_timestamp() -> None:
    filler = "2020-04-14T12:00:00.000Z cpu1:1)NMP: path ok\n" * 300_000  # > one 8 MiB block
    data = "--> orphan\n" + filler + VMKERNEL + "wrapped line\n"
    records = list(VmkernelReader().read(from_bytes("vmkernel.log", data.encode(), host="esx01")))
    span = records[-1]
    assert isinstance(span, EvidenceSpan)
    assert (span.file, span.host, span.kind) == ("vmkernel.log", "esx01", EvidenceKind.VMKERNEL_LOG)
    assert span.start == datetime(2020, 4, 14, 12, 0, tzinfo=UTC)
    assert span.end == datetime(2020, 4, 14, 12, 48, 15, tzinfo=UTC)
    assert span.lines == 300_000 + 6
    hostd = list(HostdReader().read(from_bytes("hostd.log", HOSTD7.replace("\n", "\r\n").encode())))
    assert isinstance(hostd[-1], EvidenceSpan) and hostd[-1].lines == 2
    assert hostd[-1].end == datetime(2020, 4, 14, 12, 48, 16, 306000, tzinfo=UTC)


# Causes named outside VASA (issue #10 B). The KB 307365 lines are [VERBATIM]; the others are the
# usual vSphere fault texts in hostd/vmkernel framing [RECONSTRUCTED].
CAUSES = [
    (
        "2020-04-14T12:48:10.306Z cpu12:2097152)WARNING: Migrate: 296: xxx D: Failed: Maximum switchover "
        "time for migration exceeded(0xbad0109)",
        HostEventKind.SWITCHOVER_EXCEEDED,
    ),
    (
        '-->       msg = "A general system error occurred: Source detected that destination failed '
        'to resume."',
        HostEventKind.DEST_FAILED_RESUME,
    ),
    (
        "2024-03-14T10:05:00.000Z info hostd[2101004] [Originator@6876 sub=Vcsvc.VMotionSrc opID=x] "
        "[MIGRATE] (1) vMotion failed: vmodl.fault.SystemError",
        HostEventKind.VMOTION_FAILED,
    ),
    (
        "2024-03-14T10:05:00.000Z error hostd[2101004] [Originator@6876 sub=Default] "
        "File [vvol-ds] vm1/vm1.vmdk is larger than the maximum size supported by datastore 'vvol-ds'",
        HostEventKind.FILE_TOO_LARGE,
    ),
    (
        "2024-03-14T10:05:00.000Z error hostd[2101004] [Originator@6876 sub=Default] vim.fault.FileTooLarge",
        HostEventKind.FILE_TOO_LARGE,
    ),
    (
        "2024-03-14T10:05:00.000Z cpu3:2097153)WARNING: Migrate: 1243: 1710410700 S: Failed to connect to "
        "remote host <10.0.0.12> from host <10.0.0.11>: Timeout",
        HostEventKind.VMOTION_NETWORK,
    ),
    (
        "2024-03-14T10:05:00.000Z cpu3:2097153)Migrate: 757: 1710410700 S: Connection reset by peer",
        HostEventKind.VMOTION_NETWORK,
    ),
    ("2024-03-14T10:05:00.000Z cpu3:2097153)Net: 1200: Connection reset by peer", None),
    (
        "2024-03-14T10:05:00.000Z error hostd[2101004] [Originator@6876 sub=Default] Insufficient resources "
        "to satisfy configured failover level for vSphere HA.",
        HostEventKind.INSUFFICIENT_RESOURCES,
    ),
    (
        "2024-03-14T10:05:00.000Z error hostd[2101004] [Originator@6876 sub=Default] Admission check failed "
        "for memory resource",
        HostEventKind.INSUFFICIENT_RESOURCES,
    ),
    (
        "2024-03-14T10:05:00.000Z error hostd[2101004] [Originator@6876 sub=Default] The operation is not "
        "allowed in the current state.",
        HostEventKind.INVALID_STATE,
    ),
    (
        "2024-03-14T10:05:00.000Z error hostd[2101004] [Originator@6876 sub=Default] Permission to perform "
        "this operation was denied.",
        HostEventKind.NO_PERMISSION,
    ),
]


@pytest.mark.parametrize(("line", "kind"), CAUSES)
def test_causes_named_elsewhere(line: str, kind: HostEventKind | None) -> None:
    head = "2020-04-14T12:48:16.306Z info hostd[1] [Originator@6876 sub=Default] x\n"
    for reader, name in ((HostdReader(), "hostd.log"), (VmkernelReader(), "vmkernel.log")):
        records, _ = read(reader, head + line + "\n", name)
        kinds = [r.kind for r in records if isinstance(r, HostLogEvent)]
        assert kinds == ([kind] if kind else []), (name, line)
