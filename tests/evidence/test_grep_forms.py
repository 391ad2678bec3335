"""vvold excerpts in every shape grep gives them (issue #10 A), made by the real ``grep`` and
``zgrep`` from a log of verbatim-shaped lines: ``-n``, ``-H``/``-r`` (``file:`` and
``file:NNNN:``), context ``-A/-B/-C`` (``NNNN-`` and ``file-NNNN-`` on context lines, ``--``
between groups), ``zgrep`` over a rotated ``.gz``, CRLF, and a ``tail`` cut that starts with
orphan ``-->`` lines. Each excerpt row must read as the same row of the whole log: kind, time,
pid, operation, provider and fault.

Citations keep the excerpt's own line number (the file the admin gave), and the cited text keeps
the grep prefix, so the original file's line number is in the quoted text."""

from __future__ import annotations

import gzip
import re
import shutil
import subprocess
from pathlib import Path

import polars as pl
import pytest

from vvolguard.evidence.source import from_bytes
from vvolguard.evidence.vvold import VvoldReader
from vvolguard.records import VasaFrame

pytestmark = pytest.mark.skipif(shutil.which("grep") is None, reason="needs grep")

ESXI7 = (
    "2024-03-14T10:02:11.418Z warning vvold[2100874] [Originator@6876 sub=Default]\n"
    "--> VasaSession::GetFreeConn: No free connections to VP pure-ct0 (url: https://10.1.1.10:8084/vasa) "
    "[#outstanding 5/5] - waiting\n"
    "2024-03-14T10:02:20.000Z info vvold[2100874] [Originator@6876 sub=Default] SI::QueryVirtualVolumeInt "
    "Empty response\n"
    "2024-03-14T10:02:41.902Z info vvold[2100874] [Originator@6876 sub=Default]\n"
    "--> VasaOp::CreateVirtualVolumeInt [#90211]: ===> FINAL SUCCESS createVirtualVolume VP (pure-ct0) "
    "Container (b487b73a-6128-3ad2-873b-8ddb1ba45d4f) timeElapsed=41234 msecs (#outstanding 4)\n"
    "2024-03-14T10:02:41.950Z info vvold[2100874] [Originator@6876 sub=Default] SI::QueryVirtualVolumeInt "
    "Empty response\n"
    "2024-03-14T10:02:42.003Z error vvold[2100874] [Originator@6876 sub=Default]\n"
    "--> VasaOp::ThrowFromSessionError [#90215]: ===> FINAL FAILURE createVirtualVolume, error (TIMEOUT / "
    "Operation timed out) VP (pure-ct0) Container (b487b73a-6128-3ad2-873b-8ddb1ba45d4f) timeElapsed=60012 "
    "msecs (#outstanding 5)\n"
)
ESXI8 = (
    "2025-08-08T12:17:14.610Z Er(163) VVold[2255518]: [Originator@6876 sub=Default OpId=Session] "
    "VasaSession::DoSetContext: setContext for VP XXX "
    "(url: https://XXX:8443/vasa/services/vasaService?version=4) failed [connectionState: TransportError]: "
    "TRANSPORT_FAULT (Timeout / SSL_connect() failed in tcp_connect())\n"
    "2025-08-08T12:17:15.000Z In(166) VVold[2255518]: [Originator@6876 sub=Default] SI::Refresh done\n"
    "2025-08-08T17:37:07.849Z Er(163) VVold[2317367]: [Originator@6876 sub=Default OpId=Session] "
    "VasaSession::DoSetContext: setContext for VP XXX (url: https://XXXX/axis2/services/vasa2) failed "
    "[connectionState: Connected]: STORAGE_FAULT (ADB conversion error. Details: Invalid Fault Id / )\n"
)
PATTERN = "GetFreeConn|FINAL|DoSetContext"
FIELDS = ["kind", "ts", "pid", "op", "vp", "fault", "opseq", "elapsed_ms"]


def frame_of(data: bytes, name: str) -> pl.DataFrame:
    records = list(VvoldReader().read(from_bytes(name, data, host="esx01")))
    frames = [r.frame for r in records if isinstance(r, VasaFrame)]
    return pl.concat(frames) if frames else pl.DataFrame()


def original_line(text: str) -> int:
    """The original file's line number from the grep prefix of a cited line."""
    match = re.match(r"^(?:[^\s:]*?vvold[^\s:]*?[:-])?(\d+)[:-]", text)
    assert match, text
    return int(match[1])


def grep(tmp_path: Path, *args: str, tool: str = "grep") -> bytes:
    out = subprocess.run([tool, *args], cwd=tmp_path, capture_output=True, check=True)
    return out.stdout


