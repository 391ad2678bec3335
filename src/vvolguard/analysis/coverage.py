"""Coverage: which stretch of time each piece of host evidence can see, per host.

A conclusion drawn from absence ("vvold shows no VASA pressure", "healthy") is only as good as
the time the evidence covers: a vvold.log that starts hours after the failures cannot show the
pressure that caused them. This module keeps, per host, evidence kind and file, the span the
file covers, and answers whether the spans of a host cover a window (with a margin).

Spans come from two places:

* :class:`~vvolguard.records.EvidenceSpan` records, when a reader yields them (the whole file's
  first and last timestamp, or the moment of an esxcli snapshot);
* otherwise they are derived from the records themselves: the first and last timestamp of the
  vvold lines seen per file (VasaFrame ``ts``), and of the hostd/vmkernel events. A derived span
  can only be narrower than the file's true span (readers keep only the lines that matter), so
  the fallback never claims coverage the evidence does not have.

The same fold remembers each vvold process seen per host (pid, first and last line) and the
"time the service was last started" headers, so a vvold restart inside the evidence can be
reported.

Memory is bounded: one entry per (host, kind, file), a capped number of pids and headers per host.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import TYPE_CHECKING

from vvolguard.analysis.migrations import host_key
from vvolguard.evidence.hostnames import ARCHIVE_SUFFIXES, BUNDLE_NAME
from vvolguard.records import Citation, EvidenceKind, EvidenceSpan, HostLogEvent, VasaEventKind, VasaFrame

if TYPE_CHECKING:
    import polars as pl

#: vvold processes and service-start headers remembered per host (a restart loop beyond this adds
#: nothing a person would read).
MAX_PIDS_PER_HOST = 64
MAX_STARTS_PER_HOST = 64
#: Evidence that is a command's output at one instant, not a log over a span.
SNAPSHOT_KINDS = frozenset(
    {
        str(EvidenceKind.VASAPROVIDER_LIST),
        str(EvidenceKind.PROTOCOLENDPOINT_LIST),
        str(EvidenceKind.STORAGECONTAINER_LIST),
    }
)
#: hostd/vmkernel sources mapped to the evidence kind their file is.
HOST_LOG_KINDS = {"hostd": EvidenceKind.HOSTD_LOG, "vmkernel": EvidenceKind.VMKERNEL_LOG}

_STARTED_RE = re.compile(
    r"time the service was last started,?\s*"
    r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:Z|[+-]\d{2}:?\d{2}))?"
)
_PID_RE = re.compile(r"pid=(\d{1,10})")


@dataclass
class Span:
    """The time one file of one kind covers for one host."""

    host: str | None  # display name as first seen; None when the file names no host
    kind: str  # an EvidenceKind value
    file: str
    start: datetime
    end: datetime
    lines: int = 0
    from_reader: bool = False  # an EvidenceSpan said so (else derived from record times)

    def widen(self, start: datetime, end: datetime, lines: int, from_reader: bool) -> None:
        self.start = min(self.start, start)
        self.end = max(self.end, end)
        self.lines += lines
        self.from_reader = self.from_reader or from_reader


@dataclass
class ProcessSeen:
    """One vvold process (pid) seen on a host: its first and last line."""

    pid: int
    first: datetime
    last: datetime
    citation: Citation


@dataclass
class ServiceStart:
    """A ``time the service was last started`` header: when vvold started, and the line."""

    started: datetime | None  # None for the 6.7 header, which prints no time
    header_ts: datetime
    pid: int | None
    citation: Citation


@dataclass
class Restart:
    """A vvold restart seen inside the evidence of one host."""

    host: str | None
    after: datetime | None  # last line of the old process, when known
    at: datetime  # first line of the new process (or the start the header names)
    old_pid: int | None
    new_pid: int | None
    citations: list[Citation] = field(default_factory=list)


@dataclass
class HostCoverage:
    """Whether one host's evidence of one kind covers a window: the answer and its reasons."""

    host: str | None
    kind: str
    needed: tuple[datetime, datetime]
    spans: list[Span]
    missing: list[tuple[datetime, datetime]]  # parts of ``needed`` no span covers

    @property
    def covers(self) -> bool:
        return bool(self.spans) and not self.missing

    @property
    def start(self) -> datetime | None:
        return min((s.start for s in self.spans), default=None)

    @property
    def end(self) -> datetime | None:
        return max((s.end for s in self.spans), default=None)


