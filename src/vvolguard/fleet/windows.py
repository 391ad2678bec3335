"""Per-host incident windows, and the diagnosis of each by ``diagnose``'s own analysis.

The per-file summaries say where something happened: buckets with pressure, host events
(PE unreachable, vMotion failed), failed migrations. Close-by moments of one host (within
:data:`JOIN_GAP_S`) form a window. Each window is diagnosed by the same
:class:`~vvolguard.analysis.engine.Analyzer` as ``diagnose``, fed from that host's files (and the
estate's vCenter exports) with only the records inside the window, so a host's saturation
on Monday and its provider's restart on Thursday are two incidents, each with its own verdict and
citations. A window whose diagnosis finds no failure class is not an incident (one busy answer
in a week is flow control, not saturation).

Certificates are judged estate-wide on the certificate horizon, not per window: a finding about
a certificate would otherwise repeat in every window of every host.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl

from vvolguard.analysis.migrations import host_key
from vvolguard.fleet.files import FileRef
from vvolguard.records import (
    HostLogEvent,
    HostOperation,
    MigrationTask,
    ProviderEvent,
    VasaFrame,
)

#: Moments of one host closer than this belong to one window.
JOIN_GAP_S = 1800
#: Records this long before and after a window are kept (the calm before the storm).
MARGIN_S = 900
#: Host events that start a window by themselves.
WINDOW_EVENTS = frozenset(
    {"pe-path-bad", "vvol-not-found", "vmotion-failed", "switchover-exceeded", "destination-failed-resume"}
)
#: Classes that are incidents (healthy and insufficient evidence are not; certificates are
#: judged on the horizon).
INCIDENT_CLASSES = ("provider-saturation", "provider-registration", "pe-presentation", "not-control-plane")
#: Evidence kinds shared by every host (vCenter's view), read for each window.
SHARED_KINDS = frozenset({"vcenter-tasks", "vcenter-events", "powercli-vasaprovider", "vcenter-sps-log"})
#: Citations kept per incident.
CITATIONS = 5


@dataclass
class WindowJob:
    host: str
    start: datetime
    end: datetime
    files: list[FileRef]
    key: str = ""
    provider: str | None = None
    #: Which of ``files`` are the estate's shared vCenter exports (read once per worker).
    shared: frozenset[str] = frozenset()


@dataclass
class WindowSink:
    """Forwards to the analyzer only what lies in the window (and concerns the host)."""

    analyzer: Any
    start: datetime
    end: datetime
    host: str
    kept: int = field(default=0)

    def _inside(self, ts: datetime | None) -> bool:
        return ts is None or self.start <= ts <= self.end

    def add(self, record: Any) -> None:
        if isinstance(record, VasaFrame):
            frame = record.frame.filter(pl.col("ts").is_between(self.start, self.end))
            if frame.height:
                self.kept += frame.height
                self.analyzer.add(VasaFrame(frame, record.shape))
            return
        if isinstance(record, MigrationTask):
            if self.host not in (host_key(record.source_host), host_key(record.dest_host)):
                return
            first = record.start or record.end
            last = record.end or record.start
            if first is None or last is None or last < self.start or first > self.end:
                return
        elif isinstance(record, HostLogEvent | ProviderEvent | HostOperation):
            when = record.start if isinstance(record, HostOperation) else record.ts
            if not self._inside(when):
                return
        self.analyzer.add(record)


def diagnose_window(job: WindowJob) -> dict[str, Any]:
    """Diagnose one host window (runs on a worker); returns the incident or ``{}``."""
    from vvolguard.analysis.engine import Analyzer
    from vvolguard.analysis.thresholds import Thresholds
    from vvolguard.fleet.summarise import read_ref

    analyzer = Analyzer(now=job.end, thresholds=Thresholds())
    sink = WindowSink(
        analyzer, job.start - timedelta(seconds=MARGIN_S), job.end + timedelta(seconds=MARGIN_S), job.host
    )
    for ref in job.files:
        try:
            if ref.path in job.shared:
                _replay(_shared_reading(ref), sink, analyzer)
                continue
            for got in read_ref(ref, sink):
                analyzer.add_input(got)
        except Exception:
            continue
    d = analyzer.finish()
    candidates = [f for f in d.findings if f.id in INCIDENT_CLASSES]
    if not candidates:
        return {}
    primary = next((f for f in candidates if f.id == d.verdict.cls), None)
    if primary is None:
        primary = max(candidates, key=lambda f: (f.severity.rank, f.confidence))
    return {
        "host": job.host,
        "provider": _provider(primary.providers, job.provider),
        "class": primary.id,
        "start": _iso(job.start),
        "end": _iso(job.end),
        "confidence": round(primary.confidence, 3),
        "severity": str(primary.severity),
        "summary": primary.reason,
        "citations": [
            f"{c.file}:{c.line}: {c.text}" if c.line else f"{c.file}: {c.text}"
            for c in primary.citations[:CITATIONS]
        ],
        "also": sorted({f.id for f in candidates if f is not primary}),
    }


#: What reading one shared export gave, in order: its records (``add``) and, after each of its
#: evidence files, the file's bookkeeping (``input``).
Reading = list[tuple[str, Any]]

#: The shared exports' readings kept by this process (a worker diagnoses many windows), keyed by
#: path and file version, up to :data:`SHARED_RECORDS_KEPT` records in all.
_SHARED_READINGS: dict[tuple[str, tuple[int, float, str]], Reading] = {}
#: Beyond this many records (a few hundred MB of tasks and events) an export is read again for
#: each window instead of kept: memory stays bounded whatever the estate.
SHARED_RECORDS_KEPT = 300_000


class _Recorder:
    """A sink that keeps what it is given, in order, to be replayed into each window's sink."""

    def __init__(self) -> None:
        self.reading: Reading = []

    def add(self, record: Any) -> None:
        self.reading.append(("add", record))


