"""Cut windows of a log around each failure, with the source file and line numbers.

Why windows and not whole logs: a vvold.log can be gigabytes, the vendor needs the minutes around
each failure, and every line shipped is a line to redact and to read. One streaming pass per file:
a time-bounded look-behind buffer supplies the "before" part when a failure is reached, and the
window stays open until ``window`` after the last failure it covers (close failures share one
window). Memory is bounded by the line cap of the reader (``stream.LINE_KEEP``) and the per-window
line and character caps, whatever the size of the log or of one of its lines.

Time: lines are read a block at a time and parsed vectorised (polars); only the lines of an open
window and the few where something happens go through Python one by one, so a quiet gigabyte
costs about one parse, and a block without any timestamp or signal is not even split.

Failures ("anchors") are the failed vCenter tasks when a task export was given, matched to the
host by short name; without them, the vvold lines that the runbook calls failure signals
(``No free connections``, ``PROVIDER_BUSY``, ``FINAL FAILURE``, ``TimedOut``, ``TRANSPORT_FAULT``,
``setContext ... failed``, SSL errors) anchor windows themselves.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import polars as pl

from vvolguard.escalate.stream import LineStats, text_blocks
from vvolguard.evidence.logline import strip_grep_prefix_expr, ts_expr
from vvolguard.evidence.source import EvidenceFile
from vvolguard.records import clip

#: vvold lines that mark a failure when no task export says when the failures were.
FAILURE_SIGNAL = re.compile(
    r"(?i)no free conn|GetFreeConn|PROVIDER_BUSY|VasaProviderBusy|FINAL FAILURE|TimedOut|"
    r"TRANSPORT_FAULT|setContext for VP .* failed|SSL Exception|RESOURCE_BUSY"
)
#: Lines kept before the first anchor of a window, and from it on; beyond, the window is cut.
MAX_BEFORE = 2000
MAX_AFTER = 8000
#: The same in characters (lines are at most ``stream.LINE_KEEP`` bytes each): with the line
#: caps these bound one window, the only thing held in memory, to about 12 MiB of text.
MAX_BEFORE_CHARS = 4 * 1024 * 1024
MAX_WINDOW_CHARS = 8 * 1024 * 1024
#: Windows per file, and lines and characters kept per file: a storm lasting hours must not
#: become the package.
MAX_WINDOWS = 100
MAX_LINES_PER_FILE = 200_000
MAX_CHARS_PER_FILE = 64 * 1024 * 1024
#: Lines of the file's end kept when no failure was found in it, so the vendor still sees state.
TAIL_LINES = 500
#: Anchor descriptions listed in a window header (the rest are counted).
ANCHORS_LISTED = 20


@dataclass(frozen=True)
class Anchor:
    """A failure time; ``hosts`` are the short host names it concerns (None: any host)."""

    time: datetime
    label: str
    hosts: frozenset[str] | None = None

    def concerns(self, host: str | None) -> bool:
        return self.hosts is None or host is None or short_host(host) in self.hosts


@dataclass
class Excerpt:
    """One window cut from one file (line numbers are 1-based, in the decompressed file)."""

    source: str
    host: str | None
    window: timedelta
    anchors: list[str] = field(default_factory=list)
    anchor_count: int = 0
    lines: list[tuple[int, str]] = field(default_factory=list)
    start: datetime | None = None
    end: datetime | None = None
    cut: int = 0  # lines inside the window that were not kept (cap)
    tail: bool = False  # no failure in this file: its last lines instead

    @property
    def first_line(self) -> int:
        return self.lines[0][0] if self.lines else 0

    @property
    def last_line(self) -> int:
        return self.lines[-1][0] if self.lines else 0

    def add_anchor(self, label: str) -> None:
        self.anchor_count += 1
        if len(self.anchors) < ANCHORS_LISTED:
            self.anchors.append(label)

    def render(self, display: str | None = None) -> str:
        """The excerpt file: a ``#`` header naming the source, then ``<line>:<text>`` lines."""
        source = display or self.source
        head = [
            "# vvolguard excerpt",
            f"# source: {source}",
            f"# host: {self.host or 'unknown'}",
            f"# lines: {self.first_line}-{self.last_line} ({len(self.lines)} kept)",
        ]
        if self.tail:
            head.append("# window: none; no failure was found in this file, these are its last lines")
        else:
            head.append(
                f"# window: {_iso(self.start)} .. {_iso(self.end)} "
                f"(+/- {int(self.window.total_seconds() // 60)} min around each failure)"
            )
            head.append(f"# failures in this window: {self.anchor_count}")
            head.extend(f"#   {label}" for label in self.anchors)
            if self.anchor_count > len(self.anchors):
                head.append(f"#   ... and {self.anchor_count - len(self.anchors)} more")
        if self.cut:
            head.append(f"# note: {self.cut} lines of this window were left out (cap per window)")
        head.append("# format: <line number in the source file>:<original line>")
        body = [f"{number}:{text}" for number, text in self.lines]
        return "\n".join(head + body) + "\n"


