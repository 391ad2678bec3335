"""Collection: real folders, .tgz bundles, nested archives and zips; never modifies inputs."""

from __future__ import annotations

import gzip
import io
import os
import tarfile
import zipfile
from pathlib import Path

from vvolguard.evidence.collect import Collector
from vvolguard.evidence.hostnames import bundle_host, host_from_text, host_in_file_name

VVOLD = b"2019-05-16T23:48:21.212Z info vvold[2099041] [Originator@6876 sub=Default] hello\n"
VP_LIST = b"VP Name: pure-ct0\n   URL: https://10.21.88.113:8084\n   Status: online\n"


def _tgz(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def _bundle_members(root: str) -> dict[str, bytes]:
    prefix = f"{root}/" if root else ""
    return {
        f"{prefix}var/run/log/vvold.log": VVOLD,
        f"{prefix}var/run/log/vvold.0.gz": gzip.compress(VVOLD),
        f"{prefix}var/run/log/syslog.log": b"irrelevant\n",
        f"{prefix}commands/localcli_storage-vvol-vasaprovider-list.txt": VP_LIST,
        f"{prefix}commands/localcli_network-ip-interface-list.txt": b"irrelevant\n",
        f"{prefix}json/localcli_storage-vvol-vasaprovider-list.json": b"[]",
        f"{prefix}etc/vmware/esx.conf": b'/adv/Misc/HostName = "esx-07.lab.local"\n',
    }


def test_bundle_host_from_name() -> None:
    assert bundle_host("esx-esx-03.lab.local-2023-06-07--19.51-2831891.tgz") == "esx-03.lab.local"
    assert bundle_host("esx-localhost6-2026-01-12--13.56-2107676.tar.gz") == "localhost6"
    assert bundle_host("esx-TPKVM01.TPK-SOLUTIONS.COM-2014-08-13--09.01") == "TPKVM01.TPK-SOLUTIONS.COM"
    assert bundle_host("support.tgz") is None


def test_host_from_text_variants() -> None:
    assert host_from_text("   Domain Name: lab\n   Fully Qualified Domain Name: esx-1.lab\n") == "esx-1.lab"
    assert host_from_text("Host Name: esx-2\n") == "esx-2"
    assert host_from_text('/adv/Misc/HostName = "esx-3"\n') == "esx-3"
    assert host_from_text("not a host name at all\nsecond line\n") is None


def test_tgz_bundle_reads_only_vvol_members_with_host(tmp_path: Path) -> None:
    root = "esx-esx-03-2026-03-14--10.02-1234"
    bundle = _tgz(tmp_path / f"{root}.tgz", _bundle_members(root))
    before = (bundle.read_bytes(), os.stat(bundle).st_mtime_ns)
    collector = Collector([bundle])
    files = list(collector)
    names = sorted(f.display.split("!", 1)[1] for f in files)
    assert names == sorted(
        f"{root}/{m}"
        for m in (
            "var/run/log/vvold.log",
            "var/run/log/vvold.0.gz",
            "commands/localcli_storage-vvol-vasaprovider-list.txt",
            "json/localcli_storage-vvol-vasaprovider-list.json",
        )
    )
    assert {f.host for f in files} == {"esx-03"}
    rotated = next(f for f in files if f.display.endswith("vvold.0.gz"))
    assert rotated.name == "vvold.0"
    assert b"".join(rotated.blocks()) == VVOLD  # gzip member decompressed transparently
    assert collector.skipped["bundle member not about vVols"] == 3
    assert (bundle.read_bytes(), os.stat(bundle).st_mtime_ns) == before


def test_renamed_bundle_takes_host_from_contents(tmp_path: Path) -> None:
    bundle = _tgz(tmp_path / "case-4711.tgz", _bundle_members("vm-support"))
    files = list(Collector([bundle]))
    assert files and {f.host for f in files} == {"esx-07.lab.local"}


def test_extracted_bundle_folder_and_loose_files(tmp_path: Path) -> None:
    root = tmp_path / "evidence" / "esx-esx-05-2026-03-14--10.02-99"
    for name, data in _bundle_members("").items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    loose = tmp_path / "evidence" / "tasks.csv"
    loose.write_text("Task Name,Target,Status\n")
    files = list(Collector([tmp_path / "evidence"]))
    by_name = {Path(f.display).name: f for f in files}
    assert set(by_name) == {
        "vvold.log",
        "vvold.0.gz",
        "localcli_storage-vvol-vasaprovider-list.txt",
        "localcli_storage-vvol-vasaprovider-list.json",
        "tasks.csv",
    }
    assert by_name["vvold.log"].host == "esx-05"
    assert by_name["tasks.csv"].host is None


def test_archive_of_several_bundles_and_a_nested_one(tmp_path: Path) -> None:
    inner = io.BytesIO()
    with tarfile.open(fileobj=inner, mode="w:gz") as tar:
        for name, data in _bundle_members("esx-esx-02-2026-03-14--10.02-1").items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    members = _bundle_members("esx-esx-01-2026-03-14--10.02-1")
    members["esx-esx-02-2026-03-14--10.02-1.tgz"] = inner.getvalue()
    members["tasks.json"] = b"[]"
    outer = _tgz(tmp_path / "case.tgz", members)
    files = list(Collector([outer]))
    hosts = {f.host for f in files if "vvold.log" in f.display}
    assert hosts == {"esx-01", "esx-02"}
    assert any(f.display.endswith("!tasks.json") and f.host is None for f in files)


def test_truncated_bundle_keeps_readable_members_and_warns(tmp_path: Path) -> None:
    bundle = _tgz(
        tmp_path / "esx-esx-09-2026-03-14--10.02-1.tgz", _bundle_members("esx-esx-09-2026-03-14--10.02-1")
    )
    data = bundle.read_bytes()
    cut = tmp_path / "esx-esx-09-2026-03-14--10.02-2.tgz"
    cut.write_bytes(data[: len(data) * 2 // 3])
    collector = Collector([cut])
    files = list(collector)
    for f in files:
        list(f.blocks())
    messages = [str(w) for w in collector.warnings] + [str(w) for f in files for w in f.warnings]
    assert messages, "a truncated bundle must be reported"
    assert all(str(cut) in m for m in messages)


def test_zip_and_missing_path(tmp_path: Path) -> None:
    archive = tmp_path / "exports.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("tasks.csv", "Task Name,Target,Status\n")
        zf.writestr("vvold.log", VVOLD)
    collector = Collector([archive, tmp_path / "nope.log"])
    files = list(collector)
    assert sorted(f.name for f in files) == ["tasks.csv", "vvold.log"]
    assert b"".join(files[1].blocks()) in (VVOLD, b"Task Name,Target,Status\n")
    assert [w.message for w in collector.warnings] == ["no such file or folder"]
    assert collector.warnings[0].file.endswith("nope.log")


def test_truncated_gzip_file_warns_and_keeps_prefix(tmp_path: Path) -> None:
    payload = VVOLD * 5000
    packed = gzip.compress(payload)
    broken = tmp_path / "vvold.3.gz"
    broken.write_bytes(packed[: len(packed) // 2])
    (ef,) = list(Collector([broken]))
    data = b"".join(ef.blocks())
    assert 0 < len(data) < len(payload)
    assert payload.startswith(data)
    assert ef.warnings and "truncated" in ef.warnings[0].message


def test_same_bundle_as_tgz_and_folder_is_read_once(tmp_path: Path) -> None:
    root = "esx-esx-03-2026-03-14--10.02-1234"
    members = _bundle_members(root)
    (tmp_path / "archives").mkdir()
    _tgz(tmp_path / "archives" / f"{root}.tgz", members)
    for name, data in members.items():
        target = tmp_path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    collector = Collector([tmp_path])
    files = list(collector)
    assert len(files) == 4  # the four vVol members, once
    assert all(".tgz!" in f.display for f in files)
    (warning,) = collector.warnings
    assert warning.file.endswith(root) and "same support bundle" in warning.message


def test_host_in_a_loose_file_name() -> None:
    """Excerpts of several hosts sent side by side must not become one unnamed host; a name that
    does not plainly hold a host gives none."""
    named = {
        "vvold-grep-esx01.txt": "esx01",
        "esx-03_vvold.log": "esx-03",
        "prd-esx12_vvold.log.1": "prd-esx12",
        "esx-03-2026-03-14-vvold.txt": "esx-03",
        "vvold-grep-esx01-2026-03-14.txt": "esx01",
        "esx01.vvol.lab-vvold.log": "esx01",
        "10.0.0.5-vvold.log": "10.0.0.5",
        "vvold-10-77-1-25.txt": "10.77.1.25",
        "esx-07-vvold-search.txt": "esx-07",  # Select-String ... > esx-07-vvold-search.txt
        "esx07-vvold-hits.txt": "esx07",
        "ticket-esx-07.md": "esx-07",  # a log quoted in a Markdown ticket
    }
    for name, host in named.items():
        assert host_in_file_name(name) == host, name
    for name in [
        "vvold.log",
        "vvold.3.gz",
        "esxcli-vasaprovider-list.txt",
        "tasks.csv",
        "esx.log",
        "case.zip",
    ]:
        assert host_in_file_name(name) is None, name


def test_loose_files_take_the_host_their_name_gives(tmp_path: Path) -> None:
    (tmp_path / "vvold-grep-esx01.txt").write_text("x\n")
    (tmp_path / "vvold.log").write_text("x\n")
    with Collector([tmp_path]) as files:
        hosts = {ef.name: ef.host for ef in files}
    assert hosts == {"vvold-grep-esx01.txt": "esx01", "vvold.log": None}
