"""Untrusted and unlucky input at the intake (issues #17, #10 A/D, #16).

Every case is built here from real files: symlinks, hard links and FIFOs in ``tmp_path``, real
gzip/tar/zip bytes damaged on purpose, names with bytes that are not UTF-8. The assertions are
about what a user sees: the marker of a file outside the evidence never reaches the output,
damage is named and the readable part is used, limits are named, and nothing raises.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import struct
import tarfile
import zipfile
import zlib
from pathlib import Path

import pytest

from vvolguard.evidence.collect import Collector
from vvolguard.evidence.source import (
    LONG_LINE_KEEP,
    MAX_LINE_BYTES,
    EvidenceFile,
    Limits,
    parse_size,
    safe_name,
)
from vvolguard.pipeline import diagnose
from vvolguard.report.jsonout import to_json

MARKER = "MARKER-d41d8cd98f00-outside-the-evidence"
LINE = "2026-03-14T10:02:{s:02d}.000Z info vvold[2100874] [Originator@6876 sub=Default] line {n}\n"
WAIT = (
    "2026-03-14T10:02:{s:02d}.000Z warning vvold[2100874] [Originator@6876 sub=Default]\n"
    "--> VasaSession::GetFreeConn: No free connections to VP pure-ct0 "
    "(url: https://10.1.1.10:8084/vasa) [#outstanding 5/5] - waiting\n"
)
BUNDLE = "esx-esx-03-2026-03-14--10.22-2815455"


def vvold_text(waits: int = 6, filler: int = 0) -> bytes:
    parts = [LINE.format(s=0, n=0)]
    for i in range(waits):
        parts.append(WAIT.format(s=(i * 7) % 60))
    parts.extend(LINE.format(s=59, n=i) for i in range(filler))
    return "".join(parts).encode()


def tar_bytes(members: dict[str, bytes], mode: str = "w:gz") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def all_text(collector: Collector, files: list[EvidenceFile]) -> list[str]:
    return [str(w) for w in collector.warnings] + [str(w) for f in files for w in f.warnings]


def read_all(paths: list[Path], limits: Limits | None = None) -> tuple[Collector, list[EvidenceFile], bytes]:
    with Collector(paths, limits=limits or Limits()) as collector:
        files = list(collector)
        data = b"".join(b"".join(f.blocks()) for f in files)
    return collector, files, data


# -- links and special files ---------------------------------------------------------------------


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    secret = tmp_path / "outside" / "passwd"
    secret.parent.mkdir()
    secret.write_text(f"root:x:0:0:{MARKER}:/root:/bin/bash\n")
    return secret


def _bundle_folder(root: Path) -> Path:
    logs = root / BUNDLE / "var" / "run" / "log"
    logs.mkdir(parents=True)
    (root / BUNDLE / "commands").mkdir()
    return logs


def test_folder_links_out_hardlinks_and_fifos_are_never_read(tmp_path: Path, outside: Path) -> None:
    case = tmp_path / "case"
    logs = _bundle_folder(case)
    (logs / "vvold.log").symlink_to(outside)  # the #17 attack: tar x of a hostile bundle
    os.link(outside, logs / "hostd.log")  # a hard link whose other name is outside
    os.mkfifo(logs / "vmkernel.log")  # opening a FIFO would hang the run
    (logs / "vvold.1").write_bytes(vvold_text())  # the good evidence next to them
    (logs / "vvold.2").symlink_to(logs / "vvold.1")  # a link inside: read once, where it lies
    os.link(logs / "vvold.1", logs / "vvold.3")  # both names inside: read once
    os.mkfifo(case / "tasks.csv")
    (case / "loose.log").symlink_to(outside)
    (case / "linked-folder").symlink_to(outside.parent, target_is_directory=True)
    (outside.parent / "localcli_system-hostname-get.txt").write_text(f"   Host Name: {MARKER}\n")
    (case / BUNDLE / "etc").symlink_to(outside.parent, target_is_directory=True)
    renamed = case / "renamed-bundle"  # named by its contents, whose folder is a link out
    (renamed / "var" / "run" / "log").mkdir(parents=True)
    (renamed / "var" / "run" / "log" / "vvold.log").write_bytes(vvold_text())
    (renamed / "commands").symlink_to(outside.parent, target_is_directory=True)

    collector, files, data = read_all([case])

    assert MARKER.encode() not in data
    shown = {f.display.split("case/", 1)[1] for f in files}
    assert shown == {f"{BUNDLE}/var/run/log/vvold.1", "renamed-bundle/var/run/log/vvold.log"}, (
        "the inside link and the second hard-link name are not read twice"
    )
    assert all(MARKER not in (f.host or "") for f in files)
    warnings = all_text(collector, files)
    for name in ("vvold.log", "hostd.log", "vmkernel.log", "tasks.csv", "loose.log", "linked-folder"):
        assert any(name in w for w in warnings), f"{name} must be named in a warning: {warnings}"
    assert any("symbolic link to" in w and "not followed" in w for w in warnings)
    assert any("hard links" in w for w in warnings)
    assert any("FIFO" in w for w in warnings)

    result = diagnose([case])
    document = to_json(result)
    assert MARKER not in document
    assert json.loads(document)["verdict"]["class"] != "insufficient-evidence" or result.findings


def test_archive_link_members_are_never_followed(tmp_path: Path, outside: Path) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, kind in (
            ("var/run/log/vvold.log", tarfile.SYMTYPE),
            ("var/run/log/hostd.log", tarfile.LNKTYPE),
        ):
            info = tarfile.TarInfo(f"{BUNDLE}/{name}")
            info.type, info.linkname = kind, str(outside)
            tar.addfile(info)
        good = vvold_text()
        info = tarfile.TarInfo(f"{BUNDLE}/var/run/log/vvold.1")
        info.size = len(good)
        tar.addfile(info, io.BytesIO(good))
        info = tarfile.TarInfo(f"{BUNDLE}/var/log/vvold.1")  # ESXi's own in-bundle link
        info.type, info.linkname = tarfile.SYMTYPE, "/var/run/log/vvold.1"
        tar.addfile(info)
    bundle = tmp_path / f"{BUNDLE}.tgz"
    bundle.write_bytes(buf.getvalue())

    collector, files, data = read_all([bundle])

    assert MARKER.encode() not in data
    assert [f.display.rsplit("/", 1)[-1] for f in files] == ["vvold.1"]
    warnings = all_text(collector, files)
    assert sum("outside the archive" in w for w in warnings) == 2, warnings
    assert not any("var/log/vvold.1" in w for w in warnings), "a link inside the bundle is no news"
    assert MARKER not in to_json(diagnose([bundle]))


# -- decompression limits ------------------------------------------------------------------------


def test_parse_size_accepts_admin_spellings() -> None:
    assert parse_size("20G") == 20 * 1024**3
    assert parse_size("512M") == 512 * 1024**2
    assert parse_size("1.5GiB") == int(1.5 * 1024**3)
    assert parse_size("4096") == 4096
    for bad in ("", "lots", "-1G", "0"):
        with pytest.raises(ValueError):
            parse_size(bad)


def _zeros_gz(size: int) -> bytes:
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = bytes(1024 * 1024)
    return b"".join(comp.compress(block) for _ in range(size // len(block))) + comp.flush()


def test_expansion_budget_stops_a_bomb_and_keeps_what_came_before(tmp_path: Path) -> None:
    bomb = tmp_path / "vvold.4.gz"
    bomb.write_bytes(gzip.compress(vvold_text()) + _zeros_gz(64 * 1024 * 1024))
    collector, files, data = read_all([bomb], Limits(max_expanded=8 * 1024 * 1024))
    assert data.startswith(vvold_text()), "everything before the cap is used"
    assert len(data) == 8 * 1024 * 1024
    warnings = all_text(collector, files)
    assert any("--max-expanded" in w and str(bomb) in w for w in warnings), warnings


def test_ratio_is_named_and_reading_goes_on(tmp_path: Path) -> None:
    bomb = tmp_path / "vvold.5.gz"
    bomb.write_bytes(_zeros_gz(32 * 1024 * 1024) + gzip.compress(vvold_text()))
    collector, files, data = read_all([bomb])
    assert data.endswith(vvold_text()), "a zero-filled log can end in real lines: read on"
    assert any("1000:1" in w for w in all_text(collector, files))


def test_tgz_bomb_listing_stops_at_the_budget(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        good = vvold_text()
        info = tarfile.TarInfo(f"{BUNDLE}/var/run/log/vvold.log")
        info.size = len(good)
        tar.addfile(info, io.BytesIO(good))
        info = tarfile.TarInfo(f"{BUNDLE}/var/run/log/zeros.bin")
        info.size = 48 * 1024 * 1024
        tar.addfile(info, io.BytesIO(bytes(info.size)))
        info = tarfile.TarInfo(f"{BUNDLE}/var/run/log/vvold.1")
        info.size = len(good)
        tar.addfile(info, io.BytesIO(good))
    bundle = tmp_path / f"{BUNDLE}.tgz"
    bundle.write_bytes(buf.getvalue())
    collector, files, data = read_all([bundle], Limits(max_expanded=4 * 1024 * 1024))
    assert [f.display.rsplit("/", 1)[-1] for f in files] == ["vvold.log"]
    assert data == vvold_text()
    assert any("--max-expanded" in w for w in all_text(collector, files))


def _nested(depth: int, payload: bytes) -> bytes:
    data, name = payload, "vvold.log"
    for level in range(depth):
        data, name = tar_bytes({name: data}), f"level-{level}.tgz"
    return data


def test_deep_nesting_is_a_warning_not_a_recursion_error(tmp_path: Path) -> None:
    deep = tmp_path / "nested-150.tgz"
    deep.write_bytes(_nested(150, vvold_text()))
    assert deep.stat().st_size < 64 * 1024
    shallow = tmp_path / "nested-3.tgz"
    shallow.write_bytes(_nested(3, vvold_text()))
    collector, files, _ = read_all([deep, shallow])
    assert [f.display.count("!") for f in files] == [3], "three levels are opened, 150 are not"
    assert any("nested more than 4 levels" in w and "nested-150.tgz" in w for w in all_text(collector, files))
    result = diagnose([deep, shallow])
    assert any(i.records for i in result.inputs)


def test_zip_of_tgz_bundles_is_opened_and_deduplicated(tmp_path: Path) -> None:
    members = {
        f"{BUNDLE}/var/run/log/vvold.log": vvold_text(),
        f"{BUNDLE}/commands/localcli_storage-vvol-vasaprovider-list.txt": b"VP Name: pure-ct0\n",
        f"{BUNDLE}/var/run/log/syslog.log": b"not about vvols\n",
    }
    renamed = {
        "vm-support/var/run/log/vvold.log": vvold_text(),
        "vm-support/etc/vmware/esx.conf": b'/adv/Misc/HostName = "esx-09.lab"\n',
    }
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("vcenter/tasks.csv", "Name,Target,Status\n")
    archive = tmp_path / "case.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("exports.zip", inner.getvalue())  # a zip in a zip, deflated
        zf.writestr(f"{BUNDLE}.tgz", tar_bytes(members))
        for name, data in members.items():  # the same bundle again, unpacked inside the zip
            zf.writestr(name, data)
        for name, data in renamed.items():
            zf.writestr(f"other/{name}", data)
    collector, files, _ = read_all([archive])
    hosts = sorted({f.host or "" for f in files})
    assert hosts == ["", "esx-03", "esx-09.lab"], "a loose export has no host"
    esx03 = [f for f in files if f.host == "esx-03"]
    assert len(esx03) == 2, "the unpacked copy of the bundle is read once"
    assert any("same support bundle" in w for w in all_text(collector, files))
    assert any(f.display.endswith("case.zip!exports.zip!vcenter/tasks.csv") for f in files)


def test_collector_closes_archives_as_a_context_manager(tmp_path: Path) -> None:
    bundle = tmp_path / f"{BUNDLE}.tgz"
    bundle.write_bytes(tar_bytes({f"{BUNDLE}/var/run/log/vvold.log": vvold_text()}))
    with Collector([bundle]) as collector:
        files = list(collector)
        handles = list(collector._archives)
        assert handles and b"".join(files[0].blocks()) == vvold_text()
    assert not collector._archives
    assert all(getattr(h, "closed", True) for h in handles if hasattr(h, "closed"))


# -- damaged compressed data -----------------------------------------------------------------------


def _gz_members(*payloads: bytes) -> list[bytes]:
    return [gzip.compress(p) for p in payloads]


def _damage_deflate(member: bytes) -> bytes:
    body = bytearray(member)
    middle = 10 + (len(body) - 18) // 2
    body[middle : middle + 8] = b"\xff" * 8
    return bytes(body)


def _damage_crc(member: bytes) -> bytes:
    crc = struct.unpack("<I", member[-8:-4])[0] ^ 0xFFFFFFFF
    return member[:-8] + struct.pack("<I", crc) + member[-4:]


def test_damaged_gzip_members_end_the_stream_with_a_warning(tmp_path: Path) -> None:
    first = vvold_text(filler=200)
    second = vvold_text(filler=5000)
    m1, m2 = _gz_members(first, second)
    cases = {
        "bad-deflate.gz": _damage_deflate(m1),
        "bad-crc.gz": _damage_crc(m1),
        "cut.gz": m1[: len(m1) // 2],
        "multi-damaged.gz": m1 + _damage_deflate(m2),
        "multi-crc.gz": m1 + _damage_crc(m2),
    }
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
    good = tmp_path / "vvold.log"
    good.write_bytes(vvold_text())
    for name in cases:
        collector, files, data = read_all([tmp_path / name])
        warnings = all_text(collector, files)
        assert warnings and all(name in w for w in warnings), (name, warnings)
        assert first.startswith(data[: len(first)][: len(data)]), name
        if name.startswith("multi"):
            assert data.startswith(first), f"{name}: the sound first member is used whole"
            assert "member 2" in " ".join(warnings)
    result = diagnose([*(tmp_path / n for n in cases), good])
    assert any(i.file == str(good) and i.records > 0 for i in result.inputs)


def _corrupt_tar_header(data: bytes, index: int) -> bytes:
    raw = bytearray(data)
    offset = 0
    for _ in range(index):
        size = int(raw[offset + 124 : offset + 136].strip(b"\0 ") or b"0", 8)
        offset += 512 + (size + 511) // 512 * 512
    raw[offset + 148 : offset + 156] = b"99999999"  # a checksum no header has
    raw[offset : offset + 10] = b"\x01\x02garbage!"
    return bytes(raw)


def test_damaged_tar_and_zip_members_are_named_and_the_rest_used(tmp_path: Path) -> None:
    members = {
        f"{BUNDLE}/var/run/log/vvold.log": vvold_text(filler=3000),
        f"{BUNDLE}/var/run/log/vvold.1": vvold_text(filler=3000),
        f"{BUNDLE}/var/run/log/vvold.2": vvold_text(filler=3000),
    }
    plain = tar_bytes(members, mode="w")
    bad_header = tmp_path / "esx-esx-04-2026-03-14--10.22-1.tgz"
    bad_header.write_bytes(gzip.compress(_corrupt_tar_header(plain, 1)))
    packed = tar_bytes(members)
    truncated = tmp_path / "esx-esx-05-2026-03-14--10.22-1.tgz"
    truncated.write_bytes(packed[: len(packed) * 2 // 3])
    archive = tmp_path / "exports.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("vvold.log", vvold_text(filler=3000))
        zf.writestr("vvold.1", vvold_text(filler=3000))
    raw = bytearray(archive.read_bytes())
    start = raw.index(b"vvold.1") + len("vvold.1") + 200  # inside the second member's data
    raw[start : start + 16] = b"\x00" * 16
    archive.write_bytes(bytes(raw))

    collector, files, _ = read_all([bad_header])
    warnings = all_text(collector, files)
    assert [Path(f.display).name for f in files] == ["vvold.log"]
    assert any("damaged member header" in w for w in warnings), warnings

    collector, files, _ = read_all([truncated])
    warnings = all_text(collector, files)
    assert files and any(str(truncated) in w for w in warnings)

    collector, files, data = read_all([archive])
    warnings = all_text(collector, files)
    assert data.startswith(vvold_text(filler=3000))
    assert any("exports.zip!vvold.1" in w for w in warnings), warnings

    result = diagnose([bad_header, truncated, archive])
    assert sum(i.records > 0 for i in result.inputs) >= 3


# -- names ---------------------------------------------------------------------------------------


def test_safe_name_escapes_controls_and_undecodable_bytes() -> None:
    assert safe_name("plain/ünïcode.log") == "plain/ünïcode.log"
    assert safe_name("a\nb\r\tc\x1b[31m") == "a\\nb\\r\\tc\\x1b[31m"
    assert safe_name(os.fsdecode(b"caf\xe9.log")) == "caf\\xe9.log"
    assert safe_name("x\u2028y\x85") == "x\\u2028y\\x85"


def test_hostile_names_never_crash_and_are_shown_on_one_line(tmp_path: Path) -> None:
    folder = tmp_path / "case"
    folder.mkdir()
    odd = os.fsencode(folder) + b"/vvold-\xff\xfe.log"
    with open(odd, "wb") as out:
        out.write(vvold_text())
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", format=tarfile.GNU_FORMAT, encoding="latin-1") as tar:
        for name in (
            "vvold\n[WARNING] injected.log",
            "hostd-\xe9\x07.log",
            "esx-evil\x1b[2J-2026-03-14--10.22-1/var/run/log/vvold.log",  # a host name with ESC
        ):
            data = vvold_text()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    (folder / "odd.tgz").write_bytes(buf.getvalue())
    archive = folder / "odd.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("line\r\nbreak\x1b.csv", b"garbage that is no export\n")

    result = diagnose([folder])
    shown = [i.file for i in result.inputs] + [w.file for w in result.warnings]
    shown += [c.file for f in result.findings for c in f.citations]
    assert len(result.inputs) == 5
    shown += [i.host for i in result.inputs if i.host]
    assert "evil\\x1b[2J" in shown
    for name in shown:
        assert name.isprintable(), repr(name)
        name.encode("utf-8")  # no lone surrogates left
    assert any("\\xff\\xfe" in n for n in shown)
    assert any("vvold\\n[WARNING] injected.log" in n for n in shown)
    json.loads(to_json(result))


# -- giant lines ---------------------------------------------------------------------------------


def test_a_giant_line_is_cut_in_one_pass(tmp_path: Path) -> None:
    comp = zlib.compressobj(6, zlib.DEFLATED, 31)
    chunk = b"A" * (1024 * 1024)
    parts = [comp.compress(b"first line\n")]
    parts += [comp.compress(chunk) for _ in range(96)]
    parts.append(comp.compress(b"\nlast line\n") + comp.flush())
    giant = tmp_path / "tasks.csv.gz"
    giant.write_bytes(b"".join(parts))
    (ef,) = list(Collector([giant]))
    lines = list(ef.lines())
    assert [n for n, _ in lines] == [1, 2, 3]
    assert lines[0][1] == "first line" and lines[2][1] == "last line"
    assert len(lines[1][1]) == LONG_LINE_KEEP
    (warning,) = [w for w in ef.warnings if "line longer" in w.message]
    assert warning.line == 2 and f"{MAX_LINE_BYTES // 1024**2} MiB" in warning.message


def test_line_blocks_keep_every_line_and_end_each_chunk_on_a_newline(tmp_path: Path) -> None:
    text = b"".join(b"x" * (i % 5000) + b"\n" for i in range(3000)) + b"tail without newline"
    ef = EvidenceFile("f", "f", opener=lambda: io.BytesIO(text))
    chunks = list(ef.line_blocks(4096))
    assert all(c.endswith(b"\n") for c in chunks)
    assert b"".join(chunks) == text + b"\n"
    assert not ef.warnings


def test_giant_pem_and_csv_lines_finish_with_a_warning(tmp_path: Path) -> None:
    pem = tmp_path / "vp.pem"
    with pem.open("wb") as out:  # sparse: 96 MiB of one line, written instantly
        out.write(b"-----BEGIN CERTIFICATE-----\nMII")
        out.truncate(96 * 1024 * 1024)
    tasks = tmp_path / "tasks.csv"
    with tasks.open("wb") as out:
        out.write(b"Name,Target,Status,Initiator,Queued For,Start Time,Completion Time,Server\n")
        out.truncate(96 * 1024 * 1024)
    result = diagnose([pem, tasks])
    assert {w.file for w in result.warnings} >= {str(pem), str(tasks)}


# -- not evidence at all -------------------------------------------------------------------------


def test_documents_and_images_are_named_as_what_they_are(tmp_path: Path) -> None:
    docx = tmp_path / "incident-notes.docx"
    with zipfile.ZipFile(docx, "w") as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("_rels/.rels", "<Relationships/>")
        zf.writestr("word/document.xml", "<w:document/>")
        zf.writestr("docProps/core.xml", "<cp:coreProperties/>")
    xlsx = tmp_path / "inventory"  # no extension: known by content
    with zipfile.ZipFile(xlsx, "w") as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("xl/workbook.xml", "<workbook/>")
    files = {
        "scan.pdf": b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n",
        "screenshot.png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(20),
        "photo.jpg": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(20),
        "error.gif": b"GIF89a" + bytes(20),
        "old.doc": b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(200),
        "phone.heic": b"\x00\x00\x00\x18ftypheic" + bytes(20),
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    result = diagnose([tmp_path])
    by_file = {}
    for w in result.warnings:
        by_file.setdefault(Path(w.file.split("!", 1)[0]).name, []).append(w.message)
    expected = {
        "incident-notes.docx": "a Word document",
        "inventory": "an Excel workbook",
        "scan.pdf": "a PDF document",
        "screenshot.png": "a PNG image",
        "photo.jpg": "a JPEG image",
        "error.gif": "a GIF image",
        "old.doc": "a Word 97-2003 document",
        "phone.heic": "a HEIC/HEIF image",
    }
    for name, what in expected.items():
        messages = by_file.get(name, [])
        assert len(messages) == 1, (name, messages)
        assert messages[0].startswith(what) and "not a log or export" in messages[0]
    assert not any("unknown format" in w.message for w in result.warnings)


def test_damage_before_anything_is_recognised_is_reported_as_damage(tmp_path: Path) -> None:
    archive = tmp_path / "case.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("notes.txt", "operator notes " * 4000)
    raw = bytearray(archive.read_bytes())
    start = raw.index(b"notes.txt") + len("notes.txt") + 2  # the first bytes of its deflate data
    raw[start : start + 32] = b"\xff" * 32
    archive.write_bytes(bytes(raw))
    result = diagnose([archive])
    (warning,) = [w for w in result.warnings if w.file.endswith("case.zip!notes.txt")]
    assert "stream ends early" in warning.message and "unknown format" not in warning.message


@pytest.mark.parametrize("kind", ["tgz", "zip", "tar"])
def test_random_damage_to_archives_never_raises(tmp_path: Path, kind: str) -> None:
    """Seeded: flip, cut or splice a small bundle 150 times; reading it must never raise."""
    import random

    members = {
        f"{BUNDLE}/var/run/log/vvold.log": vvold_text(filler=300),
        f"{BUNDLE}/var/run/log/vvold.0.gz": gzip.compress(vvold_text(filler=300)),
        f"{BUNDLE}/commands/localcli_storage-vvol-vasaprovider-list.txt": b"VP Name: pure-ct0\n",
        f"{BUNDLE}/etc/vmware/esx.conf": b'/adv/Misc/HostName = "esx-03"\n',
        "nested.tgz": tar_bytes({"vvold.log": vvold_text()}),
    }
    if kind == "zip":
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, data in members.items():
                zf.writestr(name, data)
        sound = buf.getvalue()
    else:
        sound = tar_bytes(members, mode="w:gz" if kind == "tgz" else "w")
    rng = random.Random(17)
    target = tmp_path / f"case.{kind}"
    for _ in range(150):
        raw = bytearray(sound)
        how = rng.choice(("flip", "cut", "splice"))
        if how == "flip":
            for _ in range(rng.randint(1, 12)):
                raw[rng.randrange(len(raw))] ^= 1 << rng.randrange(8)
        elif how == "cut":
            del raw[rng.randrange(len(raw)) :]
        else:
            at = rng.randrange(len(raw))
            raw[at:at] = sound[rng.randrange(len(sound)) :][: rng.randrange(1, 4096)]
        target.write_bytes(bytes(raw))
        read_all([target])  # must not raise, whatever the damage


def test_stopping_early_is_not_damage(tmp_path: Path) -> None:
    """Sniffing takes a head and stops; a reader may stop at its size cap: neither is damage."""
    bundle = tmp_path / f"{BUNDLE}.tgz"
    bundle.write_bytes(tar_bytes({f"{BUNDLE}/var/run/log/vvold.log": vvold_text(filler=20000)}))
    with Collector([bundle]) as collector:
        (ef,) = list(collector)
        assert len(ef.head()) == 64 * 1024 and not ef.head_damage
        blocks = ef.blocks(128 * 1024)
        next(blocks)
        blocks.close()
        assert not ef.warnings


def test_zip_symlink_members_are_never_followed(tmp_path: Path, outside: Path) -> None:
    archive = tmp_path / "case.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        link = zipfile.ZipInfo("var/run/log/vvold.log")
        link.create_system = 3
        link.external_attr = 0o120777 << 16
        zf.writestr(link, str(outside))
        zf.writestr("vvold.1", vvold_text())
    collector, files, data = read_all([archive])
    assert [f.name for f in files] == ["vvold.1"] and MARKER.encode() not in data
    (warning,) = [w for w in all_text(collector, files) if "not followed" in w]
    assert str(outside) in warning and "case.zip!var/run/log/vvold.log" in warning


def test_a_tar_of_countless_members_is_listed_up_to_a_cap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vvolguard.evidence import archives

    monkeypatch.setattr(archives, "MAX_MEMBERS", 3)
    many = tmp_path / "many.tgz"
    many.write_bytes(tar_bytes({f"vvold.{i}": vvold_text() for i in range(10)}))
    collector, files, _ = read_all([many])
    assert len(files) == 3
    assert any("more than 3 members" in w for w in all_text(collector, files))