def short_host(name: str) -> str:
    """``esx-03.corp.example.com`` -> ``esx-03`` (IP addresses stay whole), lower-cased."""
    name = name.strip().lower()
    if re.fullmatch(r"[\d.]+|[0-9a-f:]+", name):
        return name
    return name.split(".", 1)[0]


def _iso(when: datetime | None) -> str:
    return when.isoformat().replace("+00:00", "Z") if when else "?"


def _us(when: datetime) -> int:
    return int(when.timestamp() * 1_000_000)


def _dt(us: int) -> datetime:
    return datetime.fromtimestamp(us / 1_000_000, UTC)


#: Shortest line that can hold a failure signal or a timestamp; shorter lines are not parsed.
_MIN_PARSED = 8
_NO_TS = -(2**62)
#: A cheap first look at a whole block: without a timestamp or a signal in it, no line can open
#: or close a window, and the block is handled without splitting it into rows at all.
_BLOCK_QUICK = rf"\d{{4}}-\d{{2}}-\d{{2}}T\d{{2}}:\d{{2}}|{FAILURE_SIGNAL.pattern}"


def _frame(text: str, first: int) -> pl.DataFrame:
    """number, ts (µs, null if none), signal, text for the lines of one block, vectorised.

    Only lines long enough to hold a timestamp or a signal are parsed (a block of blank lines
    costs a split, not a million timestamp parses).
    """
    lines = pl.Series("text", [text], dtype=pl.String).str.split("\n").explode()
    n = len(lines)
    ts = pl.repeat(None, n, dtype=pl.Int64, eager=True).alias("ts")
    signal = pl.repeat(False, n, dtype=pl.Boolean, eager=True).alias("signal")
    parsed = (lines.str.len_bytes() >= _MIN_PARSED).arg_true()
    if len(parsed):
        sub = pl.DataFrame({"line": lines.gather(parsed)}).select(
            ts=ts_expr(strip_grep_prefix_expr(pl.col("line").str.slice(0, 400))).dt.epoch("us"),
            signal=pl.col("line").str.contains(FAILURE_SIGNAL.pattern),
        )
        ts = ts.scatter(parsed, sub["ts"])
        signal = signal.scatter(parsed, sub["signal"])
    number = pl.int_range(first, first + n, dtype=pl.Int64, eager=True).alias("number")
    return pl.DataFrame([number, ts, signal, lines])


