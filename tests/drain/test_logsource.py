"""The local vvold.log tail follows appends, rename-rotation and truncation."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

from vvolguard.drain.logsource import FileTail


def test_follows_appends_from_the_end_by_default(tmp_path: Path) -> None:
    log = tmp_path / "vvold.log"
    log.write_bytes(b"old line\n")
    tail = FileTail(log, "esx-03")
    assert tail.read() == b""
    with log.open("ab") as fh:
        fh.write(b"new 1\n")
    assert tail.read() == b"new 1\n"
    assert tail.read() == b""


def test_survives_rotation_by_rename_and_reads_the_rest_of_the_old_file(tmp_path: Path) -> None:
    log = tmp_path / "vvold.log"
    log.write_bytes(b"")
    tail = FileTail(log, "esx-03")
    with log.open("ab") as fh:
        fh.write(b"a\n")
    assert tail.read() == b"a\n"
    with log.open("ab") as fh:
        fh.write(b"b (written just before rotation)\n")
    # ESXi-style rotation: compress a copy, rename away, start a new file.
    (tmp_path / "vvold.0.gz").write_bytes(gzip.compress(log.read_bytes()))
    os.rename(log, tmp_path / "vvold.log.1")
    log.write_bytes(b"c (new file)\n")
    got = tail.read() + tail.read() + tail.read()
    assert got == b"b (written just before rotation)\nc (new file)\n"
    assert tail.rotations == 1


def test_survives_truncation_in_place(tmp_path: Path) -> None:
    log = tmp_path / "vvold.log"
    log.write_bytes(b"x" * 100 + b"\n")
    tail = FileTail(log, "esx-03")
    with log.open("r+b") as fh:
        fh.truncate(0)
    with log.open("ab") as fh:
        fh.write(b"after\n")
    assert tail.read() == b"after\n"


def test_a_missing_file_is_waited_for_not_an_error(tmp_path: Path) -> None:
    log = tmp_path / "vvold.log"
    tail = FileTail(log, "esx-03")
    assert tail.read() == b""
    log.write_bytes(b"hello\n")
    assert tail.read() == b"hello\n"


def test_reads_are_bounded(tmp_path: Path) -> None:
    log = tmp_path / "vvold.log"
    log.write_bytes(b"")
    tail = FileTail(log, "esx-03", max_chunk=10)
    log.write_bytes(b"0123456789abcdef\n")
    assert tail.read() == b"0123456789"
    assert tail.read() == b"abcdef\n"
