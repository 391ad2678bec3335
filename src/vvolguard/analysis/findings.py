"""Findings: for each decision-table row that holds, a title, a one-line reason, the evidence
lines that prove it, a confidence from how many independent signals agree, and the runbook's next
moves.

Confidence is ``base + 0.1`` per agreeing signal beyond the first (capped at 0.95; 0.8 for
secondary findings): a saturation verdict backed by waits, a held ceiling, slow creates, failed
migrations with pressure nearby and an online provider is surer than one resting on waits alone.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from vvolguard.analysis.decision import Condition, Rule
from vvolguard.analysis.facts import NOT_CONTROL_PLANE_EVENTS, VCENTER, Facts
from vvolguard.analysis.migrations import HostNames, host_key
from vvolguard.analysis.model import UNNAMED_HOST, FailureClass, Finding, InputFile, Migrations
from vvolguard.analysis.nextmoves import next_moves
from vvolguard.analysis.signals import SignalAccumulator
from vvolguard.analysis.thresholds import Thresholds
from vvolguard.records import Citation, ProtocolEndpointRecord

#: Quoted lines per finding: enough to prove it, few enough to read.
MAX_CITATIONS = 12


@dataclass
class Draft:
    """What a row's builder found, before confidence and next moves make it a :class:`Finding`."""

    title: str
    reason: str
    support: int  # how many independent signals agree (confidence grows with it)
    citations: Sequence[Citation | None]
    hosts: Sequence[str | None]
    providers: Sequence[str | None]
    #: the most this finding can be sure of whatever agrees (a doubt its own facts raise)
    cap: float | None = None


