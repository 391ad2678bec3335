"""Records in, Diagnosis out.

``Analyzer.add`` is cheap and bounded: vvold frames are folded into :mod:`signals` accumulators
and dropped; the small records (providers, PEs, tasks, certificates, host events) are kept, each
kind capped. ``finish`` turns the accumulated facts into the named conditions of the decision
table (:mod:`decision`), picks the verdict, and writes findings with citations and the runbook's
next moves (:mod:`nextmoves`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Set as AbstractSet
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from vvolguard.analysis.alignment import pressure_apart
from vvolguard.analysis.causes import explain_failures
from vvolguard.analysis.certificates import assess
from vvolguard.analysis.coverage import SNAPSHOT_KINDS, CoverageLedger, HostCoverage
from vvolguard.analysis.decision import Condition, decide
from vvolguard.analysis.facts import (
    BAD_STATUSES,
    GOOD_STATUSES,
    HOST_FAILURE_EVENTS,
    VCENTER,
    Facts,
    SeriesVerdict,
    norm_container,
)
from vvolguard.analysis.findings import FindingWriter
from vvolguard.analysis.migrations import HostNames, MigrationLedger, host_key
from vvolguard.analysis.missing import EvidenceSeen, missing_evidence
from vvolguard.analysis.model import (
    UNNAMED_HOST,
    CoverageUse,
    Diagnosis,
    FailureClass,
    Finding,
    InFlightPoint,
    InputFile,
    Note,
    NoteKind,
    PESummary,
    ProviderSummary,
    Verdict,
)
from vvolguard.analysis.signals import SignalAccumulator
from vvolguard.analysis.thresholds import Thresholds
from vvolguard.analysis.trust import split_connection_failures
from vvolguard.records import (
    CertificateRecord,
    Citation,
    EvidenceKind,
    EvidenceSpan,
    GroundTruth,
    HostEventKind,
    HostIdentity,
    HostLogEvent,
    HostOperation,
    MigrationTask,
    ProtocolEndpointRecord,
    ProviderEvent,
    ProviderRecord,
    ReadWarning,
    StorageContainerRecord,
    VasaFrame,
)

#: Evidence kinds that are complete command outputs: read but empty still says something.
WHOLE_OUTPUTS = frozenset(
    {
        EvidenceKind.PROTOCOLENDPOINT_LIST,
        EvidenceKind.VASAPROVIDER_LIST,
        EvidenceKind.STORAGECONTAINER_LIST,
    }
)
#: Caps for the small record kinds (they are small per file, but a user can pass many files).
MAX_WARNINGS = 5000
MAX_PER_KIND = 5000
MAX_HOST_EVENTS_PER_KIND = 200
#: vCenter-side provider events kept (sps.log can repeat one failure every few seconds for days).
MAX_PROVIDER_EVENTS = 5000
MAX_HOST_OPERATIONS = 5000
#: Host-log failures written by the source host of a vMotion (hostd's "[MIGRATE] ... vMotion
#: failed", and "Source detected that destination failed to resume"): they name the source.
SOURCE_SIDE_EVENTS = (HostEventKind.VMOTION_FAILED, HostEventKind.DEST_FAILED_RESUME)


class Analyzer:
    """Fold records as they stream, then ``finish()`` into a :class:`Diagnosis`."""

    def __init__(self, now: datetime | None = None, thresholds: Thresholds | None = None) -> None:
        self.now = (now or datetime.now(UTC)).astimezone(UTC)
        self.t = thresholds or Thresholds()
        self.signals = SignalAccumulator(
            max_points=self.t.timeline_max_points,
            exemplars=self.t.exemplars_per_kind,
            gap_cap_seconds=self.t.at_ceiling_max_gap_seconds,
        )
        self.ledger = MigrationLedger(self.t.task_join_tolerance_seconds)
        self.names = HostNames()
        self.coverage = CoverageLedger()
        self.host_ops: list[HostOperation] = []
        self.provider_events: list[ProviderEvent] = []
        self.dropped_provider_events = 0
        self.providers: dict[tuple[str, str], ProviderRecord] = {}
        self.pes: dict[tuple[str, str], ProtocolEndpointRecord] = {}
        self.containers: dict[tuple[str, str], StorageContainerRecord] = {}
        self.certificates: dict[str, CertificateRecord] = {}
        self.host_events: dict[HostEventKind, list[HostLogEvent]] = {}
        self.host_event_counts: Counter[tuple[str, HostEventKind]] = Counter()
        self.identities: dict[str, HostIdentity] = {}
        self.warnings: list[ReadWarning] = []
        self.dropped_warnings = 0
        self.inputs: list[InputFile] = []
        self.listed: dict[str, set[str]] = {}  # evidence kind -> host keys with that evidence
        self.kinds_seen: set[str] = set()
        #: files no reader knew whose rows carry dates and times (a task or event list in an
        #: unknown language or layout): the failures may be in them, so "healthy" is not drawn
        self.unread_tables: list[str] = []

    # ---------------------------------------------------------------- streaming

    def add(self, record: Any) -> None:
        """Fold one record of any type from ``records.py``; unknown types are ignored."""
        if isinstance(record, VasaFrame):
            self.signals.add(record)
            self.coverage.add_frame(record)
            self.kinds_seen.add(EvidenceKind.VVOLD_LOG)
        elif isinstance(record, EvidenceSpan):
            self.coverage.add_span(record)
            if record.host and record.host.lower() != VCENTER:
                self.names.see(record.host, 2)
        elif isinstance(record, ProviderRecord):
            # PowerCLI exports say "vcenter"; an esxcli file given outside a bundle has no
            # observer, and it is still one ESXi host's view, never vCenter's.
            if record.observer is None:
                record = replace(record, observer=UNNAMED_HOST)
            observer = record.observer or UNNAMED_HOST
            if observer.lower() != VCENTER:
                self.names.see(observer, 3)
                self._listed(EvidenceKind.VASAPROVIDER_LIST, observer)
            else:
                self.kinds_seen.add(EvidenceKind.VASA_PROVIDER_EXPORT)
            self._put(self.providers, (record.name.lower(), host_key(observer) or VCENTER), record)
        elif isinstance(record, ProtocolEndpointRecord):
            self.names.see(record.host, 3)
            self._listed(EvidenceKind.PROTOCOLENDPOINT_LIST, record.host)
            self._put(self.pes, (record.pe_id.lower(), host_key(record.host)), record)
        elif isinstance(record, StorageContainerRecord):
            self.names.see(record.host, 3)
            self._listed(EvidenceKind.STORAGECONTAINER_LIST, record.host)
            self._put(self.containers, ((record.uuid or record.name).lower(), host_key(record.host)), record)
        elif isinstance(record, MigrationTask):
            self.names.see(record.source_host, 1)
            self.names.see(record.dest_host, 1)
            self.ledger.add(record)
            self.kinds_seen.add(EvidenceKind.VCENTER_TASKS)
        elif isinstance(record, CertificateRecord):
            self._put(self.certificates, record.sha256 or record.serial, record)
            self.kinds_seen.add(EvidenceKind.CERTIFICATE)
        elif isinstance(record, HostLogEvent):
            self.names.see(record.host, 2)
            kept = self.host_events.setdefault(record.kind, [])
            if len(kept) < MAX_HOST_EVENTS_PER_KIND:
                kept.append(record)
            self.host_event_counts[(host_key(record.host), record.kind)] += 1
            self.coverage.add_event(record)
            self._listed(EvidenceKind.HOSTD_LOG, record.host)
        elif isinstance(record, HostOperation):
            self.names.see(record.host, 1)
            if len(self.host_ops) < MAX_HOST_OPERATIONS:
                self.host_ops.append(record)
        elif isinstance(record, ProviderEvent):
            self.kinds_seen.add(EvidenceKind.SPS_LOG)
            if len(self.provider_events) < MAX_PROVIDER_EVENTS:
                self.provider_events.append(record)
            else:
                self.dropped_provider_events += 1
        elif isinstance(record, HostIdentity):
            self.names.see(record.host, 3)
            self.identities.setdefault(host_key(record.host), record)
        elif isinstance(record, ReadWarning):
            if len(self.warnings) < MAX_WARNINGS:
                self.warnings.append(record)
            else:
                self.dropped_warnings += 1
        elif isinstance(record, GroundTruth):
            pass  # the simulator's answer key is never evidence

    def add_input(self, item: InputFile) -> None:
        """Bookkeeping from the pipeline: which files were read, of what kind, for which host.

        It is how an *empty* PE list is told apart from a missing one. An empty command output
        is a finding (nothing is presented); a log that gave no records is not (it may be cut, or
        unreadable), so it never vouches for a calm control plane."""
        self.inputs.append(item)
        if item.host:
            self.names.see(item.host, 3)
        if item.records or item.kind in WHOLE_OUTPUTS:
            self._listed(item.kind, item.host)
        if item.kind in WHOLE_OUTPUTS:
            self.coverage.add_snapshot(item.host, str(item.kind), item.file)

    def add_unread_table(self, file: str) -> None:
        """From the pipeline: ``file`` was not read, and its dated rows may be tasks or events."""
        self.unread_tables.append(file)

    def _listed(self, kind: str, host: str | None) -> None:
        self.kinds_seen.add(str(kind))
        if host:
            self.listed.setdefault(str(kind), set()).add(host_key(host))

    @staticmethod
    def _put(store: dict[Any, Any], key: Any, value: Any) -> None:
        if key in store or len(store) < MAX_PER_KIND:
            store[key] = value

    # ---------------------------------------------------------------- finishing

    def finish(self) -> Diagnosis:
        t = self.t
        self.signals.attribute_unnamed()
        for host in self.signals.hosts():
            self.names.see(host, 3)
        facts = Facts()
        facts.vvold_hosts = {host_key(h) for h in self.signals.hosts()} | self.listed.get(
            EvidenceKind.VVOLD_LOG, set()
        )
        facts.vvold_any = bool(self.signals.series) or EvidenceKind.VVOLD_LOG in self.kinds_seen
        # a vvold.log handed over on its own may name no host; it still speaks for "a host"
        facts.vvold_unnamed = any(s.host is None for s in self.signals.series.values())
        # what a host itself said; vCenter's provider list alone cannot show host-side pressure
        facts.host_evidence = bool(
            facts.vvold_any
            or any(observer != VCENTER for _, observer in self.providers)
            or self.pes
            or self.containers
            or self.host_events
            or EvidenceKind.PROTOCOLENDPOINT_LIST in self.kinds_seen
        )
        facts.unread_tables = list(self.unread_tables)
        inferred = self.ledger.infer_sources(
            self.host_ops,
            self.names,
            t.maintenance_overlap_seconds,
            [e for k in SOURCE_SIDE_EVENTS for e in self.host_events.get(k, [])],
        )
        facts.inferred_sources = [
            (self.names.display(host) or host, how, cite, len(tasks)) for host, tasks, cite, how in inferred
        ]
        facts.incident = self._incident_window()
        incident_time = facts.incident[0] if facts.incident else None

        facts.pressured = self._pressured_series()
        for sv in facts.pressured:
            facts.vvold_failures_on_pressured += sv.stats.counts["failure"]
        all_series = list(self.signals.series.values())
        facts.ssl_total = sum(s.counts["ssl"] for s in all_series)
        facts.connect_failures = sum(s.counts["connect"] for s in all_series)
        providers = list(self.providers.values())
        facts.bad_providers = [p for p in providers if (p.status or "").lower() in BAD_STATUSES]
        facts.online_providers = [p for p in providers if (p.status or "").lower() in GOOD_STATUSES]
        facts.certs = assess(
            list(self.certificates.values()),
            providers,
            incident_time,
            self.now,
            t.cert_soft_limit_days,
            t.cert_hard_limit_days,
        )
        facts.pe_bad = [pe for pe in self.pes.values() if pe.accessible is False or pe.configured is False]
        facts.pe_missing = self._missing_pes()
        facts.pe_events = list(self.host_events.get(HostEventKind.PE_PATH_BAD, []))
        facts.container_offline = list(self.host_events.get(HostEventKind.CONTAINER_OFFLINE, []))
        # In time order, whatever order the kinds are listed in: a frozenset iterates in an
        # order that changes with the interpreter's hash seed, and the report must not.
        facts.host_failures = sorted(
            (e for k in HOST_FAILURE_EVENTS for e in self.host_events.get(k, [])),
            key=lambda e: (e.ts, e.citation.file, e.citation.line or 0, e.kind.value),
        )
        failed = self.ledger.failed()
        facts.failed_migrations = len(failed)
        involved = [host_key(h) for task in failed for h in (task.source_host, task.dest_host) if h]
        involved += [host_key(e.host) for e in facts.host_failures if e.host]
        facts.involved_hosts = list(dict.fromkeys(k for k in involved if k))
        facts.window = self._failure_window(facts)
        series_key = {id(stats): key for key, stats in self.signals.series.items()}
        facts.apart = pressure_apart(
            facts.window,
            [(series_key[id(sv.stats)], sv.stats) for sv in facts.pressured],
            self.signals.timeline,
            t.coverage_margin_seconds,
        )
        causes = explain_failures(facts, failed, self.host_events, t.nearby_window_seconds)
        self._check_coverage(facts)
        span = self.ledger.span()
        if facts.window is None and span is not None and facts.vvold_any:
            # nothing failed: "healthy" still says whether vvold saw the migrations that ran
            keys = [k for k in self.coverage.hosts_with(str(EvidenceKind.VVOLD_LOG))]
            facts.migration_checks = [
                self.coverage.check(
                    k, str(EvidenceKind.VVOLD_LOG), span, t.coverage_margin_seconds, t.coverage_gap_seconds
                )
                for k in keys
            ]
        split_connection_failures(facts, self.signals, self.provider_events, t)
        facts.restarts = self.coverage.restarts()

        migrations, in_flight = self.ledger.summarise(
            self.names,
            t.storm_in_flight,
            nearby=self._nearby,
            end_of_evidence=(self.signals.span() or (None, None))[1]
            or (facts.incident[1] if facts.incident else None),
            admission_limit=t.host_admission_limit,
            cause_of=lambda task: causes.get(id(task)),
        )
        facts.storms = len(migrations.storms)
        facts.retry_succeeded, facts.retry_failed = self.ledger.retries()

        conditions = self._conditions(facts)
        primary, secondary = decide(conditions)
        writer = FindingWriter(self.names, self.signals, self.pes, self.t, self.inputs)
        findings = [writer.finding(primary, facts, migrations, verdict=True)]
        findings += [writer.finding(rule, facts, migrations) for rule in secondary]
        for finding in findings:
            finding.coverage = self._finding_coverage(finding, facts)
        verdict = Verdict(
            cls=primary.cls.value,
            confidence=findings[0].confidence,
            summary=writer.summary(findings[0], facts),
        )
        notes = self._notes(facts)

        warnings = list(self.warnings)
        if self.dropped_warnings:
            warnings.append(
                ReadWarning("(analysis)", None, f"{self.dropped_warnings} more reader warnings not kept")
            )
        signals = self.signals.signals()
        signals["migrations_in_flight"] = _thin_in_flight(in_flight, t.timeline_max_points)
        return Diagnosis(
            verdict=verdict,
            findings=findings,
            providers=self._provider_summaries(facts),
            protocol_endpoints=[
                PESummary(
                    pe.pe_id,
                    self.names.display(pe.host),
                    pe.array_id,
                    pe.accessible,
                    pe.configured,
                    list(pe.storage_containers),
                )
                for pe in sorted(self.pes.values(), key=lambda p: (host_key(p.host), p.pe_id))
            ],
            signals=signals,
            migrations=migrations,
            certificates=[c.as_dict() for c in facts.certs],
            missing_evidence=missing_evidence(
                EvidenceSeen(
                    names=self.names,
                    listed=self.listed,
                    kinds=self.kinds_seen,
                    providers=list(self.providers.values()),
                    migrations=len(self.ledger),
                    certificates=len(self.certificates),
                    vvold_urls=[st.url for st in self.signals.series.values() if st.url],
                ),
                facts,
            ),
            warnings=warnings,
            inputs=list(self.inputs),
            hosts=self.names.all(),
            incident_window=facts.incident,
            now=self.now,
            thresholds=t.as_dict(),
            coverage=self._coverage_summary(facts),
            notes=notes,
        )

    # ---------------------------------------------------------------- facts

    def _incident_window(self) -> tuple[datetime, datetime] | None:
        """Span of failed migrations (and host-side vMotion failures), else of pressure signals,
        else of all evidence."""
        times: list[datetime] = []
        span = self.ledger.failure_span()
        if span:
            times += list(span)
        times += [e.ts for k in HOST_FAILURE_EVENTS for e in self.host_events.get(k, [])]
        if times:
            return min(times), max(times)
        pressure = self.signals.pressure_span()
        if pressure:
            return pressure
        spans = [s for s in (self.signals.span(), self.ledger.span()) if s]
        spans += [(e.ts, e.ts) for events in self.host_events.values() for e in events]
        if not spans:
            return None
        return min(s[0] for s in spans), max(s[1] for s in spans)

    def _failure_window(self, f: Facts) -> tuple[datetime, datetime] | None:
        """When the failures happened (failed tasks and host-side vMotion failures), the window a
        conclusion from absence must see; None when nothing failed or no failure has a time (then
        no log can be placed against the failures)."""
        times = list(self.ledger.failure_span() or ())
        times += [e.ts for e in f.host_failures]
        return (min(times), max(times)) if times else None

    def _pressured_series(self) -> list[SeriesVerdict]:
        t = self.t
        out = []
        for (host, vp), stats in self.signals.series.items():
            p95 = stats.create.quantile(0.95) if stats.create.count >= t.create_min_samples else None
            sv = SeriesVerdict(
                stats=stats,
                peak_pressure=self.signals.peak_pressure(host, vp, t.pressure_window_seconds),
                at_ceiling=stats.at_ceiling_seconds,
                create_p95=p95,
            )
            if sv.reasons(t):
                out.append(sv)
        return sorted(out, key=lambda s: (-s.peak_pressure, -s.at_ceiling))

    def _missing_pes(self) -> list[tuple[str, str, list[Citation]]]:
        """Hosts whose PE list was collected but lacks a PE for an array (or container) that the
        host's own vVol evidence uses."""
        pe_hosts = self.listed.get(EvidenceKind.PROTOCOLENDPOINT_LIST, set())
        out: list[tuple[str, str, list[Citation]]] = []
        for hk in sorted(pe_hosts):
            pes = [pe for (_, h), pe in self.pes.items() if h == hk]
            have_arrays = {pe.array_id.lower() for pe in pes if pe.array_id}
            have_containers = {norm_container(c) for pe in pes for c in pe.storage_containers}
            need: dict[str, list[Citation]] = {}
            for (_, observer), p in self.providers.items():
                if observer == hk:
                    for binding in p.arrays:
                        need.setdefault(binding.array_id.lower(), []).extend(
                            [p.citation] if p.citation else []
                        )
            for (_, h), sc in self.containers.items():
                if h == hk and sc.array_id:
                    need.setdefault(sc.array_id.lower(), []).extend([sc.citation] if sc.citation else [])
            shown = self.names.display(hk) or hk
            for array, cites in sorted(need.items()):
                if array not in have_arrays:
                    out.append((shown, f"no Protocol Endpoint for array {array}", cites[:3]))
            if have_containers:
                used = {
                    norm_container(c)
                    for h, cs in self.signals.containers.items()
                    if host_key(h) == hk
                    for c in cs
                }
                for container in sorted(used - have_containers)[:3]:
                    out.append(
                        (shown, f"no Protocol Endpoint serves container {container} used in vvold.log", [])
                    )
            if not pes and not need:
                has_vvol = any(host_key(h) == hk for h in self.signals.hosts()) or any(
                    h == hk for (_, h) in self.containers
                )
                if has_vvol:
                    out.append((shown, "no Protocol Endpoint at all although the host uses vVols", []))
        return out

    def _nearby(self, host: str, when: datetime) -> dict[str, float]:
        key = host_key(host)
        return self.signals.nearby(lambda raw: host_key(raw) == key, when, self.t.nearby_window_seconds)

    def _check_coverage(self, f: Facts) -> None:
        """Does the vvold evidence of the failures' hosts cover the failure window (with the
        margin before it)? Without failures there is no window, and nothing to check."""
        t = self.t
        vvold = str(EvidenceKind.VVOLD_LOG)
        have = self.coverage.hosts_with(vvold)
        if f.window is None:
            # nothing failed (no window to see), or failures without times (none can be seen)
            f.vvold_covered = f.vvold_any and not (f.failed_migrations or f.host_failures)
            return
        keys = list(f.involved_hosts) or [k for k in have if k]
        if "" in have:
            keys.append("")  # a vvold.log naming no host may be any of them
        f.coverage_checks = [
            self.coverage.check(k, vvold, f.window, t.coverage_margin_seconds, t.coverage_gap_seconds)
            for k in dict.fromkeys(keys)
        ]
        for check in f.coverage_checks:
            if check.host is None and check.spans:
                check.host = self.names.display(check.spans[0].host) if check.spans[0].host else None
            elif check.host is not None:
                check.host = self.names.display(check.host) or check.host
        f.vvold_covered = any(c.covers for c in f.coverage_checks)

    def _uses(
        self,
        keys: list[str],
        f: Facts,
        kinds: tuple[str, ...] | None = None,
        window: tuple[datetime, datetime] | None = None,
    ) -> list[CoverageUse]:
        """Coverage of each host key's evidence (of ``kinds``, or every kind it has), judged
        against ``window`` (by default the failure window)."""
        t = self.t
        window = window or f.window
        out: list[CoverageUse] = []
        for key in dict.fromkeys(keys):
            by_kind = self.coverage.kinds_for(key)
            wanted = kinds or tuple(sorted(by_kind))
            for kind in wanted:
                spans = by_kind.get(kind, [])
                if not spans and window is None:
                    continue
                check: HostCoverage | None = None
                if window is not None:
                    check = self.coverage.check(
                        key,
                        kind,
                        window,
                        t.coverage_margin_seconds,
                        t.coverage_gap_seconds,
                        t.snapshot_max_age_seconds,
                    )
                shown = next((s.host for s in spans if s.host), None) or key or None
                out.append(
                    CoverageUse(
                        host=self.names.display(shown) if shown else None,
                        kind=kind,
                        start=min((s.start for s in spans), default=None),
                        end=max((s.end for s in spans), default=None),
                        files=sorted({s.file for s in spans})[:20],
                        needed=check.needed if check else None,
                        covers_window=check.covers if check else None,
                        derived=not any(s.from_reader for s in spans),
                    )
                )
        return out

    def _finding_coverage(self, finding: Finding, f: Facts) -> list[CoverageUse]:
        """The coverage a finding relied on: for a conclusion from absence (not-control-plane,
        healthy, insufficient-evidence), the vvold coverage of the failures' hosts; for the others,
        the evidence of the hosts they name."""
        vvold = str(EvidenceKind.VVOLD_LOG)
        absence = {FailureClass.NOT_CONTROL_PLANE, FailureClass.HEALTHY, FailureClass.INSUFFICIENT_EVIDENCE}
        if finding.id in absence:
            keys = list(f.involved_hosts) or self.coverage.hosts_with(vvold)
            if "" in self.coverage.hosts_with(vvold):
                keys.append("")
            if finding.id == FailureClass.HEALTHY and f.migration_checks:
                return self._uses(keys, f, (vvold,), self.ledger.span())
            uses = self._uses(keys, f, (vvold,))
            if finding.id == FailureClass.NOT_CONTROL_PLANE:
                logs = (str(EvidenceKind.HOSTD_LOG), str(EvidenceKind.VMKERNEL_LOG))
                uses += [u for u in self._uses(keys, f, logs) if u.files and set(u.files) & _files(finding)]
                # "providers online, PEs accessible": the esxcli outputs and when they were taken
                uses += [u for u in self._uses(keys, f, tuple(sorted(SNAPSHOT_KINDS))) if u.files]
            return uses
        keys = [host_key(h) for h in finding.hosts]
        if not keys and "" in self.coverage.hosts_with(vvold):
            keys = [""]
        return [u for u in self._uses(keys, f) if u.start is not None]

    def _coverage_summary(self, f: Facts) -> list[CoverageUse]:
        keys = sorted({h for (h, _, _) in self.coverage.spans})
        return self._uses(keys, f)

    def _notes(self, f: Facts) -> list[Note]:
        notes: list[Note] = []
        for r in f.restarts:
            where = r.host or "a host (the file names none)"
            when = f"between {_fmt(r.after)} and {_fmt(r.at)}" if r.after else f"at {_fmt(r.at)}"
            pids = f" (pid {r.old_pid} -> {r.new_pid})" if r.old_pid and r.new_pid else ""
            notes.append(
                Note(
                    NoteKind.VVOLD_RESTART,
                    f"vvold restarted on {where} {when}{pids}: its sessions to every provider were "
                    "re-established with setContext",
                    [r.host] if r.host else [],
                    list(r.citations),
                )
            )
        for host, how, cite, n in f.inferred_sources:
            notes.append(
                Note(
                    NoteKind.SOURCE_HOST_INFERRED,
                    f"{n} migration(s) whose records name no source host came from {host} "
                    f"(inferred from {how})",
                    [host],
                    [cite] if cite else [],
                )
            )
        for file, shift in sorted(self.ledger.shifts.items()):
            hours = shift.total_seconds() / 3600
            sign = "+" if hours > 0 else "-"
            hh, mm = divmod(round(abs(hours) * 60), 60)
            notes.append(
                Note(
                    NoteKind.TIMES_ALIGNED,
                    f"{file}: its times are {abs(hours):g} h {'later' if hours > 0 else 'earlier'} than "
                    "the same migrations in the other exports (written in local time without an "
                    f"offset, UTC{sign}{hh:02d}:{mm:02d}); they were taken as that zone so each "
                    "migration counts once",
                    [],
                    [],
                )
            )
        for host, raw in sorted(self.ledger.raw_peaks.items()):
            notes.append(
                Note(
                    NoteKind.ADMISSION_LIMIT,
                    f"the evidence shows up to {raw} migrations from {host} at once, more than vCenter "
                    f"admits per host ({self.t.host_admission_limit}); the excess were queued (or are "
                    "copies of one task), so the concurrency is counted at the limit",
                    [host],
                    [],
                )
            )
        if f.apart is not None:
            notes.append(self._apart_note(f))
        return notes

    def _apart_note(self, f: Facts) -> Note:
        apart = f.apart
        assert apart is not None
        hosts = [self.names.display(sv.stats.host) or UNNAMED_HOST for sv in f.pressured]
        text = (
            f"the failed migrations ({_fmt(apart.failures[0])} to {_fmt(apart.failures[1])}) came "
            f"{apart.gap_text()} the VASA pressure in vvold ({_fmt(apart.pressure[0])} to "
            f"{_fmt(apart.pressure[1])} on {', '.join(dict.fromkeys(hosts))}), "
            "so that pressure did not fail them"
        )
        if apart.zone_sized:
            text += (
                "; a gap of that size is what a time zone makes: vvold.log is in UTC, a vSphere Client "
                "CSV in the exporting browser's local time, so check --tz (and the hosts' NTP)"
            )
        # the first wait or busy answer of the pressure the failures are set against
        cites = [
            e.citation
            for sv in f.pressured[:1]
            for kind in ("no-free-conn", "busy")
            for e in sv.stats.first_by_kind.get(kind, [])[:1]
        ]
        return Note(NoteKind.TIMES_APART, text, list(dict.fromkeys(h for h in hosts if h)), cites)

    def _conditions(self, f: Facts) -> dict[Condition, bool]:
        """The decision table's conditions. Host-specific evidence (pressure, PE trouble) only
        explains failed migrations when it is on their source or destination host (or when the
        failures name no host); elsewhere it is a secondary finding."""
        t = self.t
        involved = set(f.involved_hosts)

        def related(hosts: AbstractSet[str | None]) -> bool:
            return not involved or None in hosts or "" in hosts or bool(hosts & involved)

        pressure = bool(f.pressured)
        # pressure explains failures only if it was there when they failed
        pressure_here = (
            pressure and f.apart is None and related({host_key(sv.stats.host) or None for sv in f.pressured})
        )
        failures = f.failed_migrations > 0 or bool(f.host_failures)
        # failures whose own error names another cause are not the provider's doing
        impact = (
            (f.unexplained_failures > 0 and pressure_here)
            or f.vvold_failures_on_pressured > 0
            or f.storms > 0
        )
        saturated = pressure and impact
        cert_at_incident = {c.status_at_incident for c in f.certs}
        cert_now = {c.status_now for c in f.certs}
        # setContext/transport/SSL failures outside a pressure storm, vvold's and vCenter's own
        outside = f.conn_outside + len(f.sps_outage_outside)
        untrusted = (
            bool(f.bad_providers)
            or bool(f.sps_trust)
            or f.ssl_total >= t.transport_events
            or outside >= t.transport_events
        )
        # "never healthy": even one such failure is registration/trust evidence
        connection_failures = outside > 0 and not untrusted
        # a conclusion from absence needs vvold that covers the failure window; a failure whose
        # own error names a cause outside VASA needs none
        all_named = failures and f.unexplained_failures == 0 and f.explained_failures > 0
        pe_any = bool(f.pe_bad or f.pe_missing) or (bool(f.pe_events) and not saturated)
        pe_hosts = {host_key(pe.host) for pe in f.pe_bad} | {host_key(h) for h, _, _ in f.pe_missing}
        pe_hosts |= {host_key(e.host) for e in f.pe_events}
        pe_here = pe_any and related(pe_hosts)
        # vvold from a failure's own host (or a vvold.log naming no host) that covers the failure
        # window can clear the control plane
        covered = f.vvold_covered
        return {
            Condition.CERTIFICATE_EXPIRED_AT_INCIDENT: "expired" in cert_at_incident,
            Condition.PROVIDER_OFFLINE_OR_UNTRUSTED: untrusted,
            Condition.PROVIDER_CONNECTION_FAILURES: connection_failures,
            Condition.PE_NOT_PRESENTED: pe_here,
            Condition.PROVIDER_SATURATED: saturated,
            Condition.FAILURES_WITHOUT_CONTROL_PLANE_SIGNAL: failures
            and (covered or all_named)
            and (not pressure_here or all_named)
            and not untrusted
            and not pe_here
            and "expired" not in cert_at_incident,
            # "no failure" is only known when every dated list given was read
            Condition.EVIDENCE_WITHOUT_FAILURES: f.host_evidence
            and not failures
            and not saturated
            and not f.unread_tables,
            Condition.NOTHING_TO_JUDGE: True,
            Condition.CERTIFICATE_EXPIRED_NOW: "expired" in cert_now and "expired" not in cert_at_incident,
            Condition.CERTIFICATE_HARD_LIMIT: "hard-limit" in cert_now or "hard-limit" in cert_at_incident,
            Condition.CERTIFICATE_SOFT_LIMIT: "soft-limit" in cert_now or "soft-limit" in cert_at_incident,
            Condition.CERTIFICATE_NAME_MISMATCH: any(c.matches_provider is False for c in f.certs),
            Condition.PE_NOT_PRESENTED_ELSEWHERE: pe_any and not pe_here,
            Condition.PRESSURE_WITHOUT_IMPACT: pressure and not impact,
            Condition.MIGRATION_STORM: f.storms > 0,
        }

    # ---------------------------------------------------------------- findings

    # ---------------------------------------------------------------- sections

    def _provider_summaries(self, f: Facts) -> list[ProviderSummary]:
        out: dict[str, ProviderSummary] = {}
        for (name_key, _), p in sorted(self.providers.items()):
            summary = out.get(name_key)
            if summary is None:
                summary = out[name_key] = ProviderSummary(name=p.name, url=p.url, status={})
            observer = (
                self.names.display(p.observer) if p.observer and p.observer.lower() != VCENTER else VCENTER
            )
            summary.status[observer or VCENTER] = p.status or "unknown"
            summary.url = summary.url or p.url
            summary.version = summary.version or p.version
            for a in p.arrays:
                if a.array_id not in summary.arrays:
                    summary.arrays.append(a.array_id)
        for stats in self.signals.series.values():
            key = stats.vp.lower()
            summary = out.get(key)
            if summary is None:
                summary = out[key] = ProviderSummary(name=stats.vp, url=stats.url, status={})
            summary.url = summary.url or stats.url
            summary.max_outstanding_seen = _max(summary.max_outstanding_seen, stats.max_outstanding)
            summary.ceiling = _max(summary.ceiling, stats.ceiling)
        for summary in out.values():
            mine = [c for c in f.certs if c.provider and c.provider.lower() == summary.name.lower()]
            if mine:
                worst = min(mine, key=lambda c: c.not_after)
                summary.certificate = worst.as_dict()
        return sorted(out.values(), key=lambda s: s.name.lower())


def _fmt(when: datetime | None) -> str:
    return when.strftime("%Y-%m-%d %H:%M:%SZ") if when else "?"


def _files(finding: Finding) -> set[str]:
    return {c.file for c in finding.citations}


def _max(a: Any, b: Any) -> Any:
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)


def _thin_in_flight(points: list[InFlightPoint], max_points: int) -> list[InFlightPoint]:
    """Keep the in-flight step series under ``max_points`` per source host, keeping each stretch's
    peak (a storm must not be thinned away)."""
    by_host: dict[str, list[InFlightPoint]] = {}
    for p in points:
        by_host.setdefault(str(p["source_host"]), []).append(p)
    out: list[InFlightPoint] = []
    for series in by_host.values():
        if len(series) <= max_points:
            out += series
            continue
        step = -(-len(series) // max_points)
        for i in range(0, len(series), step):
            chunk = series[i : i + step]
            peak = max(chunk, key=lambda p: p["in_flight"])
            out.append(
                {"t": chunk[0]["t"], "source_host": peak["source_host"], "in_flight": peak["in_flight"]}
            )
    return sorted(out, key=lambda p: (p["t"], p["source_host"]))


__all__ = ["Analyzer", "Thresholds"]