class CoverageLedger:
    """Spans per (host key, kind, file), vvold processes and service starts per host."""

    def __init__(self) -> None:
        self.spans: dict[tuple[str, str, str], Span] = {}
        self.processes: dict[str, dict[int, ProcessSeen]] = {}
        self.starts: dict[str, list[ServiceStart]] = {}
        self._host_names: dict[str, str | None] = {}

    # ---------------------------------------------------------------- folding

    def add_span(self, span: EvidenceSpan) -> None:
        """A reader's statement of what one file covers (preferred over derived spans)."""
        start, end = _utc(span.start), _utc(span.end)
        if end < start:
            start, end = end, start
        self._put(span.host, str(span.kind), span.file, start, end, span.lines, True)

    def add_snapshot(self, host: str | None, kind: str, file: str) -> None:
        """An esxcli output from a vm-support bundle: taken when the bundle was, which its name
        says (``esx-<host>-YYYY-MM-DD--HH.MM-<pid>``). A span of one instant; nothing if the name
        does not say."""
        when = bundle_time(file)
        if when is not None:
            self._put(host, kind, file, when, when, 0, False)

    def add_event(self, event: HostLogEvent) -> None:
        """A hostd/vmkernel event: its time is part of its file's span (a lower bound)."""
        kind = HOST_LOG_KINDS.get(event.source.lower(), EvidenceKind.HOSTD_LOG)
        ts = _utc(event.ts)
        self._put(event.host, str(kind), event.citation.file, ts, ts, 1, False)

    def add_frame(self, frame: VasaFrame) -> None:
        """Per file and host of a vvold frame: first/last time and line count; per process:
        first/last line; and the service-start headers. One small group-by per frame."""
        import polars as pl

        df = frame.frame
        if df.height == 0 or "ts" not in df.columns:
            return
        cols = ["file", "host", "pid", "ts", "line", "text", "kind"]
        present = [c for c in cols if c in df.columns]
        view = df.select(present)
        for name in set(cols) - set(present):
            view = view.with_columns(pl.lit(None).alias(name))
        view = view.filter(pl.col("ts").is_not_null())
        if view.height == 0:
            return
        groups = view.group_by("file", "host", "pid").agg(
            pl.col("ts").min().alias("lo"),
            pl.col("ts").max().alias("hi"),
            pl.len().alias("n"),
            pl.col("line").first().alias("line"),
            pl.col("text").first().alias("text"),
            pl.col("ts").first().alias("first_ts"),
        )
        for file, host, pid, lo, hi, n, line, text, first_ts in groups.iter_rows():
            lo, hi = _utc(lo), _utc(hi)
            self._put(host, str(EvidenceKind.VVOLD_LOG), file or "vvold.log", lo, hi, int(n), False)
            if pid is None or pid < 0:
                continue
            procs = self.processes.setdefault(self._process_key(host, file), {})
            seen = procs.get(int(pid))
            if seen is None:
                if len(procs) < MAX_PIDS_PER_HOST:
                    cite = Citation(file or "vvold.log", line, text or "")
                    procs[int(pid)] = ProcessSeen(int(pid), _utc(first_ts), hi, cite)
            else:
                seen.last = max(seen.last, hi)
                if lo < seen.first:
                    seen.first = lo
        self._fold_starts(view)

    def _fold_starts(self, view: pl.DataFrame) -> None:
        import polars as pl

        heads = view.filter(pl.col("kind") == VasaEventKind.SERVICE_START.value)
        for file, host, pid, ts, line, text in heads.select(
            "file", "host", "pid", "ts", "line", "text"
        ).iter_rows():
            starts = self.starts.setdefault(self._process_key(host, file), [])
            if len(starts) >= MAX_STARTS_PER_HOST:
                continue
            text = text or ""
            started = None
            match = _STARTED_RE.search(text)
            if match and match.group(1):
                started = _parse(match.group(1))
            elif match and "rotation" not in text:
                started = _utc(ts)  # the 6.7 header prints no time: it is written at the start
            pid_match = _PID_RE.search(text)
            header_pid = int(pid_match.group(1)) if pid_match else (int(pid) if pid and pid > 0 else None)
            starts.append(
                ServiceStart(started, _utc(ts), header_pid, Citation(file or "vvold.log", line, text))
            )

    def _put(
        self, host: str | None, kind: str, file: str, start: datetime, end: datetime, lines: int, reader: bool
    ) -> None:
        key = (host_key(host), kind, file)
        span = self.spans.get(key)
        if span is None:
            self.spans[key] = Span(host or None, kind, file, start, end, lines, reader)
        else:
            span.widen(start, end, lines, reader)
            span.host = span.host or host

    @staticmethod
    def _process_key(host: str | None, file: str | None) -> str:
        """Processes are compared per host; a file that names no host is its own (two unnamed
        files may come from two hosts, and their pids say nothing about each other)."""
        return host_key(host) or f"file:{file or ''}"

    # ---------------------------------------------------------------- questions

    def kinds_for(self, hk: str) -> dict[str, list[Span]]:
        out: dict[str, list[Span]] = {}
        for (h, kind, _), span in self.spans.items():
            if h == hk:
                out.setdefault(kind, []).append(span)
        return out

    def host_spans(self, hk: str, kind: str) -> list[Span]:
        return sorted(
            (s for (h, k, _), s in self.spans.items() if h == hk and k == kind),
            key=lambda s: (s.start, s.file),
        )

    def hosts_with(self, kind: str) -> list[str]:
        return sorted({h for (h, k, _) in self.spans if k == kind})

    def check(
        self,
        hk: str,
        kind: str,
        window: tuple[datetime, datetime],
        margin_s: float,
        gap_s: float,
        snapshot_age_s: float = 86400.0,
    ) -> HostCoverage:
        """Does host ``hk``'s evidence of ``kind`` cover ``window`` widened by ``margin_s`` before
        its start? Spans closer than ``gap_s`` are joined (rotated files abut, and a log quiet for
        less than that is still the same log). A command output (esxcli) is an instant: it
        speaks for the window when taken from the window's start to ``snapshot_age_s`` after its
        end."""
        needed = (window[0] - timedelta(seconds=margin_s), window[1])
        spans = self.host_spans(hk, kind)
        if kind in SNAPSHOT_KINDS:
            late = window[1] + timedelta(seconds=snapshot_age_s)
            timely = any(needed[0] <= s.start <= late for s in spans)
            shown = next((s.host for s in spans if s.host), None)
            return HostCoverage(shown, kind, needed, spans, [] if timely else [needed])
        merged = _merge([(s.start, s.end) for s in spans], timedelta(seconds=gap_s))
        missing = _subtract(needed, merged)
        shown = next((s.host for s in spans if s.host), None)
        return HostCoverage(shown, kind, needed, spans, missing)

    def restarts(self) -> list[Restart]:
        """vvold restarts inside the evidence, per host: a new pid after an old one, or a
        service-start header whose start time falls inside the host's own vvold evidence."""
        out: list[Restart] = []
        for key, procs in sorted(self.processes.items()):
            ordered = sorted(procs.values(), key=lambda p: p.first)
            for old, new in pairwise(ordered):
                out.append(
                    Restart(
                        self._shown(key), old.last, new.first, old.pid, new.pid, [old.citation, new.citation]
                    )
                )
        for key, starts in sorted(self.starts.items()):
            procs = self.processes.get(key, {})
            earliest = min((p.first for p in procs.values()), default=None)
            for s in starts:
                # a start before (or at) the first line of the evidence is a rotation header or
                # the log's own beginning: no restart can be seen there
                if s.started is None or earliest is None or s.started <= earliest + timedelta(seconds=1):
                    continue
                seen = procs.get(s.pid) if s.pid is not None else None
                if seen is not None and seen.first < s.header_ts - timedelta(seconds=1):
                    continue  # that process wrote lines before the header: a rotation
                if any(r.new_pid == s.pid and abs((r.at - s.started).total_seconds()) < 3600 for r in out):
                    continue
                out.append(Restart(self._shown(key), None, s.started, None, s.pid, [s.citation]))
        return sorted(out, key=lambda r: (r.at, r.host or ""))

    def _shown(self, key: str) -> str | None:
        if key.startswith("file:"):
            return None
        return next((s.host for (h, _, _), s in self.spans.items() if h == key and s.host), key)


