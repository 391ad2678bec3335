"""Properties of every log reader here, on random bytes and on mutated real-shaped lines:
never raise, cite only lines that exist, keep the frame schema, and parse the same however the
input is cut into feeds."""

from __future__ import annotations

import gzip

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vvolguard.evidence import vvold, vvold_block
from vvolguard.evidence.hostlogs import HostdReader, VmkernelReader
from vvolguard.evidence.source import from_bytes
from vvolguard.evidence.vvold import VvoldReader, VvoldStream
from vvolguard.evidence.vvold_block import split_lines
from vvolguard.records import (
    VASA_SCHEMA,
    EvidenceSpan,
    HostIdentity,
    HostLogEvent,
    ReadWarning,
    VasaEventKind,
    VasaFrame,
)

READERS = [VvoldReader(), HostdReader(), VmkernelReader()]
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

SHAPES = [
    "2019-05-16T23:48:21.212Z error vvold[2099041] [Originator@6876 sub=Default]",
    "--> VasaOp::QueryVirtualVolumeInt [#89844]: ===> Issuing 'queryVirtualVolume' to VP sn1-ct1 "
    "(#outstanding 0/5) [session state: Connected]",
    "--> VasaOp::ThrowFromSessionError [#89844]: ===> FINAL SUCCESS queryVirtualVolume VP (sn1-ct1) "
    "Container (b487b73a-6128-3ad2-873b-8ddb1ba45d4f) timeElapsed=154 msecs (#outstanding 0)",
    "25331:2025-08-08T17:37:07.849Z Er(163) VVold[2317367]: [Originator@6876 sub=Default OpId=Session] "
    "VasaSession::DoSetContext: setContext for VP XXX (url: https://XXXX/axis2/services/vasa2) failed "
    "[connectionState: Connected]: STORAGE_FAULT (ADB conversion error. Details: Invalid Fault Id / )",
    "2025-08-08T12:20:01.100Z Er(163)+ VVold[2255518]: --> continuation PROVIDER_BUSY",
    "--> VasaSession::GetFreeConn: No free connections to VP pure-ct0 (url: https://10.1.1.10:8084/vasa) "
    "[#outstanding 5/5] - waiting",
    "2024-03-14T10:02:42.003Z error vvold[2100874] [Originator@6876 sub=Default] VasaOp::X [#90215]: ===> "
    "FINAL FAILURE createVirtualVolume, error (TIMEOUT / Operation timed out) timeElapsed=60012 msecs",
    "2020-04-14T12:48:16.306-06:00 info hostd[1] [Originator@6876 sub=Vcsvc] [MIGRATE] (1) vMotion failed: x",
    '-->       msg = "A general system error occurred: Source detected that destination failed to resume."',
    "2020-04-14T12:48:10.306Z cpu12:2097152)WARNING: Migrate: 296: D: Failed: Maximum switchover time for "
    "migration exceeded(0xbad0109)",
    "2022-11-09T09:15:36.354Z info vvold[1] [Originator@6876 sub=Default] Section for VMware ESX, pid=1, "
    "version=7.0.3, build=20328353, option=Release",
    "[2011-04-01 15:14:34.203 F5A5AB90 info 'vm:/vmfs/x.vmx' opID=1] TIMEOUT",
    "",
]


@st.composite
def mutated_line(draw: st.DrawFn) -> str:
    line = draw(st.sampled_from(SHAPES))
    op = draw(st.sampled_from(["keep", "cut", "insert", "delete", "dup"]))
    if not line or op == "keep":
        return line
    at = draw(st.integers(0, len(line)))
    if op == "cut":
        return line[:at]
    if op == "insert":
        return line[:at] + draw(st.text(max_size=8)) + line[at:]
    if op == "delete":
        return line[:at] + line[at + draw(st.integers(1, 5)) :]
    return line[:at] + line


log_text = st.lists(mutated_line(), max_size=30).map(lambda ls: "\n".join(ls))
endings = st.sampled_from(["\n", "\r\n", ""])


def check(reader, data: bytes, name: str, plain: bytes | None = None) -> list:
    """Read ``data`` (``plain`` is its decompressed form when it is a gzip)."""
    ef = from_bytes(name, data, host="esx01")
    records = list(reader.read(ef))  # must not raise
    plain = data if plain is None else plain
    total = plain.count(b"\n") + (0 if plain.endswith(b"\n") or not plain else 1)
    for rec in records:
        if isinstance(rec, VasaFrame):
            frame = rec.frame
            assert frame.schema == pl.Schema(VASA_SCHEMA)
            assert frame["ts"].null_count() == 0
            assert set(frame["kind"]) <= {k.value for k in VasaEventKind}
            assert frame["line"].min() >= 1 and frame["line"].max() <= total
            assert frame["text"].str.len_chars().max() <= 400
        elif isinstance(rec, HostLogEvent | HostIdentity):
            assert rec.citation is not None and 1 <= (rec.citation.line or 0) <= total
        elif isinstance(rec, EvidenceSpan):
            assert rec.start <= rec.end and 1 <= rec.lines <= total and rec.file == name
        else:
            raise AssertionError(f"unexpected record {rec!r}")
    for warning in ef.warnings:
        assert isinstance(warning, ReadWarning)
        assert warning.line is None or 1 <= warning.line <= max(total, 1)
    return records


