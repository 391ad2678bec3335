"""Records in, Diagnosis out.

``Analyzer.add`` is cheap and bounded: vvold frames are folded into :mod:`signals` accumulators
and dropped; the small records (providers, PEs, tasks, certificates, host events) are kept, each
kind capped. ``finish`` turns the accumulated facts into the named conditions of the decision
table (:mod:`decision`), picks the verdict, and writes findings with citations and the runbook's
next moves (:mod:`nextmoves`).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from vvolguard.analysis.certificates import CertificateAssessment, assess, url_host
from vvolguard.analysis.decision import Rule, decide
from vvolguard.analysis.migrations import HostNames, MigrationLedger, host_key
from vvolguard.analysis.model import (
    Diagnosis,
    FailureClass,
    Finding,
    InputFile,
    MissingEvidence,
    PESummary,
    ProviderSummary,
    Verdict,
)
from vvolguard.analysis.nextmoves import next_moves
from vvolguard.analysis.signals import SeriesStats, SignalAccumulator
from vvolguard.analysis.thresholds import Thresholds
from vvolguard.records import (
    CertificateRecord,
    Citation,
    EvidenceKind,
    GroundTruth,
    HostEventKind,
    HostIdentity,
    HostLogEvent,
    MigrationTask,
    ProtocolEndpointRecord,
    ProviderRecord,
    ReadWarning,
    StorageContainerRecord,
    VasaFrame,
)

#: Caps for the small record kinds (they are small per file, but a user can pass many files).
MAX_WARNINGS = 5000
MAX_PER_KIND = 5000
MAX_HOST_EVENTS_PER_KIND = 200
MAX_CITATIONS = 12

BAD_STATUSES = frozenset({"offline", "syncerror", "disconnected"})
GOOD_STATUSES = frozenset({"online"})
VCENTER = "vcenter"

#: Host events that are vMotion failing on the host side, whatever the cause.
HOST_FAILURE_EVENTS = frozenset(
    {HostEventKind.VMOTION_FAILED, HostEventKind.SWITCHOVER_EXCEEDED, HostEventKind.DEST_FAILED_RESUME}
)
#: Host events that point away from the control plane when vvold is quiet (KB 307365).
NOT_CONTROL_PLANE_EVENTS = frozenset({HostEventKind.SWITCHOVER_EXCEEDED, HostEventKind.DEST_FAILED_RESUME})

VVOLD_GREP = (
    'grep -Ei "No free connections|PROVIDER_BUSY|bindVirtualVolume|createVirtualVolume|TimedOut|GetFreeConn" '
    "/var/run/log/vvold.log"
)


def _norm_container(value: str) -> str:
    """``vvol:e0ad8389...-b1b7...`` and ``e0ad8389-...`` compare as 32 hex digits when they are."""
    text = value.lower().removeprefix("vvol:").removeprefix("rfc4122.")
    digits = re.sub(r"[^0-9a-f]", "", text)
    return digits if len(digits) == 32 else text


@dataclass
class _SeriesVerdict:
    stats: SeriesStats
    peak_pressure: int
    at_ceiling: float
    create_p95: float | None

    def reasons(self, t: Thresholds) -> list[str]:
        out = []
        if self.peak_pressure >= t.pressure_events:
            out.append(
                f"{self.peak_pressure} no-free-connection waits/busy faults within "
                f"{int(t.pressure_window_seconds)} s"
            )
        if self.at_ceiling >= t.at_ceiling_seconds and self.stats.ceiling:
            out.append(f"#outstanding at its ceiling {self.stats.ceiling} for {self.at_ceiling:.0f} s")
        if self.create_p95 is not None and self.create_p95 >= t.create_p95_ms:
            out.append(
                f"createVirtualVolume p95 {self.create_p95 / 1000:.1f} s over {self.stats.create.count} calls"
            )
        return out


@dataclass
class _Facts:
    """What finish() learnt, shared by the conditions, findings and missing-evidence steps."""

    incident: tuple[datetime, datetime] | None = None
    pressured: list[_SeriesVerdict] = field(default_factory=list)
    bad_providers: list[ProviderRecord] = field(default_factory=list)
    online_providers: list[ProviderRecord] = field(default_factory=list)
    ssl_total: int = 0
    connect_failures: int = 0
    pe_bad: list[ProtocolEndpointRecord] = field(default_factory=list)
    pe_missing: list[tuple[str, str, list[Citation]]] = field(default_factory=list)  # host, what, why
    pe_events: list[HostLogEvent] = field(default_factory=list)
    certs: list[CertificateAssessment] = field(default_factory=list)
    failed_migrations: int = 0
    vvold_failures_on_pressured: int = 0
    host_failures: list[HostLogEvent] = field(default_factory=list)
    involved_hosts: list[str] = field(default_factory=list)  # host keys
    vvold_hosts: set[str] = field(default_factory=set)
    vvold_any: bool = False
    vvold_unnamed: bool = False
    host_evidence: bool = False
    storms: int = 0


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
        self.ledger = MigrationLedger()
        self.names = HostNames()
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

    # ---------------------------------------------------------------- streaming

    def add(self, record: Any) -> None:
        """Fold one record of any type from ``records.py``; unknown types are ignored."""
        if isinstance(record, VasaFrame):
            self.signals.add(record)
            self.kinds_seen.add(EvidenceKind.VVOLD_LOG)
        elif isinstance(record, ProviderRecord):
            observer = record.observer or VCENTER
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
            self._listed(EvidenceKind.HOSTD_LOG, record.host)
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

        It is how an *empty* PE list is told apart from a missing one."""
        self.inputs.append(item)
        if item.host:
            self.names.see(item.host, 3)
        if item.records or item.kind != EvidenceKind.UNKNOWN:
            self._listed(item.kind, item.host)

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
        for host in self.signals.hosts():
            self.names.see(host, 3)
        facts = _Facts()
        facts.vvold_hosts = {host_key(h) for h in self.signals.hosts()} | self.listed.get(
            EvidenceKind.VVOLD_LOG, set()
        )
        facts.vvold_any = bool(self.signals.series) or EvidenceKind.VVOLD_LOG in self.kinds_seen
        # a vvold.log handed over on its own may name no host; it still speaks for "a host"
        facts.vvold_unnamed = any(s.host is None for s in self.signals.series.values())
        facts.host_evidence = bool(
            facts.vvold_any
            or self.providers
            or self.pes
            or self.containers
            or self.host_events
            or EvidenceKind.PROTOCOLENDPOINT_LIST in self.kinds_seen
        )
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
        facts.host_failures = [e for k in HOST_FAILURE_EVENTS for e in self.host_events.get(k, [])]
        failed = self.ledger.failed()
        facts.failed_migrations = len(failed)
        involved = [host_key(h) for task in failed for h in (task.source_host, task.dest_host) if h]
        involved += [host_key(e.host) for e in facts.host_failures if e.host]
        facts.involved_hosts = list(dict.fromkeys(k for k in involved if k))

        migrations, in_flight = self.ledger.summarise(
            self.names,
            t.storm_in_flight,
            nearby=self._nearby,
            end_of_evidence=(self.signals.span() or (None, None))[1]
            or (facts.incident[1] if facts.incident else None),
        )
        facts.storms = len(migrations.storms)

        conditions = self._conditions(facts)
        primary, secondary = decide(conditions)
        findings = [self._finding(primary, facts, migrations)]
        findings += [self._finding(rule, facts, migrations) for rule in secondary]
        verdict = Verdict(
            cls=primary.cls.value, confidence=findings[0].confidence, summary=self._summary(findings[0])
        )

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
            missing_evidence=self._missing_evidence(primary, facts),
            warnings=warnings,
            inputs=list(self.inputs),
            hosts=self.names.all(),
            incident_window=facts.incident,
            now=self.now,
            thresholds=t.as_dict(),
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

    def _pressured_series(self) -> list[_SeriesVerdict]:
        t = self.t
        out = []
        for (host, vp), stats in self.signals.series.items():
            p95 = stats.create.quantile(0.95) if stats.create.count >= t.create_min_samples else None
            sv = _SeriesVerdict(
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
            have_containers = {_norm_container(c) for pe in pes for c in pe.storage_containers}
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
                    _norm_container(c)
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

    def _conditions(self, f: _Facts) -> dict[str, bool]:
        t = self.t
        pressure = bool(f.pressured)
        failures = f.failed_migrations > 0 or bool(f.host_failures)
        impact = failures or f.vvold_failures_on_pressured > 0 or f.storms > 0
        saturated = pressure and impact
        cert_at_incident = {c.status_at_incident for c in f.certs}
        cert_now = {c.status_now for c in f.certs}
        untrusted = (
            bool(f.bad_providers)
            or f.ssl_total >= t.transport_events
            or (f.ssl_total + f.connect_failures >= t.transport_events and not pressure)
        )
        pe_problem = bool(f.pe_bad or f.pe_missing) or (bool(f.pe_events) and not saturated)
        if f.involved_hosts:
            covered = bool(f.vvold_hosts & set(f.involved_hosts)) or f.vvold_unnamed
        else:
            covered = f.vvold_any
        return {
            "certificate_expired_at_incident": "expired" in cert_at_incident,
            "provider_offline_or_untrusted": untrusted,
            "pe_not_presented": pe_problem,
            "provider_saturated": saturated,
            "failures_without_control_plane_signal": failures
            and covered
            and not pressure
            and not untrusted
            and not pe_problem
            and "expired" not in cert_at_incident,
            "evidence_without_failures": f.host_evidence and not failures and not saturated,
            "nothing_to_judge": True,
            "certificate_expired_now": "expired" in cert_now and "expired" not in cert_at_incident,
            "certificate_hard_limit": "hard-limit" in cert_now or "hard-limit" in cert_at_incident,
            "certificate_soft_limit": "soft-limit" in cert_now or "soft-limit" in cert_at_incident,
            "certificate_name_mismatch": any(c.matches_provider is False for c in f.certs),
            "pressure_without_impact": pressure and not impact,
            "migration_storm": f.storms > 0,
        }

    # ---------------------------------------------------------------- findings

    def _finding(self, rule: Rule, f: _Facts, migrations: Any) -> Finding:
        cls = rule.cls
        builder = {
            FailureClass.PROVIDER_SATURATION: self._saturation,
            FailureClass.PROVIDER_REGISTRATION: self._registration,
            FailureClass.PE_PRESENTATION: self._pe,
            FailureClass.CERTIFICATE_LIFECYCLE: self._certificate,
            FailureClass.NOT_CONTROL_PLANE: self._not_control_plane,
            FailureClass.HEALTHY: self._healthy,
            FailureClass.INSUFFICIENT_EVIDENCE: self._insufficient,
        }[cls]
        title, reason, support, cites, hosts, providers = builder(rule, f, migrations)
        base = {
            FailureClass.INSUFFICIENT_EVIDENCE: 0.3,
            FailureClass.HEALTHY: 0.4,
            FailureClass.NOT_CONTROL_PLANE: 0.4,
        }.get(cls, 0.45)
        confidence = round(min(0.95, base + 0.1 * max(0, support - 1)), 2)
        if not rule.primary:
            confidence = round(min(confidence, 0.8), 2)
        return Finding(
            id=cls.value,
            title=title,
            severity=rule.severity,
            confidence=confidence,
            reason=reason,
            citations=_dedupe(cites)[:MAX_CITATIONS],
            next_moves=next_moves(cls),
            hosts=sorted({h for h in hosts if h}),
            providers=sorted({p for p in providers if p}),
        )

    def _failure_citations(self, migrations: Any, limit: int = 3) -> list[Citation]:
        return [m.citation for m in migrations.failed if m.citation][:limit]

    def _saturation(self, rule: Rule, f: _Facts, migrations: Any) -> tuple:
        t = self.t
        if not f.pressured and f.storms:
            storm = migrations.storms[0]
            reason = (
                f"{storm.peak_concurrency} migrations in flight from {storm.source_host} "
                f"(threshold {t.storm_in_flight}); no vvold pressure evidence"
            )
            return (
                "Migration storm from one source host",
                reason,
                1,
                self._failure_citations(migrations),
                [s.source_host for s in migrations.storms],
                [],
            )
        top = f.pressured[0]
        s = top.stats
        where = f"{self.names.display(s.host) or 'unknown host'} -> {s.vp}"
        parts = top.reasons(t)
        impact = []
        if f.failed_migrations:
            impact.append(f"{f.failed_migrations} of {migrations.total} migrations failed")
        if f.vvold_failures_on_pressured:
            impact.append(f"{f.vvold_failures_on_pressured} VASA operations failed")
        if f.storms:
            impact.append(f"{f.storms} migration storm(s) of >= {t.storm_in_flight} in flight")
        reason = (
            f"{where}: " + "; ".join(parts) + (f"; {', '.join(impact)}" if impact else "; no failures yet")
        )
        support = sum(len(sv.reasons(t)) for sv in f.pressured[:3])
        support += bool(f.failed_migrations) + bool(f.vvold_failures_on_pressured) + bool(f.storms)
        support += any(
            m.nearby_signals
            and any(v.get("no_free_conn") or v.get("busy") for v in m.nearby_signals.values())
            for m in migrations.failed
        )
        support += bool(f.online_providers) and not f.bad_providers
        cites: list[Citation] = []
        for sv in f.pressured[:3]:
            st = sv.stats
            for kind in ("no-free-conn", "busy"):
                cites += [e.citation for e in st.first_by_kind.get(kind, [])[:2]]
            cites += [e.citation for e in st.at_ceiling_lines[:1]]
            cites += [e.citation for e in st.slowest_creates[:2]]
            cites += [e.citation for e in st.first_by_kind.get("failure", [])[:1]]
        cites += self._failure_citations(migrations)
        hosts = [self.names.display(sv.stats.host) for sv in f.pressured]
        return (
            "VASA provider saturation (KB 318662)",
            reason,
            support,
            cites,
            hosts,
            [sv.stats.vp for sv in f.pressured],
        )

    def _registration(self, rule: Rule, f: _Facts, migrations: Any) -> tuple:
        parts = []
        cites: list[Citation] = []
        providers = []
        if f.bad_providers:
            by = {}
            for p in f.bad_providers:
                by.setdefault((p.name, p.status), []).append(p.observer or VCENTER)
                cites += [p.citation] if p.citation else []
                providers.append(p.name)
            parts += [
                f"provider {n} is {st} as seen by {', '.join(sorted(set(o)))}" for (n, st), o in by.items()
            ]
        conn_series = [
            s
            for s in self.signals.series.values()
            if s.counts["ssl"] or s.counts["setcontext_failure"] or s.counts["transport"]
        ]
        if f.ssl_total:
            parts.append(f"{f.ssl_total} SSL failures in vvold.log")
        if f.connect_failures:
            parts.append(f"{f.connect_failures} setContext/transport failures")
        for s in conn_series[:3]:
            for kind in ("ssl", "setcontext-failure", "transport"):
                cites += [e.citation for e in s.first_by_kind.get(kind, [])[:2]]
            providers.append(s.vp)
        mismatched = [c for c in f.certs if c.matches_provider is False]
        for c in mismatched:
            parts.append(f"certificate {c.subject} does not name provider host {c.provider_host}")
            cites += [c.citation] if c.citation else []
            providers.append(c.provider or "")
        if rule.primary and f.failed_migrations:
            parts.append(f"{f.failed_migrations} migrations failed")
            cites += self._failure_citations(migrations)
        support = len({p.observer for p in f.bad_providers}) + bool(f.ssl_total) + bool(f.connect_failures)
        support += bool(mismatched) + bool(f.failed_migrations)
        hosts = [
            self.names.display(p.observer)
            for p in f.bad_providers
            if p.observer and p.observer.lower() != VCENTER
        ]
        hosts += [self.names.display(s.host) for s in conn_series]
        title = "VASA provider registration / trust" if rule.primary else "Provider certificate name mismatch"
        return (
            title,
            "; ".join(parts) or "provider registration or trust problem",
            support,
            cites,
            hosts,
            providers,
        )

    def _pe(self, rule: Rule, f: _Facts, migrations: Any) -> tuple:
        parts = []
        cites: list[Citation] = []
        hosts: list[str | None] = []
        for pe in f.pe_bad:
            state = []
            if pe.accessible is False:
                state.append("inaccessible")
            if pe.configured is False:
                state.append("not configured")
            parts.append(f"PE {pe.pe_id} on {self.names.display(pe.host)} is {' and '.join(state)}")
            cites += [pe.citation] if pe.citation else []
            hosts.append(self.names.display(pe.host))
        for host, what, why in f.pe_missing:
            parts.append(f"{host}: {what}")
            cites += why
            hosts.append(host)
        if f.pe_events:
            parts.append(f"{len(f.pe_events)} PE path events in host logs")
            cites += [e.citation for e in f.pe_events[:3]]
            hosts += [self.names.display(e.host) for e in f.pe_events]
        online = [p for p in f.online_providers]
        if online:
            parts.append("provider online")
            cites += [p.citation for p in online[:1] if p.citation]
        if f.failed_migrations:
            cites += self._failure_citations(migrations)
        support = (
            bool(f.pe_bad) + bool(f.pe_missing) + bool(f.pe_events) + bool(online) + bool(f.failed_migrations)
        )
        return (
            "Protocol Endpoint presentation",
            "; ".join(parts),
            support,
            cites,
            hosts,
            [p.name for p in online],
        )

    def _certificate(self, rule: Rule, f: _Facts, migrations: Any) -> tuple:
        wanted = {
            "certificate_expired_at_incident": lambda c: c.status_at_incident == "expired",
            "certificate_expired_now": lambda c: c.status_now == "expired",
            "certificate_hard_limit": lambda c: "hard-limit" in (c.status_now, c.status_at_incident),
            "certificate_soft_limit": lambda c: "soft-limit" in (c.status_now, c.status_at_incident),
        }[rule.condition]
        chosen = [c for c in f.certs if wanted(c)]
        parts = []
        for c in chosen:
            if rule.condition == "certificate_expired_at_incident":
                parts.append(
                    f"{c.subject} expired {-(c.days_left_at_incident or 0):.0f} days before the incident "
                    f"(not after {c.not_after:%Y-%m-%d})"
                )
            else:
                parts.append(
                    f"{c.subject}: {c.days_left_now:.0f} days left today (not after {c.not_after:%Y-%m-%d})"
                )
        support = len(chosen)
        cites = [c.citation for c in chosen if c.citation]
        if rule.primary:
            if f.bad_providers:
                parts.append("provider offline/syncError, as an expired certificate causes")
                cites += [p.citation for p in f.bad_providers[:2] if p.citation]
                support += 1
            if f.ssl_total or f.connect_failures:
                support += 1
            if f.failed_migrations:
                support += 1
                cites += self._failure_citations(migrations)
        title = {
            "certificate_expired_at_incident": "VASA provider certificate expired at the incident",
            "certificate_expired_now": "VASA provider certificate has expired since",
            "certificate_hard_limit": "VASA provider certificate within 1 month of expiry",
            "certificate_soft_limit": "VASA provider certificate within 6 months of expiry",
        }[rule.condition]
        return (title, "; ".join(parts), support, cites, [], [c.provider for c in chosen])

    def _not_control_plane(self, rule: Rule, f: _Facts, migrations: Any) -> tuple:
        parts = [
            f"{f.failed_migrations} migrations failed"
            if f.failed_migrations
            else "vMotion failures in host logs"
        ]
        covered = [self.names.display(h) for h in f.involved_hosts if h in f.vvold_hosts]
        parts.append(
            f"vvold.log of {', '.join(h for h in covered if h) or 'the hosts'} shows no VASA pressure"
        )
        cites: list[Citation] = self._failure_citations(migrations)
        support = 1 + bool(covered)
        ncp = [e for e in f.host_failures if e.kind in NOT_CONTROL_PLANE_EVENTS]
        if ncp:
            kinds = sorted({e.kind.value for e in ncp})
            parts.append(f"host logs show {', '.join(kinds)}")
            cites += [e.citation for e in ncp[:3]]
            support += 1
        if f.online_providers and not f.bad_providers:
            parts.append("providers online")
            cites += [p.citation for p in f.online_providers[:1] if p.citation]
            support += 1
        if self.pes and not f.pe_bad:
            parts.append("PEs accessible")
            cites += [pe.citation for pe in list(self.pes.values())[:1] if pe.citation]
            support += 1
        cites += self._vvold_proof(f.involved_hosts)
        return (
            "Not the vVol control plane",
            "; ".join(parts),
            support,
            cites,
            [self.names.display(h) for h in f.involved_hosts],
            [],
        )

    def _healthy(self, rule: Rule, f: _Facts, migrations: Any) -> tuple:
        parts = []
        cites: list[Citation] = []
        support = 0
        if f.vvold_any:
            parts.append("vvold.log shows no saturation")
            cites += self._vvold_proof([])
            support += 1
        if f.online_providers and not f.bad_providers:
            parts.append("providers online")
            cites += [p.citation for p in f.online_providers[:2] if p.citation]
            support += 1
        if self.pes and not f.pe_bad:
            parts.append("PEs accessible")
            cites += [pe.citation for pe in list(self.pes.values())[:2] if pe.citation]
            support += 1
        if migrations.total:
            parts.append(f"{migrations.succeeded} of {migrations.total} migrations succeeded")
            support += 1
        else:
            parts.append("no failed migration in the evidence")
        return ("No vVol control-plane problem found", "; ".join(parts), support, cites, self.names.all(), [])

    def _insufficient(self, rule: Rule, f: _Facts, migrations: Any) -> tuple:
        if f.failed_migrations and not f.host_evidence:
            reason = (
                f"{f.failed_migrations} migrations failed but no host-side evidence "
                "(vvold.log, esxcli) was given"
            )
        elif f.failed_migrations:
            reason = (
                f"{f.failed_migrations} migrations failed but no vvold.log from their hosts "
                "shows whether the VASA provider was under pressure"
            )
        elif not (self.inputs or f.host_evidence or migrations.total):
            reason = "no usable evidence was read"
        else:
            reason = "the evidence read says nothing about the vVol control plane"
        return (
            "Not enough evidence to place the failure",
            reason,
            1,
            self._failure_citations(migrations, 5),
            [self.names.display(h) for h in f.involved_hosts],
            [],
        )

    def _vvold_proof(self, hosts: Iterable[str]) -> list[Citation]:
        keys = set(hosts)
        out: list[Citation] = []
        for stats in self.signals.series.values():
            if keys and host_key(stats.host) not in keys:
                continue
            out += [e.citation for e in stats.first_by_kind.get("success", [])[:1]]
            if len(out) >= 2:
                break
        return out

    def _summary(self, finding: Finding) -> str:
        return f"{finding.id}: {finding.reason}"

    # ---------------------------------------------------------------- sections

    def _provider_summaries(self, f: _Facts) -> list[ProviderSummary]:
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

    def _missing_evidence(self, primary: Rule, f: _Facts) -> list[MissingEvidence]:
        """The artifacts that are absent and what each would settle, with the command to get it."""
        out: list[MissingEvidence] = []
        hosts = f.involved_hosts or [host_key(h) for h in self.names.all()]
        targets = [self.names.display(h) or h for h in hosts][:5] or ["<source host of a failed migration>"]
        vp_hosts = self.listed.get(EvidenceKind.VASAPROVIDER_LIST, set())
        pe_hosts = self.listed.get(EvidenceKind.PROTOCOLENDPOINT_LIST, set())
        for shown in targets:
            key = host_key(shown)
            if (
                key not in f.vvold_hosts
                and not f.vvold_unnamed
                and not (not f.involved_hosts and f.vvold_any)
            ):
                out.append(
                    MissingEvidence(
                        f"vvold.log from {shown}",
                        "shows whether VASA calls waited for a free connection, got PROVIDER_BUSY or took "
                        "long "
                        "to create swap vVols around the failures (saturation vs. look elsewhere)",
                        f"ssh root@{shown} '{VVOLD_GREP}'   # or a full support bundle: vm-support",
                    )
                )
            if key not in vp_hosts and EvidenceKind.VASA_PROVIDER_EXPORT not in self.kinds_seen:
                out.append(
                    MissingEvidence(
                        f"esxcli storage vvol vasaprovider list (on {shown})",
                        "tells whether the provider is online, offline or in syncError "
                        "(registration vs. saturation)",
                        f"ssh root@{shown} 'esxcli storage vvol vasaprovider list'",
                    )
                )
            if key not in pe_hosts:
                out.append(
                    MissingEvidence(
                        f"esxcli storage vvol protocolendpoint list (on {shown})",
                        "tells whether the Protocol Endpoints are accessible and configured "
                        "(PE presentation)",
                        f"ssh root@{shown} 'esxcli storage vvol protocolendpoint list'",
                    )
                )
        if not self.providers:
            out.append(
                MissingEvidence(
                    "vCenter storage provider inventory",
                    "provider status and certificate expiry as vCenter sees them",
                    "Get-VasaProvider -Refresh | Select-Object * | "
                    "Export-Csv vasa-providers.csv -NoTypeInformation",
                )
            )
        if not len(self.ledger):
            out.append(
                MissingEvidence(
                    "vCenter migration tasks",
                    "which migrations failed, from which source host, and how many ran at once (storm)",
                    "Get-Task | Where-Object { $_.Name -match 'Migrat|Relocat' } | Select-Object * | "
                    "ConvertTo-Json -Depth 4 > tasks.json",
                )
            )
        if not self.certificates and not any(p.certificate_expiry for p in self.providers.values()):
            host = (
                next((url_host(p.url) for p in self.providers.values() if p.url), None) or "<provider-host>"
            )
            out.append(
                MissingEvidence(
                    "VASA provider certificate",
                    "days to expiry and whether it names the provider URL host "
                    "(certificate lifecycle, trust)",
                    f"openssl s_client -connect {host}:<port> -showcerts </dev/null | "
                    "openssl x509 -noout -subject -issuer -dates -ext subjectAltName",
                )
            )
        return out


def _max(a: Any, b: Any) -> Any:
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)


def _dedupe(cites: Iterable[Citation | None]) -> list[Citation]:
    seen: set[tuple[str, int | None]] = set()
    out = []
    for c in cites:
        if c is None or (c.file, c.line) in seen:
            continue
        seen.add((c.file, c.line))
        out.append(c)
    return out


def _thin_in_flight(points: list[dict[str, Any]], max_points: int) -> list[dict[str, Any]]:
    """Keep the in-flight step series under ``max_points`` per source host, keeping each stretch's
    peak (a storm must not be thinned away)."""
    by_host: dict[str, list[dict[str, Any]]] = {}
    for p in points:
        by_host.setdefault(str(p["source_host"]), []).append(p)
    out: list[dict[str, Any]] = []
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
