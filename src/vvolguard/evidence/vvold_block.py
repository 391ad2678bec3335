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

from dataclasses import dataclass, field

import polars as pl

from vvolguard.evidence import logline as ll
from vvolguard.records import MAX_CITED_TEXT, VASA_SCHEMA, VasaEventKind, VasaFrame

#: Everything the classifier below can use. Lines matching none of these are dropped before any
#: parsing, which is what keeps the reader near grep speed. Case variants are spelled out
#: because a case-insensitive alternation defeats the regex crate's literal prefilter.
PREFILTER = "|".join(
    (
        "Issuing",
        "FINAL",
        "GetFreeConn",
        "[Ff]ree [Cc]onn",
        "FREE CONN",
        "BUSY",
        "Busy",
        "TimedOut",
        "TIMEOUT",
        "[Tt]imed out",
        "DoSetContext",
        "TRANSPORT_FAULT",
        "[Cc]onnection refused",
        "GetEndPoint",
        "SSL",
        "[Cc]ertificate verify",
        "[Hh]andshake",
        "bindVirtualVolume",
        "Section for VMware",
    )
)

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
#: strict, anchored ``extract_groups`` on the text from ``===>`` on: strict and anchored so the
#: regex crate can use its one-pass engine, which is about twice as fast per row as the same
#: fields taken by separate extracts. Rows that do not fit exactly get the second tier: one
#: literal-led extract per field, tolerant of missing parts. Misses of both go to the generic
#: classifier. ``opseq`` precedes ``===>`` and is always a separate extract.
#: ``VasaOp::X [#n]: ===> Issuing 'op' to VP vp (#outstanding a/b) [session state: S]``
ISSUE_STRICT = (
    r"^===> Issuing '(?P<op>\w+)' to VP (?P<vp>[^\s(),\[\]]+) "
    r"\(#outstanding (?P<outstanding>\d+)/(?P<outstanding_max>\d+)\)"
)
ISSUE_FIELDS = {
    "op": r"===> Issuing '(\w+)'",
    "vp": r"' to VP ([^\s(),\[\]]+)",
    "outstanding": r"#outstanding (\d+)",
    "outstanding_max": r"#outstanding \d+/(\d+)",
}
#: ``===> FINAL SUCCESS op VP (vp) Container (uuid) timeElapsed=N msecs (#outstanding n)``
SUCCESS_STRICT = (
    r"^===> FINAL SUCCESS (?P<op>\w+) VP \((?P<vp>[^)\s]*)\) Container \((?P<container>[^)\s]*)\) "
    r"timeElapsed=(?P<elapsed_ms>\d+) msecs \(#outstanding (?P<outstanding>\d+)\)"
)
SUCCESS_FIELDS = {
    "op": r"===> FINAL SUCCESS (\w+)",
    "vp": r" VP \(([^)\s]*)\)",
    "container": r"Container \(([^)\s]*)\)",
    "elapsed_ms": r"timeElapsed=(\d+)",
    "outstanding": r"#outstanding (\d+)",
}
OPSEQ = r"\[#(\d+)\]"
FAST_PATHS = (
    ("===> Issuing '", ISSUE_STRICT, ISSUE_FIELDS, K.ISSUE),
    ("===> FINAL SUCCESS ", SUCCESS_STRICT, SUCCESS_FIELDS, K.SUCCESS),
)


def _kind_expr(msg: pl.Expr) -> pl.Expr:
    """Classify a message. Order matters: the most specific shape wins.

    The level is never used: a ``FINAL SUCCESS`` can sit under an ``error`` header (§1.2).
    ``TRANSPORT_FAULT (Timeout / SSL_connect() failed ...)`` on a DoSetContext line is a
    setcontext-failure with fault and detail kept, so the analysis can tell overload from trust.
    """

    def has(pattern: str) -> pl.Expr:
        return msg.str.contains(pattern)

    return (
        pl.when(has("Section for VMware ESXi?,"))
        .then(pl.lit(K.SERVICE_START.value))
        .when(has("===> Issuing '|Issuing '"))
        .then(pl.lit(K.ISSUE.value))
        .when(has("FINAL SUCCESS"))
        .then(pl.lit(K.SUCCESS.value))
        .when(has("FINAL FAILURE"))
        .then(pl.lit(K.FAILURE.value))
        .when(has("DoSetContext") & has("(?i)failed"))
        .then(pl.lit(K.SETCONTEXT_FAILURE.value))
        .when(has("GetFreeConn|(?i:no free conn)"))
        .then(pl.lit(K.NO_FREE_CONN.value))
        .when(has("bindVirtualVolume") & has("(?i)retr(?:y|ies|ying)"))
        .then(pl.lit(K.BIND_RETRY.value))
        .when(has("TRANSPORT_FAULT"))
        .then(pl.lit(K.TRANSPORT.value))
        .when(has("SSL Exception|SSL_connect|(?i:certificate verify)|(?i:handshake)|SSL error"))
        .then(pl.lit(K.SSL.value))
        .when(has("(?i:connection refused)|GetEndPoint: failed"))
        .then(pl.lit(K.TRANSPORT.value))
        .when(has("PROVIDER_BUSY|VasaProviderBusy|ProviderBusy|[A-Z]_?BUSY\\b"))
        .then(pl.lit(K.BUSY.value))
        .when(has("TimedOut|TIMEOUT|(?i:timed out)"))
        .then(pl.lit(K.TIMEOUT.value))
        .otherwise(pl.lit(K.OTHER.value))
    )


