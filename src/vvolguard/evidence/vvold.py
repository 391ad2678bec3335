"""vvold.log reader: the VASA control-plane trace, turned into columnar :class:`VasaFrame` batches.

vvold.log is where KB 318662's evidence lives (no free connections to the VP, PROVIDER_BUSY,
slow ``createVirtualVolume`` for swap vVols), and it can be gigabytes once rotated copies and
bundles are added. An admin compares us with ``grep -Ei ... vvold.log``, so the parse is
vectorised with polars (:mod:`vvolguard.evidence.vvold_block`) and streamed block by block.

The state that spans blocks (partial last line, last header line, line count) lives in
:class:`VvoldStream`, which is also the incremental API for the drain's live log tail: ``read``
is just a stream fed with the file's blocks. Because that state is cheap to compute from the
raw bytes, each block is self-contained: an input of more than one block is parsed on a pool
that belongs to that input (at most two parse threads, see :data:`_POOL_WORKERS`) while the
calling thread cuts the next blocks and folds the frames in file order; a one-block input is
parsed on the calling thread.
"""

from __future__ import annotations

import os
import re
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime

import polars as pl

from vvolguard.evidence import logline as ll
from vvolguard.evidence.bsd_syslog import restamped
from vvolguard.evidence.source import EvidenceFile
from vvolguard.evidence.vvold_block import (
    LONG_LINE_KEEP,
    MAX_LINE_BYTES,
    Block,
    Parsed,
    long_line_message,
    parse_block,
)
from vvolguard.records import Citation, EvidenceKind, EvidenceSpan, HostIdentity, Record, VasaFrame

#: Bytes per block read from the input. Each block costs a fixed number of polars calls and
#: small group-bys in the analysis, so 16 MiB blocks took ~0.6 s less CPU per 512 MiB than
#: 8 MiB ones (measured); memory is about this times the blocks in flight, whatever the size.
READ_BLOCK_BYTES = 16 * 1024 * 1024

# ``re.match(data, pos)`` anchors at ``pos`` by itself; a leading ``^`` would only match at 0.
_HEADER_START_B = re.compile(ll.HEADER_START_RS.removeprefix("^").encode())
_HEADER_ANYWHERE_B = re.compile(b"(?m)" + ll.HEADER_START_RS.replace("[^\\s:]", "[^\\s:\\n]").encode())
#: How many lines back from a block's end to look for its last header before using a regex scan.
_BACKSCAN_LINES = 10_000
#: ... and how many bytes back from there a regex scan may look (see :func:`_last_header`).
_BACKSCAN_BYTES = 256 * 1024


def _last_header(data: bytes, start: int, stop: int) -> str | None:
    """The last timestamped line of ``data[start:stop]`` (``stop`` is just after a newline),
    decoded; looked for from the end, so a block costs a few lines' scan, not a pass."""
    end = stop - 1
    for _ in range(_BACKSCAN_LINES):
        if end <= start:
            return None
        begin = max(data.rfind(b"\n", start, end) + 1, start)
        if _HEADER_START_B.match(data, begin, end):
            return data[begin:end].decode("utf-8", "replace").rstrip("\r")
        end = begin - 1
    # A block of thousands of lines without a time (blank lines, a dump): look at its last
    # _BACKSCAN_BYTES only, so that a pathological block costs a bounded scan, not a regex pass.
    last = None
    for match in _HEADER_ANYWHERE_B.finditer(data, max(start, end - _BACKSCAN_BYTES), max(end, start)):
        last = match
    if last is None:
        return None
    cut = data.find(b"\n", last.start())
    return data[last.start() : cut].decode("utf-8", "replace").rstrip("\r")


