"""The Diagnosis: what analysis hands to every renderer (terminal, JSON, HTML, Markdown, escalate).

It is plain data, so renderers never reach back into readers, and ``to_dict`` is the stable JSON
schema ``vvolguard.diagnosis/v1`` (documented in ``report/json_schema.py``). Add fields freely;
renaming or removing one is a schema change and needs ``v2``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, is_dataclass
from datetime import datetime
from enum import Enum, StrEnum
from typing import Any, TypedDict

from vvolguard.records import Citation, ReadWarning

SCHEMA_ID = "vvolguard.diagnosis/v1"

#: The one name of an ESXi host whose evidence does not say which host it is (a lone vvold.log,
#: an esxcli output given outside a support bundle), in findings, reports and the README alike.
UNNAMED_HOST = "unnamed-esxi-host"


class FailureClass(StrEnum):
    """The runbook's classes (Stage 4 decision table) plus the two the tool itself needs."""

    PROVIDER_SATURATION = "provider-saturation"
    PROVIDER_REGISTRATION = "provider-registration"
    PE_PRESENTATION = "pe-presentation"
    CERTIFICATE_LIFECYCLE = "certificate-lifecycle"
    NOT_CONTROL_PLANE = "not-control-plane"
    HEALTHY = "healthy"
    INSUFFICIENT_EVIDENCE = "insufficient-evidence"


class Severity(StrEnum):
    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return list(Severity).index(self)


@dataclass
class CoverageUse:
    """The time one host's evidence of one kind covers, and whether that covers the window a
    conclusion needed (the failure window widened by ``coverage_margin_seconds`` before it)."""

    host: str | None  # None: a file that names no host
    kind: str  # an EvidenceKind value (vvold-log, hostd-log, vmkernel-log, esxcli-..., ...)
    start: datetime | None
    end: datetime | None
    files: list[str] = field(default_factory=list)
    needed: tuple[datetime, datetime] | None = None  # None: no window had to be covered
    covers_window: bool | None = None  # None when ``needed`` is None
    #: True when the span was derived from the times of the records read (the reader gave no
    #: span for the file); such a span can only be narrower than the file's true span.
    derived: bool = True


class NoteKind(StrEnum):
    """Facts worth reporting that are not a failure class of their own."""

    VVOLD_RESTART = "vvold-restart"
    SOURCE_HOST_INFERRED = "source-host-inferred"
    ADMISSION_LIMIT = "admission-limit"
    TIMES_ALIGNED = "times-aligned"
    TIMES_APART = "times-apart"
    #: what ``vvolguard watch`` saw in the window (``diagnose --since``), or could not see
    WATCH_HISTORY = "watch-history"


@dataclass
class Note:
    kind: NoteKind
    text: str
    hosts: list[str] = field(default_factory=list)
    citations: list[Citation] = field(default_factory=list)


@dataclass
class Finding:
    """One conclusion with its evidence. No finding without at least one citation, except
    ``insufficient-evidence``, which cites what is missing instead."""

    id: str  # a FailureClass value
    title: str
    severity: Severity
    confidence: float  # 0..1
    reason: str  # one line: why this class
    citations: list[Citation] = field(default_factory=list)
    next_moves: list[str] = field(default_factory=list)
    hosts: list[str] = field(default_factory=list)
    providers: list[str] = field(default_factory=list)
    #: The coverage this finding relied on (for a conclusion from absence: whether the host
    #: evidence covered the failure window).
    coverage: list[CoverageUse] = field(default_factory=list)


@dataclass
class Verdict:
    cls: str  # a FailureClass value; serialised as "class"
    confidence: float
    summary: str


@dataclass
class MissingEvidence:
    artifact: str  # e.g. "esxcli storage vvol vasaprovider list (source host)"
    why: str  # what it would settle
    command: str  # how to collect it


@dataclass
class FailedMigration:
    task_id: str | None
    vm: str | None
    source: str | None
    destination: str | None
    time: datetime | None
    error: str | None
    datastore: str | None = None
    #: signals seen on the source and destination around the failure, e.g.
    #: {"esx-03": {"no_free_conn": 4, "busy": 2, "create_p95_ms": 41000}}
    nearby_signals: dict[str, dict[str, float]] = field(default_factory=dict)
    citation: Citation | None = None
    #: When the task started, if the evidence says: with ``time`` it bounds the span in which
    #: the signals that explain this one migration are looked up (``report.view``).
    start: datetime | None = None
    #: a cause outside the VASA control plane that the error (or a host fault near it) names,
    #: e.g. "FileTooLarge"; None when nothing names one ("A system error occurred.")
    cause: str | None = None
    #: how the source host was learnt when the migration's own records did not name it
    source_inferred_from: str | None = None


@dataclass
class StormWindow:
    """A period when one source host had many migrations in flight at once."""

    source_host: str
    start: datetime
    end: datetime
    peak_concurrency: int
    migrations: int
    failed: int


@dataclass
class Migrations:
    total: int = 0
    succeeded: int = 0
    failed: list[FailedMigration] = field(default_factory=list)
    peak_concurrency: dict[str, int] = field(default_factory=dict)  # per source host
    storms: list[StormWindow] = field(default_factory=list)


@dataclass
class ProviderSummary:
    name: str
    url: str | None
    status: dict[str, str]  # observer (host or "vcenter") -> status
    arrays: list[str] = field(default_factory=list)
    version: str | None = None
    certificate: dict[str, Any] | None = None  # subject, not_after, days_left_at_incident, ...
    max_outstanding_seen: int | None = None
    ceiling: int | None = None