@pytest.fixture(params=["esxi7", "esxi8"])
def log(request, tmp_path: Path) -> tuple[Path, pl.DataFrame]:
    text = ESXI7 if request.param == "esxi7" else ESXI8
    path = tmp_path / "vvold.log"
    path.write_text(text)
    return path, frame_of(text.encode(), "vvold.log")


@pytest.mark.parametrize(
    "args",
    [["-n", "-B1"], ["-n", "-C1"], ["-n", "-B2", "-A1"], ["-H", "-n", "-B1"], ["-r", "-n", "-B1", "."]],
    ids=["B1", "C1", "B2A1", "Hn", "r"],
)
def test_context_excerpts_read_as_the_whole_log(tmp_path: Path, log, args: list[str]) -> None:
    path, whole = log
    target = [] if "-r" in args else [path.name]
    excerpt = grep(tmp_path, "-E", PATTERN, *args, *target)
    if "-C1" in args or "-A1" in args:
        assert b"\n--\n" in excerpt or excerpt.count(b"\n") <= 8  # groups separated as grep does
    got = frame_of(excerpt, "vvold-grep.txt")
    assert got.height == whole.height
    lines = [original_line(t) for t in got["text"]]
    want = whole.filter(pl.col("line").is_in(lines)).sort("line")
    assert got.select(FIELDS).equals(want.select(FIELDS))
    # the citation's line is the excerpt's own; its text keeps the original line number
    assert got["line"].max() <= excerpt.count(b"\n")


def test_plain_grep_n(tmp_path: Path, log) -> None:
    """``grep -n`` alone: the ESXi 8 shape (one line per event) keeps every field; in the 6.7/7.0
    shape the matching ``-->`` lines lost their timestamped headers, so nothing can be dated and
    the reader says so instead of guessing a time."""
    path, whole = log
    excerpt = grep(tmp_path, "-n", "-E", PATTERN, path.name)
    ef = from_bytes("excerpt.txt", excerpt, host="esx01")
    records = list(VvoldReader().read(ef))
    frames = [r.frame for r in records if isinstance(r, VasaFrame)]
    if "VVold[" in whole["text"][0]:
        assert pl.concat(frames).select(FIELDS).equals(whole.select(FIELDS))
    else:
        assert frames == [] and "no timestamped" in ef.warnings[0].message


def test_zgrep_over_rotated_gzip_and_crlf(tmp_path: Path) -> None:
    if shutil.which("zgrep") is None:
        pytest.skip("needs zgrep")
    (tmp_path / "vvold.1.gz").write_bytes(gzip.compress(ESXI8.replace("\n", "\r\n").encode()))
    excerpt = grep(tmp_path, "-H", "-n", "DoSetContext", "vvold.1.gz", tool="zgrep")
    assert excerpt.startswith(b"vvold.1.gz:1:2025-08-08T12:17:14.610Z")
    got = frame_of(excerpt, "esx01-zgrep.txt")
    assert got["kind"].to_list() == ["setcontext-failure"] * 2
    assert got["fault"].to_list() == ["TRANSPORT_FAULT", "STORAGE_FAULT"]
    assert got["pid"].to_list() == [2255518, 2317367]
    assert [t.second for t in got["ts"]] == [14, 7]
    assert not any(t.endswith("\r") for t in got["text"])


def test_file_dash_number_context_prefix_does_not_eat_the_timestamp() -> None:
    lines = ESXI7.splitlines()
    excerpt = (
        f"var/run/log/vvold.log-1-{lines[0]}\n"
        f"var/run/log/vvold.log:2:{lines[1]}\n"
        "--\n"
        f"var/run/log/vvold.log-7-{lines[6]}\n"
        f"var/run/log/vvold.log:8:{lines[7]}\n"
    )
    got = frame_of(excerpt.encode(), "grep.txt")
    whole = frame_of(ESXI7.encode(), "vvold.log").filter(pl.col("line").is_in([2, 8]))
    assert got.select(FIELDS).equals(whole.select(FIELDS))


def test_tail_cut_starting_with_orphan_continuations() -> None:
    """``tail -n`` cuts wherever it likes: the leading ``-->`` lines have no header above them
    and take the first header's time; nothing is lost or misread."""
    lines = ESXI7.splitlines(keepends=True)
    cut = "".join(lines[1:])  # starts with the GetFreeConn continuation
    got = frame_of(cut.encode(), "vvold-tail.txt")
    whole = frame_of(ESXI7.encode(), "vvold.log")
    assert got["kind"].to_list() == whole["kind"].to_list()
    assert got.select("op", "vp", "fault", "elapsed_ms").equals(
        whole.select("op", "vp", "fault", "elapsed_ms")
    )
    assert got["line"].to_list() == [n - 1 for n in whole["line"]]