class VvoldStream:
    """Incremental vvold parser: feed bytes, get frames.

    Line numbers and the header context of ``-->`` continuations carry across feeds, so a live
    tail (the drain) and a whole file (``VvoldReader.read``) parse identically. The cheap,
    sequential part (cutting complete lines, counting them, finding the last header) happens
    here; the expensive part (:func:`_parse_block`) is pure, so ``feed_all`` can run it on two
    blocks at once.
    """

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
        self._last_header: str | None = None  # last timestamped line seen
        self._said: set[str] = set()
        #: HostIdentity records found in ``Section for VMware`` headers, for the caller to take.
        self.identities: list[HostIdentity] = []
        self._seen_sections: set[tuple[str, str]] = set()
        self._preamble = b""  # complete lines before the first timestamped line
        self._preamble_notes: tuple[tuple[str, int, str], ...] = ()  # their notes, lines from 1
        self._first_ts: datetime | None = None
        self._last_ts: datetime | None = None
        self._timed = 0

    @property
    def lines_read(self) -> int:
        """Lines parsed so far (a partial last line, and blocks still in a pool thread, are not
        counted yet)."""
        return self._lines

    # -- public API ---------------------------------------------------------------------------

    def feed(self, data: bytes) -> VasaFrame | None:
        """Parse every complete line in ``pending + data``; keep the partial last line."""
        block = self._cut(data)
        return self._absorb_all(block) if block else None

    def flush(self) -> VasaFrame | None:
        """End of input: parse the last line even without its newline."""
        block = self._cut_tail()
        return self._absorb_all(block) if block else None

    def _absorb_all(self, block: Block) -> VasaFrame | None:
        """Parse a block, every pass of it, as one frame (for the small feeds of a live tail)."""
        frames: list[VasaFrame] = []
        parsed: Parsed | None = self._run(block)
        while parsed is not None:
            frame = self._absorb(parsed)
            if frame is not None:
                frames.append(frame)
            parsed = None if parsed.rest is None else self._run(parsed.rest)
        if len(frames) <= 1:
            return frames[0] if frames else None
        return VasaFrame(frame=pl.concat([f.frame for f in frames]), shape=frames[-1].shape)

    @property
    def span(self) -> tuple[datetime, datetime, int] | None:
        """First and last timestamp seen so far and how many timestamped lines (coverage)."""
        if self._first_ts is None or self._last_ts is None:
            return None
        return self._first_ts, self._last_ts, self._timed

    def feed_all(self, chunks: Iterable[bytes], parallel: bool = True) -> Iterator[VasaFrame]:
        """Feed every chunk and flush; frames come out in input order.

        An input of more than one block is parsed by the pool threads (:func:`_worker_pool`)
        while the calling thread cuts the next blocks and consumes the frames. At most
        :data:`_MAX_IN_FLIGHT` blocks are held.
        """
        pending: deque[Future[Parsed] | Parsed] = deque()
        pool: ThreadPoolExecutor | None = None
        blocks = 0

        def emit(item: Future[Parsed] | Parsed) -> Iterator[VasaFrame]:
            parsed = self._result(item)
            while True:
                frame = self._absorb(parsed)
                if frame is not None:
                    yield frame
                if parsed.rest is None:
                    return
                # A block with more lines or kept rows than one pass takes: its remainder is
                # parsed here, before any later block is absorbed (line numbers stay in order).
                parsed = self._run(parsed.rest)

        def schedule(block: Block) -> None:
            nonlocal pool
            if pool is not None:
                try:
                    future = pool.submit(self._run, block)
                except RuntimeError:  # the pool is shut down (interpreter exit): carry on here
                    pool.shutdown(wait=False, cancel_futures=True)
                    pool = None
                else:
                    pending.append(future)
                    return
            pending.append(self._run(block))

        # The first block waits for the second: parsed at once it would keep the other cores
        # idle while it runs; parsed with the second, both start on the pool together. An input
        # of one block is parsed here, without a pool.
        held: Block | None = None
        try:
            for chunk in chunks:
                block = self._cut(chunk)
                if block is None:
                    continue
                blocks += 1
                if parallel and blocks == 1:
                    held = block
                    continue
                if parallel and blocks == 2:
                    pool = _worker_pool()
                if held is not None:
                    schedule(held)
                    held = None
                while len(pending) >= _MAX_IN_FLIGHT:
                    yield from emit(pending.popleft())
                schedule(block)
                while pending and (not isinstance(pending[0], Future) or pending[0].done()):
                    yield from emit(pending.popleft())
            if held is not None:
                schedule(held)
            block = self._cut_tail()
            if block is not None:
                schedule(block)
            while pending:
                yield from emit(pending.popleft())
        finally:
            if pool is not None:  # at most one block per thread is still running: wait for it
                pool.shutdown(wait=True, cancel_futures=True)

    def _result(self, item: Future[Parsed] | Parsed) -> Parsed:
        """A pool thread's result (``_run`` never raises, so neither does this)."""
        if not isinstance(item, Future):
            return item
        return item.result()

    # -- sequential part ----------------------------------------------------------------------

    def _cut(self, data: bytes) -> Block | None:
        """The next block from a chunk, cut logically: the chunk itself is neither copied nor
        scanned end to end here (this runs on the calling thread, between the parses); only the
        line that spans the previous chunk and this one is put together."""
        start = 0
        if self._skipping:  # the rest of an over-long line
            start = data.find(b"\n") + 1
            if start == 0:
                return None
            self._skipping = False
        if start >= len(data):
            return None
        first = data.find(b"\n", start)
        if first < 0:  # no line ends in this chunk: it all continues the pending line
            rest = self._pending + data[start:] if start or self._pending else data
            if len(rest) > MAX_LINE_BYTES:
                self._pending, self._skipping = b"", True
                kept = rest[:LONG_LINE_KEEP] + b"\n"
                return self._block(kept, 0, len(kept), notes=(("long-line", 1, long_line_message()),))
            self._pending = rest
            return None
        head = b""
        if self._pending:
            head, start = self._pending + data[start : first + 1], first + 1
        stop = data.rfind(b"\n") + 1
        rest = data[stop:]
        if len(rest) > MAX_LINE_BYTES:  # rare: cut the over-long last line here, at a copy's cost
            lines = head.count(b"\n") + data.count(b"\n", start, stop)
            note = ("long-line", lines + 1, long_line_message())
            kept = data[start:stop] + rest[:LONG_LINE_KEEP] + b"\n"
            self._pending, self._skipping = b"", True
            return self._block(kept, 0, len(kept), head, notes=(note,))
        self._pending = rest
        return self._block(data, start, stop, head)

    def _cut_tail(self) -> Block | None:
        tail, self._pending = self._pending, b""
        self._skipping = False
        data = tail + b"\n" if tail else b""
        return self._block(data, 0, len(data), final=True)

    def _block(
        self,
        data: bytes,
        start: int,
        stop: int,
        head: bytes = b"",
        notes: tuple[tuple[str, int, str], ...] = (),
        final: bool = False,
    ) -> Block | None:
        if start == stop:
            data, start, stop = b"", 0, 0  # nothing of the chunk's own: do not split it
        if self._last_header is None:
            # Until the first timestamped line, hold the lines back: a leading continuation is
            # dated by the first header, however the input was cut into feeds. Copying is fine
            # here: it happens only until the first header. Notes held with the lines move down
            # by the lines held before them.
            shift = self._preamble.count(b"\n")
            notes = self._preamble_notes + tuple((key, line + shift, text) for key, line, text in notes)
            whole = b"".join((self._preamble, head, memoryview(data)[start:stop]))
            header = _last_header(whole, 0, len(whole))
            if header is None and not final and len(whole) <= _PREAMBLE_MAX:
                self._preamble, self._preamble_notes = whole, notes
                return None
            self._preamble, self._preamble_notes = b"", ()
            data, start, stop, head = whole, 0, len(whole), b""
        else:
            header = _last_header(data, start, stop) or _last_header(head, 0, len(head))
        if stop == start and not head:
            return None
        block = Block(
            data=data, start=start, stop=stop, prev_header=self._last_header, head=head, notes=notes
        )
        if header is not None:
            self._last_header = header
        return block

    def _run(self, block: Block) -> Parsed:
        try:
            return parse_block(block, self.display, self.host)
        except Exception as exc:  # never raise on input; say which lines were lost
            lines = block.head.count(b"\n") + block.data.count(b"\n", block.start, block.stop)
            return Parsed(None, lines=lines, notes=[("internal", 1, repr(exc))])

    def _absorb(self, parsed: Parsed) -> VasaFrame | None:
        """Take a block's result, in input order: its line numbers become the file's."""
        base = self._lines
        self._lines += parsed.lines
        self._timed += parsed.timed
        for ts in (parsed.first_ts, parsed.last_ts):
            if ts is not None:
                self._first_ts = ts if self._first_ts is None else min(self._first_ts, ts)
                self._last_ts = ts if self._last_ts is None else max(self._last_ts, ts)
        for key, line, message in parsed.notes:
            if key == "internal":  # one per block, each naming its own lines
                first, last = base + 1, base + parsed.lines
                key, message = f"internal-{first}", f"internal: lines {first}-{last} not parsed ({message})"
            self._say_once(key, message, None if line is None else base + line)
        for line, text in parsed.sections:
            line += base
            section = ll.parse_section(text)
            if section is None or (section.version, section.build) in self._seen_sections:
                continue
            self._seen_sections.add((section.version, section.build))
            self.identities.append(
                HostIdentity(
                    host=self.host or "",
                    esxi_version=section.version,
                    build=section.build,
                    citation=Citation(self.display, line, text),
                )
            )
        if parsed.frame is not None and base:
            frame = parsed.frame
            return VasaFrame(frame=frame.frame.with_columns(pl.col("line") + base), shape=frame.shape)
        return parsed.frame

    def _say_once(self, key: str, message: str, line: int | None) -> None:
        if key in self._said:
            return
        self._said.add(key)
        if self._warn is not None:
            self._warn(message, line)


