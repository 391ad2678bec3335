"""The vectorised parse of one block of vvold.log lines: the expensive, stateless half of the
vvold reader (:mod:`vvolguard.evidence.vvold` holds the stream state and the reader).

A block is complete lines plus the little context they need (how many lines came before, the
last timestamped line before them), so blocks can be parsed in any order, on any thread:

1. the block becomes one string column (``read_csv`` with an impossible separator is the
   fastest line splitter polars has, and keeps empty lines as rows);
2. one combined regex keeps candidate lines; a second marks timestamped "header" lines;
3. a forward fill gives every ``-->`` continuation the index of its header, so the header's
   ts/level/pid apply to the text on the continuation line (where 6.7/7.0 vvold puts it);
4. only the kept rows (and their headers) are parsed, classified and turned into fields, by
   the cheapest route that is exact for the common spelling, with tolerant fallbacks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

import polars as pl

from vvolguard.evidence import logline as ll
from vvolguard.records import MAX_CITED_TEXT, VASA_SCHEMA, VasaEventKind, VasaFrame

K = VasaEventKind

#: A line longer than this is cut (its first :data:`LONG_LINE_KEEP` bytes are parsed, with a
#: warning): memory must stay bounded even for a multi-gigabyte file with no newline in it.
#: The stream cuts a line that outgrows a block; :func:`parse_block` one that fits in a block.
MAX_LINE_BYTES = 4 * 1024 * 1024
LONG_LINE_KEEP = 64 * 1024


def long_line_message() -> str:
    return (
        f"line longer than {MAX_LINE_BYTES // (1024 * 1024)} MiB; only its first "
        f"{LONG_LINE_KEEP // 1024} KiB were read"
    )


#: Fast paths for the two shapes that make up most of a busy log, in two tiers. First one
#: strict, anchored ``extract_groups`` on the line after its first ``[#``: strict and anchored
#: so the regex crate can use its one-pass engine, which is about twice as fast per row as the
#: same fields taken by separate extracts. Rows that do not fit exactly get the second tier: one
#: literal-led extract per field, tolerant of missing parts. Misses of both go to the generic
#: classifier. A header (time, level, ``app[pid]``, ``[meta]``) holds no ``[#``, so the first
#: ``[#`` of the line is the op sequence number. Digits and word characters are ASCII here
#: (about 20 % faster than Unicode classes); an operation name or number spelled otherwise
#: misses this tier and is read by the tolerant one, with the same result.
#: ``VasaOp::X [#n]: ===> Issuing 'op' to VP vp (#outstanding a/b) [session state: S]``
ISSUE_STRICT = (
    r"^(?P<opseq>[0-9]+)\]: ===> Issuing '(?P<op>[0-9A-Za-z_]+)' to VP (?P<vp>[^\s(),\[\]]+) "
    r"\(#outstanding (?P<outstanding>[0-9]+)/(?P<outstanding_max>[0-9]+)\)"
)
OPSEQ = r"\[#(\d+)\]"
ISSUE_FIELDS = {
    "opseq": OPSEQ,
    "op": r"===> Issuing '(\w+)'",
    "vp": r"' to VP ([^\s(),\[\]]+)",
    "outstanding": r"#outstanding (\d+)",
    "outstanding_max": r"#outstanding \d+/(\d+)",
}
#: ``VasaOp::X [#n]: ===> FINAL SUCCESS op VP (vp) Container (uuid) timeElapsed=N msecs (#outstanding n)``
SUCCESS_STRICT = (
    r"^(?P<opseq>[0-9]+)\]: ===> FINAL SUCCESS (?P<op>[0-9A-Za-z_]+) VP \((?P<vp>[^)\s]*)\) "
    r"Container \((?P<container>[^)\s]*)\) "
    r"timeElapsed=(?P<elapsed_ms>[0-9]+) msecs \(#outstanding (?P<outstanding>[0-9]+)\)"
)
SUCCESS_FIELDS = {
    "opseq": OPSEQ,
    "op": r"===> FINAL SUCCESS (\w+)",
    "vp": r" VP \(([^)\s]*)\)",
    "container": r"Container \(([^)\s]*)\)",
    "elapsed_ms": r"timeElapsed=(\d+)",
    "outstanding": r"#outstanding (\d+)",
}
FAST_PATHS = (
    ("===> Issuing '", ISSUE_STRICT, ISSUE_FIELDS, K.ISSUE),
    ("===> FINAL SUCCESS ", SUCCESS_STRICT, SUCCESS_FIELDS, K.SUCCESS),
)


def spellings(phrase: str) -> tuple[str, ...]:
    """The spellings of a phrase that both the prefilter and the classifier accept: as written,
    lower case, UPPER CASE, Capitalised and Title Case. Case variants are spelled out instead of
    ``(?i)`` because a case-insensitive alternation defeats the regex crate's literal prefilter,
    which is what keeps the reader near grep speed; any other mixture of cases is missed by
    both, never by one of them alone."""
    out: list[str] = []
    for variant in (phrase, phrase.lower(), phrase.upper(), phrase.capitalize(), phrase.title()):
        if variant not in out:
            out.append(variant)
    return tuple(out)


@dataclass(frozen=True, slots=True)
class KindRule:
    """One kind of vvold line, with the lines it is known by (as lnav's formats carry samples).

    ``any_of``: regexes (mostly literals) of which a line must contain one; their union *is*
    the prefilter (:data:`PREFILTER`), so no rule can classify a line the prefilter dropped.
    ``also``: further regexes the message must match; they only narrow the rule.
    ``samples``: messages or whole lines that must reach this kind through the real reader
    (tests/evidence/test_vvold_rules.py); the marking says where each comes from.
    """

    kind: VasaEventKind
    any_of: tuple[str, ...]
    also: tuple[str, ...] = ()
    samples: tuple[str, ...] = ()

    @property
    def patterns(self) -> tuple[str, ...]:
        return ("|".join(f"(?:{p})" for p in self.any_of), *self.also)


#: The classifier: the first rule whose patterns all match names the kind, so order matters
#: (the most specific shape wins). The level is never used: a ``FINAL SUCCESS`` can sit under
#: an ``error`` header (docs/evidence-formats.md §1.2). ``TRANSPORT_FAULT (Timeout /
#: SSL_connect() failed ...)`` on a DoSetContext line is a setcontext-failure with fault and
#: detail kept, so the analysis can tell overload from trust.
RULES: tuple[KindRule, ...] = (
    KindRule(
        K.SERVICE_START,
        ("Section for VMware ESX",),
        also=("Section for VMware ESXi?,",),
        samples=(
            # [VERBATIM] 7.0.3 header (dissect.target tests, §1.1)
            "2022-11-09T09:15:36.354Z - last log rotation time, 2022-11-09T09:15:36.354Z - time the service "
            "was last started 2022-11-09T09:15:36.339Z, Section for VMware ESX, pid=2099676, version=7.0.3, "
            "build=20328353, option=Release",
            # [VERBATIM] 6.7 header message (§1.1), framed with a time
            "2019-05-16T23:00:00.000Z - time the service was last started, Section for VMware ESX, "
            "pid=2098599, version=6.7.0, build=14320388, option=Release",
        ),
    ),
    KindRule(
        K.ISSUE,
        ("Issuing '",),
        samples=(
            # [VERBATIM] Pure Storage KB (§1.2)
            "--> VasaOp::QueryVirtualVolumeInt [#89844]: ===> Issuing 'queryVirtualVolume' to VP "
            "sn1-m20-c12-25-ct1 (#outstanding 0/5) [session state: Connected]",
        ),
    ),
    KindRule(
        K.SUCCESS,
        ("FINAL SUCCESS",),
        samples=(
            # [VERBATIM] Pure Storage KB (§1.2)
            "--> VasaOp::ThrowFromSessionError [#89844]: ===> FINAL SUCCESS queryVirtualVolume VP "
            "(sn1-m20-c12-25-ct1) Container (b487b73a-6128-3ad2-873b-8ddb1ba45d4f) timeElapsed=154 msecs "
            "(#outstanding 0)",
        ),
    ),
    KindRule(
        K.FAILURE,
        ("FINAL FAILURE",),
        samples=(
            # [VERBATIM fragment] aakittel/ESXinfo pattern list (§1.6), completed
            "VasaOp::DeleteVirtualVolumeInt [#7]: ===> FINAL FAILURE deleteVirtualVolume, error "
            "(RESOURCE_BUSY / in use)",
            # [RECONSTRUCTED] KB 318662 candidate (§1.7)
            "--> VasaOp::ThrowFromSessionError [#90215]: ===> FINAL FAILURE createVirtualVolume, error "
            "(TIMEOUT / Operation timed out) VP (pure-ct0) Container (b487b73a-6128-3ad2-873b-8ddb1ba45d4f) "
            "timeElapsed=60012 msecs (#outstanding 5)",
        ),
    ),
    KindRule(
        K.SETCONTEXT_FAILURE,
        ("DoSetContext",),
        also=("(?i)failed",),
        samples=(
            # [VERBATIM] KB 412434 (§1.3), the second with its grep -n prefix
            "2025-08-08T12:17:14.610Z Er(163) VVold[2255518]: [Originator@6876 sub=Default OpId=Session] "
            "VasaSession::DoSetContext: setContext for VP XXX (url: https://XXX:8443/vasa/services/"
            "vasaService?version=4) failed [connectionState: TransportError]: TRANSPORT_FAULT (Timeout / "
            "SSL_connect() failed in tcp_connect())",
            "25331:2025-08-08T17:37:07.849Z Er(163) VVold[2317367]: [Originator@6876 sub=Default "
            "OpId=Session] VasaSession::DoSetContext: setContext for VP XXX (url: "
            "https://XXXX/axis2/services/vasa2) failed [connectionState: Connected]: STORAGE_FAULT "
            "(ADB conversion error. Details: Invalid Fault Id / )",
        ),
    ),
    KindRule(
        K.NO_FREE_CONN,
        ("GetFreeConn", *spellings("no free conn")),
        samples=(
            # [RECONSTRUCTED] KB 318662 candidate (§1.7)
            "--> VasaSession::GetFreeConn: No free connections to VP pure-ct0 "
            "(url: https://10.1.1.10:8084/vasa) [#outstanding 5/5] - waiting",
            "VasaSession::Wait: NO FREE CONNECTIONS to VP pure-ct1",
        ),
    ),
    KindRule(
        K.BIND_RETRY,
        ("bindVirtualVolume",),
        also=("(?i)retr(?:y|ies|ying)",),
        samples=(
            # [RECONSTRUCTED] the simulator's retry line (sim/evidence/vvold.py msg_retry)
            "VasaOp::BindVirtualVolumeInt [#7]: bindVirtualVolume to VP pure-ct0 failed with transient error "
            "PROVIDER_BUSY, retrying in 500 msecs (attempt 1/5)",
        ),
    ),
    KindRule(
        K.TRANSPORT,
        ("TRANSPORT_FAULT",),
        samples=("VasaSession::Connect: TRANSPORT_FAULT talking to VP pure-ct0",),
    ),
    KindRule(
        K.SSL,
        (
            "SSL Exception",
            "SSL_connect",
            "SSL error",
            *spellings("certificate verify"),
            *spellings("handshake"),
        ),
        samples=(
            # [VERBATIM] aakittel/ESXinfo (§1.6, §1.12)
            "VasaSession::GetEndPoint: failed to get endpoint, err=SSL Exception",
            "VasaSession::Connect: certificate verify failed for VP pure-ct0",
            "VasaSession::Connect: TLS Handshake failed with VP pure-ct0",
            "VasaSession::Connect: CERTIFICATE VERIFY FAILED",
        ),
    ),
    KindRule(
        K.TRANSPORT,
        (*spellings("connection refused"), "GetEndPoint: failed"),
        samples=(
            "VasaSession::Connect: connection refused by https://10.0.0.1:8084/vasa",
            "VasaSession::Connect: CONNECTION REFUSED",
        ),
    ),
    KindRule(
        K.BUSY,
        # plain literals for the prefilter (a word boundary there slows every line down);
        # the exact shapes in ``also``
        ("BUSY", "ProviderBusy"),
        also=(r"PROVIDER_BUSY|VasaProviderBusy|ProviderBusy|[A-Z]_?BUSY\b",),
        samples=(
            "VasaSession::Send: VP pure-ct0 returned PROVIDER_BUSY",
            "VasaOp::X [#8]: provider replied VasaProviderBusy",
            "2025-08-08T12:20:01.100Z Er(163)+ VVold[2255518]: --> continuation text PROVIDER_BUSY",
        ),
    ),
    KindRule(
        K.TIMEOUT,
        ("TimedOut", "TIMEOUT", *spellings("timed out")),
        samples=(
            "VasaSession::ReadResponse: TimedOut waiting for VP pure-ct0",
            "VasaSession::ReadResponse: Request Timed Out for VP pure-ct0",
        ),
    ),
)

#: Everything the classifier can use, derived from :data:`RULES`. Lines matching none of these
#: are dropped before any parsing, which is what keeps the reader near grep speed.
PREFILTER = "|".join(dict.fromkeys(p for rule in RULES for p in rule.any_of))

#: (patterns, kind) per rule, as :func:`classify` applies them.
KIND_RULES: tuple[tuple[tuple[str, ...], VasaEventKind], ...] = tuple((r.patterns, r.kind) for r in RULES)


def classify(msgs: pl.Series) -> pl.Series:
    """The kind of each message (:data:`KIND_RULES`; :attr:`VasaEventKind.OTHER` if none).

    A rule is tried only on the rows no earlier rule took, so a message costs the rules up to
    its own instead of all of them (a polars ``when`` chain evaluates every branch on every row).
    """
    kinds = pl.Series("kind", [K.OTHER.value], dtype=pl.String).extend_constant(K.OTHER.value, len(msgs) - 1)
    todo = pl.int_range(0, len(msgs), dtype=pl.UInt32, eager=True)
    left = msgs
    for patterns, kind in KIND_RULES:
        hit = pl.select(pl.all_horizontal(pl.lit(left).str.contains(p) for p in patterns)).to_series()
        hit = hit.fill_null(False)
        if hit.any():
            kinds = kinds.scatter(todo.filter(hit), kind.value)
            todo, left = todo.filter(~hit), left.filter(~hit)
            if len(todo) == 0:
                break
    return kinds


def first_match(frame: pl.DataFrame, exprs: Sequence[pl.Expr]) -> pl.Series:
    """``pl.coalesce(*exprs)`` over ``frame``, each fallback evaluated only on the rows still
    null: the later extracts are the slow, tolerant ones, and few rows need them."""
    out = frame.select(exprs[0]).to_series()
    for expr in exprs[1:]:
        missing = out.is_null()
        if not missing.any():
            break
        out = out.scatter(missing.arg_true(), frame.filter(missing).select(expr).to_series())
    return out


#: ``error (CODE / detail)`` of a FINAL FAILURE: the detail ends where the next field starts.
DETAIL_AFTER_ERROR = r"error \([A-Z][A-Z_]+\s*/?\s*(.*?)\)(?: VP \(| Container \(| timeElapsed|\s*$)"

_OP_GENERIC = (
    r"\b((?:create|bind|unbind|delete|clone|fastClone|snapshot|revert|resize|query|update|prepare|set|get)"
    r"[A-Z]\w*)\b"
)


def generic_fields(rows: pl.DataFrame) -> pl.DataFrame:
    """Kind and fields of rows no fast path took, from their ``msg``: tolerant of every spelling
    seen, each regex led by a literal so the regex crate skips fast."""
    msg = pl.col("msg")
    rows = rows.with_columns(kind=classify(rows.get_column("msg")))
    keyed = rows.select("msg", "kind")
    op = first_match(
        keyed,
        [
            msg.str.extract(r"Issuing '(\w+)'", 1),
            msg.str.extract(r"FINAL (?:SUCCESS|FAILURE) (\w+)", 1),
            pl.when(pl.col("kind") == K.SETCONTEXT_FAILURE.value).then(pl.lit("setContext")),
            msg.str.extract(_OP_GENERIC, 1),
        ],
    )
    vp = first_match(
        keyed, [msg.str.extract(r"\bVP \(([^)\s]+)\)", 1), msg.str.extract(r"\bVP ([^\s(),\[\]]+)", 1)]
    )
    fault = first_match(
        keyed,
        [
            msg.str.extract(r"error \(([A-Z][A-Z_]+)", 1),
            msg.str.extract(r"\]: ([A-Z][A-Z_]+) \(", 1),
            msg.str.extract(r"\b([A-Z]{2,}(?:_[A-Z]+)+|TIMEOUT)\b", 1),
        ],
    )
    detail = first_match(
        keyed,
        [
            msg.str.extract(DETAIL_AFTER_ERROR, 1),
            msg.str.extract(r"\]: [A-Z][A-Z_]+ \((.*)\)\s*$", 1),
        ],
    )
    out = msg.str.extract_groups(r"#outstanding (\d+)(?:/(\d+))?")
    return rows.with_columns(
        op.alias("op"),
        msg.str.extract(OPSEQ, 1).cast(pl.Int64, strict=False).alias("opseq"),
        vp.alias("vp"),
        msg.str.extract(r"Container \(([^)\s]+)\)", 1).alias("container"),
        msg.str.extract(r"timeElapsed=(\d+)", 1).cast(pl.Int64, strict=False).alias("elapsed_ms"),
        out.struct.field("1").cast(pl.Int64, strict=False).alias("outstanding"),
        out.struct.field("2").cast(pl.Int64, strict=False).alias("outstanding_max"),
        fault.alias("fault"),
        detail.str.strip_chars().alias("detail"),
        msg.str.extract(r"(?:url: |\b)(https?://[^\s)\]]+)", 1).alias("url"),
    )


def split_lines(data: bytes, max_rows: int | None = None) -> pl.Series:
    """``data`` as a String series: one row per newline-terminated line, plus a last row for an
    unterminated tail. Empty lines are kept (as nulls); the CR of a CRLF ending is dropped.
    With ``max_rows``, at most that many rows (the first ones): the memory of a split grows with
    the number of lines (16 MiB of blank lines are 16 million rows, ~340 MiB)."""
    if max_rows is not None and len(data) > max_rows:
        return _split_at_most(data, max_rows)
    if b"\x01" not in data:
        # Strict UTF-8 first: about 20 % cheaper than the lossy decoding, and a log is nearly
        # always valid; a block that is not is read again, lossily.
        for encoding in ("utf8", "utf8-lossy"):
            try:
                lines = _csv_lines(data, encoding)
            except pl.exceptions.ComputeError:  # invalid UTF-8 (strict), or a reader limit
                continue
            except Exception:  # polars' CSV reader is an optimisation; the slow path always works
                break
            if _one_row_per_line(lines, data):
                return lines
            break
    text = data.decode("utf-8", "replace").split("\n")
    if text[-1] == "":
        text.pop()  # after the final newline
    return pl.Series("l", [t.removesuffix("\r") for t in text], dtype=pl.String)


def _csv_lines(data: bytes, encoding: str, max_rows: int | None = None) -> pl.Series:
    """Lines by polars' CSV reader with a separator that never occurs (the caller checked), one
    column and no quoting: native speed. Raises ComputeError on invalid UTF-8 when strict."""
    frame = pl.read_csv(
        data,  # bytes, not a file object: polars then never calls back into Python
        has_header=False,
        separator="\x01",
        quote_char=None,
        new_columns=["l"],
        schema={"l": pl.String},
        encoding=encoding,
        truncate_ragged_lines=True,
        raise_if_empty=False,
        n_rows=max_rows,
    )
    return frame.get_column("l")


def _split_at_most(data: bytes, max_rows: int) -> pl.Series:
    """:func:`split_lines` of the first ``max_rows`` lines: the CSV reader stops there by
    itself; its rows are checked against the newlines only when it did stop (dense content)."""
    if b"\x01" not in data:
        for encoding in ("utf8", "utf8-lossy"):  # strict first: cheaper (see split_lines)
            try:
                lines = _csv_lines(data, encoding, max_rows)
            except pl.exceptions.ComputeError:  # invalid UTF-8 (strict), or a reader limit
                continue
            except Exception:  # polars' CSV reader is an optimisation; the slow path always works
                break
            if lines.len() < max_rows:
                if _one_row_per_line(lines, data):
                    return lines
            elif _one_row_per_line(lines, data[: _offset_after_lines(data, 0, max_rows)]):
                return lines
            break
    if data.count(b"\n") > max_rows:
        data = data[: _offset_after_lines(data, 0, max_rows)]
    return split_lines(data)


def _one_row_per_line(lines: pl.Series, data: bytes) -> bool:
    """Did the CSV reader give exactly one row per line? Checked by accounting for every byte
    (the rows' bytes plus one newline between rows), which costs a sum over the row lengths
    instead of a count of the newlines in the block; only when that does not add up (a CR, or
    bytes replaced as invalid UTF-8, change the lengths) are the newlines counted."""
    rows = lines.len()
    newlines = rows if data.endswith(b"\n") else rows - 1
    if newlines < 0:
        return not data
    if b"\r" not in data and (lines.str.len_bytes().sum() or 0) + newlines == len(data):
        return True
    return data.count(b"\n") == newlines


@dataclass(frozen=True, slots=True)
class Block:
    """Lines plus the little context they need, so blocks can be parsed independently.

    ``data`` is a chunk as it was read, uncopied: the stream cuts the input into lines only
    logically. The block's own lines are ``data[start:stop]`` (``stop`` is just after a newline);
    the bytes before ``start`` finish a line that began in an earlier chunk, which is passed
    whole as ``head``, and the bytes after ``stop`` begin a line the next block finishes. Line
    numbers are counted from the block's first line (``head``'s, if any): the stream knows how
    many lines came before only once the earlier blocks are parsed, and adds them then.
    """

    data: bytes
    start: int  # 0, or just after a newline
    stop: int  # just after a newline, or ``start`` when the chunk holds no line of its own
    prev_header: str | None  # last timestamped line before this block
    head: bytes = b""  # complete lines before ``data[start:stop]``, newline-terminated
    #: (once-per-input key, line in this block, message) found while cutting
    notes: tuple[tuple[str, int, str], ...] = ()


@dataclass(slots=True)
class Parsed:
    """What one block gave: its frame, warnings to report once, and service-start headers.
    Line numbers are relative to the block (its first line is line 1)."""

    frame: VasaFrame | None
    lines: int = 0  # how many lines the block held
    #: (once-per-input key, line, message); the stream drops repeats of a key.
    notes: list[tuple[str, int | None, str]] = field(default_factory=list)
    sections: list[tuple[int, str]] = field(default_factory=list)
    #: The part of the block one pass did not take (see :data:`LINES_PER_PASS`), to be parsed
    #: next, before any later block.
    rest: Block | None = None
    #: Coverage, from the first and last timestamped lines of the block and how many there were.
    first_ts: datetime | None = None
    last_ts: datetime | None = None
    timed: int = 0
    last_header: str | None = None


#: One pass parses at most this many lines (so it keeps at most as many rows); the rest of the
#: block is the next pass. A 16 MiB block of a real log holds ~90 000-150 000 lines, so this
#: rarely cuts one; it bounds the memory of a pass whatever the content (16 MiB of blank lines
#: are 16 million rows, ~340 MiB split at once; 16 MiB of ``--> BUSY`` two million kept rows of
#: ~300 bytes each). :data:`ROWS_PER_PASS` is the same bound on kept rows, as a safety net.
LINES_PER_PASS = 250_000
ROWS_PER_PASS = 1 << 18


def _offset_after_lines(data: bytes, start: int, count: int) -> int:
    """The offset just after the ``count``-th newline from ``start`` (there must be that many):
    windows of 1 MiB counted at memchr speed, then a bisection inside the last window."""
    seen, pos = 0, start
    while True:
        end = min(pos + (1 << 20), len(data))
        found = data.count(b"\n", pos, end)
        if seen + found >= count:
            break
        if end >= len(data):  # fewer newlines than asked: everything
            return len(data)
        seen, pos = seen + found, end
    need, lo, hi = count - seen, pos, end  # newlines in [pos, lo) < need <= in [pos, hi)
    below = 0  # newlines in [pos, lo)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        found = data.count(b"\n", lo, mid)
        if below + found >= need:
            hi = mid
        else:
            lo, below = mid, below + found
    return hi


def block_lines(block: Block, limit: int | None = None) -> tuple[pl.Series, int | None]:
    """The block's lines, in order: ``head``'s, then those of ``data[start:stop]`` (as slices of
    the split chunk, so nothing is copied to cut them out); with ``limit``, only the first
    ``limit`` of ``data[start:stop]``, and the offset where the rest starts (None: no rest)."""
    own = pl.Series("l", [], dtype=pl.String)
    data, cut = block.data, None
    whole_lines = (block.start == 0 or data.find(b"\n") + 1 == block.start) and (
        block.stop == len(data) or data.rfind(b"\n") + 1 == block.stop
    )
    if block.stop > block.start and not whole_lines:
        # a later pass of a block cut by LINES_PER_PASS / ROWS_PER_PASS: split just its range (a
        # copy; only blocks of pathological content are cut)
        stop = block.stop
        if limit is not None and stop - block.start > limit:
            # scans only up to the limit-th newline (this pass's own bytes)
            end = _offset_after_lines(data, block.start, limit)
            if end < stop:
                stop = cut = end
        own = split_lines(bytes(memoryview(data)[block.start : stop]))
    elif block.stop > block.start:
        skip = 1 if block.start else 0
        max_rows = None if limit is None else skip + limit + 1
        split = split_lines(block.data, max_rows)
        if max_rows is not None and split.len() >= max_rows:  # more lines than one pass takes
            cut = _offset_after_lines(data, block.start, limit or 1)
            own = split.slice(skip, limit)
            if cut >= block.stop:
                cut = None
        else:
            keep = split.len() - skip - (1 if block.stop < len(block.data) else 0)
            own = split.slice(skip, max(keep, 0))
    if not block.head:
        return own, cut
    return pl.concat([split_lines(block.head), own], rechunk=False), cut


def parse_block(block: Block, display: str, host: str | None) -> Parsed:
    """Parse one block, or its first :data:`LINES_PER_PASS` lines / :data:`ROWS_PER_PASS` kept
    rows (``Parsed.rest`` is then the remainder); pure, so it may run on any thread. Raises
    only on internal bugs."""
    out, rest_at = _parse_pass(block, display, host)
    if isinstance(out, int):  # too many kept rows: cut the block after the out-th line
        own = out - block.head.count(b"\n")
        rest_at = _offset_after_lines(block.data, block.start, max(own, 1))
        out, _ = _parse_pass(replace(block, stop=rest_at), display, host)
        assert not isinstance(out, int)
    if rest_at is not None and rest_at < block.stop:
        out.rest = Block(
            data=block.data,
            start=rest_at,
            stop=block.stop,
            prev_header=out.last_header or block.prev_header,
        )
    return out


def _parse_pass(block: Block, display: str, host: str | None) -> tuple[Parsed | int, int | None]:
    """One pass over the first :data:`LINES_PER_PASS` lines of a block, and where the rest
    starts; an ``int`` instead of the result when it would keep more than
    :data:`ROWS_PER_PASS` rows: the number of lines to cut the block after."""
    lines, cut = block_lines(block, LINES_PER_PASS)
    return _parse_lines(block, lines, display, host), cut


def _parse_lines(block: Block, lines: pl.Series, display: str, host: str | None) -> Parsed | int:
    out = Parsed(None, lines=lines.len(), notes=list(block.notes))
    long = lines.str.len_bytes() > MAX_LINE_BYTES
    if long.any():
        out.notes.append(("long-line", int(long.arg_true()[0]) + 1, long_line_message()))
        # characters, not bytes: a byte cut could split a UTF-8 sequence (at most 4x the bytes)
        lines = pl.select(
            pl.when(long).then(lines.str.slice(0, LONG_LINE_KEEP)).otherwise(lines).alias("l")
        ).to_series()
    prefix = 0
    if block.prev_header is not None:
        lines = pl.concat([pl.Series("l", [block.prev_header], dtype=pl.String), lines], rechunk=False)
        prefix = 1
    df = pl.DataFrame({"l": lines}).with_row_index("i")
    marks = df.select(
        pl.col("l").str.contains(PREFILTER).fill_null(False).alias("cand"),
        pl.col("l").str.contains(ll.HEADER_START_RS).fill_null(False).alias("hdr"),
    )
    hdr = marks.get_column("hdr")
    offset = -prefix  # row i is line offset + i + 1 of the block
    if hdr.sum() * 2 < df.height:  # mostly non-ESXi lines: is it the pre-6.5 shape?
        legacy = df.get_column("l").str.contains(ll.LEGACY_PATTERN).fill_null(False).arg_true()
        if legacy.len():
            out.notes.append(("legacy", offset + int(legacy[0]) + 1, ll.LEGACY_WARNING))
    cand = marks.get_column("cand")
    if prefix:
        cand[0] = False
    _coverage(out, df.get_column("l"), hdr, prefix)
    kept = int(cand.sum())
    if kept > ROWS_PER_PASS and lines.len() > 1:
        # the line of the ROWS_PER_PASS-th kept row (row index minus the prefix row, 1-based)
        return int(cand.arg_true()[ROWS_PER_PASS - 1]) - prefix + 1
    if not kept:
        return out
    hidx = pl.select(
        pl.when(hdr).then(df.get_column("i")).otherwise(None).forward_fill().alias("h")
    ).get_column("h")
    sel = df.with_columns(h=hidx).filter(cand)
    if sel.get_column("h").null_count():
        # Continuations before the first header of the input (a grep excerpt or a rotated file
        # often starts mid-record) get the next header's time; no header at all: skipped.
        first = hdr.arg_true()
        if first.len() == 0:
            out.notes.append(
                (
                    "no-header",
                    1,
                    "no timestamped ESXi log lines found; lines without a time were skipped",
                )
            )
            return out
        sel = sel.with_columns(pl.col("h").fill_null(int(first[0])))
    headers = df.get_column("l").gather(sel.get_column("h"))
    cr = b"\r" in block.head or b"\r" in block.data
    frame = _build(sel, headers, cr, offset, display, host)
    if frame is not None:
        starts = frame.frame.filter(pl.col("kind") == K.SERVICE_START.value)
        out.sections.extend(starts.select("line", "text").iter_rows())
    out.frame = frame
    return out


def _coverage(out: Parsed, lines: pl.Series, hdr: pl.Series, prefix: int) -> None:
    """First and last timestamp of the block and how many timestamped lines it has, read from
    two lines: the header mask is already there, and a log is in time order."""
    where = hdr.arg_true()
    if prefix and where.len() and where[0] == 0:
        where = where.slice(1)
    out.timed = where.len()
    if not out.timed:
        return
    first, last = lines[int(where[0])], lines[int(where[-1])]
    out.last_header = last.rstrip("\r")
    out.first_ts = ll.parse_ts(ll.strip_grep_prefix(first))
    out.last_ts = ll.parse_ts(ll.strip_grep_prefix(last))


def _build(
    sel: pl.DataFrame, headers: pl.Series, cr: bool, offset: int, display: str, host: str | None
) -> VasaFrame | None:
    """Date, split and classify the kept rows, then extract fields by shape.

    Every step takes the cheapest route that is exact for the common spelling and checks that
    it was: header fields from a few low-cardinality tokens (:func:`_with_header_fields`);
    Issuing and FINAL SUCCESS lines (most of a busy log) by one strict regex each, on the line
    itself; everything else (failures, GetFreeConn, busy, setContext, TLS, and fast-path misses)
    by the generic, tolerant classifier and extractor, on the message. The message (the line
    without its header or ``-->``) is computed only for those rows: a citation quotes the line
    itself, as every other reader's does, so the polling rows never need it.

    The routes work on narrow frames (row index, line, header line) and give back only the
    fields they read; those are put back in line order by the row index and set beside the
    per-line columns, which never leave their order: the wide columns (the cited text above
    all) are neither filtered per route nor sorted back.
    """
    work = sel.with_columns(hl=headers, own=(pl.col("i") == pl.col("h")), orphan=(pl.col("h") > pl.col("i")))
    work = _with_header_fields(work)
    if work.height == 0:
        return None
    text = _citation_text(work.get_column("l"), cr=cr)
    fields = _route_fields(work.select("i", "l", "hl", "own", _fast_index(pl.col("l")).alias("fast")))
    frame = pl.concat([_line_columns(work, text, offset, display, host), fields], how="horizontal")
    if frame.get_column("kind").eq(K.SERVICE_START.value).any():
        # The 6.7/7.0 header has no ``app[pid]``: its pid is the ``pid=`` it announces, so a
        # restart (a new pid) shows in the ``pid`` column like every other line's.
        announced = pl.col("text").str.extract(ll.SECTION_PATTERN, 1).cast(pl.Int64, strict=False)
        frame = frame.with_columns(
            pid=pl.when(pl.col("kind") == K.SERVICE_START.value)
            .then(pl.coalesce(announced, pl.col("pid")))
            .otherwise(pl.col("pid"))
        )
    shape = "esxi8" if frame.get_column("esxi8").sum() * 2 > frame.height else "esxi7"
    return VasaFrame(frame=frame.select(list(VASA_SCHEMA)), shape=shape)


def _route_fields(narrow: pl.DataFrame) -> pl.DataFrame:
    """The kind and VASA fields of each row of ``narrow`` (columns ``i``, ``l``, ``hl``, ``own``,
    ``fast``), in its row order: each row by its fast path (:data:`FAST_PATHS`) when it fits
    one, else by the tolerant extracts, else by the generic classifier.

    The fast paths run in row order, each strict regex on its own rows only (the others are
    null to it, which the regex skips), so their fields, most of a block's, need no reordering.
    The few rows they miss are routed as a small frame, in row order, and scattered into their
    places, where every fast path's fields are null (a row it missed or never had).
    """
    fast = pl.col("fast")
    # the text after the first "[#", cut once for every path
    after = narrow.select(pl.when(fast.is_not_null()).then(_after_first(pl.col("l"), "[#"))).to_series()
    hits = narrow.select(
        pl.when(fast == index).then(pl.lit(after)).str.extract_groups(strict).alias(f"g{index}")
        for index, (_, strict, _, _) in enumerate(FAST_PATHS)
    )
    # a strict match sets every group, a miss none: a path's ``op`` says whether it took the row
    hit_masks = [
        hits.get_column(f"g{index}").struct.field("op").is_not_null() for index in range(len(FAST_PATHS))
    ]
    kind: pl.Expr = pl.lit(None, dtype=pl.String)
    for index, (_, _, _, path_kind) in enumerate(FAST_PATHS):
        kind = pl.when(pl.lit(hit_masks[index])).then(pl.lit(path_kind.value)).otherwise(kind)
    columns: list[pl.Expr] = [kind.alias("kind")]
    for name in _FIELD_NAMES[1:]:
        sources = [
            pl.col(f"g{index}").struct.field(name)
            for index, (_, _, patterns, _) in enumerate(FAST_PATHS)
            if name in patterns
        ]
        dtype = VASA_SCHEMA[name]
        columns.append(
            (pl.coalesce(sources) if sources else pl.lit(None, dtype=pl.String))
            .cast(dtype, strict=False)
            .alias(name)
        )
    routed = hits.select(columns)
    missed = ~pl.select(pl.any_horizontal(hit_masks)).to_series()
    if not missed.any():
        return routed
    others = _route_misses(narrow.filter(missed))
    where = missed.arg_true()
    return pl.DataFrame(
        [routed.get_column(name).scatter(where, others.get_column(name)) for name in routed.columns]
    )


def _route_misses(rows: pl.DataFrame) -> pl.DataFrame:
    """:func:`_route_fields` of the rows no fast path took: the tolerant extracts for a row
    that has a fast path's literal but not its strict shape, the generic classifier for the
    rest; the kind and fields in ``rows``' order."""
    parts: list[pl.DataFrame] = []
    rest = rows.filter(pl.col("fast").is_null())
    for index, (_, _, patterns, kind) in enumerate(FAST_PATHS):
        odd = rows.filter(pl.col("fast") == index)
        if odd.height == 0:
            continue
        odd = _with_messages(odd)
        msg = pl.col("msg")
        # the op's fields follow its "===> "; what precedes it may be anything
        tail = pl.concat_str(pl.lit("===> "), _after_first(msg, "===> "))
        odd = odd.with_columns(
            (msg if name == "opseq" else tail).str.extract(pattern, 1).alias(name)
            for name, pattern in patterns.items()
        )
        found = odd.get_column("op").is_not_null()
        rest = pl.concat([rest, odd.filter(~found).select(rest.columns)])
        parts.append(odd.filter(found).with_columns(kind=pl.lit(kind.value)))
    if rest.height:
        # The generic fields depend on the message alone, and a storm repeats the same few
        # messages (every "No free connections to VP x" line is the same text): read each once.
        rest = _with_messages(rest)
        fields = generic_fields(rest.select("msg").unique())
        parts.append(rest.join(fields, on="msg", how="left", nulls_equal=True))
    routed = pl.concat([_field_columns(part) for part in parts], how="vertical", rechunk=False)
    if not routed.get_column("i").is_sorted():  # routes, messages and joins reorder rows
        routed = routed.sort("i")
    return routed.drop("i")


def _after_first(text: pl.Expr, literal: str) -> pl.Expr:
    """The text after the first ``literal`` (null without one). ``splitn``, not ``find`` and
    ``slice``: ``find`` counts bytes and ``slice`` characters, so a non-ASCII character before
    the literal would shift the cut."""
    return text.str.splitn(literal, 2).struct.field("field_1")


def _fast_index(line: pl.Expr) -> pl.Expr:
    """Which fast path a row takes (its index in :data:`FAST_PATHS`), or null for none."""
    return (
        pl.when(line.str.contains(FAST_PATHS[0][0], literal=True))
        .then(0)
        .when(line.str.contains(FAST_PATHS[1][0], literal=True))
        .then(1)
    )


def _citation_text(lines: pl.Series, cr: bool) -> pl.Series:
    """The line as a citation quotes it: itself, without a trailing CR (stripped only when the
    block's bytes hold one, ``cr``: one memchr is cheaper than a pass over the rows), clipped to
    :data:`MAX_CITED_TEXT`. An ESXi 8 ``[context]`` blob is left for :class:`Citation` to drop:
    few rows become citations, and looking for blobs in every row costs a pass."""
    text = lines.str.strip_chars_end("\r") if cr else lines
    long = text.str.len_bytes() > MAX_CITED_TEXT  # bytes >= characters: a superset
    if long.any():  # clip just those rows; a busy log has a few long lines among many short
        clipped = pl.select(ll.clip_expr(pl.lit(text.filter(long)), MAX_CITED_TEXT)).to_series()
        text = text.scatter(long.arg_true(), clipped)
    return text


def _with_header_fields(work: pl.DataFrame) -> pl.DataFrame:
    """``ts``, ``level``, ``pid`` and ``esxi8`` of each row, from its header line ``hl``.

    A header splits on spaces into time, level and ``app[pid]`` (a grep prefix, which has no
    space, only lengthens the first token). A block has a handful of distinct level and app
    tokens, so each is parsed once per distinct value and looked up per row, instead of a regex
    per row. Only rows that do not fit get the slow routes: the full header grammar when the
    tokens are not level and ``app[pid]``; the grep-prefix strip and the general time parse when
    the time is not ESXi's own ``...T..:..:..fffZ`` at the start of the line. Rows with no time at
    all are dropped.
    """
    hl = pl.col("hl")
    work = work.with_columns(hl.str.split_exact(" ", 2).alias("tok"), ts=ll.ts_expr_esxi(hl)).unnest("tok")
    levels = work.get_column("field_1").unique().drop_nulls()
    levels = levels.filter(levels.str.contains(ll.LEVEL_TOKEN_RS))
    apps = work.get_column("field_2").unique().drop_nulls()
    pids = apps.str.extract(r"\[(\d+)\]:?$", 1).cast(pl.Int64, strict=False)
    level_raw = pl.col("field_1").replace_strict(levels, levels, default=None, return_dtype=pl.String)
    work = work.with_columns(
        level_raw=level_raw,
        pid=pl.when(level_raw.is_not_null()).then(
            pl.col("field_2").replace_strict(apps, pids, default=None, return_dtype=pl.Int64)
        ),
    ).drop("field_0", "field_1", "field_2")
    if work.get_column("ts").null_count():
        # A grep prefix (or a syslog relay's header), an offset, another fraction length, or junk
        # after a timestamp-looking start. Row by row, not "all rows once any has a prefix": a
        # block's other lines must not change how a line is read, or the parse would depend on
        # where the input was cut. The strip leaves a line that starts with its date unchanged.
        # Before the level and pid: a relay's header has spaces, so those need the stripped line.
        # Each step reads only the rows no earlier step could (a string function skips null
        # rows), and the next runs only while rows are left: a grep excerpt, where every row
        # has a prefix, pays for the strip and ESXi's own time format, not for all four parses.
        odd = pl.col("ts").is_null()
        work = work.with_columns(hl=pl.coalesce(ll.strip_grep_prefix_expr(pl.when(odd).then(hl)), hl))
        for parse in _TS_PARSES:
            work = work.with_columns(ts=pl.coalesce("ts", parse(pl.when(pl.col("ts").is_null()).then(hl))))
            if not work.get_column("ts").null_count():
                break
        work = work.filter(pl.col("ts").is_not_null())
    if work.get_column("pid").null_count():
        work = _forwarded_header_fields(work)
    if work.get_column("pid").null_count():  # extra spaces, no pid, odd apps: the full grammar
        # Only on the rows without a pid (a log's first line, its ``Section for VMware`` header,
        # would otherwise send a whole block through it): a row whose tokens gave a pid has a
        # level as its second token and ``app[pid]`` as its third, where a forwarded line's
        # ``host App:`` would stand, so the grammar finds no sending host in it either.
        head = pl.when(pl.col("pid").is_null()).then(hl).str.extract_groups(ll.HEAD_LEVEL_PID_RS)
        shost = head.struct.field("shost")  # a forwarded line names its sender (§8)
        work = work.with_columns(
            level_raw=pl.coalesce("level_raw", head.struct.field("level")),
            pid=pl.coalesce("pid", head.struct.field("pid").cast(pl.Int64, strict=False)),
            syslog_host=pl.coalesce("syslog_host", shost) if "syslog_host" in work.columns else shost,
        )
    # A handful of distinct level spellings: normalise those, then look every row up.
    raws = work.get_column("level_raw").unique().drop_nulls()
    norm = pl.select(ll.level_expr(pl.lit(raws))).to_series()
    return work.with_columns(
        level=pl.when(pl.col("orphan"))
        .then(None)
        .otherwise(pl.col("level_raw").replace_strict(raws, norm, default=None, return_dtype=pl.String)),
        esxi8=pl.col("level_raw")
        .replace_strict(raws, raws.str.contains(r"^[A-Z][a-z]\("), default=False, return_dtype=pl.Boolean)
        .fill_null(False),
    ).drop("level_raw")


#: The time parses tried, in order, on a header whose time is not ESXi's own spelling at the
#: start of the line (after any grep prefix is stripped): ESXi's own, any fraction, any offset.
_TS_PARSES = (
    ll.ts_expr_esxi,
    lambda hl: ll.ts_expr_fast(hl.str.slice(0, 24)),
    ll.ts_expr,
)


def _forwarded_header_fields(work: pl.DataFrame) -> pl.DataFrame:
    """Level, pid and sending host of the rows without a pid that are syslog-forwarded headers
    spelled the common way (``<time> <host> <App>: <level> <app>[<pid>]``, one space apart, §8):
    what :data:`~vvolguard.evidence.logline.HEAD_LEVEL_PID_RS` reads from them, read instead
    from five space-separated tokens whose four last are checked once per distinct value (a
    central syslog file has a handful of hosts, tags, levels and apps). Rows that do not fit
    keep a null pid and go on to the grammar.

    Why: in a central syslog archive every header is forwarded, and the grammar on every row
    made such a file cost about 1.8 times a host's own vvold.log of the same size.
    """
    need = pl.col("pid").is_null()
    tokens = work.select(pl.when(need).then(pl.col("hl")).str.split_exact(" ", 4).alias("t")).unnest("t")

    def valid(column: str, pattern: str) -> pl.Expr:
        # per distinct token: does it fit the grammar's part for it?
        distinct = tokens.get_column(column).unique().drop_nulls()
        fits = distinct.str.contains(pattern)
        return pl.col(column).replace_strict(distinct, fits, default=False, return_dtype=pl.Boolean)

    apps = tokens.get_column("field_4").unique().drop_nulls()
    pids = apps.str.extract(r"^[A-Za-z][\w.-]*\[(\d+)\]", 1).cast(pl.Int64, strict=False)
    fits = (
        ~pl.col("field_0").str.contains(r"\s")
        & valid("field_1", r"^[^\s\[\]]+$")
        & valid("field_2", r"^[A-Za-z][\w.-]*:$")
        & valid("field_3", ll.LEVEL_TOKEN_RS)
    ).fill_null(False)
    found = tokens.select(
        fits=fits,
        pid=pl.col("field_4").replace_strict(apps, pids, default=None, return_dtype=pl.Int64),
        host=pl.col("field_1"),
        level=pl.col("field_3"),
    )
    ok = pl.col("fits") & pl.col("pid").is_not_null()
    found = found.select(
        pid=pl.when(ok).then(pl.col("pid")),
        level=pl.when(ok).then(pl.col("level")),
        host=pl.when(ok).then(pl.col("host")),
    )
    return work.with_columns(
        pid=pl.coalesce(pl.col("pid"), pl.lit(found.get_column("pid"))),
        level_raw=pl.coalesce(pl.col("level_raw"), pl.lit(found.get_column("level"))),
        syslog_host=found.get_column("host"),
    )


def _with_messages(work: pl.DataFrame) -> pl.DataFrame:
    """The message of each row: a header's text after its metadata, or a continuation's text
    after ``-->``. Computed separately for the two, so neither pays for the other's regex."""
    own = work.filter(pl.col("own"))
    cont = work.filter(~pl.col("own"))
    own = own.with_columns(msg=pl.col("hl").str.replace(ll.HEAD_PREFIX_RS, "").str.strip_chars_end("\r"))
    line = pl.col("l")
    if cont.get_column("l").str.starts_with("--> ").all():
        cont = cont.with_columns(msg=line.str.strip_prefix("--> ").str.strip_chars_end("\r"))
    else:
        cont = cont.with_columns(msg=line.str.replace(ll.CONTINUATION_RS, "").str.strip_chars_end("\r"))
    if cont.height and own.height:
        work = pl.concat([own, cont], rechunk=False)
    else:
        work = own if own.height else cont
    if work.get_column("msg").str.contains("[context]", literal=True).any():
        work = work.with_columns(pl.col("msg").str.replace(ll.CONTEXT_BLOB_RS, ""))
    return work


#: The columns a route (fast path, tolerant or generic) reads from a line; the others are the
#: line's own (:func:`_line_columns`).
_FIELD_NAMES: tuple[str, ...] = ("kind", "op", "opseq", "vp", "container", "elapsed_ms", "outstanding")
_FIELD_NAMES += ("outstanding_max", "fault", "detail", "url")


def _field_columns(part: pl.DataFrame) -> pl.DataFrame:
    """One route's rows as the row index and the VASA field columns, with their dtypes (null
    where the route reads no such field)."""
    present = set(part.columns)
    cols: list[pl.Expr] = [pl.col("i")]
    for name in _FIELD_NAMES:
        dtype = VASA_SCHEMA[name]
        if name in present:
            cols.append(pl.col(name).cast(dtype, strict=False).alias(name))
        else:
            cols.append(pl.lit(None, dtype=dtype).alias(name))
    return part.select(cols)


def _line_columns(
    work: pl.DataFrame, text: pl.Series, offset: int, display: str, host: str | None
) -> pl.DataFrame:
    """The VASA columns every kept line has whatever its route: where it is, its time, host,
    pid and level, its text, and whether it is in the ESXi 8 shape."""
    host_col = pl.lit(host, dtype=pl.String)
    if "syslog_host" in work.columns:
        # A syslog-forwarded line names its sending host, which beats the file's: one central
        # syslog file mixes many hosts.
        host_col = pl.coalesce(pl.col("syslog_host"), host_col)
    return work.select(
        pl.lit(display, dtype=pl.String).alias("file"),
        (pl.col("i").cast(pl.Int64) + offset + 1).alias("line"),
        pl.col("ts"),
        host_col.alias("host"),
        pl.col("pid").cast(pl.Int64, strict=False),
        pl.col("level").cast(pl.String, strict=False),
        pl.lit(text).alias("text"),
        pl.col("esxi8"),
    )