def bundle_time(display: str) -> datetime | None:
    """When the vm-support bundle a file comes from was taken, from the bundle's name (ESXi
    writes it in UTC, to the minute); None when no part of the path is a bundle name."""
    for part in re.split(r"[/!\\]", display):
        base = part
        for suffix in ARCHIVE_SUFFIXES:
            if base.lower().endswith(suffix):
                base = base[: -len(suffix)]
                break
        match = BUNDLE_NAME.match(base)
        if match:
            try:
                return datetime.strptime(f"{match['date']} {match['time']}", "%Y-%m-%d %H.%M").replace(
                    tzinfo=UTC
                )
            except ValueError:
                return None
    return None


def _merge(intervals: list[tuple[datetime, datetime]], gap: timedelta) -> list[tuple[datetime, datetime]]:
    out: list[tuple[datetime, datetime]] = []
    for lo, hi in sorted(intervals):
        if out and lo <= out[-1][1] + gap:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def _subtract(
    needed: tuple[datetime, datetime], have: list[tuple[datetime, datetime]]
) -> list[tuple[datetime, datetime]]:
    """The parts of ``needed`` that no interval of ``have`` (sorted, disjoint) covers."""
    lo, hi = needed
    missing: list[tuple[datetime, datetime]] = []
    cursor = lo
    for a, b in have:
        if b < cursor:
            continue
        if a > hi:
            break
        if a > cursor:
            missing.append((cursor, min(a, hi)))
        cursor = max(cursor, b)
        if cursor >= hi:
            break
    if cursor < hi:
        missing.append((cursor, hi))
    return missing


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _parse(text: str) -> datetime | None:
    try:
        return _utc(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        return None