@SETTINGS
@given(st.binary(max_size=4096))
def test_random_bytes(data: bytes) -> None:
    for reader in READERS:
        check(reader, data, "vvold.log")


@SETTINGS
@given(log_text, endings)
def test_mutated_real_shapes(text: str, end: str) -> None:
    data = (text.replace("\n", end or "\n") + end).encode("utf-8", "surrogatepass")
    for reader in READERS:
        check(reader, data, "x.log")
        check(reader, gzip.compress(data), "x.0.gz", plain=data)


@SETTINGS
@given(log_text, st.lists(st.integers(1, 200), min_size=1, max_size=20))
def test_stream_cut_anywhere_parses_the_same(text: str, sizes: list[int]) -> None:
    data = text.encode("utf-8", "surrogatepass")
    whole = VvoldStream("f", None)
    expected = [f.frame for f in (whole.feed(data), whole.flush()) if f is not None]
    stream = VvoldStream("f", None)
    got, pos, i = [], 0, 0
    while pos < len(data):
        size = sizes[i % len(sizes)]
        got.append(stream.feed(data[pos : pos + size]))
        pos, i = pos + size, i + 1
    got.append(stream.flush())
    frames = [f.frame for f in got if f is not None]
    if expected:
        assert pl.concat(frames).equals(pl.concat(expected))
    else:
        assert sum(f.height for f in frames) == 0
    assert stream.lines_read == whole.lines_read


def _reference_lines(data: bytes) -> list[str | None]:
    """One entry per line as plain Python splits it (a CRLF's CR dropped, empty lines None)."""
    lines = data.decode("utf-8", "replace").split("\n")
    if lines[-1] == "":
        lines.pop()
    return [line.removesuffix("\r") or None for line in lines]


LINE_BYTES = [b"a", b"\n", b"\r", b"\r\n", b"\xff", b"\xc3\xa9", b"\x00", b" "]


@SETTINGS
@given(st.lists(st.sampled_from(LINE_BYTES), max_size=40))
def test_split_lines_gives_one_row_per_line(parts: list[bytes]) -> None:
    """The CSV-reader split is checked by byte accounting, not by counting newlines: whatever
    the bytes (CRs, invalid UTF-8, empty lines, no final newline), the rows are the lines."""
    data = b"".join(parts)
    got = split_lines(data).to_list()
    assert [g or None for g in got] == _reference_lines(data)


@SETTINGS
@given(log_text, st.lists(st.integers(1, 300), min_size=1, max_size=20), st.integers(0, 3))
def test_pooled_blocks_cut_anywhere_parse_the_same(text: str, sizes: list[int], long: int) -> None:
    """``feed_all`` (blocks parsed on pool threads, numbered only when their turn comes) gives
    what one whole feed gives, however the chunks cut the lines, over-long lines included."""
    data = text.encode("utf-8", "surrogatepass")
    if long:  # an over-long line (the limits are lowered below), cut by the stream or the parse
        at = data.find(b"\n") + 1
        data = data[:at] + b"--> GetFreeConn: No free connections " + b"x" * (long * 700) + data[at:]
    saved = {name: getattr(vvold, name) for name in ("MAX_LINE_BYTES", "LONG_LINE_KEEP")}
    try:
        for module in (vvold, vvold_block):
            module.MAX_LINE_BYTES, module.LONG_LINE_KEEP = 1000, 50
        whole = VvoldStream("f", None)
        expected = [f.frame for f in (whole.feed(data), whole.flush()) if f is not None]
        chunks, pos, i = [], 0, 0
        while pos < len(data):
            chunks.append(data[pos : pos + sizes[i % len(sizes)]])
            pos, i = pos + sizes[i % len(sizes)], i + 1
        stream = VvoldStream("f", None)
        frames = [f.frame for f in stream.feed_all(chunks, parallel=True)]
    finally:
        for module in (vvold, vvold_block):
            for name, value in saved.items():
                setattr(module, name, value)
    if expected:
        assert pl.concat(frames).equals(pl.concat(expected))
    else:
        assert sum(f.height for f in frames) == 0
    assert stream.lines_read == whole.lines_read
