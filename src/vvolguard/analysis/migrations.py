"""vCenter migrations: merge partial task/event records, count in-flight per source host, find
storms, and tie each failure to the host signals around it.

Host names differ between sources: vCenter exports often say ``esx-03.corp.example`` while the
support bundle says ``esx-03``. :func:`host_key` normalises a name for matching (lower case, no
trailing dot, first DNS label unless it is an IP address), and :class:`HostNames` remembers the
best display name for each key (host-side evidence wins: that is the name the admin will ssh to).
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import datetime, timedelta

from vvolguard.analysis.model import FailedMigration, InFlightPoint, Migrations, StormWindow
from vvolguard.records import Citation, HostLogEvent, HostOperation, MigrationTask, TaskState

FINISHED = (TaskState.SUCCESS, TaskState.ERROR)
#: Migration records kept; a vCenter keeps far fewer tasks than this, so it only guards memory
#: against a pathological export.
MAX_TASKS = 100_000
#: Time zones are whole quarter hours from UTC, at most 14 h away.
QUARTER_HOUR = 900
MAX_ZONE_QUARTERS = 56
#: The coarsest rounding of a task time in an export (the vSphere Client CSV keeps whole seconds).
ROUNDING = timedelta(seconds=1)


def host_key(name: str | None) -> str:
    """Case-insensitive key that makes ``ESX-03.corp.example.`` and ``esx-03`` the same host."""
    if not name:
        return ""
    text = name.strip().rstrip(".").lower()
    try:
        ipaddress.ip_address(text)
        return text
    except ValueError:
        return text.split(".", 1)[0]


class HostNames:
    """Display name per host key; host-side names (bundles, esxcli) beat vCenter's."""

    def __init__(self) -> None:
        self._names: dict[str, tuple[int, str]] = {}

    def see(self, name: str | None, authority: int = 1) -> str:
        key = host_key(name)
        if key and name:
            current = self._names.get(key)
            if current is None or authority > current[0]:
                self._names[key] = (authority, name.strip().rstrip("."))
        return key

    def display(self, name: str | None) -> str | None:
        key = host_key(name)
        if not key:
            return None
        return self._names.get(key, (0, name or key))[1]

    def all(self) -> list[str]:
        return sorted(name for _, name in self._names.values())