@dataclass
class _Cutter:
    """The window state machine of :func:`cut_windows`, fed one block of lines at a time.

    Only the lines that matter go through Python one by one: those of an open window (bounded
    by the per-window caps) and the lines where something happens (a failure time is reached, a
    failure signal opens a window, a saturated window ends). Between those, blocks are handled
    vectorised: searches on the running maximum of the timestamps, counts of signals, and the
    last :data:`MAX_BEFORE` lines kept (lazily) as the look-behind.
    """

    ef: EvidenceFile
    anchors: list[Anchor]
    window: timedelta
    inline: bool
    tail_lines: int
    on_window: Callable[[Excerpt], None] | None
    out: list[Excerpt] = field(default_factory=list)
    dropped: int = 0

    def __post_init__(self) -> None:
        self.width = int(self.window.total_seconds() * 1_000_000)
        self.pending = sorted(
            ((_us(a.time), a.label) for a in self.anchors if a.concerns(self.ef.host)), key=lambda a: a[0]
        )
        self.index = 0
        self.kept = 0
        self.kept_chars = 0
        self.current: Excerpt | None = None
        self.end = 0
        self.after = 0
        self.window_chars = 0
        self.last_ts: int | None = None
        self.number = 1
        self.recent: deque[tuple[int, int | None, str]] = deque()
        self.recent_chars = 0
        self.lazy: pl.DataFrame | None = None  # the newest look-behind lines, not yet in ``recent``
        self.tail: deque[tuple[int, str]] = deque(maxlen=self.tail_lines)

    # -- state ---------------------------------------------------------------------------------

    @property
    def exhausted(self) -> bool:
        return (
            len(self.out) >= MAX_WINDOWS
            or self.kept >= MAX_LINES_PER_FILE
            or self.kept_chars >= MAX_CHARS_PER_FILE
        )

    @property
    def hot(self) -> bool:
        """A window is open and still takes lines."""
        return self.current is not None and self.after < MAX_AFTER and self.window_chars < MAX_WINDOW_CHARS

    def _close(self, until: int) -> None:
        excerpt = self.current
        assert excerpt is not None
        excerpt.end = _dt(until)
        self.current = None
        if self.on_window is not None:
            self.on_window(excerpt)
            excerpt.lines = []

    def _open(self, at: int, label: str) -> Excerpt | None:
        if self.exhausted:
            self.dropped += 1
            return None
        excerpt = Excerpt(source=self.ef.display, host=self.ef.host, window=self.window)
        excerpt.start = _dt(at - self.width)
        excerpt.add_anchor(label)
        self._materialise()
        excerpt.lines = [(n, t) for n, ts, t in self.recent if ts is None or ts >= at - self.width]
        self.kept += len(excerpt.lines)
        self.window_chars = sum(len(t) for _, t in excerpt.lines)
        self.kept_chars += self.window_chars
        self.recent.clear()
        self.recent_chars = 0
        self.out.append(excerpt)
        return excerpt

    # -- look-behind ---------------------------------------------------------------------------

    def _materialise(self) -> None:
        if self.lazy is not None:
            lazy, self.lazy = self.lazy, None
            for row in lazy.iter_rows():
                self._remember(row)

    def _remember(self, row: tuple[int, int | None, str]) -> None:
        self.recent.append(row)
        self.recent_chars += len(row[2])
        while len(self.recent) > MAX_BEFORE or self.recent_chars > MAX_BEFORE_CHARS:
            self.recent_chars -= len(self.recent.popleft()[2])

    def _remember_many(self, rows: pl.DataFrame) -> None:
        """Keep the last lines of a stretch nothing happened in (number, ts, text)."""
        if rows.height >= MAX_BEFORE:
            self.recent.clear()
            self.recent_chars = 0
            self.lazy = rows.tail(MAX_BEFORE)
        else:
            self._materialise()
            self.lazy = rows

    # -- one line ------------------------------------------------------------------------------

    def _row(self, number: int, ts: int | None, signal: bool, text: str) -> None:
        """The per-line rules (``ts`` already carries the last timestamp for lines without one)."""
        current = self.current
        if current is not None and ts is not None and ts > self.end:
            self._close(self.end)
            current = None
        while ts is not None and self.index < len(self.pending) and self.pending[self.index][0] <= ts:
            at, label = self.pending[self.index]
            self.index += 1
            if current is not None:
                current.add_anchor(label)
                if self.hot:
                    self.end = max(self.end, at + self.width)
                continue
            if ts > at + self.width:  # a gap in the log: the window lies behind this line
                self._materialise()
                reaches = any(t is None or t >= at - self.width for _, t, _ in self.recent)
                if reaches and self._open(at, label) is not None:
                    self.current = self.out[-1]
                    self._close(at + self.width)
                continue
            current = self.current = self._open(at, label)
            self.end, self.after = at + self.width, 0
        if self.inline and signal and ts is not None:
            label = f"line {number}: {clip(text, 200)}"
            if current is not None:
                current.add_anchor(label)
                if self.hot:
                    self.end = max(self.end, ts + self.width)
            else:
                current = self.current = self._open(ts, label)
                self.end, self.after = ts + self.width, 0
        if current is not None:
            if self.hot:
                current.lines.append((number, text))
                self.after += 1
                self.kept += 1
                self.window_chars += len(text)
                self.kept_chars += len(text)
                return
            current.cut += 1
        self._materialise()
        self._remember((number, ts, text))
        if ts is not None:
            while self.recent and self.recent[0][1] is not None and self.recent[0][1] < ts - self.width:
                self.recent_chars -= len(self.recent.popleft()[2])

    # -- blocks --------------------------------------------------------------------------------

    def feed(self, text: str) -> None:
        count = text.count("\n") + 1
        first = self.number
        self.number += count
        quick = pl.Series([text], dtype=pl.String).str.contains(_BLOCK_QUICK).item()
        if quick:
            self._feed_frame(_frame(text, first))
        else:
            self._feed_timeless(text, first, count)
        if self.tail.maxlen:
            last = text.rsplit("\n", self.tail.maxlen)[-self.tail.maxlen :]
            self.tail.extend(zip(range(first + count - len(last), first + count), last, strict=True))

    def _feed_timeless(self, text: str, first: int, count: int) -> None:
        """A block without timestamps or signals: it can only fill an open window."""
        done = 0
        if self.hot:
            room = min(count, MAX_AFTER - self.after)
            for line in text.split("\n", room)[:room]:
                self._row(first + done, self.last_ts, False, line)
                done += 1
                if not self.hot:
                    break
        rest = count - done
        if not rest:
            return
        if self.current is not None:
            self.current.cut += rest
        keep = min(rest, MAX_BEFORE)
        last = text.rsplit("\n", keep)[-keep:]
        numbers = range(first + count - keep, first + count)
        self._remember_many(
            pl.DataFrame(
                {"number": list(numbers), "ts": [self.last_ts] * keep, "text": last},
                schema={"number": pl.Int64, "ts": pl.Int64, "text": pl.String},
            )
        )

    def _feed_frame(self, frame: pl.DataFrame) -> None:
        n = frame.height
        ts = frame["ts"].fill_null(strategy="forward")
        if self.last_ts is not None:
            ts = ts.fill_null(self.last_ts)
        frame = frame.with_columns(ts)
        rising = ts.fill_null(_NO_TS).cum_max()  # sorted: first line at or past a time, by search
        signals = frame["signal"].arg_true()
        i = 0
        while i < n:
            if self.hot:
                room = max(1, MAX_AFTER - self.after)
                for row in frame.slice(i, room).iter_rows():
                    self._row(*row)
                    i += 1
                    if not self.hot:
                        break
                continue
            j = self._next_event(i, n, rising, signals)
            if j > i:
                self._cold(frame, i, j, signals)
            if j >= n:
                break
            self._row(*frame.row(j))
            i = j + 1
        last = ts.drop_nulls()
        if len(last):
            self.last_ts = last[-1]

    def _next_event(self, i: int, n: int, rising: pl.Series, signals: pl.Series) -> int:
        """The first line from ``i`` where a rule applies: a failure time reached, a failure
        signal that would open a window, or the end of a saturated window."""
        j = n
        if self.index < len(self.pending):
            j = min(j, max(i, int(rising.search_sorted(self.pending[self.index][0], side="left"))))
        if self.current is not None:
            j = min(j, max(i, int(rising.search_sorted(self.end, side="right"))))
        elif self.inline and len(signals) and not self.exhausted:
            at = int(signals.search_sorted(i, side="left"))
            if at < len(signals):
                j = min(j, int(signals[at]))
        return j

    def _cold(self, frame: pl.DataFrame, i: int, j: int, signals: pl.Series) -> None:
        """Lines ``i..j-1``, where no rule applies: counted, and remembered as look-behind."""
        current = self.current
        if self.inline and len(signals):
            lo = int(signals.search_sorted(i, side="left"))
            hi = int(signals.search_sorted(j, side="left"))
            if hi > lo and current is not None:  # a saturated window: named, no longer stretched
                room = max(0, ANCHORS_LISTED - len(current.anchors))
                for index in signals.slice(lo, min(room, hi - lo)):
                    number, _, _, text = frame.row(int(index))
                    current.add_anchor(f"line {number}: {clip(text, 200)}")
                current.anchor_count += (hi - lo) - min(room, hi - lo)
            elif hi > lo:  # no window open and none may open any more
                self.dropped += hi - lo
        if current is not None:
            current.cut += j - i
        self._remember_many(frame.slice(max(i, j - MAX_BEFORE), j - max(i, j - MAX_BEFORE)).drop("signal"))

    def finish(self) -> None:
        # Failures after the end of this file whose window still reaches back into it.
        for at, label in self.pending[self.index :]:
            if self.last_ts is None or self.last_ts < at - self.width:
                break
            if self.current is not None:
                self.current.add_anchor(label)
            else:
                self.current = self._open(at, label)
                self.end = at + self.width
        if self.current is not None:
            self._close(self.end)
        if not self.out and self.tail:
            ef = self.ef
            last = Excerpt(ef.display, ef.host, self.window, lines=list(self.tail), tail=True)
            self.out.append(last)
            if self.on_window is not None:
                self.on_window(last)
                last.lines = []