#: Lines before the first timestamped line wait for it up to this size, then are given up.
_PREAMBLE_MAX = 1024 * 1024

#: Parse threads per input: polars releases the interpreter lock inside its calls, so two
#: threads parse while the calling thread cuts blocks and folds frames into the analysis. Capped,
#: not one per core: every thread holds a block and its frame, so memory is ``_MAX_IN_FLIGHT``
#: blocks whatever the machine (one per core made a 32-core host hold 33 blocks), and the fold on
#: the calling thread, not the parse, bounds the speed beyond two parse threads.
_POOL_WORKERS = min(os.cpu_count() or 1, 2)
_MAX_IN_FLIGHT = _POOL_WORKERS + 1


def _worker_pool() -> ThreadPoolExecutor | None:
    """A pool of parse threads for one input, shut down when the input is read.

    Threads, not processes: polars releases the interpreter lock inside its calls (measured:
    two threads parsing blocks are inside polars at the same time), so threads share the
    cores without a process's start-up import or the pickling of every block and frame. The
    pool belongs to the call, not the process: a library caller's process is left as it was.
    """
    if _POOL_WORKERS < 1:
        return None
    try:
        return ThreadPoolExecutor(max_workers=_POOL_WORKERS, thread_name_prefix="vvold-parse")
    except RuntimeError:  # interpreter shutting down: parse on the calling thread
        return None


