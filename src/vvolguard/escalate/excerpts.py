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
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from vvolguard.evidence.logline import parse_ts, strip_grep_prefix
from vvolguard.evidence.source import EvidenceFile
from vvolguard.records import clip

#: vvold lines that mark a failure when no task export says when the failures were.
FAILURE_SIGNAL = re.compile(
    r"(?i)no free conn|GetFreeConn|PROVIDER_BUSY|VasaProviderBusy|FINAL FAILURE|TimedOut|"
    r"TRANSPORT_FAULT|setContext for VP .* failed|SSL Exception|RESOURCE_BUSY"
)
_PREFILTER = ("onn", "BUSY", "usy", "FAIL", "imed", "TRANSPORT", "failed", "SSL")
_TS_START = re.compile(r"^(?:[^\s:]+:)?(?:\d+:)?\d{4}-\d{2}-\d{2}T")

#: Lines kept before the first anchor of a window, and from it on; beyond, the window is cut.
MAX_BEFORE = 2000
MAX_AFTER = 8000
#: Windows per file; a storm lasting hours with anchors everywhere would otherwise be the log.
MAX_WINDOWS = 100
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


def _line_ts(text: str, cache: dict[str, datetime | None]) -> datetime | None:
    if not _TS_START.match(text):
        return None
    stripped = strip_grep_prefix(text)
    key = stripped[:19] + stripped[23:30]  # second + zone region; sub-second precision is moot
    if key in cache:
        return cache[key]
    when = parse_ts(stripped)
    if len(cache) > 4096:
        cache.clear()
    cache[key] = when
    return when


def is_failure_signal(text: str) -> bool:
    return any(p in text for p in _PREFILTER) and bool(FAILURE_SIGNAL.search(text))


def cut_windows(
    ef: EvidenceFile,
    lines: Iterable[tuple[int, str]],
    anchors: list[Anchor],
    window: timedelta,
    inline: bool,
    tail_if_empty: bool = False,
) -> tuple[list[Excerpt], int]:
    """Windows of ``lines`` around ``anchors`` (and, if ``inline``, around failure signal lines).

    Returns the excerpts and the number of windows dropped past :data:`MAX_WINDOWS`.
    """
    pending = sorted((a for a in anchors if a.concerns(ef.host)), key=lambda a: a.time)
    out: list[Excerpt] = []
    dropped = 0
    recent: deque[tuple[int, datetime | None, str]] = deque(maxlen=MAX_BEFORE)
    tail: deque[tuple[int, str]] = deque(maxlen=TAIL_LINES if tail_if_empty else 0)
    cache: dict[str, datetime | None] = {}
    current: Excerpt | None = None
    after = 0
    last_ts: datetime | None = None
    index = 0

    def open_window(anchor_time: datetime, label: str) -> Excerpt | None:
        nonlocal dropped
        if len(out) >= MAX_WINDOWS:
            dropped += 1
            return None
        excerpt = Excerpt(source=ef.display, host=ef.host, window=window)
        excerpt.start = anchor_time - window
        excerpt.end = anchor_time + window
        excerpt.add_anchor(label)
        excerpt.lines = [(n, t) for n, ts, t in recent if ts is None or ts >= excerpt.start]
        recent.clear()
        out.append(excerpt)
        return excerpt

    for number, text in lines:
        if tail.maxlen:
            tail.append((number, text))
        ts = _line_ts(text, cache)
        if ts is None:
            ts = last_ts
        else:
            last_ts = ts
        if current is not None and ts is not None and current.end is not None and ts > current.end:
            current = None
        while ts is not None and index < len(pending) and pending[index].time <= ts:
            anchor = pending[index]
            index += 1
            if current is not None and current.end is not None:
                current.add_anchor(anchor.label)
                current.end = max(current.end, anchor.time + window)
                continue
            if ts > anchor.time + window:  # a gap in the log: the window lies behind this line
                if any(t is None or t >= anchor.time - window for _, t, _ in recent):
                    open_window(anchor.time, anchor.label)
                continue
            current = open_window(anchor.time, anchor.label)
            after = 0
        if inline and ts is not None and is_failure_signal(text):
            label = f"line {number}: {clip(text, 200)}"
            if current is not None and current.end is not None:
                current.add_anchor(label)
                current.end = max(current.end, ts + window)
            else:
                current = open_window(ts, label)
                after = 0
        if current is not None:
            if after < MAX_AFTER:
                current.lines.append((number, text))
                after += 1
            else:
                current.cut += 1
            continue
        recent.append((number, ts, text))
        while recent and ts is not None and recent[0][1] is not None and recent[0][1] < ts - window:
            recent.popleft()
    # Failures after the end of this file whose window still reaches back into it.
    for anchor in pending[index:]:
        if last_ts is None or last_ts < anchor.time - window:
            break
        if current is not None:
            current.add_anchor(anchor.label)
        else:
            current = open_window(anchor.time, anchor.label)
    if not out and tail:
        out.append(Excerpt(source=ef.display, host=ef.host, window=window, lines=list(tail), tail=True))
    return out, dropped
