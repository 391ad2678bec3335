"""vvold.log reader: verbatim samples (docs/evidence-formats.md §1.2, §1.3), reconstructed KB 318662
lines (§1.7), both shapes, grep excerpts, rotation, damage, and the incremental stream."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime

import polars as pl
import pytest

from vvolguard.evidence import vvold
from vvolguard.evidence.source import EvidenceFile, from_bytes
from vvolguard.evidence.vvold import VvoldReader, VvoldStream
from vvolguard.records import VASA_SCHEMA, Citation, EvidenceSpan, HostIdentity, VasaEventKind, VasaFrame

# [VERBATIM] Pure Storage KB (§1.2): starts with a continuation whose header is above the excerpt.
PURE = (
    "--> VasaOp::QueryVirtualVolumeInt [#89844]: ===> Issuing 'queryVirtualVolume' to VP sn1-m20-c12-25-ct1 "
    "(#outstanding 0/5) [session state: Connected]\n"
    "2019-05-16T23:48:21.212Z error vvold[2099041] [Originator@6876 sub=Default]\n"
    "--> VasaOp::ThrowFromSessionError [#89844]: ===> FINAL SUCCESS queryVirtualVolume "
    "VP (sn1-m20-c12-25-ct1) "
    "Container (b487b73a-6128-3ad2-873b-8ddb1ba45d4f) timeElapsed=154 msecs (#outstanding 0)\n"
    "2019-05-16T23:48:21.212Z info vvold[2099041] [Originator@6876 sub=Default] SI::QueryVirtualVolumeInt "
    "Empty response\n"
    "--> VasaOp::EventPollerCB [#89845]: ===> Issuing 'getEvents' to VP sn1-m...\n"
)
# [VERBATIM] KB 412434 (§1.3), the second line with its `grep -n` prefix.
KB412434 = (
    "2025-08-08T12:17:14.610Z Er(163) VVold[2255518]: [Originator@6876 sub=Default OpId=Session] "
    "VasaSession::DoSetContext: setContext for VP XXX "
    "(url: https://XXX:8443/vasa/services/vasaService?version=4) failed [connectionState: TransportError]: "
    "TRANSPORT_FAULT (Timeout / SSL_connect() failed in tcp_connect())\n"
    "25331:2025-08-08T17:37:07.849Z Er(163) VVold[2317367]: [Originator@6876 sub=Default OpId=Session] "
    "VasaSession::DoSetContext: setContext for VP XXX (url: https://XXXX/axis2/services/vasa2) failed "
    "[connectionState: Connected]: STORAGE_FAULT (ADB conversion error. Details: Invalid Fault Id / )\n"
)
# [RECONSTRUCTED] KB 318662 candidates (§1.7).
KB318662 = (
    "2024-03-14T10:02:11.418Z warning vvold[2100874] [Originator@6876 sub=Default]\n"
    "--> VasaSession::GetFreeConn: No free connections to VP pure-ct0 (url: https://10.1.1.10:8084/vasa) "
    "[#outstanding 5/5] - waiting\n"
    "2024-03-14T10:02:41.902Z info vvold[2100874] [Originator@6876 sub=Default]\n"
    "--> VasaOp::CreateVirtualVolumeInt [#90211]: ===> FINAL SUCCESS createVirtualVolume VP (pure-ct0) "
    "Container (b487b73a-6128-3ad2-873b-8ddb1ba45d4f) timeElapsed=41234 msecs (#outstanding 4)\n"
    "2024-03-14T10:02:42.003Z error vvold[2100874] [Originator@6876 sub=Default]\n"
    "--> VasaOp::ThrowFromSessionError [#90215]: ===> FINAL FAILURE createVirtualVolume, error (TIMEOUT / "
    "Operation timed out) VP (pure-ct0) Container (b487b73a-6128-3ad2-873b-8ddb1ba45d4f) timeElapsed=60012 "
    "msecs (#outstanding 5)\n"
)
# [RECONSTRUCTED] the two ESXi 8 continuation styles (§1.3).
ESXI8 = (
    "2025-08-08T12:20:01.100Z Er(163) VVold[2255518]: [Originator@6876 sub=Default OpId=opId-1234] "
    "VasaOp::CreateVirtualVolumeInt [#1201]: ===> FINAL FAILURE createVirtualVolume, error (TIMEOUT / ...)\n"
    "2025-08-08T12:20:01.100Z Er(163)+ VVold[2255518]: --> continuation text PROVIDER_BUSY\n"
)
SECTION = (
    "2022-11-09T09:15:36.354Z info vvold[2099676] [Originator@6876 sub=Default] last log rotation time, "
    "2022-11-09T09:15:36.354Z - time the service was last started 2022-11-09T09:15:36.339Z, Section for "
    "VMware ESX, pid=2099676, version=7.0.3, build=20328353, option=Release\n"
)


def read(data: bytes | str, name: str = "vvold.log", host: str | None = "esx01"):
    raw = data.encode() if isinstance(data, str) else data
    ef = from_bytes(name, raw, host=host)
    records = list(VvoldReader().read(ef))
    frames = [r for r in records if isinstance(r, VasaFrame)]
    for f in frames:
        assert f.frame.schema == pl.Schema(VASA_SCHEMA)
    frame = pl.concat([f.frame for f in frames]) if frames else pl.DataFrame(schema=VASA_SCHEMA)
    identities = [r for r in records if isinstance(r, HostIdentity)]
    return frame, identities, ef.warnings


def rows(frame: pl.DataFrame) -> list[dict]:
    return frame.to_dicts()


def test_pure_sample_continuations_take_their_header_and_keep_their_own_line() -> None:
    frame, _, warnings = read(PURE)
    got = rows(frame)
    assert [r["kind"] for r in got] == ["issue", "success", "issue"]
    assert [r["line"] for r in got] == [1, 3, 5]  # the --> lines, where the text is
    issue, success, poll = got
    # The leading continuation has no header above it: dated by the next header, level unknown.
    assert issue["ts"] == datetime(2019, 5, 16, 23, 48, 21, 212000, tzinfo=UTC)
    assert issue["level"] is None
    assert (issue["op"], issue["opseq"], issue["vp"]) == ("queryVirtualVolume", 89844, "sn1-m20-c12-25-ct1")
    assert (issue["outstanding"], issue["outstanding_max"]) == (0, 5)
    # FINAL SUCCESS under an `error` header is a success: the level is the call site (§1.2).
    assert success["level"] == "error" and success["kind"] == VasaEventKind.SUCCESS
    assert success["container"] == "b487b73a-6128-3ad2-873b-8ddb1ba45d4f"
    assert (success["elapsed_ms"], success["outstanding"], success["pid"]) == (154, 0, 2099041)
    # A citation quotes the line itself, as grep would show it, like every other reader's.
    assert success["text"].startswith("--> VasaOp::ThrowFromSessionError [#89844]: ===> FINAL SUCCESS")
    assert (poll["op"], poll["opseq"], poll["level"]) == ("getEvents", 89845, "info")
    assert set(frame["file"]) == {"vvold.log"} and set(frame["host"]) == {"esx01"}
    assert warnings == []


def test_kb412434_setcontext_failures_keep_fault_detail_and_url() -> None:
    frame, _, _ = read(KB412434, name="vvold-excerpt.txt")
    first, second = rows(frame)
    assert first["kind"] == second["kind"] == VasaEventKind.SETCONTEXT_FAILURE
    assert first["fault"] == "TRANSPORT_FAULT"
    assert first["detail"] == "Timeout / SSL_connect() failed in tcp_connect()"
    assert first["url"] == "https://XXX:8443/vasa/services/vasaService?version=4"
    assert (first["vp"], first["op"], first["level"], first["pid"]) == ("XXX", "setContext", "error", 2255518)
    assert second["fault"] == "STORAGE_FAULT"
    assert second["detail"].startswith("ADB conversion error. Details: Invalid Fault Id")
    assert second["url"] == "https://XXXX/axis2/services/vasa2"
    assert second["ts"] == datetime(2025, 8, 8, 17, 37, 7, 849000, tzinfo=UTC)  # grep -n prefix stripped
    assert second["line"] == 2


def test_kb318662_connection_exhaustion_and_slow_swap_creation() -> None:
    frame, _, _ = read(KB318662)
    conn, ok, fail = rows(frame)
    assert conn["kind"] == VasaEventKind.NO_FREE_CONN and conn["line"] == 2
    assert (conn["vp"], conn["url"]) == ("pure-ct0", "https://10.1.1.10:8084/vasa")
    assert (conn["outstanding"], conn["outstanding_max"]) == (5, 5)
    assert (ok["kind"], ok["op"], ok["elapsed_ms"], ok["opseq"]) == (
        "success",
        "createVirtualVolume",
        41234,
        90211,
    )
    assert (fail["kind"], fail["op"], fail["fault"], fail["detail"]) == (
        "failure",
        "createVirtualVolume",
        "TIMEOUT",
        "Operation timed out",
    )
    assert (fail["vp"], fail["elapsed_ms"], fail["outstanding"]) == ("pure-ct0", 60012, 5)


def test_esxi8_shape_and_plus_continuation() -> None:
    records = list(VvoldReader().read(from_bytes("vvold.log", ESXI8.encode())))
    frame = records[0]
    assert isinstance(frame, VasaFrame) and frame.shape == "esxi8"
    first, cont = rows(frame.frame)
    assert (first["kind"], first["fault"], first["opseq"]) == ("failure", "TIMEOUT", 1201)
    assert (cont["kind"], cont["line"], cont["level"]) == ("busy", 2, "error")
    assert cont["text"] == ESXI8.splitlines()[1]  # the line itself
    assert frame.frame["host"].null_count() == 2  # no host known for a loose file


@pytest.mark.parametrize(
    ("message", "kind", "fault"),
    [
        ("VasaOp::BindVirtualVolumeInt [#7]: bindVirtualVolume returned PROVIDER_BUSY, retry 2/5",
         "bind-retry", "PROVIDER_BUSY"),
        ("VasaOp::X [#8]: provider replied VasaProviderBusy", "busy", None),
        ("VasaSession::Send: VP pure-ct0 returned PROVIDER_BUSY", "busy", "PROVIDER_BUSY"),
        ("VasaSession::ReadResponse: TimedOut waiting for VP pure-ct0", "timeout", None),
        ("VasaSession::Connect: TRANSPORT_FAULT talking to VP pure-ct0", "transport", "TRANSPORT_FAULT"),
        ("VasaSession::Connect: connection refused by https://10.0.0.1:8084/vasa", "transport", None),
        ("VasaSession::GetEndPoint: failed to get endpoint, err=SSL Exception", "ssl", None),
        ("VasaSession::Connect: certificate verify failed for VP pure-ct0", "ssl", None),
        ("VasaOp::Y [#9]: ===> FINAL FAILURE deleteVirtualVolume, error (RESOURCE_BUSY / in use)", "failure",
         "RESOURCE_BUSY"),
        ("GetFreeConn: no free connection for VP pure-ct1", "no-free-conn", None),
    ],
)  # fmt: skip
def test_classification(message: str, kind: str, fault: str | None) -> None:
    frame, _, _ = read(f"2024-03-14T10:02:11.418Z warning vvold[1] [Originator@6876 sub=Default] {message}\n")
    (row,) = rows(frame)
    assert (row["kind"], row["fault"]) == (kind, fault)


def test_uninteresting_lines_are_dropped() -> None:
    text = (
        "2024-03-14T10:02:11.418Z info vvold[1] [Originator@6876 sub=Default] "
        "SI::QueryVirtualVolumeInt Empty response\n"
        "2024-03-14T10:02:11.418Z verbose vvold[1] [Originator@6876 sub=VVolUpdate]\n--> refreshed\n"
    )
    frame, _, warnings = read(text)
    assert frame.height == 0 and warnings == []


def test_section_header_gives_identity_and_service_start() -> None:
    frame, identities, _ = read(SECTION + KB318662 + SECTION)
    assert identities == [
        HostIdentity(host="esx01", esxi_version="7.0.3", build="20328353", citation=identities[0].citation)
    ]  # once per (version, build), not per restart
    assert identities[0].citation is not None and identities[0].citation.line == 1
    starts = frame.filter(pl.col("kind") == "service-start")
    assert starts["line"].to_list() == [1, 8]


def test_rotated_gzip_is_read_and_truncated_gzip_warns() -> None:
    body = (SECTION + KB318662 * 200).encode()
    packed = gzip.compress(body)
    frame, _, warnings = read(packed, name="var/run/log/vvold.3.gz")
    assert frame.height == 1 + 3 * 200 and warnings == []
    assert frame["line"].max() == body.count(b"\n")
    cut, _, warnings = read(packed[: len(packed) // 2], name="vvold.4.gz")
    assert 0 < cut.height < frame.height
    assert [w.line for w in warnings] == [None]  # one warning for the file: the gzip is truncated
    assert cut.drop("file").equals(frame.head(cut.height).drop("file"))  # readable part right, lines too


def test_crlf_line_endings() -> None:
    frame, _, _ = read(KB318662.replace("\n", "\r\n"))
    assert frame["kind"].to_list() == ["no-free-conn", "success", "failure"]
    assert not any(t.endswith("\r") for t in frame["text"])
    assert frame["line"].to_list() == [2, 4, 6]


def test_grep_r_excerpt_with_paths_and_numbers() -> None:
    bare = KB412434.replace("25331:", "").splitlines()
    excerpt = f"var/run/log/vvold.log:10:{bare[0]}\nvar/run/log/vvold.log:{bare[1]}\n"
    frame, _, _ = read(excerpt, name="esx01-grep.txt")
    assert frame["kind"].to_list() == ["setcontext-failure", "setcontext-failure"]
    assert frame["ts"].to_list() == [
        datetime(2025, 8, 8, 12, 17, 14, 610000, tzinfo=UTC),
        datetime(2025, 8, 8, 17, 37, 7, 849000, tzinfo=UTC),
    ]
    assert frame["pid"].to_list() == [2255518, 2317367]


@pytest.mark.parametrize(
    "data",
    [b"", b"\n\n\n", bytes(range(256)) * 50, b"\x00\xff\xfe" * 10000, b"just some text\nno times\n"],
    ids=["empty", "blank", "bytes", "junk", "text"],
)
def test_damaged_or_foreign_input_never_raises(data: bytes) -> None:
    frame, identities, _ = read(data)
    assert frame.height == 0 and identities == []


def test_unknown_text_with_keywords_but_no_timestamps_is_skipped_with_a_warning() -> None:
    frame, _, warnings = read("no free connections today\nPROVIDER_BUSY somewhere\n")
    assert frame.height == 0
    assert len(warnings) == 1 and "no timestamped" in warnings[0].message


def test_legacy_shape_is_reported_once_per_file() -> None:
    legacy = "[2011-04-01 15:14:34.203 F5A5AB90 info 'vm:/vmfs/x.vmx' opID=1] PROVIDER_BUSY\n" * 1000
    frame, _, warnings = read(legacy)
    assert frame.height == 0
    assert [w.line for w in warnings if "pre-6.5" in w.message] == [1]


def test_ten_megabyte_line_is_cut_not_loaded() -> None:
    big = "2024-03-14T10:02:11.418Z warning vvold[1] [Originator@6876 sub=Default] GetFreeConn: No free " + (
        "x" * (10 * 1024 * 1024)
    )
    frame, _, warnings = read(big + "\n" + KB318662)
    assert frame["kind"].to_list() == ["no-free-conn", "no-free-conn", "success", "failure"]
    assert frame["line"].to_list() == [1, 3, 5, 7]
    assert len(frame["text"][0]) <= 400
    assert [w.line for w in warnings] == [1] and "longer than" in warnings[0].message


@pytest.mark.parametrize("before", [b"", b"no time on this line\n"])
def test_over_long_line_cut_by_the_stream_is_reported_at_its_own_line(before: bytes) -> None:
    """A line longer than a chunk is cut while the stream assembles it, before any parse; its
    warning must still name its line, also when no timestamped line has come yet (those lines are
    held back until one does)."""
    long_line = b"x" * (vvold.MAX_LINE_BYTES + 3 * 1024 * 1024) + b"\n"  # outgrows the stream
    data = before + long_line + KB318662.encode()
    said: list[tuple[str, int | None]] = []
    stream = VvoldStream("vvold.log", "esx01", warn=lambda message, line: said.append((message, line)))
    piece = 1024 * 1024
    chunks = [data[i : i + piece] for i in range(0, len(data), piece)]
    frames = [f.frame for f in stream.feed_all(chunks, parallel=False)]
    long_at = before.count(b"\n") + 1
    assert [line for message, line in said if "longer than" in message] == [long_at]
    frame = pl.concat(frames)
    assert frame["line"].to_list()[:2] == [long_at + 2, long_at + 4]  # lines after it keep their numbers
    assert stream.lines_read == data.count(b"\n")


def test_stream_fed_in_tiny_pieces_equals_whole_file() -> None:
    data = (PURE + SECTION + KB318662 + ESXI8 + KB412434).encode()
    whole, _, _ = read(data)
    stream = VvoldStream("vvold.log", "esx01")
    frames = [stream.feed(data[i : i + 7]) for i in range(0, len(data), 7)]
    frames.append(stream.flush())
    pieces = pl.concat([f.frame for f in frames if f is not None])
    assert pieces.equals(whole)
    assert stream.lines_read == data.count(b"\n")
    assert [i.esxi_version for i in stream.identities] == ["7.0.3"]


def test_live_tail_keeps_continuation_state_between_feeds() -> None:
    stream = VvoldStream("live", None)
    assert stream.feed(b"2024-03-14T10:02:11.418Z warning vvold[7] [Originator@6876 sub=Default]\n") is None
    frame = stream.feed(
        b"--> VasaSession::GetFreeConn: No free connections to VP a (url: https://a) [#outsta"
    )
    assert frame is None  # the line is not complete yet
    frame = stream.feed(b"nding 5/5]\n")
    assert frame is not None
    (row,) = rows(frame.frame)
    assert (row["line"], row["pid"], row["outstanding"], row["level"]) == (2, 7, 5, "warning")


def test_parallel_workers_give_the_same_frames(monkeypatch: pytest.MonkeyPatch) -> None:
    """From the second block on the parse is shared with a pool thread; results must not change."""
    data = ((SECTION + KB318662 + PURE[PURE.index("2019") :]) * 400).encode()
    size = 16 * 1024

    def chunks() -> list[bytes]:
        return [data[i : i + size] for i in range(0, len(data), size)]

    serial = pl.concat([f.frame for f in VvoldStream("f", "h").feed_all(chunks(), parallel=False)])
    parallel = pl.concat([f.frame for f in VvoldStream("f", "h").feed_all(chunks(), parallel=True)])
    assert parallel.equals(serial)
    assert serial.height == 400 * 6


@pytest.mark.parametrize(
    ("name", "head", "minimum", "maximum"),
    [
        ("vvold.log", b"", 50, 100),
        ("vvold.3", b"", 50, 100),
        ("renamed.txt", PURE.encode(), 60, 100),
        ("esx01-vvold-grep.txt", KB412434.replace("25331:", "vvold.log:25331:").encode(), 50, 100),
        ("hostd.log", b"2023-12-05T14:31:48.557Z In(166) Hostd[1050748]: hello", 0, 29),
        ("notes.txt", b"hello world", 0, 0),
    ],
)
def test_sniff(name: str, head: bytes, minimum: int, maximum: int) -> None:
    assert minimum <= VvoldReader().sniff(name, head) <= maximum


def test_reader_on_a_real_file(tmp_path) -> None:
    path = tmp_path / "vvold.log"
    path.write_bytes((KB318662 * 3).encode())
    ef = EvidenceFile(display=str(path), name="vvold.log", opener=lambda: path.open("rb"))
    frames = [r for r in VvoldReader().read(ef) if isinstance(r, VasaFrame)]
    assert sum(f.frame.height for f in frames) == 9
    assert frames[0].frame["file"][0] == str(path)


def test_citation_is_the_line_itself_without_context_blob_or_cr() -> None:
    """An admin greps for the cited text: it must be the line as written, less a Windows line
    ending and the ESXi 8 base64 backtrace (noise; dropped where a row becomes a Citation)."""
    line = (
        "2025-08-08T12:20:01.100Z Er(163) VVold[2255518]: [Originator@6876 sub=Default] "
        "VasaSession::GetFreeConn: No free connections to VP pure-ct0"
    )
    blob = " [context]zKq7AVICAgAAAP8AAAAAAAAA==[/context]"
    frame, _, _ = read(line + blob + "\r\n" + line + "\r\n")
    assert frame["text"].to_list() == [line + blob, line]
    assert frame["kind"].to_list() == ["no-free-conn", "no-free-conn"]
    assert [Citation("vvold.log", 1, t).text for t in frame["text"]] == [line, line]


def test_odd_issuing_line_takes_its_fields_after_the_arrow_even_after_non_ascii_text() -> None:
    """An Issuing line the strict shape does not fit (no ``/max`` here) is read field by field
    from its ``===>`` on; text before it (a decoy ``to VP``, a non-ASCII character that makes
    byte and character offsets differ) must not shift or steal a field."""
    line = "--> VasaOp::Dé ' to VP decoy [#7]: ===> Issuing 'getEvents' to VP pure-ct0 (#outstanding 2)"
    frame, _, _ = read(
        "2025-03-01T00:00:03.000Z info vvold[2099041] [Originator@6876 sub=Default]\n" + line + "\n"
    )
    (row,) = rows(frame)
    assert (row["kind"], row["op"], row["opseq"], row["vp"], row["outstanding"]) == (
        "issue",
        "getEvents",
        7,
        "pure-ct0",
        2,
    )


@pytest.mark.parametrize(("lines", "rows"), [(7, 1 << 18), (1 << 20, 3), (5, 2)])
def test_bounded_passes_give_the_same_frames(monkeypatch: pytest.MonkeyPatch, lines: int, rows: int) -> None:
    """A block with more lines or kept rows than one pass takes is parsed in several passes
    (memory bound, issue #17); the rows, their lines, headers and times must not change."""
    from vvolguard.evidence import vvold_block

    data = ((PURE + SECTION + KB318662 + ESXI8 + KB412434) * 30).encode()
    whole, _, _ = read(data)
    monkeypatch.setattr(vvold_block, "LINES_PER_PASS", lines)
    monkeypatch.setattr(vvold_block, "ROWS_PER_PASS", rows)
    ef = from_bytes("vvold.log", data, host="esx01")
    records = list(VvoldReader().read(ef))
    frames = [r.frame for r in records if isinstance(r, VasaFrame)]
    assert len(frames) > 1 if rows < 100 else True
    assert max(f.height for f in frames) <= max(rows, 1) or rows >= 100
    assert pl.concat(frames).equals(whole)
    (span,) = [r for r in records if isinstance(r, EvidenceSpan)]
    assert span.lines == 300  # 10 timestamped lines per repetition


def test_one_span_per_file_with_first_and_last_time_and_timed_lines() -> None:
    data = (PURE + KB318662 + "\n\nno time here\n").encode()
    records = list(VvoldReader().read(from_bytes("vvold.log", data, host="esx01")))
    (span,) = [r for r in records if isinstance(r, EvidenceSpan)]
    assert (span.file, span.host, span.kind) == ("vvold.log", "esx01", "vvold-log")
    assert span.start == datetime(2019, 5, 16, 23, 48, 21, 212000, tzinfo=UTC)
    assert span.end == datetime(2024, 3, 14, 10, 2, 42, 3000, tzinfo=UTC)
    assert span.lines == 5  # timestamped lines: 2 of PURE, 3 of KB318662
    assert records[-1] is span
    none = list(VvoldReader().read(from_bytes("vvold.log", b"no time\n")))
    assert not [r for r in none if isinstance(r, EvidenceSpan)]