def _shared_reading(ref: FileRef) -> Reading:
    """One shared export (vCenter's tasks, events, providers: every window of every host reads
    them) as read once by this process. Why: read again for each window, the exports of an
    estate, which grow with its hosts, were read once per window, which also grows with its
    hosts: the cost of a fleet run grew with the square of the estate."""
    from vvolguard.fleet.summarise import read_ref

    key = (ref.path, ref.key)
    kept = _SHARED_READINGS.get(key)
    if kept is not None:
        return kept
    recorder = _Recorder()
    for got in read_ref(ref, recorder):
        recorder.reading.append(("input", got))
    held = sum(len(reading) for reading in _SHARED_READINGS.values())
    if held + len(recorder.reading) <= SHARED_RECORDS_KEPT:
        _SHARED_READINGS[key] = recorder.reading
    return recorder.reading


def forget_shared() -> None:
    """Drop the shared exports this process kept (at the end of a run; a long-lived worker of
    the user's own cluster would otherwise hold them until it stops)."""
    _SHARED_READINGS.clear()


def _replay(reading: Reading, sink: WindowSink, analyzer: Any) -> None:
    """Feed a shared export's reading to one window as reading the file would (records are
    frozen; the bookkeeping is copied, as each analyzer keeps its own)."""
    for what, item in reading:
        if what == "add":
            sink.add(item)
        else:
            analyzer.add_input(replace(item))


def _provider(named: list[str], hosts_own: str | None) -> str | None:
    """The provider of an incident: the one the finding names, unless it names several (the
    estate-wide Get-VasaProvider export lists them all) and the host's own is among them or
    unknown to it; then the host's own (the one its vvold talks to)."""
    if len(named) == 1 and (hosts_own is None or hosts_own not in named):
        return named[0]
    return hosts_own or (named[0] if named else None)


