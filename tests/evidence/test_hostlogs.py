"""hostd / vmkernel readers: the look-alike events next to the VASA evidence (evidence-formats §1.11)."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime

import pytest

from vvolguard.evidence.hostlogs import HostdReader, VmkernelReader
from vvolguard.evidence.source import from_bytes
from vvolguard.records import HostEventKind, HostIdentity, HostLogEvent

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
    return records, ef.warnings


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