_OP_GENERIC = (
    r"\b((?:create|bind|unbind|delete|clone|fastClone|snapshot|revert|resize|query|update|prepare|set|get)"
    r"[A-Z]\w*)\b"
)


def _fields(msg: pl.Expr, kind: pl.Expr) -> list[pl.Expr]:
    """Field extraction; each regex starts with a literal so the regex crate skips fast."""
    issuing = msg.str.extract(r"Issuing '(\w+)'", 1)
    final = msg.str.extract(r"FINAL (?:SUCCESS|FAILURE) (\w+)", 1)
    op = pl.coalesce(
        issuing,
        final,
        pl.when(kind == K.SETCONTEXT_FAILURE.value).then(pl.lit("setContext")),
        msg.str.extract(_OP_GENERIC, 1),
    )
    vp = pl.coalesce(
        msg.str.extract(r"\bVP \(([^)\s]+)\)", 1),
        msg.str.extract(r"\bVP ([^\s(),\[\]]+)", 1),
    )
    out = msg.str.extract_groups(r"#outstanding (\d+)(?:/(\d+))?")
    fault = pl.coalesce(
        msg.str.extract(r"error \(([A-Z][A-Z_]+)", 1),
        msg.str.extract(r"\]: ([A-Z][A-Z_]+) \(", 1),
        msg.str.extract(r"\b([A-Z]{2,}(?:_[A-Z]+)+|TIMEOUT)\b", 1),
    )
    detail = pl.coalesce(
        msg.str.extract(r"error \([A-Z][A-Z_]+\s*/?\s*(.*?)\)(?: VP \(| Container \(| timeElapsed|\s*$)", 1),
        msg.str.extract(r"\]: [A-Z][A-Z_]+ \((.*)\)\s*$", 1),
    )
    return [
        op.alias("op"),
        msg.str.extract(r"\[#(\d+)\]", 1).cast(pl.Int64, strict=False).alias("opseq"),
        vp.alias("vp"),
        msg.str.extract(r"Container \(([^)\s]+)\)", 1).alias("container"),
        msg.str.extract(r"timeElapsed=(\d+)", 1).cast(pl.Int64, strict=False).alias("elapsed_ms"),
        out.struct.field("1").cast(pl.Int64, strict=False).alias("outstanding"),
        out.struct.field("2").cast(pl.Int64, strict=False).alias("outstanding_max"),
        fault.alias("fault"),
        detail.str.strip_chars().alias("detail"),
        msg.str.extract(r"(?:url: |\b)(https?://[^\s)\]]+)", 1).alias("url"),
    ]


def split_lines(data: bytes, expected: int | None = None) -> pl.Series:
    """Complete lines (``data`` ends with a newline) as a String series, one row per line.

    ``expected`` is the line count when the caller already has it (counting 8 MiB twice is
    measurable)."""
    if expected is None:
        expected = data.count(b"\n")
    if b"\x01" not in data:
        try:
            frame = pl.read_csv(
                data,  # bytes, not a file object: polars then never calls back into Python
                has_header=False,
                separator="\x01",
                quote_char=None,
                new_columns=["l"],
                schema={"l": pl.String},
                encoding="utf8-lossy",
                truncate_ragged_lines=True,
                raise_if_empty=False,
            )
            if frame.height == expected:
                return frame.get_column("l")
        except Exception:  # polars' CSV reader is an optimisation; the slow path always works
            pass
    text = data.decode("utf-8", "replace").split("\n")
    text.pop()  # after the final newline
    return pl.Series("l", [t.rstrip("\r") for t in text], dtype=pl.String)