class FindingWriter:
    """Writes one :class:`Finding` per decision-table row from the facts it is given: host names,
    the vvold signals, the protocol endpoints, the thresholds and the inputs read."""

    def __init__(
        self,
        names: HostNames,
        signals: SignalAccumulator,
        pes: dict[tuple[str, str], ProtocolEndpointRecord],
        thresholds: Thresholds,
        inputs: list[InputFile],
    ) -> None:
        self.names = names
        self.signals = signals
        self.pes = pes
        self.t = thresholds
        self.inputs = inputs

    def finding(self, rule: Rule, f: Facts, migrations: Migrations, verdict: bool = False) -> Finding:
        """The finding for one holding row; ``verdict`` says whether it is the explanation (a
        secondary finding is never more than 0.8 sure: something else explained the incident)."""
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
        draft = builder(rule, f, migrations)
        # a certificate's dates are a fact, not an inference; absence-based classes start lower
        base = {
            FailureClass.INSUFFICIENT_EVIDENCE: 0.3,
            FailureClass.HEALTHY: 0.4,
            FailureClass.NOT_CONTROL_PLANE: 0.4,
            FailureClass.CERTIFICATE_LIFECYCLE: 0.6,
        }.get(cls, 0.45)
        confidence = round(min(0.95, base + 0.1 * max(0, draft.support - 1)), 2)
        if not verdict:
            confidence = round(min(confidence, 0.8), 2)
        if draft.cap is not None:
            confidence = round(min(confidence, draft.cap), 2)
        return Finding(
            id=cls.value,
            title=draft.title,
            severity=rule.severity,
            confidence=confidence,
            reason=draft.reason,
            citations=dedupe(draft.citations)[:MAX_CITATIONS],
            next_moves=next_moves(cls),
            hosts=sorted({h for h in draft.hosts if h}),
            providers=sorted({p for p in draft.providers if p}),
        )

    def _failure_citations(self, migrations: Migrations, limit: int = 3) -> list[Citation]:
        return [m.citation for m in migrations.failed if m.citation][:limit]

    def _saturation(self, rule: Rule, f: Facts, migrations: Migrations) -> Draft:
        t = self.t
        if not f.pressured and f.storms:
            first = migrations.storms[0]
            reason = (
                f"{first.peak_concurrency} migrations in flight from {first.source_host} "
                f"(threshold {t.storm_in_flight}); no vvold pressure evidence"
            )
            return Draft(
                "Migration storm from one source host",
                reason,
                1,
                self._failure_citations(migrations),
                [s.source_host for s in migrations.storms],
                [],
            )
        top = f.pressured[0]
        s = top.stats
        where = f"{self.names.display(s.host) or UNNAMED_HOST} -> {s.vp}"
        parts = top.reasons(t)
        impact = []
        if f.failed_migrations:
            impact.append(f"{f.failed_migrations} of {migrations.total} migrations failed")
        if f.vvold_failures_on_pressured:
            impact.append(f"{f.vvold_failures_on_pressured} VASA operations failed")
        if f.storms:
            impact.append(f"{f.storms} migration storm(s) of >= {t.storm_in_flight} in flight")
        if f.retry_succeeded:
            impact.append(f"{f.retry_succeeded} failed VM(s) moved fine on a later retry (transient)")
        storm = f.conn_inside + len(f.sps_outage_inside)
        if storm:
            restart = _restart_text(f)
            impact.append(
                f"{storm} setContext/transport/SSL failures inside the pressure: the setContext storm of "
                f"KB 412434 (every host re-running setContext against an overloaded provider{restart})"
            )
        reason = (
            f"{where}: " + "; ".join(parts) + (f"; {', '.join(impact)}" if impact else "; no failures yet")
        )
        cap = None
        if f.apart is not None:
            # the provider was saturated on vvold's clock, but not when the migrations failed
            reason += f"; but the failed migrations came {f.apart.gap_text()} that pressure" + (
                " (a time zone's size: check --tz)" if f.apart.zone_sized else ""
            )
            cap = 0.5
        support = sum(len(sv.reasons(t)) for sv in f.pressured[:3])
        support += bool(f.failed_migrations) + bool(f.vvold_failures_on_pressured) + bool(f.storms)
        support += any(
            m.nearby_signals
            and any(v.get("no_free_conn") or v.get("busy") for v in m.nearby_signals.values())
            for m in migrations.failed
        )
        support += bool(f.online_providers) and not f.bad_providers
        support += bool(f.retry_succeeded)
        cites: list[Citation] = []
        for sv in f.pressured[:3]:
            st = sv.stats
            for kind in ("no-free-conn", "busy"):
                cites += [e.citation for e in st.first_by_kind.get(kind, [])[:2]]
            cites += [e.citation for e in st.at_ceiling_lines[:1]]
            cites += [e.citation for e in st.slowest_creates[:2]]
            cites += [e.citation for e in st.first_by_kind.get("failure", [])[:1]]
        if f.conn_inside:
            for st in self.signals.series.values():
                cites += [e.citation for e in st.first_by_kind.get("setcontext-failure", [])[:1]]
        cites += self._failure_citations(migrations)
        hosts = [self.names.display(sv.stats.host) for sv in f.pressured]
        return Draft(
            "VASA provider saturation (KB 318662)",
            reason,
            support,
            cites,
            hosts,
            [sv.stats.vp for sv in f.pressured],
            cap,
        )

    def _registration(self, rule: Rule, f: Facts, migrations: Migrations) -> Draft:
        parts = []
        cites: list[Citation] = []
        providers = []
        if f.bad_providers:
            by: dict[tuple[str, str | None], list[str]] = {}
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
        conn_cites: list[Citation] = []
        for st in conn_series[:3]:
            for kind in ("ssl", "setcontext-failure", "transport"):
                conn_cites += [e.citation for e in st.first_by_kind.get(kind, [])[:2]]
            providers.append(st.vp)
        if f.connect_failures:
            codes = _fault_codes(conn_cites)
            vps = ", ".join(sorted({f"{st.vp} ({st.url})" if st.url else st.vp for st in conn_series[:3]}))
            kb = (
                ": ESXi cannot reach or trust the provider (KB 412434)"
                if f.conn_outside and rule.condition is not Condition.CERTIFICATE_NAME_MISMATCH
                else ""
            )
            parts.append(
                f"{f.connect_failures} setContext/transport failures in vvold.log"
                + (f" for provider {vps}" if vps else "")
                + (f" ({', '.join(codes)})" if codes else "")
                + ("" if f.conn_outside or not f.conn_inside else " during VASA pressure")
                + kb
            )
        cites += conn_cites
        if f.sps_trust or f.sps_outage_outside:
            events = [*f.sps_trust, *f.sps_outage_outside]
            kinds = sorted({e.kind.value for e in events})
            named = sorted({e.provider or e.url or "" for e in events} - {""})
            parts.append(
                f"{len(events)} provider failures seen by vCenter (sps.log: {', '.join(kinds)})"
                + (f" for {', '.join(named[:3])}" if named else "")
            )
            cites += [e.citation for e in f.sps_trust[:3]] + [e.citation for e in f.sps_outage_outside[:2]]
            providers += named
        if f.restarts and (f.connect_failures or f.sps_outage_outside):
            parts.append(_restart_text(f).removeprefix(", after ").removeprefix(", "))
            cites += [c for r in f.restarts[:2] for c in r.citations[-1:]]
        if f.container_offline and rule.primary:
            parts.append(f"{len(f.container_offline)} vVol container offline events")
            cites += [e.citation for e in f.container_offline[:2]]
        mismatched = [c for c in f.certs if c.matches_provider is False]
        for c in mismatched:
            parts.append(f"certificate {c.subject} does not name provider host {c.provider_host}")
            cites += [c.citation] if c.citation else []
            providers.append(c.provider or "")
        if rule.primary and f.failed_migrations:
            parts.append(f"{f.failed_migrations} migrations failed")
            cites += self._failure_citations(migrations)
        support = len({p.observer for p in f.bad_providers}) + bool(f.ssl_total) + bool(f.connect_failures)
        support += bool(mismatched) + bool(f.failed_migrations) + bool(f.sps_trust or f.sps_outage_outside)
        support += bool(f.restarts and f.connect_failures)
        if rule.primary and f.retry_failed and not f.retry_succeeded:
            parts.append(f"{f.retry_failed} retried VM(s) failed again")
            support += 1
        hosts = [
            self.names.display(p.observer)
            for p in f.bad_providers
            if p.observer and p.observer.lower() != VCENTER
        ]
        hosts += [self.names.display(s.host) for s in conn_series]
        title = {
            Condition.PROVIDER_OFFLINE_OR_UNTRUSTED: "VASA provider registration / trust",
            Condition.PROVIDER_CONNECTION_FAILURES: "VASA provider connection / trust failures "
            "(setContext, transport, SSL)",
        }.get(rule.condition, "Provider certificate name mismatch")
        return Draft(
            title,
            "; ".join(parts) or "provider registration or trust problem",
            support,
            cites,
            hosts,
            providers,
        )

    def _pe(self, rule: Rule, f: Facts, migrations: Migrations) -> Draft:
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
        if f.container_offline:
            parts.append(f"{len(f.container_offline)} vVol container offline events")
            cites += [e.citation for e in f.container_offline[:2]]
        online = [p for p in f.online_providers]
        if online:
            parts.append("provider online")
            cites += [p.citation for p in online[:1] if p.citation]
        if f.failed_migrations:
            cites += self._failure_citations(migrations)
        support = (
            bool(f.pe_bad) + bool(f.pe_missing) + bool(f.pe_events) + bool(online) + bool(f.failed_migrations)
        )
        title = (
            "Protocol Endpoint presentation" if rule.primary else "Protocol Endpoint problem on another host"
        )
        return Draft(
            title,
            "; ".join(parts),
            support,
            cites,
            hosts,
            [p.name for p in online],
        )

    def _certificate(self, rule: Rule, f: Facts, migrations: Migrations) -> Draft:
        wanted = {
            Condition.CERTIFICATE_EXPIRED_AT_INCIDENT: lambda c: c.status_at_incident == "expired",
            Condition.CERTIFICATE_EXPIRED_NOW: lambda c: c.status_now == "expired",
            Condition.CERTIFICATE_HARD_LIMIT: lambda c: "hard-limit" in (c.status_now, c.status_at_incident),
            Condition.CERTIFICATE_SOFT_LIMIT: lambda c: "soft-limit" in (c.status_now, c.status_at_incident),
        }[rule.condition]
        chosen = [c for c in f.certs if wanted(c)]
        parts = []
        for c in chosen:
            if rule.condition == Condition.CERTIFICATE_EXPIRED_AT_INCIDENT:
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
            Condition.CERTIFICATE_EXPIRED_AT_INCIDENT: "VASA provider certificate expired at the incident",
            Condition.CERTIFICATE_EXPIRED_NOW: "VASA provider certificate has expired since",
            Condition.CERTIFICATE_HARD_LIMIT: "VASA provider certificate within 1 month of expiry",
            Condition.CERTIFICATE_SOFT_LIMIT: "VASA provider certificate within 6 months of expiry",
        }[rule.condition]
        return Draft(title, "; ".join(parts), support, cites, [], [c.provider for c in chosen])

    def _not_control_plane(self, rule: Rule, f: Facts, migrations: Migrations) -> Draft:
        parts = [
            f"{f.failed_migrations} migrations failed"
            if f.failed_migrations
            else "vMotion failures in host logs"
        ]
        cites: list[Citation] = []
        support = 1
        if f.named_causes:
            counts: dict[str, int] = {}
            for label, fault, _ in f.named_causes:
                key = f"{label} ({fault})"
                counts[key] = counts.get(key, 0) + 1
            total = f.explained_failures + f.unexplained_failures
            named = ", ".join(f"{k} x{n}" if n > 1 else k for k, n in counts.items())
            parts.append(f"{f.explained_failures} of {total} failures name a cause outside VASA: {named}")
            cites += dedupe(c for _, _, c in f.named_causes)[:4]
            support += 1
        cites += self._failure_citations(migrations)
        covered = [c for c in f.coverage_checks if c.covers]
        if covered:
            shown = ", ".join(sorted({c.host or "a host" for c in covered}))
            first = min(c.needed[0] for c in covered)
            parts.append(
                f"vvold.log of {shown} covers the failure window (from {first:%Y-%m-%d %H:%M:%S}Z) "
                "and shows no VASA pressure"
            )
            support += 1
        elif not f.coverage_checks and f.vvold_any:
            parts.append("vvold.log shows no VASA pressure")
        else:
            parts.append("no vvold.log covers the failure window; the failures' own errors name the cause")
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
        return Draft(
            "Not the vVol control plane",
            "; ".join(parts),
            support,
            cites,
            [self.names.display(h) for h in f.involved_hosts],
            [],
        )

    def _healthy(self, rule: Rule, f: Facts, migrations: Migrations) -> Draft:
        parts = []
        cites: list[Citation] = []
        support = 0
        if f.vvold_any and f.migration_checks and not any(c.covers for c in f.migration_checks):
            seen = [c for c in f.migration_checks if c.spans]
            lo = min(c.start for c in seen if c.start)
            hi = max(c.end for c in seen if c.end)
            parts.append(
                f"vvold.log covers {lo:%Y-%m-%d %H:%M:%S}Z to {hi:%Y-%m-%d %H:%M:%S}Z, not all the "
                "migrations that ran: it shows no saturation then"
            )
            cites += self._vvold_proof([])
        elif f.vvold_any and f.pressured:
            # Pressure with no failure is not saturation, but "shows no saturation" would read as
            # calm: say what was seen (the low-severity finding beside this one has the numbers).
            parts.append("vvold.log shows VASA pressure that caused no failure (near the provider's limit)")
            cites += self._vvold_proof([])
        elif f.vvold_any:
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
        return Draft(
            "No vVol control-plane problem found", "; ".join(parts), support, cites, self.names.all(), []
        )

    def _insufficient(self, rule: Rule, f: Facts, migrations: Migrations) -> Draft:
        uncovered = f.uncovered
        if uncovered and f.window is not None and not f.vvold_covered:
            what = (
                f"{f.failed_migrations} migrations failed"
                if f.failed_migrations
                else "vMotion failures in host logs"
            )
            groups: dict[tuple[Any, ...], list[Any]] = {}
            for check in uncovered:  # hosts missing the same stretch are said once
                groups.setdefault(tuple(check.missing[:1]), []).append(check)
            gaps = "; ".join(_gap_text(group, f.window) for group in list(groups.values())[:3])
            reason = (
                f"{what} between {f.window[0]:%Y-%m-%d %H:%M:%S}Z and {f.window[1]:%Y-%m-%d %H:%M:%S}Z "
                f"but {gaps}: it cannot show whether the VASA provider was under pressure then; "
                "the rotated vvold.N.gz files of those hosts (or vm-support bundles, which include "
                "them) would cover it"
            )
            if f.named_causes:
                reason += f" ({f.explained_failures} of the failures name a cause outside VASA)"
            cites = self._failure_citations(migrations, 5)
            return Draft(
                "Not enough evidence: the host logs do not cover the failures",
                reason,
                1,
                cites,
                [c.host for c in uncovered] + [self.names.display(h) for h in f.involved_hosts],
                [],
            )
        if f.failed_migrations and f.window is None and f.vvold_any:
            reason = (
                f"{f.failed_migrations} migrations failed but their records carry no time, so no "
                "vvold.log can be placed against them; export the tasks with their start and end times"
            )
        elif f.failed_migrations and not f.host_evidence:
            reason = (
                f"{f.failed_migrations} migrations failed but no host-side evidence "
                "(vvold.log, esxcli) was given"
            )
        elif f.failed_migrations:
            reason = (
                f"{f.failed_migrations} migrations failed but no vvold.log from their hosts "
                "shows whether the VASA provider was under pressure"
            )
        elif not f.failed_migrations and f.unread_tables:
            files = ", ".join(f.unread_tables[:3]) + (" and others" if len(f.unread_tables) > 3 else "")
            reason = (
                f"no failed migration was read, but {files} could not be read and has dated rows: if "
                "it lists the tasks or events of the incident, its failures were not seen; export "
                "them as PowerCLI Get-Task/Get-VIEvent with Export-Csv or ConvertTo-Json, or as the "
                "vSphere Client Tasks CSV"
            )
        elif not (self.inputs or f.host_evidence or migrations.total):
            reason = "no usable evidence was read"
        else:
            reason = "the evidence read says nothing about the vVol control plane"
        return Draft(
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

    @staticmethod
    def summary(finding: Finding, f: Facts | None = None) -> str:
        """The verdict line: the class and the primary finding's reason, and where the failed
        migrations came from when that had to be inferred (the exports did not say)."""
        text = f"{finding.id}: {finding.reason}"
        if f is not None and f.inferred_sources and "source host" not in finding.reason:
            sources = "; ".join(f"{host} (inferred from {how})" for host, how, _, _ in f.inferred_sources[:3])
            text += f"; failed migrations came from source host {sources}"
        return text


def _gap_text(checks: list[Any], window: tuple[Any, Any]) -> str:
    """'the vvold.log of esx01 covers 13:12-13:42 only, starting 3 h 2 min after the first failure
    (uncovered: ...)', for hosts whose logs miss the same stretch of the window."""
    start = min(c.start for c in checks)
    end = max(c.end for c in checks)
    names = [c.host or "the host" for c in checks]
    where = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    logs = "the vvold.log of" if len(checks) == 1 else "the vvold.logs of"
    verb = "covers" if len(checks) == 1 else "cover"
    text = f"{logs} {where} {verb} {start:%Y-%m-%d %H:%M:%S}Z to {end:%Y-%m-%d %H:%M:%S}Z only"
    if start > window[0]:
        text += f", starting {_duration((start - window[0]).total_seconds())} after the first failure"
    elif end < window[1]:
        text += f", ending {_duration((window[1] - end).total_seconds())} before the last failure"
    missing = checks[0].missing[0]
    return text + f" (uncovered: {missing[0]:%Y-%m-%d %H:%M:%S}Z to {missing[1]:%Y-%m-%d %H:%M:%S}Z)"


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {secs} s"
    return f"{secs} s"


def _restart_text(f: Facts) -> str:
    """', after a vvold restart on esx-01 between 12:17:14 and 17:37:07' (empty without one)."""
    if not f.restarts:
        return ""
    r = f.restarts[0]
    where = r.host or "the host"
    when = (
        f"between {r.after:%Y-%m-%d %H:%M:%S}Z and {r.at:%Y-%m-%d %H:%M:%S}Z"
        if r.after
        else f"at {r.at:%Y-%m-%d %H:%M:%S}Z"
    )
    pids = f", pid {r.old_pid} -> {r.new_pid}" if r.old_pid and r.new_pid else ""
    return f", after a vvold restart on {where} {when}{pids}"


_FAULT_CODE = re.compile(r"\b([A-Z][A-Z]+_(?:FAULT|BUSY|ERROR|TIMEOUT))\b")


def _fault_codes(cites: Iterable[Citation]) -> list[str]:
    """The vvold fault codes (TRANSPORT_FAULT, STORAGE_FAULT, ...) in the cited lines."""
    seen: dict[str, None] = {}
    for c in cites:
        for code in _FAULT_CODE.findall(c.text):
            seen.setdefault(code, None)
    return list(seen)


def dedupe(cites: Iterable[Citation | None]) -> list[Citation]:
    seen: set[tuple[str, int | None]] = set()
    out = []
    for c in cites:
        if c is None or (c.file, c.line) in seen:
            continue
        seen.add((c.file, c.line))
        out.append(c)
    return out
