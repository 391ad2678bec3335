"""The facts the analysis learns at the end of a run, shared by the conditions of the decision
table, the findings and the missing-evidence list (so each is computed once, in one place)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from vvolguard.analysis.alignment import PressureApart
from vvolguard.analysis.certificates import CertificateAssessment
from vvolguard.analysis.coverage import HostCoverage, Restart
from vvolguard.analysis.series import SeriesStats
from vvolguard.analysis.thresholds import Thresholds
from vvolguard.records import (
    Citation,
    HostEventKind,
    HostLogEvent,
    ProtocolEndpointRecord,
    ProviderEvent,
    ProviderRecord,
)

BAD_STATUSES = frozenset({"offline", "syncerror", "disconnected"})
GOOD_STATUSES = frozenset({"online"})
VCENTER = "vcenter"

#: Host events that are vMotion failing on the host side, whatever the cause.
HOST_FAILURE_EVENTS = frozenset(
    {
        HostEventKind.VMOTION_FAILED,
        HostEventKind.SWITCHOVER_EXCEEDED,
        HostEventKind.DEST_FAILED_RESUME,
        HostEventKind.CONFIG_VVOL_LIMIT,
    }
)
#: Host events that point away from the control plane when vvold is quiet: the switchover
#: timeout (KB 307365) and the 4 GB config-vVol limit are look-alikes outside VASA.
NOT_CONTROL_PLANE_EVENTS = frozenset(
    {HostEventKind.SWITCHOVER_EXCEEDED, HostEventKind.DEST_FAILED_RESUME, HostEventKind.CONFIG_VVOL_LIMIT}
)


def norm_container(value: str) -> str:
    """``vvol:e0ad8389...-b1b7...`` and ``e0ad8389-...`` compare as 32 hex digits when they are."""
    text = value.lower().removeprefix("vvol:").removeprefix("rfc4122.")
    digits = re.sub(r"[^0-9a-f]", "", text)
    return digits if len(digits) == 32 else text


@dataclass
class SeriesVerdict:
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
class Facts:
    """What finish() learnt, shared by the conditions, findings and missing-evidence steps."""

    incident: tuple[datetime, datetime] | None = None
    pressured: list[SeriesVerdict] = field(default_factory=list)
    bad_providers: list[ProviderRecord] = field(default_factory=list)
    online_providers: list[ProviderRecord] = field(default_factory=list)
    ssl_total: int = 0
    connect_failures: int = 0
    pe_bad: list[ProtocolEndpointRecord] = field(default_factory=list)
    pe_missing: list[tuple[str, str, list[Citation]]] = field(default_factory=list)  # host, what, why
    pe_events: list[HostLogEvent] = field(default_factory=list)
    #: esx.problem.vvol.container.offline: a symptom of both an unreachable provider and a PE
    #: problem, so it only supports those findings and never decides between them.
    container_offline: list[HostLogEvent] = field(default_factory=list)
    certs: list[CertificateAssessment] = field(default_factory=list)
    failed_migrations: int = 0
    vvold_failures_on_pressured: int = 0
    host_failures: list[HostLogEvent] = field(default_factory=list)
    involved_hosts: list[str] = field(default_factory=list)  # host keys
    vvold_hosts: set[str] = field(default_factory=set)
    vvold_any: bool = False
    vvold_unnamed: bool = False
    host_evidence: bool = False
    #: inputs no reader knew whose rows carry dates (see Analyzer.unread_tables)
    unread_tables: list[str] = field(default_factory=list)
    storms: int = 0
    retry_succeeded: int = 0  # failed VMs moved by a later migration
    retry_failed: int = 0  # failed VMs whose later migration failed too
    #: the failure window a conclusion from absence must see (None when nothing failed)
    window: tuple[datetime, datetime] | None = None
    #: the pressure seen was nowhere near the failures (hours apart: another time, or a wrong zone)
    apart: PressureApart | None = None
    #: per involved host (and unnamed vvold files): does its vvold evidence cover the window?
    coverage_checks: list[HostCoverage] = field(default_factory=list)
    vvold_covered: bool = False
    #: without failures: does vvold cover the migrations that ran (for the healthy finding)?
    migration_checks: list[HostCoverage] = field(default_factory=list)
    #: failures whose error (or a host fault near them) names a cause outside VASA:
    #: (cause label, vCenter fault name, citation)
    named_causes: list[tuple[str, str, Citation | None]] = field(default_factory=list)
    explained_failures: int = 0
    unexplained_failures: int = 0
    #: setContext/transport/SSL failures in vvold outside / inside a VASA pressure storm
    conn_outside: int = 0
    conn_inside: int = 0
    #: vCenter's own (sps.log) trust failures and outages that were open at the incident
    sps_trust: list[ProviderEvent] = field(default_factory=list)
    sps_outage_outside: list[ProviderEvent] = field(default_factory=list)
    sps_outage_inside: list[ProviderEvent] = field(default_factory=list)
    restarts: list[Restart] = field(default_factory=list)
    #: (source host, how it was learnt, citation) for migrations whose records named none
    inferred_sources: list[tuple[str, str, Citation | None, int]] = field(default_factory=list)

    @property
    def uncovered(self) -> list[HostCoverage]:
        """Hosts whose vvold evidence was given but does not cover the failure window."""
        return [c for c in self.coverage_checks if c.spans and not c.covers]