@dataclass(frozen=True, slots=True)
class Block:
    """Complete lines plus the context they need, so blocks can be parsed independently."""

    data: bytes  # ends with a newline
    base: int  # lines of the input before this block
    prev_header: str | None  # last timestamped line before this block
    lines: int | None = None  # newlines in ``data``, when the cutter counted them already


@dataclass(slots=True)
class Parsed:
    """What one block gave: its frame, warnings to report once, and service-start headers."""

    frame: VasaFrame | None
    #: (once-per-input key, line, message); the stream drops repeats of a key.
    notes: list[tuple[str, int | None, str]] = field(default_factory=list)
    sections: list[tuple[int, str]] = field(default_factory=list)


def parse_block(block: Block, display: str, host: str | None) -> Parsed:
    """Parse one block; pure, so it may run on any thread. Raises only on internal bugs."""
    lines = split_lines(block.data, block.lines)
    out = Parsed(None)
    long = lines.str.len_bytes() > MAX_LINE_BYTES
    if long.any():
        out.notes.append(("long-line", block.base + int(long.arg_true()[0]) + 1, long_line_message()))
        # characters, not bytes: a byte cut could split a UTF-8 sequence (at most 4x the bytes)
        lines = pl.select(pl.when(long).then(lines.str.slice(0, LONG_LINE_KEEP)).otherwise(lines).alias("l"))
        lines = lines.to_series()
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
    offset = block.base - prefix  # row i is line offset + i + 1
    if hdr.sum() * 2 < df.height:  # mostly non-ESXi lines: is it the pre-6.5 shape?
        legacy = df.get_column("l").str.contains(ll.LEGACY_PATTERN).fill_null(False).arg_true()
        if legacy.len():
            out.notes.append(("legacy", offset + int(legacy[0]) + 1, ll.LEGACY_WARNING))
    cand = marks.get_column("cand")
    if prefix:
        cand[0] = False
    if not cand.any():
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
                    block.base + 1,
                    "no timestamped ESXi log lines found; lines without a time were skipped",
                )
            )
            return out
        sel = sel.with_columns(pl.col("h").fill_null(int(first[0])))
    headers = df.get_column("l").gather(sel.get_column("h"))
    frame = _build(sel, headers, offset, display, host)
    if frame is not None:
        starts = frame.frame.filter(pl.col("kind") == K.SERVICE_START.value)
        out.sections.extend(starts.select("line", "text").iter_rows())
    out.frame = frame
    return out


