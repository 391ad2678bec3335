"""A central syslog server's archive of forwarded vvold lines (docs/evidence-formats.md §8): ``<PRI>`` and
RFC 3339 time, the sending host and an ``App:`` tag before the log line's own level, sometimes
behind a relay's own BSD header. One file mixes hosts: each line counts for the host it names."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from vvolguard.pipeline import diagnose

WAIT = (
    "VasaSession::GetFreeConn: No free connections to VP pure-ct0 "
    "(url: https://10.21.88.113:8084/vasa) [#outstanding 5/5] - waiting"
)
META = "[Originator@6876 sub=Default OpId=a{n}]"


def _line(prefix: str, ts: str, host: str, pid: int, n: int, level: str = "warning", msg: str = WAIT) -> str:
    return f"{prefix}{ts} {host} Vvold: {level} vvold[{pid}] {META.format(n=n)} {msg}\n"


def test_forwarded_lines_count_for_the_host_they_name(tmp_path: Path) -> None:
    relay = "Mar 14 10:09:58 10.100.101.102 "
    lines = [
        _line(relay, "2026-03-14T10:09:58.120Z", "esx01.corp.local", 2099154, 1),
        _line(relay, "2026-03-14T10:10:00.000Z", "esx01.corp.local", 2099154, 2),
        _line(relay, "2026-03-14T10:10:01.000Z", "esx02.corp.local", 2099777, 3),
        _line("<166>", "2026-03-14T10:10:02.000Z", "esx01.corp.local", 2099154, 4),
        _line("<166>", "2026-03-14T10:10:03.000Z", "esx01.corp.local", 2099154, 5),
        _line("", "2026-03-14T10:10:04.000Z", "esx02.corp.local", 2099777, 6),
    ]
    archive = tmp_path / "central-syslog-2026-03-14.log"
    archive.write_text("".join(lines))
    d = diagnose([archive], now=datetime(2026, 3, 15, tzinfo=UTC))
    waits = {p["host"]: p["counts"]["no_free_conn"] for p in d.signals["per_provider"]}
    assert waits == {"esx01.corp.local": 4, "esx02.corp.local": 2}
    first = {p["host"]: p["first"] for p in d.signals["per_provider"]}
    # the relay's own time (10:09:58 for every relayed line) is not the line's time
    assert first["esx02.corp.local"].isoformat().startswith("2026-03-14T10:10:01")
    assert not d.warnings


# --------------------------------------------------------------------------------------------
# rsyslog / syslog-ng default files: BSD stamps, no year, no zone
# --------------------------------------------------------------------------------------------


def _bsd(stamp: str, host: str, pid: int, n: int) -> str:
    return f"{stamp} {host} Vvold: warning vvold[{pid}] {META.format(n=n)} {WAIT}\n"


def test_a_bsd_stamped_archive_is_read_with_a_year_and_a_zone_said(tmp_path: Path) -> None:
    lines = [
        _bsd("Mar 14 10:10:00", "esx01.corp.local", 2099154, 1),
        _bsd("Mar 14 10:10:02", "esx01.corp.local", 2099154, 2),
        _bsd("Mar  4 10:10:03", "esx02.corp.local", 2099777, 3),  # single-digit day, two spaces
        _bsd("Mar 14 10:10:04", "esx01.corp.local", 2099154, 4),
    ]
    archive = tmp_path / "messages"
    archive.write_text("".join(lines))
    d = diagnose([archive], now=datetime(2026, 3, 15, tzinfo=UTC), tz="Europe/Berlin")
    waits = {p["host"]: p["counts"]["no_free_conn"] for p in d.signals["per_provider"]}
    assert waits == {"esx01.corp.local": 3, "esx02.corp.local": 1}
    first = {p["host"]: p["first"] for p in d.signals["per_provider"]}
    # Berlin is UTC+1 in March: 10:10 local is 09:10Z
    assert first["esx01.corp.local"].strftime("%m-%d %H:%M:%S") == "03-14 09:10:00"
    assert first["esx02.corp.local"].strftime("%m-%d %H:%M:%S") == "03-04 09:10:03"
    (warning,) = d.warnings
    assert warning.caveat and "BSD time stamps" in warning.message and "Europe/Berlin" in warning.message


def test_the_restamper_keeps_lines_across_blocks_and_rolls_the_year() -> None:
    from vvolguard.evidence.bsd_syslog import BsdRestamper

    text = (
        b"Dec 31 23:59:59 esx01 Vvold: info vvold[1] x\n"
        b"Jan  1 00:00:01 esx01 Vvold: info vvold[1] y\n"
        b"Mar 14 10:09:58 10.1.2.3 2026-03-14T10:09:58.120Z esx01 Vvold: info vvold[1] relayed\n"
        b"Feb 29 10:00:00 esx01 Vvold: info vvold[1] no such day in 2026\n"
    )
    head = b"- time the service was last started 2025-06-01T00:00:00Z\n"
    restamper = BsdRestamper(head, None, datetime(2026, 12, 3, tzinfo=UTC))
    blocks = [text[i : i + 7] for i in range(0, len(text), 7)]  # cut mid-stamp, mid-line
    out = b"".join(restamper.blocks(iter(blocks))).decode().splitlines()
    assert out[0] == "2025-12-31T23:59:59Z esx01 Vvold: info vvold[1] x"
    assert out[1] == "2026-01-01T00:00:01Z esx01 Vvold: info vvold[1] y"
    assert out[2].startswith("Mar 14 10:09:58 10.1.2.3 2026-03-14T10:09:58.120Z")  # a relay: as it was
    assert out[3].startswith("Feb 29 10:00:00")  # not a date in 2026: left for the reader to skip


def test_a_file_read_in_january_that_starts_in_december_is_last_years() -> None:
    from vvolguard.evidence.bsd_syslog import BsdRestamper

    restamper = BsdRestamper(b"", None, datetime(2027, 1, 2, tzinfo=UTC))
    out = b"".join(restamper.blocks(iter([b"Dec 30 08:00:00 esx01 Vvold: info vvold[1] x\n"])))
    assert out.startswith(b"2026-12-30T08:00:00Z ")


def test_forwarded_vmkernel_lines_name_their_host_also_with_bsd_stamps(tmp_path: Path) -> None:
    failed = (
        "WARNING: Migrate: 296: 1773483001000000 D: Failed: "
        "Maximum switchover time for migration exceeded(0xbad0109)"
    )
    archive = tmp_path / "vmkernel-all-hosts.log"
    archive.write_text(
        f"Mar 14 10:11:40 esx-31.corp.local vmkernel: cpu12:2099999){failed}\n"
        f"<166>2026-03-14T10:11:41.000Z esx-32.corp.local vmkernel: cpu3:2099999){failed}\n"
    )
    d = diagnose([archive], now=datetime(2026, 3, 15, tzinfo=UTC))
    assert [i.kind for i in d.inputs] == ["vmkernel-log"]
    cited = [c for f in d.findings for c in f.citations if c.file == str(archive)]
    assert {c.line for c in cited} == {1, 2}
    assert "esx-31" in " ".join(d.hosts) and "esx-32" in " ".join(d.hosts)


def test_one_central_file_of_vvold_and_vmkernel_lines_is_read_by_both_readers(tmp_path: Path) -> None:
    failed = (
        "WARNING: Migrate: 296: 1773483001000000 D: Failed: "
        "Maximum switchover time for migration exceeded(0xbad0109)"
    )
    lines = [_bsd(f"Mar 14 10:10:0{s}", "esx-41.corp.local", 2099154, s) for s in range(4)]
    lines.append(f"Mar 14 10:11:40 esx-42.corp.local vmkernel: cpu12:2099999){failed}\n")
    archive = tmp_path / "esxi-all.log"
    archive.write_text("".join(lines))
    d = diagnose([archive], now=datetime(2026, 3, 15, tzinfo=UTC))
    waits = {p["host"]: p["counts"]["no_free_conn"] for p in d.signals["per_provider"]}
    assert waits == {"esx-41.corp.local": 4}
    switchover = [c for f in d.findings for c in f.citations if "switchover" in c.text]
    assert [c.line for c in switchover] == [5]  # once: the vvold and hostd readers skip it
    assert len(d.warnings) == 1  # the BSD-stamp caveat, said once though three readers read the file


def test_esxi_own_log_files_are_not_taken_for_central_syslog_files() -> None:
    """ESXi 8's ``In(166) VVold[1]:`` looks like ``host App[pid]:``; only a forwarded file is read
    by every host-log reader."""
    from vvolguard.evidence.hostlogs import HostdReader
    from vvolguard.evidence.sniff import also_readers
    from vvolguard.evidence.source import from_bytes
    from vvolguard.evidence.vvold import VvoldReader

    esxi8 = b"2026-03-14T10:00:05.413Z In(166) VVold[2264709]: [Originator@6876 sub=Default] x\n"
    esxi7 = b"2026-03-14T10:00:05.413Z info vvold[2099154] [Originator@6876 sub=Default] x\n"
    forwarded = b"<166>2026-03-14T10:00:05.413Z esx01 Vvold: info vvold[2099154] [Originator@6876] x\n"
    assert also_readers(from_bytes("vvold.log", esxi8), VvoldReader()) == []
    assert also_readers(from_bytes("vvold.log", esxi7), VvoldReader()) == []
    assert {r.kind for r in also_readers(from_bytes("all.log", forwarded), VvoldReader())} == {
        "hostd-log",
        "vmkernel-log",
    }
    assert also_readers(from_bytes("hostd.log", forwarded), HostdReader()) != []


def test_a_file_kept_for_one_program_is_read_by_its_reader_alone() -> None:
    """A syslog server that keeps a file per program (``<host>/vvold.log-20260314.gz``): named
    for vvold, with only ``Vvold:`` lines in its head, only the vvold reader reads it; the same
    lines under another name, or with a ``Hostd:`` line among them, are read by all three."""
    from vvolguard.evidence.hostlogs import HostdReader
    from vvolguard.evidence.sniff import also_readers
    from vvolguard.evidence.source import from_bytes
    from vvolguard.evidence.vvold import VvoldReader

    vvold = b"".join(_line("", f"2026-03-14T10:10:0{n}.000Z", "esx01", 7, n).encode() for n in range(3))
    hostd = b"<166>2026-03-14T10:10:05.000Z esx01 Hostd: info hostd[9] [Originator@6876] vMotion failed\n"
    for name in ("vvold.log", "vvold.log-20260314.gz", "vvold.1.gz", "VVOLD.LOG"):
        assert also_readers(from_bytes(name, vvold), VvoldReader()) == [], name
    for name in ("messages", "all.log", "esx01.log", "vvoldx.log"):
        assert also_readers(from_bytes(name, vvold), VvoldReader()) != [], name
    assert also_readers(from_bytes("vvold.log", vvold + hostd), VvoldReader()) != []
    assert also_readers(from_bytes("hostd.log", hostd), HostdReader()) == []
    assert also_readers(from_bytes("hostd.log", hostd + vvold), HostdReader()) != []


def test_a_relayed_central_file_is_read_by_every_host_log_reader(tmp_path: Path) -> None:
    """A relay in front of the syslog server puts its own BSD header first (§8): the file is
    still a central one, so the hostd line in it is read (it was left to no reader)."""
    relay = "Mar 14 10:09:58 10.100.101.102 "
    lines = [_line(relay, f"2026-03-14T10:10:0{n}.000Z", "esx01.corp.local", 2099154, n) for n in range(3)]
    lines.append(
        f"{relay}2026-03-14T10:10:05.000Z esx01.corp.local Hostd: info hostd[9] [Originator@6876] "
        "vMotion failed for VM app01\n"
    )
    from vvolguard.evidence.source import from_bytes
    from vvolguard.pipeline import read_file
    from vvolguard.records import HostLogEvent

    records: list[object] = []

    class Sink:
        def add(self, record: object) -> None:
            records.append(record)

    read_file(from_bytes("messages", "".join(lines).encode()), Sink())
    events = [r for r in records if isinstance(r, HostLogEvent)]
    assert [(e.host, e.kind, e.citation.line) for e in events] == [("esx01.corp.local", "vmotion-failed", 4)]