@dataclass
class PESummary:
    pe_id: str
    host: str | None
    array_id: str | None
    accessible: bool | None
    configured: bool | None
    storage_containers: list[str] = field(default_factory=list)


@dataclass
class InputFile:
    file: str
    kind: str
    host: str | None
    records: int


class CreateLatency(TypedDict):
    """``createVirtualVolume`` latency of one series, in milliseconds (log-bucket estimates)."""

    count: int
    p50: float | None
    p95: float | None
    max: float | None


class ProviderSignals(TypedDict):
    """One (host, provider) series of :attr:`Diagnosis.signals`."""

    host: str | None
    vp: str
    counts: dict[str, int]  # the counter names of analysis.counts.COUNT_NAMES
    ceiling: int | None
    max_outstanding: int | None
    at_ceiling_seconds: float
    create_latency_ms: CreateLatency
    first: datetime | None
    last: datetime | None


class TimelinePoint(TypedDict):
    """One timeline bucket of one series."""

    t: datetime
    host: str | None
    vp: str
    outstanding_max: int | None
    ceiling: int | None
    no_free_conn: int
    busy: int
    timeout: int
    failure: int
    create_ms_max: float | None
    create_ms_p95: float | None


class InFlightPoint(TypedDict):
    """Migrations in flight from one source host, from a time on."""

    t: datetime
    source_host: str
    in_flight: int


class Signals(TypedDict, total=False):
    """:attr:`Diagnosis.signals`: a plain dict at run time (so it renders as it always did), typed
    for readers. Every key is present in a diagnosis; a bare ``Diagnosis()`` has none."""

    bucket_seconds: int
    per_provider: list[ProviderSignals]
    timeline: list[TimelinePoint]
    migrations_in_flight: list[InFlightPoint]


@dataclass
class Diagnosis:
    verdict: Verdict
    findings: list[Finding] = field(default_factory=list)
    providers: list[ProviderSummary] = field(default_factory=list)
    protocol_endpoints: list[PESummary] = field(default_factory=list)
    #: Control-plane signals, bounded in size whatever the input size. Shape (all keys present,
    #: lists possibly empty; times are ISO-8601 UTC strings after to_dict):
    #:   {"bucket_seconds": int,
    #:    "per_provider": [{"host": str|None, "vp": str,
    #:        "counts": {"issue", "success", "failure", "no_free_conn", "busy", "timeout",
    #:                   "setcontext_failure", "transport", "ssl", "bind_retry": int},
    #:        "ceiling": int|None, "max_outstanding": int|None, "at_ceiling_seconds": float,
    #:        "create_latency_ms": {"count": int, "p50": float|None, "p95": float|None,
    #:                              "max": float|None},
    #:        "first": datetime|None, "last": datetime|None}],
    #:    "timeline": [{"t": datetime, "host": str|None, "vp": str, "outstanding_max": int|None,
    #:        "ceiling": int|None, "no_free_conn": int, "busy": int, "timeout": int,
    #:        "failure": int, "create_ms_max": float|None, "create_ms_p95": float|None}],
    #:    "migrations_in_flight": [{"t": datetime, "source_host": str, "in_flight": int}]}
    #: ``timeline`` buckets are sized so the list stays in the low thousands of points.
    signals: Signals = field(default_factory=lambda: Signals())
    migrations: Migrations = field(default_factory=Migrations)
    certificates: list[dict[str, Any]] = field(default_factory=list)
    missing_evidence: list[MissingEvidence] = field(default_factory=list)
    warnings: list[ReadWarning] = field(default_factory=list)
    inputs: list[InputFile] = field(default_factory=list)
    hosts: list[str] = field(default_factory=list)
    incident_window: tuple[datetime, datetime] | None = None
    now: datetime | None = None
    thresholds: dict[str, float] = field(default_factory=dict)
    #: per host and evidence kind: the time the evidence covers (see CoverageUse)
    coverage: list[CoverageUse] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    #: ``diagnose --since``: watch's coverage of the window and what it saw (``watch.history``);
    #: None when not asked for
    watch: dict[str, Any] | None = None
    schema: str = SCHEMA_ID

    @property
    def primary(self) -> Finding | None:
        return next((f for f in self.findings if f.id == self.verdict.cls), None)

    def max_severity(self) -> Severity | None:
        return max((f.severity for f in self.findings), key=lambda s: s.rank, default=None)

    def to_dict(self) -> dict[str, Any]:
        """The ``vvolguard.diagnosis/v1`` document."""
        out = _jsonable(self)
        out["verdict"]["class"] = out["verdict"].pop("cls")
        return out


#: Types returned as they are: checked by exact type first, because a report's timeline holds
#: tens of thousands of such values and the general checks below cost several times more each.
_PLAIN = frozenset({str, int, bool, type(None)})


def _jsonable(value: Any) -> Any:
    kind = type(value)
    if kind in _PLAIN:
        return value
    if kind is float:
        return round(value, 4)
    if kind is dict:
        return {str(k): _jsonable(v) for k, v in value.items()}
    if kind is list or kind is tuple:
        return [_jsonable(v) for v in value]
    # subclasses (enums are str or int subclasses), dates and dataclasses
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, Enum):
        return value.value
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, float):
        return round(value, 4)
    return value