def _build(
    sel: pl.DataFrame, headers: pl.Series, offset: int, display: str, host: str | None
) -> VasaFrame | None:
    """Date, split and classify the kept rows, then extract fields by shape.

    Every step takes the cheapest route that is exact for the common spelling and checks that
    it was: header tokens by splitting on spaces (a regex only for rows that do not split as
    expected); Issuing and FINAL SUCCESS lines (most of a busy log) by a few literal-led
    regexes (splitting them into tokens measured no faster); everything else (failures,
    GetFreeConn, busy, setContext, TLS, and fast-path misses) by the generic, tolerant
    classifier and extractor.
    """
    hl = pl.col("hl")
    work = sel.with_columns(hl=headers, own=(pl.col("i") == pl.col("h")), orphan=(pl.col("h") > pl.col("i")))
    dated = work.get_column("hl").str.contains(r"^\d{4}-\d{2}-\d{2}T")
    if not dated.all():
        # Row by row, not "all rows once any has a prefix": a block's other lines must not
        # change how a line is read, or the parse would depend on where the input was cut.
        work = work.with_columns(hl=pl.when(dated).then(hl).otherwise(ll.strip_grep_prefix_expr(hl)))
    tokens = hl.str.split_exact(" ", 2)
    level_tok, app_tok = tokens.struct.field("field_1"), tokens.struct.field("field_2")
    level_ok = level_tok.str.contains(ll.LEVEL_TOKEN_RS).fill_null(False)
    work = work.with_columns(
        ts=ll.ts_expr_fast(hl.str.slice(0, 24)),
        level_raw=pl.when(level_ok).then(level_tok),
        pid=pl.when(level_ok).then(app_tok.str.extract(r"\[(\d+)\]:?$", 1)).cast(pl.Int64, strict=False),
    )
    if work.get_column("pid").null_count():  # extra spaces, no pid, odd apps: the full grammar
        head = hl.str.extract_groups(ll.HEAD_LEVEL_PID_RS)
        work = work.with_columns(
            level_raw=pl.coalesce("level_raw", head.struct.field("level")),
            pid=pl.coalesce("pid", head.struct.field("pid").cast(pl.Int64, strict=False)),
        )
    if work.get_column("ts").null_count():
        # Offsets, other fraction lengths, or junk after a timestamp-looking start: the
        # general parse, only when needed.
        work = work.with_columns(ts=pl.coalesce(pl.col("ts"), ll.ts_expr(hl))).filter(
            pl.col("ts").is_not_null()
        )
        if work.height == 0:
            return None
    work = _with_messages(work)
    msg = pl.col("msg")
    # A handful of distinct level spellings: normalise those, then look every row up.
    raws = work.get_column("level_raw").unique().drop_nulls()
    norm = pl.select(ll.level_expr(pl.lit(raws))).to_series()
    work = work.with_columns(
        level=pl.when(pl.col("orphan"))
        .then(None)
        .otherwise(pl.col("level_raw").replace_strict(raws, norm, default=None, return_dtype=pl.String)),
        esxi8=pl.col("level_raw")
        .replace_strict(raws, raws.str.contains(r"^[A-Z][a-z]\("), default=False, return_dtype=pl.Boolean)
        .fill_null(False),
        fast=pl.when(msg.str.contains(FAST_PATHS[0][0], literal=True))
        .then(0)
        .when(msg.str.contains(FAST_PATHS[1][0], literal=True))
        .then(1),
    )
    # Only what the rest needs travels on: every filter and concat below copies what is left.
    work = work.drop("l", "hl", "h", "own", "orphan", "level_raw")
    parts: list[pl.DataFrame] = []
    rest = work.filter(pl.col("fast").is_null())
    for index, (_, strict, patterns, kind) in enumerate(FAST_PATHS):
        chunk = work.filter(pl.col("fast") == index)
        if chunk.height == 0:
            continue
        chunk = chunk.with_columns(
            msg.str.slice(msg.str.find("===> ", literal=True)).str.extract_groups(strict).alias("f"),
            msg.str.extract(OPSEQ, 1).alias("opseq"),
        ).unnest("f")
        hit = chunk.get_column("op").is_not_null()
        if not hit.all():  # not the usual spelling: tolerant extracts, then the generic path
            odd = chunk.filter(~hit).drop(patterns)
            odd = odd.with_columns(
                msg.str.extract(pattern, 1).alias(name) for name, pattern in patterns.items()
            )
            found = odd.get_column("op").is_not_null()
            rest = pl.concat([rest, odd.filter(~found).select(rest.columns)])
            parts.append(odd.filter(found).with_columns(kind=pl.lit(kind.value)))
            chunk = chunk.filter(hit)
        parts.append(chunk.with_columns(kind=pl.lit(kind.value)))
    if rest.height:
        rest = rest.with_columns(kind=_kind_expr(msg)).with_columns(_fields(msg, pl.col("kind")))
        parts.append(rest)
    # No rechunk: the sort below gathers every column into one chunk anyway.
    frame = pl.concat(
        [_finish(part, offset, display, host) for part in parts if part.height], how="vertical", rechunk=False
    )
    if frame.height == 0:
        return None
    frame = frame.sort("line")
    shape = "esxi8" if frame.get_column("esxi8").sum() * 2 > frame.height else "esxi7"
    return VasaFrame(frame=frame.select(list(VASA_SCHEMA)), shape=shape)


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


def _finish(part: pl.DataFrame, offset: int, display: str, host: str | None) -> pl.DataFrame:
    """Bring one classified chunk to the exact VASA_SCHEMA columns and dtypes."""
    present = set(part.columns)
    cols: list[pl.Expr] = [
        pl.lit(display, dtype=pl.String).alias("file"),
        (pl.col("i").cast(pl.Int64) + offset + 1).alias("line"),
        pl.col("ts"),
        pl.lit(host, dtype=pl.String).alias("host"),
    ]
    for name in list(VASA_SCHEMA)[4:]:
        dtype = VASA_SCHEMA[name]
        if name == "text":
            # msg has no trailing CR/LF already, so a message within the limit is its own citation
            short = part.get_column("msg").str.len_bytes().max() or 0
            text = pl.col("msg") if short <= MAX_CITED_TEXT else ll.clip_expr(pl.col("msg"), MAX_CITED_TEXT)
            cols.append(text.alias("text"))
        elif name in present:
            cols.append(pl.col(name).cast(dtype, strict=False).alias(name))
        else:
            cols.append(pl.lit(None, dtype=dtype).alias(name))
    cols.append(pl.col("esxi8"))
    return part.select(cols)
