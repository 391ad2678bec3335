"""Cut windows of a log around each failure, with the source file and line numbers.

Why windows and not whole logs: a vvold.log can be gigabytes, the vendor needs the minutes around
each failure, and every line shipped is a line to redact and to read. One streaming pass per file:
a time-bounded look-behind buffer supplies the "before" part when a failure is reached, and the
window stays open until ``window`` after the last failure it covers (close failures share one
window). Memory is bounded by the per-window line caps, whatever the size of the log.

Failures ("anchors") are the failed vCenter tasks when a task export was given, matched to the
host by short name; without them, the vvold lines that the runbook calls failure signals
(``No free connections``, ``PROVIDER_BUSY``, ``FINAL FAILURE``, ``TimedOut``, ``TRANSPORT_FAULT``,
``setContext ... failed``, SSL errors) anchor windows themselves.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import polars as pl

from vvolguard.evidence.logline import strip_grep_prefix_expr, ts_expr
from vvolguard.evidence.source import EvidenceFile
from vvolguard.records import clip

#: vvold lines that mark a failure when no task export says when the failures were.
FAILURE_SIGNAL = re.compile(
    r"(?i)no free conn|GetFreeConn|PROVIDER_BUSY|VasaProviderBusy|FINAL FAILURE|TimedOut|"
    r"TRANSPORT_FAULT|setContext for VP .* failed|SSL Exception|RESOURCE_BUSY"
)
#: One parsed line: number (1-based), timestamp (µs since the epoch, None if the line has none),
#: whether it is a failure signal, and its text.
Row = tuple[int, int | None, bool, str]

#: Lines kept before the first anchor of a window, and from it on; beyond, the window is cut.
MAX_BEFORE = 2000
MAX_AFTER = 8000
#: Windows per file, and lines kept per file: a storm lasting hours must not become the package.
MAX_WINDOWS = 100
MAX_LINES_PER_FILE = 200_000
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


def _parse_block(lines: list[str], first: int) -> Iterator[Row]:
    """Timestamps and failure flags for a block of lines, computed by polars in one go."""
    frame = pl.DataFrame({"line": lines}, schema={"line": pl.String}).select(
        text=pl.col("line").str.strip_chars_end("\r"),
        ts=ts_expr(strip_grep_prefix_expr(pl.col("line").str.slice(0, 400))).dt.epoch("us"),
        signal=pl.col("line").str.contains(FAILURE_SIGNAL.pattern),
    )
    yield from zip(
        range(first, first + len(lines)),
        frame["ts"].to_list(),
        frame["signal"].to_list(),
        frame["text"].to_list(),
        strict=True,
    )


def rows(ef: EvidenceFile, block_bytes: int = 4 * 1024 * 1024) -> Iterator[Row]:
    """``(line number, timestamp in µs or None, failure signal?, text)`` for every line of ``ef``.

    Lines are cut and parsed a block at a time (vectorised), so a gigabyte log costs a few
    seconds of parsing and memory stays at a block; a damaged stream ends with a warning on ``ef``.
    """
    number = 1
    pending = b""
    for block in ef.blocks(block_bytes):
        data = pending + block
        cut = data.rfind(b"\n")
        if cut < 0:
            pending = data
            continue
        pending = data[cut + 1 :]
        lines = data[:cut].decode("utf-8", "replace").split("\n")
        yield from _parse_block(lines, number)
        number += len(lines)
    if pending:
        yield from _parse_block([pending.decode("utf-8", "replace")], number)


def is_failure_signal(text: str) -> bool:
    return bool(FAILURE_SIGNAL.search(text))


def _us(when: datetime) -> int:
    return int(when.timestamp() * 1_000_000)


def _dt(us: int) -> datetime:
    return datetime.fromtimestamp(us / 1_000_000, UTC)


def cut_windows(
    ef: EvidenceFile,
    anchors: list[Anchor],
    window: timedelta,
    inline: bool,
    tail_if_empty: bool = False,
    source: Iterable[Row] | None = None,
    on_window: Callable[[Excerpt], None] | None = None,
) -> tuple[list[Excerpt], int]:
    """Windows of ``ef`` around ``anchors`` (and, if ``inline``, around failure signal lines).

    Returns the excerpts and the number of windows not cut (past :data:`MAX_WINDOWS` or the
    per-file line budget). A window that reaches :data:`MAX_AFTER` lines is saturated: it still
    ends when it would have, but failure signals inside it no longer stretch it, so a storm that
    lasts hours gives a series of bounded windows rather than one endless one.

    ``on_window`` receives each window as soon as it is complete, after which its lines are
    dropped: memory then holds one window at most, however many the file has.
    """
    width = int(window.total_seconds() * 1_000_000)
    pending = sorted(((_us(a.time), a.label) for a in anchors if a.concerns(ef.host)), key=lambda a: a[0])
    out: list[Excerpt] = []
    dropped = 0
    kept = 0
    recent: deque[tuple[int, int | None, str]] = deque(maxlen=MAX_BEFORE)
    tail: deque[tuple[int, str]] = deque(maxlen=TAIL_LINES if tail_if_empty else 0)
    current: Excerpt | None = None
    end = 0  # µs end of the current window
    after = 0
    last_ts: int | None = None
    index = 0

    def close(excerpt: Excerpt, until: int) -> None:
        excerpt.end = _dt(until)
        if on_window is not None:
            on_window(excerpt)
            excerpt.lines = []

    def open_window(at: int, label: str) -> Excerpt | None:
        nonlocal dropped, kept
        if len(out) >= MAX_WINDOWS or kept >= MAX_LINES_PER_FILE:
            dropped += 1
            return None
        excerpt = Excerpt(source=ef.display, host=ef.host, window=window)
        excerpt.start = _dt(at - width)
        excerpt.add_anchor(label)
        excerpt.lines = [(n, t) for n, ts, t in recent if ts is None or ts >= at - width]
        kept += len(excerpt.lines)
        recent.clear()
        out.append(excerpt)
        return excerpt

    for number, ts, signal, text in source if source is not None else rows(ef):
        if tail.maxlen:
            tail.append((number, text))
        if ts is None:
            ts = last_ts
        else:
            last_ts = ts
        if current is not None and ts is not None and ts > end:
            close(current, end)
            current = None
        while ts is not None and index < len(pending) and pending[index][0] <= ts:
            at, label = pending[index]
            index += 1
            if current is not None:
                current.add_anchor(label)
                if after < MAX_AFTER:
                    end = max(end, at + width)
                continue
            if ts > at + width:  # a gap in the log: the window lies behind this line
                if any(t is None or t >= at - width for _, t, _ in recent):
                    gap = open_window(at, label)
                    if gap is not None:
                        close(gap, at + width)
                continue
            current = open_window(at, label)
            end, after = at + width, 0
        if inline and signal and ts is not None:
            label = f"line {number}: {clip(text, 200)}"
            if current is not None:
                current.add_anchor(label)
                if after < MAX_AFTER:
                    end = max(end, ts + width)
            else:
                current = open_window(ts, label)
                end, after = ts + width, 0
        if current is not None:
            if after < MAX_AFTER:
                current.lines.append((number, text))
                after += 1
                kept += 1
                continue
            current.cut += 1
        recent.append((number, ts, text))
        while recent and ts is not None and recent[0][1] is not None and recent[0][1] < ts - width:
            recent.popleft()
    # Failures after the end of this file whose window still reaches back into it.
    for at, label in pending[index:]:
        if last_ts is None or last_ts < at - width:
            break
        if current is not None:
            current.add_anchor(label)
        else:
            current = open_window(at, label)
            end = at + width
    if current is not None:
        close(current, end)
    if not out and tail:
        last = Excerpt(source=ef.display, host=ef.host, window=window, lines=list(tail), tail=True)
        out.append(last)
        if on_window is not None:
            on_window(last)
            last.lines = []
    return out, dropped
