"""Hostile and huge input for ``vvolguard escalate`` (#17): bounded lines and memory, names that
cannot forge package lines, and nothing left behind by a signal or written outside the output.

Inputs are made by small generators: a gzip of 64 MiB of zeros is 65 KB; a stream of zeros of
any length is a few lines of Python; gzip members concatenated give gigabytes from kilobytes.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import signal
import subprocess
import sys
import tarfile
import time
import tracemalloc
import zipfile
import zlib
from datetime import timedelta
from pathlib import Path

import pytest
from escalate_incident import NOW, T0, hosts, write_incident
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from vvolguard.escalate import stage as stage_mod
from vvolguard.escalate.excerpts import Anchor, cut_windows
from vvolguard.escalate.names import printable
from vvolguard.escalate.package import build_package
from vvolguard.escalate.stream import LINE_KEEP, LineStats, cut_note, text_blocks
from vvolguard.evidence.source import EvidenceFile, from_bytes
from vvolguard.sim.evidence import vvold as sim_vvold

MiB = 1024 * 1024


class Zeros(io.RawIOBase):
    """``size`` bytes of ``byte``, generated as they are read (nothing held)."""

    def __init__(self, size: int, byte: bytes = b"\0", then: bytes = b"") -> None:
        self.left, self.byte, self.then = size, byte, then

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        if self.left <= 0:
            data, self.then = self.then[: len(buffer)], self.then[len(buffer) :]
            buffer[: len(data)] = data
            return len(data)
        n = min(len(buffer), self.left)
        buffer[:n] = self.byte * n
        self.left -= n
        return n


def zeros_file(size: int, then: bytes = b"", name: str = "vvold.log") -> EvidenceFile:
    return EvidenceFile(
        display=f"gen/{name}", name=name, opener=lambda: io.BufferedReader(Zeros(size, then=then)), size=size
    )


def gzip_of_zeros(size: int) -> bytes:
    """A gzip member of ``size`` zero bytes (64 MiB -> 65 KB), built without holding them."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = bytes(MiB)
    out = [packer.compress(block) for _ in range(size // MiB)]
    return b"".join(out) + packer.flush()


def vvold_log() -> bytes:
    src = hosts()[0]
    records = sorted(src.vvold, key=lambda r: r.ts)
    return sim_vvold.write_vvold_log(records, "esxi7", 2100874, NOW - timedelta(days=14, hours=1))[
        "vvold.log"
    ]


# -- bounded lines -------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    lines=st.lists(
        st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"x").replace(b"\r", b"y")), max_size=30
    ),
    keep=st.integers(1, 24),
    block=st.integers(1, 64),
    final_newline=st.booleans(),
)
def test_text_blocks_cut_every_line_at_the_cap_and_keep_the_count(
    lines: list[bytes], keep: int, block: int, final_newline: bool
) -> None:
    """Whatever the block size, every line comes out once, in order, cut at ``keep`` bytes with
    a note of how many bytes were left out."""
    data = b"\n".join(lines) + (b"\n" if final_newline and lines else b"")
    assume(not data.startswith(b"\x1f\x8b"))  # that is a gzip stream, decompressed by EvidenceFile
    stats = LineStats()
    got = list(text_blocks(from_bytes("x.log", data), keep=keep, block_bytes=block, stats=stats))
    body = data[:-1] if data.endswith(b"\n") else data
    expected = [
        line[:keep].decode("utf-8", "replace") + (cut_note(len(line) - keep) if len(line) > keep else "")
        for line in body.split(b"\n")
    ] if data else []  # fmt: skip
    got_lines = "\n".join(got).split("\n") if got else []
    assert got_lines == expected
    assert stats.lines == len(expected)
    assert stats.cut_lines == (sum(1 for line in body.split(b"\n") if len(line) > keep) if data else 0)