class MigrationLedger:
    """All migration records seen, merged by task id / event chain so partial copies of one
    migration (a task export row and a VmFailedMigrateEvent) count once."""

    def __init__(self, join_tolerance_seconds: float = 3.0) -> None:
        self._tasks: dict[str, MigrationTask] = {}
        self._aliases: dict[str, str] = {}
        self._by_vm: dict[str, list[str]] = {}  # vm -> primary keys of its migrations
        self.tolerance = timedelta(seconds=join_tolerance_seconds)
        self._loose: dict[str, list[MigrationTask]] = {}  # id-less rows per file, until read
        self._loose_count = 0
        #: per file, the time-zone offset its rows were shifted by to line up with the others
        self.shifts: dict[str, timedelta] = {}
        #: how a source host was learnt, per primary key, when the records did not name it
        self.inferred: dict[str, tuple[str, Citation | None]] = {}
        #: per source host, the most in flight the evidence showed when above the admission limit
        self.raw_peaks: dict[str, int] = {}

    def add(self, task: MigrationTask) -> None:
        """Join ``task`` to the migration it is a copy of (same task id or event chain, else
        same VM with a start within the join tolerance and no contradiction), or keep it as a
        new migration.

        A record with neither task id nor event chain (a vSphere Client CSV row) waits with the
        rest of its file until the ledger is read: a CSV written in local time without an offset
        is off by whole hours, and only the file as a whole shows by how much (:meth:`_settle`)."""
        if not task.task_id and not task.event_chain_id and task.vm and task.start is not None:
            if self._loose_count < MAX_TASKS:
                file = task.citation.file if task.citation else ""
                self._loose.setdefault(file, []).append(task)
                self._loose_count += 1
            return
        self._join(task)

    def _settle(self) -> None:
        """Join the waiting id-less records, file by file, each file shifted by the whole number
        of quarter hours that lines most of its rows up with the migrations already known (a
        time-zone offset), when one does and no shift does as well."""
        if not self._loose:
            return
        loose, self._loose, self._loose_count = self._loose, {}, 0
        for file, rows in loose.items():
            shift = self._zone_shift(rows)
            if shift:
                self.shifts[file] = shift
                rows = [
                    replace(
                        r,
                        start=r.start - shift if r.start else None,
                        end=r.end - shift if r.end else None,
                    )
                    for r in rows
                ]
            for row in rows:
                self._join(row)

    def _zone_shift(self, rows: list[MigrationTask]) -> timedelta:
        """The offset (a multiple of 15 min, up to 14 h) by which most of ``rows`` start later
        than known migrations of the same VMs; zero when none is clear."""
        votes: Counter[int] = Counter()
        dated = [r for r in rows if r.vm and r.start is not None]
        tol = self.tolerance.total_seconds()
        for row in dated:
            assert row.start is not None and row.vm is not None
            ks: set[int] = set()
            for key in self._by_vm.get(row.vm.lower(), []):
                other = self._tasks[key].start
                if other is None:
                    continue
                delta = (row.start - other).total_seconds()
                k = round(delta / QUARTER_HOUR)
                if abs(k) <= MAX_ZONE_QUARTERS and abs(delta - k * QUARTER_HOUR) <= tol:
                    ks.add(k)
            votes.update(ks)
        if not votes:
            return timedelta(0)
        k, n = votes.most_common(1)[0]
        if k == 0 or n < max(2, len(dated) // 2) or n <= votes.get(0, 0):
            return timedelta(0)
        return timedelta(seconds=k * QUARTER_HOUR)

    def _join(self, task: MigrationTask) -> None:
        keys = _keys(task)
        existing = next((self._aliases[k] for k in keys if k in self._aliases), None)
        if existing is None:
            existing = self._near(task)
        if existing is not None:
            merged = _merge(self._tasks[existing], task, self.tolerance)
            self._tasks[existing] = merged
            for k in _keys(merged):
                self._aliases.setdefault(k, existing)
            return
        if len(self._tasks) >= MAX_TASKS:
            return
        primary = keys[0]
        self._tasks[primary] = task
        for k in keys:
            self._aliases.setdefault(k, primary)
        if task.vm:
            self._by_vm.setdefault(task.vm.lower(), []).append(primary)

    def _near(self, task: MigrationTask) -> str | None:
        """The migration of the same VM whose start is within the tolerance of ``task``'s and
        that no identifier or time contradicts (another task id or chain; one ended before the
        other began: a retry, not a copy)."""
        if not task.vm or task.start is None:
            return None
        best: tuple[timedelta, str] | None = None
        for key in self._by_vm.get(task.vm.lower(), []):
            other = self._tasks[key]
            if other.start is None:
                continue
            delta = abs(other.start - task.start)
            if delta > self.tolerance or _contradicts(other, task):
                continue
            if best is None or delta < best[0]:
                best = (delta, key)
        return best[1] if best else None

    def infer_sources(
        self,
        operations: Iterable[HostOperation],
        names: HostNames,
        open_ended_seconds: float,
        source_side: Iterable[HostLogEvent] = (),
    ) -> list[tuple[str, list[MigrationTask], Citation | None, str]]:
        """Name the source host of migrations whose records do not, from what overlaps them.

        In order: an "Enter maintenance mode" task or event on a host whose span holds the
        migration's start (a host evacuating is the source of every migration it drives); else,
        when every migration of the evidence that does name its source names the same one and
        overlaps in time, that host; else the host whose own log reports a vMotion failing as its
        source (``source_side``: hostd's ``[MIGRATE] ... vMotion failed``) within the join
        tolerance of the failed migration's end. Ambiguous cases (two hosts entering maintenance
        mode at once, two hosts logging the failure) are left unnamed. Returns (host,
        migrations, citation, how) per inference."""
        self._settle()
        host_logged = sorted((e for e in source_side if e.host), key=lambda e: e.ts)
        evac = [op for op in operations if _is_enter_maintenance(op.operation) and op.host and op.start]
        found: dict[tuple[str, str], tuple[list[MigrationTask], Citation | None]] = {}
        named = [t for t in self._tasks.values() if t.source_host]
        wave_hosts = {host_key(t.source_host) for t in named}
        wave_span = _span(named)
        for key, task in list(self._tasks.items()):
            if task.source_host or task.start is None:
                continue
            holders = []
            for op in evac:
                assert op.start is not None and op.host is not None
                end = op.end or op.start + timedelta(seconds=open_ended_seconds)
                if op.start - self.tolerance <= task.start <= end + self.tolerance and host_key(
                    op.host
                ) != host_key(task.dest_host):
                    holders.append(op)
            hosts = {host_key(op.host) for op in holders}
            if len(hosts) == 1:
                op = holders[0]
                assert op.host is not None
                how = f"Enter maintenance mode on {names.display(op.host) or op.host}"
                how += f" ({op.task_id})" if op.task_id else ""
                self._set_source(key, op.host, how, op.citation, found)
            elif not hosts and len(wave_hosts) == 1 and wave_span is not None:
                lo, hi = wave_span
                if lo - self.tolerance <= task.start <= hi + self.tolerance:
                    source = next(t.source_host for t in named if t.source_host)
                    assert source is not None
                    if host_key(source) == host_key(task.dest_host):
                        continue
                    how = f"the other migrations of the same wave came from {names.display(source) or source}"
                    cite = next((t.citation for t in named if t.citation), None)
                    self._set_source(key, source, how, cite, found)
            elif not hosts and task.state == TaskState.ERROR and task.end is not None:
                end = task.end
                logged = [e for e in host_logged if abs(e.ts - end) <= self.tolerance]
                where = {host_key(e.host) for e in logged} - {host_key(task.dest_host)}
                if len(where) == 1 and logged:
                    event = next(e for e in logged if host_key(e.host) in where)
                    assert event.host is not None
                    shown = names.display(event.host) or event.host
                    self._set_source(
                        key, event.host, f"the vMotion failure in {shown}'s hostd.log", event.citation, found
                    )
        return [(host, tasks, cite, how) for (host, how), (tasks, cite) in found.items()]

    def _set_source(
        self,
        key: str,
        host: str,
        how: str,
        cite: Citation | None,
        found: dict[tuple[str, str], tuple[list[MigrationTask], Citation | None]],
    ) -> None:
        task = replace(self._tasks[key], source_host=host)
        self._tasks[key] = task
        self.inferred[key] = (how, cite)
        found.setdefault((host, how), ([], cite))[0].append(task)

    def inferred_for(self, task: MigrationTask) -> str | None:
        self._settle()
        key = next((self._aliases[k] for k in _keys(task) if k in self._aliases), None)
        entry = self.inferred.get(key) if key else None
        return entry[0] if entry else None

    def tasks(self) -> list[MigrationTask]:
        self._settle()

        def order(t: MigrationTask) -> tuple[bool, float]:
            when = t.start or t.end
            return (when is None, when.timestamp() if when else 0.0)

        return sorted(self._tasks.values(), key=order)

    def __len__(self) -> int:
        self._settle()
        return len(self._tasks)

    def failed(self) -> list[MigrationTask]:
        return [t for t in self.tasks() if t.state == TaskState.ERROR]

    def retries(self) -> tuple[int, int]:
        """(failed VMs that a later migration moved successfully, failed VMs that failed again).

        The runbook's Stage 1 test: a single retry after a cooldown that succeeds strengthens the
        saturation theory (the backlog cleared); one that fails again points at registration."""
        later_ok = later_bad = 0
        by_vm: dict[str, list[MigrationTask]] = {}
        for task in self.tasks():  # in start order
            if task.vm:
                by_vm.setdefault(task.vm.lower(), []).append(task)
        for runs in by_vm.values():
            failed_at = next((i for i, t in enumerate(runs) if t.state == TaskState.ERROR), None)
            if failed_at is None:
                continue
            after = runs[failed_at + 1 :]
            if any(t.state == TaskState.SUCCESS for t in after):
                later_ok += 1
            elif any(t.state == TaskState.ERROR for t in after):
                later_bad += 1
        return later_ok, later_bad

    def failure_span(self) -> tuple[datetime, datetime] | None:
        times = [t for task in self.failed() for t in (task.start, task.end) if t is not None]
        return (min(times), max(times)) if times else None

    def span(self) -> tuple[datetime, datetime] | None:
        self._settle()
        times = [t for task in self._tasks.values() for t in (task.start, task.end) if t is not None]
        return (min(times), max(times)) if times else None

    def summarise(
        self,
        names: HostNames,
        storm_in_flight: int,
        nearby: Callable[[str, datetime], dict[str, float]] | None = None,
        end_of_evidence: datetime | None = None,
        admission_limit: int | None = None,
        cause_of: Callable[[MigrationTask], str | None] | None = None,
    ) -> tuple[Migrations, list[InFlightPoint]]:
        """The Migrations section plus the ``migrations_in_flight`` step series.

        ``raw_peaks`` (per source host, only where the evidence showed more in flight than
        ``admission_limit``) is left on the ledger for the caller to report."""
        tasks = self.tasks()
        out = Migrations(total=len(tasks))
        out.succeeded = sum(1 for t in tasks if t.state == TaskState.SUCCESS)
        for task in tasks:
            if task.state != TaskState.ERROR:
                continue
            when = task.end or task.start
            signals: dict[str, dict[str, float]] = {}
            if nearby is not None and when is not None:
                for host in (task.source_host, task.dest_host):
                    shown = names.display(host)
                    if shown and shown not in signals:
                        found = nearby(host or "", when)
                        if found:
                            signals[shown] = found
            out.failed.append(
                FailedMigration(
                    task_id=task.task_id,
                    vm=task.vm,
                    source=names.display(task.source_host),
                    destination=names.display(task.dest_host),
                    time=when,
                    error=task.error,
                    datastore=task.datastore,
                    nearby_signals=signals,
                    citation=task.citation,
                    start=task.start,
                    cause=cause_of(task) if cause_of else None,
                    source_inferred_from=self.inferred_for(task),
                )
            )
        in_flight, peaks, storms, self.raw_peaks = _concurrency(
            tasks, names, storm_in_flight, end_of_evidence, admission_limit, self.tolerance
        )
        out.peak_concurrency = peaks
        out.storms = storms
        return out, in_flight


def _keys(task: MigrationTask) -> list[str]:
    keys = []
    if task.task_id:
        keys.append("task:" + _norm_id(task.task_id))
    if task.event_chain_id:
        keys.append("chain:" + task.event_chain_id)
    if task.vm and task.start:
        # The vSphere Client CSV has no task id; the same migration exported as PowerCLI JSON
        # does. One VM cannot start two migrations in the same second, so VM + start second
        # joins the two copies (sub-second precision differs between exports).
        keys.append(f"vmstart:{task.vm.lower()}|{task.start.replace(microsecond=0).isoformat()}")
    if not keys:
        when = task.end
        keys.append(
            f"vm:{(task.vm or '').lower()}|{host_key(task.source_host)}|{when.isoformat() if when else ''}"
        )
    return keys


def _merge(old: MigrationTask, new: MigrationTask, tolerance: timedelta = timedelta(0)) -> MigrationTask:
    """Fill the gaps of one record from another; a finished state beats queued/running.

    Two copies of one instant (within ``tolerance``) keep the more precise one: the vSphere
    Client CSV cuts times to whole seconds, and taking its earlier, rounded start (or end) would
    make back-to-back migrations overlap and inflate the concurrency."""
    state = old.state
    if new.state in FINISHED or state in (TaskState.UNKNOWN, TaskState.QUEUED):
        state = new.state if new.state != TaskState.UNKNOWN else state
    return replace(
        old,
        task_id=old.task_id or new.task_id,
        vm=old.vm or new.vm,
        source_host=old.source_host or new.source_host,
        dest_host=old.dest_host or new.dest_host,
        state=state,
        start=_same_instant(old.start, new.start, tolerance) or _earliest(old.start, new.start),
        end=_same_instant(old.end, new.end, tolerance) or old.end or new.end,
        error=old.error or new.error,
        datastore=old.datastore or new.datastore,
        description_id=old.description_id or new.description_id,
        event_chain_id=old.event_chain_id or new.event_chain_id,
        citation=old.citation or new.citation,
    )


def _same_instant(a: datetime | None, b: datetime | None, tolerance: timedelta) -> datetime | None:
    """The more precise of two times that are copies of one instant, else None."""
    if a is None or b is None or abs(a - b) > tolerance:
        return None
    return b if _precision(b) > _precision(a) else a


def _precision(t: datetime) -> int:
    """0 for a whole second, 1 for milliseconds, 2 for microseconds: what a clock kept."""
    if t.microsecond == 0:
        return 0
    return 1 if t.microsecond % 1000 == 0 else 2


def _contradicts(a: MigrationTask, b: MigrationTask) -> bool:
    """Two records that cannot be copies of one migration."""
    if a.task_id and b.task_id and _norm_id(a.task_id) != _norm_id(b.task_id):
        return True
    if a.event_chain_id and b.event_chain_id and a.event_chain_id != b.event_chain_id:
        return True
    for x, y in ((a, b), (b, a)):  # one ended before the other started: a retry
        if x.end is not None and y.start is not None and x.end + ROUNDING < y.start:
            return True
    for name in ("source_host", "dest_host"):
        ha, hb = host_key(getattr(a, name)), host_key(getattr(b, name))
        if ha and hb and ha != hb:
            return True
    return False


def _norm_id(task_id: str) -> str:
    return task_id.lower().removeprefix("task-task-").removeprefix("task-")


def _is_enter_maintenance(operation: str) -> bool:
    text = "".join(ch for ch in operation.lower() if ch.isalnum())
    return "entermaintenance" in text or "enteringmaintenance" in text


def _span(tasks: list[MigrationTask]) -> tuple[datetime, datetime] | None:
    times = [t for task in tasks for t in (task.start, task.end) if t is not None]
    return (min(times), max(times)) if times else None


def _earliest(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


def _concurrency(
    tasks: Iterable[MigrationTask],
    names: HostNames,
    storm_in_flight: int,
    end_of_evidence: datetime | None,
    admission_limit: int | None = None,
    tolerance: timedelta = timedelta(0),
) -> tuple[list[InFlightPoint], dict[str, int], list[StormWindow], dict[str, int]]:
    """In-flight count per source host from start/end; a storm is a stretch with at least
    ``storm_in_flight`` migrations running at once from one host.

    A task without an end is taken as finished at its start when vCenter says it finished (we
    cannot know how long it ran), and as still running at the end of the evidence otherwise.
    Ends sort before starts at the same instant, so back-to-back migrations do not overlap;
    an end is taken ``tolerance`` early (never before its start), because vCenter starts a queued
    migration the moment a slot frees and two exports' clocks disagree by that much. The level
    never exceeds ``admission_limit`` (vCenter queues, it does not run, what is past its cost
    limit); the raw peaks above it are returned apart so they can be reported.
    """
    by_host: dict[str, list[MigrationTask]] = {}
    for task in tasks:
        if task.start is None or not task.source_host:
            continue
        by_host.setdefault(host_key(task.source_host), []).append(task)
    series: list[InFlightPoint] = []
    peaks: dict[str, int] = {}
    raw_peaks: dict[str, int] = {}
    storms: list[StormWindow] = []
    cap = admission_limit if admission_limit and admission_limit > 0 else None
    for key, group in sorted(by_host.items()):
        shown = names.display(group[0].source_host) or key
        events: list[tuple[datetime, int, MigrationTask]] = []
        for task in group:
            assert task.start is not None
            end = task.end
            if end is None:
                end = task.start if task.state in FINISHED else (end_of_evidence or task.start)
            end = max(end - tolerance, task.start)
            events.append((task.start, 1, task))
            events.append((end + (timedelta(microseconds=1) if end == task.start else timedelta()), -1, task))
        events.sort(key=lambda e: (e[0], e[1]))
        level = 0
        peak = 0
        storm_start: datetime | None = None
        storm_peak = 0
        storm_tasks: set[int] = set()
        running: set[int] = set()
        raw = raw_max = 0
        for when, delta, task in events:
            raw += delta
            raw_max = max(raw_max, raw)
            level = min(raw, cap) if cap else raw
            if delta > 0:
                running.add(id(task))
            else:
                running.discard(id(task))
            peak = max(peak, level)
            if series and series[-1]["t"] == when and series[-1]["source_host"] == shown:
                series[-1]["in_flight"] = level
            else:
                series.append({"t": when, "source_host": shown, "in_flight": level})
            if level >= storm_in_flight:
                if storm_start is None:
                    storm_start, storm_peak, storm_tasks = when, level, set(running)
                storm_peak = max(storm_peak, level)
                storm_tasks |= running
            elif storm_start is not None:
                members = [t for t in group if id(t) in storm_tasks]
                storms.append(
                    StormWindow(
                        source_host=shown,
                        start=storm_start,
                        end=when,
                        peak_concurrency=storm_peak,
                        migrations=len(members),
                        failed=sum(1 for t in members if t.state == TaskState.ERROR),
                    )
                )
                storm_start = None
        peaks[shown] = peak
        if cap and raw_max > cap:
            raw_peaks[shown] = raw_max
    return series, peaks, storms, raw_peaks