class VvoldReader:
    """Reader for vvold.log, its rotated ``vvold.N.gz`` copies and grep excerpts of them."""

    kind = EvidenceKind.VVOLD_LOG

    _NAME_RE = re.compile(r"(?i)(^|[^a-z])vvold(\.log)?(\.\d+)?(\.log)?$|vvold")
    _CONTENT_STRONG = re.compile(rb"\b(?:vvold|VVold)\[\d+\]|VasaOp::|VasaSession::")
    _CONTENT_WEAK = re.compile(rb"VasaOp|VasaSession|Issuing '\w+' to VP|FINAL (?:SUCCESS|FAILURE)")
    _GREP_EXCERPT = re.compile(rb"(?m)^(?:[^\s:]+[:-])?\d+[:-]\d{4}-\d{2}-\d{2}T")

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
        """Stream frames and host identities; never raises (problems become warnings).

        Blocks are parsed on this input's parse pool (:meth:`VvoldStream.feed_all`; polars
        releases the GIL), with results handed on in file order, so memory stays at a few blocks.
        """
        stream = VvoldStream(ef.display, ef.host, warn=lambda message, line: ef.warn(message, line))
        try:
            for frame in stream.feed_all(restamped(ef, ef.blocks(READ_BLOCK_BYTES))):
                yield from _drain_identities(stream)
                if frame.frame.height:
                    yield frame
            yield from _drain_identities(stream)
        except Exception as exc:  # the last line of defence: a reader never raises
            ef.warn(f"internal: vvold reader stopped early ({exc!r})")
        span = stream.span
        if span is not None:
            yield EvidenceSpan(ef.display, ef.host, EvidenceKind.VVOLD_LOG, span[0], span[1], span[2])


def _drain_identities(stream: VvoldStream) -> Iterator[HostIdentity]:
    while stream.identities:
        yield stream.identities.pop(0)


READERS = [VvoldReader()]
