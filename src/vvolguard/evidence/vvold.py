"""vvold.log reader: the VASA control-plane trace, turned into columnar :class:`VasaFrame` batches.

vvold.log is where KB 318662's evidence lives (no free connections to the VP, PROVIDER_BUSY,
slow ``createVirtualVolume`` for swap vVols), and it can be gigabytes once rotated copies and
bundles are added. An admin compares us with ``grep -Ei ... vvold.log``, so the parse is
vectorised with polars and streamed block by block:

1. each block of complete lines becomes one string column (``read_csv`` with an impossible
   separator is the fastest line splitter polars has, and keeps empty lines as rows);
2. one combined regex keeps candidate lines; a second marks timestamped "header" lines;
3. a forward fill gives every ``-->`` continuation the index of its header, so the header's
   ts/level/pid apply to the text on the continuation line (where 6.7/7.0 vvold puts it);
4. only the kept rows (and their headers) are parsed, classified and turned into fields.

The state that spans blocks (partial last line, last header line, line count) lives in
:class:`VvoldStream`, which is also the incremental API for the drain's live log tail: ``read``
is just a stream fed with the file's blocks.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator

import polars as pl

from vvolguard.evidence import logline as ll
from vvolguard.evidence.source import EvidenceFile
from vvolguard.records import (
    MAX_CITED_TEXT,
    VASA_SCHEMA,
    Citation,
    EvidenceKind,
    HostIdentity,
    Record,
    VasaEventKind,
    VasaFrame,
)

#: A line longer than this is cut (its first :data:`LONG_LINE_KEEP` bytes are parsed, with a
#: warning): memory must stay bounded even for a multi-gigabyte file with no newline in it.
MAX_LINE_BYTES = 4 * 1024 * 1024
LONG_LINE_KEEP = 64 * 1024

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

#: Fast path for the commonest line: ``VasaOp::X [#n]: ===> Issuing 'op' to VP vp (#outstanding a/b)``.
ISSUE_RS = (
    r"(?:\[#(?P<opseq>\d+)\]: )?===> Issuing '(?P<op>\w+)' to VP (?P<vp>[^\s(),\[\]]+)"
    r"(?: \(#outstanding (?P<outstanding>\d+)/(?P<outstanding_max>\d+)\))?"
)
#: Fast path for ``===> FINAL SUCCESS op VP (vp) Container (uuid) timeElapsed=N msecs (#outstanding n)``.
SUCCESS_RS = (
    r"(?:\[#(?P<opseq>\d+)\]: )?===> FINAL SUCCESS (?P<op>\w+)(?: VP \((?P<vp>[^)\s]*)\))?"
    r"(?: Container \((?P<container>[^)\s]*)\))? timeElapsed=(?P<elapsed_ms>\d+) msecs"
    r"(?: \(#outstanding (?P<outstanding>\d+)\))?"
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


def _split_lines(data: bytes) -> pl.Series:
    """Complete lines (``data`` ends with a newline) as a String series, one row per line."""
    expected = data.count(b"\n")
    if b"\x01" not in data:
        try:
            frame = pl.read_csv(
                io.BytesIO(data),
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


class VvoldStream:
    """Incremental vvold parser: feed bytes, get frames. Line numbers and the header context of
    ``-->`` continuations carry across feeds, so a live tail and a whole file parse alike."""

    def __init__(
        self,
        display: str,
        host: str | None,
        warn: Callable[[str, int | None], None] | None = None,
    ) -> None:
        self.display = display
        self.host = host
        self._warn = warn
        self._pending = b""
        self._skipping = False  # inside an over-long line, dropping bytes until its newline
        self._lines = 0  # complete lines consumed so far
        self._last_header: str | None = None  # text of the last timestamped line seen
        self._legacy_warned = False
        self._long_warned = False
        self._no_header_warned = False
        #: HostIdentity records found in ``Section for VMware`` headers, for the caller to take.
        self.identities: list[HostIdentity] = []
        self._seen_sections: set[tuple[str, str]] = set()

    # -- public API ---------------------------------------------------------------------------

    def feed(self, data: bytes) -> VasaFrame | None:
        """Parse every complete line in ``pending + data``; keep the partial last line."""
        if self._skipping:
            cut = data.find(b"\n")
            if cut < 0:
                return None
            self._skipping = False
            data = data[cut + 1 :]
        if not data:
            return None
        buf = self._pending + data if self._pending else data
        cut = buf.rfind(b"\n")
        complete, rest = (buf[: cut + 1], buf[cut + 1 :]) if cut >= 0 else (b"", buf)
        if len(rest) > MAX_LINE_BYTES:
            self._note_long_line(cut)
            complete += rest[:LONG_LINE_KEEP] + b"\n"
            rest = b""
            self._skipping = True
        self._pending = rest
        return self._parse(complete) if complete else None

    def flush(self) -> VasaFrame | None:
        """End of input: parse the last line even without its newline."""
        tail, self._pending = self._pending, b""
        self._skipping = False
        return self._parse(tail + b"\n") if tail else None

    # -- internals ----------------------------------------------------------------------------

    def _say(self, message: str, line: int | None = None) -> None:
        if self._warn is not None:
            self._warn(message, line)

    def _note_long_line(self, cut: int) -> None:
        if not self._long_warned:
            self._long_warned = True
            where = self._lines + 1 + (self._pending.count(b"\n") if cut >= 0 else 0)
            self._say(
                f"line longer than {MAX_LINE_BYTES // (1024 * 1024)} MiB; only its first "
                f"{LONG_LINE_KEEP // 1024} KiB were read",
                where,
            )

    def _parse(self, data: bytes) -> VasaFrame | None:
        """Parse complete lines (``data`` ends with a newline)."""
        lines = _split_lines(data)
        base = self._lines
        self._lines += lines.len()
        try:
            return self._frame(lines, base)
        except Exception as exc:  # never raise on input; say which lines were lost
            self._say(
                f"internal: could not parse lines {base + 1}-{self._lines} ({exc!r}); skipped", base + 1
            )
            return None

    def _frame(self, lines: pl.Series, base: int) -> VasaFrame | None:
        prefix = 0
        if self._last_header is not None:
            lines = pl.concat([pl.Series("l", [self._last_header], dtype=pl.String), lines])
            prefix = 1
        df = pl.DataFrame({"l": lines}).with_row_index("i")
        marks = df.select(
            pl.col("l").str.contains(PREFILTER).fill_null(False).alias("cand"),
            pl.col("l").str.contains(ll.HEADER_START_RS).fill_null(False).alias("hdr"),
        )
        hdr = marks.get_column("hdr")
        # Remember the last header for the next block before anything else can go wrong.
        last_hdr = hdr.arg_true()
        if last_hdr.len():
            self._last_header = df.get_column("l")[int(last_hdr[-1])]
        self._check_legacy(df, hdr, base, prefix)
        cand = marks.get_column("cand")
        if prefix:
            cand[0] = False
        if not cand.any():
            return None
        hidx = pl.select(
            pl.when(hdr).then(df.get_column("i")).otherwise(None).forward_fill().alias("h")
        ).get_column("h")
        sel = df.with_columns(h=hidx).filter(cand)
        if sel.get_column("h").null_count():
            # Continuations before the first header of the input (a grep excerpt or a rotated
            # file often starts mid-record) get the next header's time; no header at all: skip.
            first = hdr.arg_true()
            if first.len() == 0:
                if not self._no_header_warned:
                    self._no_header_warned = True
                    self._say(
                        "no timestamped ESXi log lines found; lines without a time were skipped", base + 1
                    )
                return None
            sel = sel.with_columns(pl.col("h").fill_null(int(first[0])))
        headers = df.get_column("l").gather(sel.get_column("h"))
        return self._build(sel, headers, base - prefix)

    def _check_legacy(self, df: pl.DataFrame, hdr: pl.Series, base: int, prefix: int) -> None:
        if self._legacy_warned or hdr.sum() * 2 >= df.height:
            return
        legacy = df.get_column("l").str.contains(ll.LEGACY_PATTERN).fill_null(False).arg_true()
        if legacy.len():
            self._legacy_warned = True
            self._say(ll.LEGACY_WARNING, base + int(legacy[0]) - prefix + 1)

    def _build(self, sel: pl.DataFrame, headers: pl.Series, offset: int) -> VasaFrame | None:
        """Date, split and classify the kept rows, then extract fields by shape.

        The two shapes that make up most of a busy log (``Issuing`` and ``FINAL SUCCESS``)
        go through one specific regex each; everything else (failures, GetFreeConn, busy,
        setContext, TLS, and fast-path misses) goes through the generic, tolerant path.
        """
        work = sel.with_columns(
            hl=ll.strip_grep_prefix_expr(pl.lit(headers)),
            own=(pl.col("i") == pl.col("h")),
            orphan=(pl.col("h") > pl.col("i")),
        )
        head = pl.col("hl").str.extract_groups(ll.HEAD_FIELDS_RS)
        work = work.with_columns(
            ts_raw=head.struct.field("ts"),
            level_raw=head.struct.field("level"),
            pid=head.struct.field("pid").cast(pl.Int64, strict=False),
            msg=pl.when(pl.col("own"))
            .then(pl.col("hl").str.replace(ll.HEAD_PREFIX_RS, ""))
            .otherwise(pl.col("l").str.replace(ll.CONTINUATION_RS, ""))
            .str.strip_chars_end("\r"),
        )
        work = work.with_columns(ts=ll.ts_expr_fast(pl.col("ts_raw")))
        if work.get_column("ts").null_count():
            # Offsets, missing fractions in odd spellings, or junk after a timestamp-looking
            # start: the slow, general parse, only when needed.
            work = work.with_columns(ts=pl.coalesce(pl.col("ts"), ll.ts_expr(pl.col("hl"))))
            work = work.filter(pl.col("ts").is_not_null())
            if work.height == 0:
                return None
        if work.get_column("msg").str.contains("[context]", literal=True).any():
            work = work.with_columns(pl.col("msg").str.replace(ll.CONTEXT_BLOB_RS, ""))
        work = work.with_columns(
            level=pl.when(pl.col("orphan")).then(None).otherwise(ll.level_expr(pl.col("level_raw"))),
            esxi8=pl.col("level_raw").str.contains(r"^[A-Z][a-z]\("),
            tag=pl.col("msg").str.extract(r"===> (Issuing|FINAL SUCCESS) ", 1),
        )
        parts: list[pl.DataFrame] = []
        rest = work.filter(pl.col("tag").is_null())
        for tag, pattern, kind in (
            ("Issuing", ISSUE_RS, K.ISSUE),
            ("FINAL SUCCESS", SUCCESS_RS, K.SUCCESS),
        ):
            chunk = work.filter(pl.col("tag") == tag)
            if chunk.height == 0:
                continue
            chunk = chunk.with_columns(f=pl.col("msg").str.extract_groups(pattern))
            hit = chunk.get_column("f").struct.field("op").is_not_null()
            rest = pl.concat([rest, chunk.filter(~hit).drop("f")]) if not hit.all() else rest
            chunk = chunk.filter(hit).with_columns(kind=pl.lit(kind.value)).unnest("f")
            parts.append(chunk)
        if rest.height:
            kind = _kind_expr(pl.col("msg"))
            rest = rest.with_columns(kind=kind).with_columns(_fields(pl.col("msg"), pl.col("kind")))
            parts.append(rest)
        if not parts:
            return None
        frame = pl.concat([self._finish(part, offset) for part in parts], how="vertical").sort("line")
        self._collect_sections(frame)
        shape = "esxi8" if frame.get_column("esxi8").sum() * 2 > frame.height else "esxi7"
        return VasaFrame(frame=frame.select(list(VASA_SCHEMA)), shape=shape)

    def _finish(self, part: pl.DataFrame, offset: int) -> pl.DataFrame:
        """Bring one classified chunk to the exact VASA_SCHEMA columns and dtypes."""
        present = set(part.columns)
        cols: list[pl.Expr] = [
            pl.lit(self.display, dtype=pl.String).alias("file"),
            (pl.col("i").cast(pl.Int64) + offset + 1).alias("line"),
            pl.col("ts"),
            pl.lit(self.host, dtype=pl.String).alias("host"),
        ]
        for name in list(VASA_SCHEMA)[4:]:
            dtype = VASA_SCHEMA[name]
            if name == "text":
                cols.append(ll.clip_expr(pl.col("msg"), MAX_CITED_TEXT).alias("text"))
            elif name in present:
                cols.append(pl.col(name).cast(dtype, strict=False).alias(name))
            else:
                cols.append(pl.lit(None, dtype=dtype).alias(name))
        cols.append(pl.col("esxi8").fill_null(False))
        return part.select(cols)

    def _collect_sections(self, frame: pl.DataFrame) -> None:
        starts = frame.filter(pl.col("kind") == K.SERVICE_START.value)
        for row in starts.select("line", "text").iter_rows():
            section = ll.parse_section(row[1])
            if section is None:
                continue
            key = (section.version, section.build)
            if key in self._seen_sections:
                continue
            self._seen_sections.add(key)
            self.identities.append(
                HostIdentity(
                    host=self.host or "",
                    esxi_version=section.version,
                    build=section.build,
                    citation=Citation(self.display, row[0], row[1]),
                )
            )


class VvoldReader:
    """Reader for vvold.log, its rotated ``vvold.N.gz`` copies and grep excerpts of them."""

    kind = EvidenceKind.VVOLD_LOG

    _NAME_RE = re.compile(r"(?i)(^|[^a-z])vvold(\.log)?(\.\d+)?(\.log)?$|vvold")
    _CONTENT_STRONG = re.compile(rb"\b(?:vvold|VVold)\[\d+\]|VasaOp::|VasaSession::")
    _CONTENT_WEAK = re.compile(rb"VasaOp|VasaSession|Issuing '\w+' to VP|FINAL (?:SUCCESS|FAILURE)")
    _GREP_EXCERPT = re.compile(rb"(?m)^[^\s:]+:\d+:\d{4}-\d{2}-\d{2}T")

    def sniff(self, name: str, head: bytes) -> int:
        """Content first (renamed files are common), then the name."""
        score = 0
        if self._CONTENT_STRONG.search(head):
            score = 90
        elif self._CONTENT_WEAK.search(head):
            score = 70
        lname = name.lower()
        if re.fullmatch(r"vvold(\.log)?(\.\d+)?(\.log)?", lname):
            score = max(score, 60) + (5 if score else 0)
        elif "vvold" in lname:
            score = max(score, 45)
            if self._GREP_EXCERPT.search(head):
                score = max(score, 55)
        return min(score, 100)

    def read(self, ef: EvidenceFile) -> Iterator[Record]:
        """Stream frames and host identities; never raises (problems become warnings)."""
        stream = VvoldStream(ef.display, ef.host, warn=lambda message, line: ef.warn(message, line))
        try:
            for block in ef.blocks():
                frame = stream.feed(block)
                yield from _drain_identities(stream)
                if frame is not None and frame.frame.height:
                    yield frame
            frame = stream.flush()
            yield from _drain_identities(stream)
            if frame is not None and frame.frame.height:
                yield frame
        except Exception as exc:  # the last line of defence: a reader never raises
            ef.warn(f"internal: vvold reader stopped early ({exc!r})")


def _drain_identities(stream: VvoldStream) -> Iterator[HostIdentity]:
    while stream.identities:
        yield stream.identities.pop(0)


READERS = [VvoldReader()]