def cut_windows(
    ef: EvidenceFile,
    anchors: list[Anchor],
    window: timedelta,
    inline: bool,
    tail_if_empty: bool = False,
    on_window: Callable[[Excerpt], None] | None = None,
    stats: LineStats | None = None,
) -> tuple[list[Excerpt], int]:
    """Windows of ``ef`` around ``anchors`` (and, if ``inline``, around failure signal lines).

    Returns the excerpts and the number of windows not cut (past :data:`MAX_WINDOWS` or the
    per-file line and byte budgets). A window that reaches :data:`MAX_AFTER` lines or
    :data:`MAX_WINDOW_CHARS` characters is saturated: it still ends when it would have, but
    failure signals inside it no longer stretch it, so a storm that lasts hours gives a series of
    bounded windows rather than one endless one.

    ``on_window`` receives each window as soon as it is complete, after which its lines are
    dropped: memory then holds one window at most, however many the file has. Lines are read
    through :func:`~vvolguard.escalate.stream.text_blocks`, so each is cut at
    :data:`~vvolguard.escalate.stream.LINE_KEEP` bytes before it is held.
    """
    cutter = _Cutter(ef, anchors, window, inline, TAIL_LINES if tail_if_empty else 0, on_window)
    for text in text_blocks(ef, stats=stats):
        cutter.feed(text)
    cutter.finish()
    return cutter.out, cutter.dropped