def _iso(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _parse(ts: str | None) -> datetime | None:
    return None if ts is None else datetime.fromisoformat(ts.replace("Z", "+00:00"))


def plan_windows(
    summaries: list[dict[str, Any]],
    buckets: pl.DataFrame,
    migrations: pl.DataFrame,
    refs: dict[str, FileRef],
    names: dict[str, str],
) -> list[WindowJob]:
    """Windows per host from pressure buckets, host events and failed migrations."""
    moments: dict[str, list[tuple[float, float]]] = {}
    if buckets.height:
        pressured = buckets.filter(
            (
                pl.col("no_free_conn")
                + pl.col("busy")
                + pl.col("timeout")
                + pl.col("failure")
                + pl.col("setcontext_failure")
                + pl.col("transport")
            )
            > 0
        )
        for host, t in pressured.select("host_key", pl.col("bucket_start").dt.epoch("s")).iter_rows():
            moments.setdefault(host, []).append((float(t), float(t) + 300))
    for s in summaries:
        for ev in s.get("host_events", []):
            if ev.get("kind") in WINDOW_EVENTS and ev.get("host") and ev.get("ts"):
                t = _parse(ev["ts"]).timestamp()  # type: ignore[union-attr]  # ts checked above
                moments.setdefault(host_key(ev["host"]), []).append((t, t))
    if migrations.height:
        failed = migrations.filter(pl.col("state") == "error")
        for source, dest, start, end in failed.select(
            "source_key", "dest_key", pl.col("start").dt.epoch("s"), pl.col("end").dt.epoch("s")
        ).iter_rows():
            first = start if start is not None else end
            last = end if end is not None else start
            if first is None:
                continue
            for host in (source, dest):
                if host:
                    moments.setdefault(host, []).append((float(first), float(last)))
    host_files: dict[str, list[dict[str, Any]]] = {}
    shared: list[dict[str, Any]] = []
    for s in summaries:
        if set(s.get("kinds", ())) & SHARED_KINDS:
            shared.append(s)
        for h in s.get("hosts", ()):
            host_files.setdefault(host_key(h), []).append(s)
    jobs: list[WindowJob] = []
    for host in sorted(moments):
        spans = sorted(moments[host])
        merged: list[list[float]] = []
        for a, b in spans:
            if merged and a - merged[-1][1] <= JOIN_GAP_S:
                merged[-1][1] = max(merged[-1][1], b)
            else:
                merged.append([a, b])
        for a, b in merged:
            start = datetime.fromtimestamp(a, UTC)
            end = datetime.fromtimestamp(b, UTC)
            files = _window_files(host_files.get(host, []), start, end)
            chosen = [*files, *(s for s in shared if s not in files)]
            job = WindowJob(
                names.get(host, host),
                start,
                end,
                [refs[s["path"]] for s in chosen if s["path"] in refs],
                shared=frozenset(s["path"] for s in shared),
            )
            job.key = _job_key(job, chosen, migrations, host)
            jobs.append(job)
    return jobs


def _window_files(summaries: list[dict[str, Any]], start: datetime, end: datetime) -> list[dict[str, Any]]:
    """A host's files whose time span meets the window (with its margin), and its snapshots."""
    lo, hi = start - timedelta(seconds=MARGIN_S), end + timedelta(seconds=MARGIN_S)
    out = []
    for s in summaries:
        first, last = _parse(s.get("first")), _parse(s.get("last"))
        if first is None or last is None or (first <= hi and last >= lo):
            out.append(s)
    return sorted(out, key=lambda s: s["path"])


def _job_key(job: WindowJob, chosen: list[dict[str, Any]], migrations: pl.DataFrame, host: str) -> str:
    """What the window's diagnosis depends on: the host's files as they are, and of the shared
    exports only the rows that concern this host in this window (so a new night's export does
    not make every old window be diagnosed again)."""
    parts: list[Any] = [host, _iso(job.start), _iso(job.end)]
    by_path = {f.path: f for f in job.files}
    for s in chosen:
        if set(s.get("kinds", ())) & SHARED_KINDS:
            continue
        ref = by_path.get(s["path"])
        parts.append([s["path"], ref.key if ref else None])
    if migrations.height:
        lo, hi = job.start - timedelta(seconds=MARGIN_S), job.end + timedelta(seconds=MARGIN_S)
        mine = migrations.filter(
            ((pl.col("source_key") == host) | (pl.col("dest_key") == host))
            & (pl.col("end").fill_null(pl.col("start")) >= lo)
            & (pl.col("start").fill_null(pl.col("end")) <= hi)
        ).sort("task_id", "start", nulls_last=True)
        parts.append(mine.select("task_id", "state", "start", "end", "error").cast(pl.String).rows())
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()