def test_a_gigabyte_line_is_never_held(tmp_path: Path) -> None:
    """A 256 MiB line (zeros, generated) then a real log: the excerpt keeps 16 KiB of the long
    line, the line numbers after it stay those of the file, and the Python heap stays small."""
    log = vvold_log()
    ef = zeros_file(256 * MiB, then=b"\n" + log)
    anchor = Anchor(T0, "task-x")
    tracemalloc.start()
    try:
        windows, _ = cut_windows(ef, [anchor], timedelta(minutes=5), inline=False, tail_if_empty=True)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 32 * MiB, peak  # the block (1 MiB) and one window, not the 256 MiB line
    assert windows and windows[0].lines
    original = log.decode().splitlines()
    for number, text in windows[0].lines:
        if number == 1:  # the long line: its first 16 KiB and a note
            assert text == "\0" * LINE_KEEP + cut_note(256 * MiB - LINE_KEEP)
        else:
            assert original[number - 2] == text


def test_copies_are_cut_at_the_line_and_copy_caps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "copy.txt"
    ef = zeros_file(64 * MiB, then=b"\nsecond line password=hunter2\n" + b"row\n" * 100_000, name="x.csv")
    tracemalloc.start()
    try:
        note = stage_mod._copy_text(ef, target, limit=200_000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 * MiB, peak
    text = target.read_text()
    first, second = text.split("\n")[:2]
    assert len(first) == LINE_KEEP + len(cut_note(64 * MiB - LINE_KEEP)) and first.endswith(
        cut_note(64 * MiB - LINE_KEEP)
    )
    assert second == "second line password=<redacted>"
    assert len(text) <= 200_000 + 100 and text.endswith("# vvolguard: cut at 200,000 characters\n")
    assert note == "cut at 200,000 characters; 1 lines longer than 16 KiB cut"


def test_a_gzip_bomb_gives_a_bounded_package_with_notes(tmp_path: Path) -> None:
    """64 MiB of zeros in a 65 KB gzip, as a vvold.log and as a vendor CSV: the package holds a
    16 KiB line of each, says so in the manifest, and the run streams the bytes once."""
    evidence = tmp_path / "in"
    evidence.mkdir()
    bomb = gzip_of_zeros(64 * MiB)
    assert len(bomb) < 100_000
    (evidence / "vvold.log.gz").write_bytes(bomb)
    (evidence / "array-perf-export.csv.gz").write_bytes(bomb)
    out = tmp_path / "case.zip"
    start = time.process_time()
    result = build_package([evidence], out, now=NOW)
    elapsed = time.process_time() - start
    with zipfile.ZipFile(out) as z:
        sizes = {n.split("/", 1)[1]: z.getinfo(n).file_size for n in z.namelist()}
        manifest = json.loads(z.read(next(n for n in z.namelist() if n.endswith("manifest.json"))))
    assert max(sizes.values()) < 64 * 1024, sizes
    notes = {f["path"]: f.get("note") for f in manifest["files"]}
    assert notes["vendor/array-perf-export.csv"] == "1 lines longer than 16 KiB cut"
    assert any("lines longer than 16 KiB; excerpts keep the first 16 KiB" in w for w in result.warnings)
    assert elapsed < 120  # not a speed goal (see benchmarks/escalate_bombs.py): minutes meant a leak


# -- names ---------------------------------------------------------------------------------------


def test_names_cannot_forge_lines_or_crash(tmp_path: Path) -> None:
    """A newline in a tar member name, bytes that are not UTF-8 in member and folder names: the
    package is written, every file is UTF-8, and no name starts a line of its own."""
    log = vvold_log()
    bundle = tmp_path / "bundle.tgz"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        for name in ("evil\n[x] forged line\n# source: forged/vvold.log", "bad\udcffname/vvold.log"):
            info = tarfile.TarInfo(name)
            info.size = len(log)
            t.addfile(info, io.BytesIO(log))
    bundle.write_bytes(buf.getvalue())
    folder = tmp_path / os.fsdecode(b"dir\xff\n[x] folder")
    folder.mkdir()
    (folder / "vvold.log").write_bytes(log)
    out = tmp_path / "case.tar.gz"

    result = build_package([bundle, folder], out, now=NOW)

    with tarfile.open(out) as t:
        names = t.getnames()
        texts = {m.name: t.extractfile(m).read().decode("utf-8") for m in t.getmembers() if m.isfile()}  # type: ignore[union-attr]
    assert all(name.isascii() and "\n" not in name for name in names)
    for name, text in texts.items():
        for line in text.splitlines():
            assert not line.startswith("[x] forged"), (name, line)
            assert not line.lstrip("- ").startswith("[x] folder"), (name, line)
            assert "# source: forged" not in line or "\\n# source: forged" in line, (name, line)
    readme = next(v for k, v in texts.items() if k.endswith("README.txt"))
    manifest = json.loads(next(v for k, v in texts.items() if k.endswith("manifest.json")))
    sources = {f["source"] for f in manifest["files"]}
    assert "bundle.tgz!evil\\n[x] forged line\\n# source: forged/vvold.log" in sources
    assert "bundle.tgz!bad\\xffname/vvold.log" in sources
    assert "dir\\xff\\n[x] folder/vvold.log" in sources
    headers = [
        line
        for k, v in texts.items()
        if "/excerpts/" in k
        for line in v.splitlines()
        if line.startswith("# source:")
    ]
    assert "# source: dir\\xff\\n[x] folder/vvold.log" in headers
    assert "[x] forged" not in readme.replace("\\n[x] forged", "")
    assert result.output == out


def test_printable_escapes_controls_bidi_and_undecodable_bytes() -> None:
    assert printable("a\nb\rc\td") == "a\\nb\\rc\\td"
    assert printable(os.fsdecode(b"x\xff")) == "x\\xff"
    assert printable("evil\u202etxt.exe\u2028next\x1b[31m") == "evil\\u202etxt.exe\\u2028next\\x1b[31m"
    assert printable("esx-03.corp.example.com/vvold.log") == "esx-03.corp.example.com/vvold.log"


# -- signals and nothing outside the output --------------------------------------------------------


def _env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    for key in ("TMPDIR", "HOME", "XDG_CACHE_HOME", "XDG_CONFIG_HOME"):
        folder = tmp_path / key.lower()
        folder.mkdir()
        env[key] = str(folder)
    return env


def _written(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_a_signal_mid_run_leaves_nothing_behind(tmp_path: Path, sig: signal.Signals) -> None:
    """A real process, stopped while it stages a 4 GiB stream (64 gzip members of 64 MiB of
    zeros, 4 MB on disk): TMPDIR is empty afterwards, and no archive or partial file exists."""
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    (evidence / "array-perf-export.csv").write_bytes(gzip_of_zeros(64 * MiB) * 64)
    (evidence / "vvold.log").write_bytes(vvold_log())
    out = tmp_path / "out"
    out.mkdir()
    env = _env(tmp_path)
    tmpdir = Path(env["TMPDIR"])
    process = subprocess.Popen(
        [sys.executable, "-m", "vvolguard.cli.main", "escalate", str(evidence), "-o", str(out / "case.zip"),
         "--redact"],
        env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        staging: list[Path] = []
        while time.monotonic() < deadline and process.poll() is None:
            staging = list(tmpdir.glob("vvolguard-escalate-*"))
            if staging and (staging[0] / "stage").exists():
                break
            time.sleep(0.05)
        assert staging, "the run ended before staging began"
        assert (staging[0].stat().st_mode & 0o777) == 0o700  # private while it exists
        process.send_signal(sig)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 128 + sig, stderr.decode()
    assert f"stopped by {signal.Signals(sig).name}" in stderr.decode()
    assert _written(tmpdir) == []
    assert _written(out) == []
    assert sorted(p.name for p in evidence.iterdir()) == ["array-perf-export.csv", "vvold.log"]


def test_nothing_is_written_outside_the_output(tmp_path: Path) -> None:
    written = write_incident(tmp_path)
    out = tmp_path / "out"
    env = _env(tmp_path)
    before = _written(written.root)
    done = subprocess.run(
        [sys.executable, "-m", "vvolguard.cli.main", "escalate", *map(str, written.paths), "-o",
         str(out / "case.tgz"), "--redact", "--now", NOW.isoformat()],
        env=env, cwd=out.parent, capture_output=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    assert _written(out) == ["case.tgz", "case.tgz.redaction-map.json"]
    for key in ("TMPDIR", "HOME", "XDG_CACHE_HOME", "XDG_CONFIG_HOME"):
        assert _written(Path(env[key])) == [], key
    assert _written(written.root) == before
    assert gzip.decompress((out / "case.tgz").read_bytes())  # a complete archive
