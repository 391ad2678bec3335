"""The typed records that every reader yields and every analysis consumes.

Readers are generators (in the manner of dissect.target plugins): they stream records and never
raise on bad input. Two shapes exist because the volumes differ by orders of magnitude:

* vvold.log can be gigabytes, so its reader yields :class:`VasaFrame` objects, each wrapping a
  polars DataFrame of up to a few hundred thousand parsed lines (schema :data:`VASA_SCHEMA`).
  Analysis folds each frame into bounded accumulators and drops it, so memory does not grow with
  the size of the input.
* Everything else (esxcli outputs, task exports, certificates, hostd/vmkernel events) is small or
  sparse, so it is yielded as frozen dataclasses.

Every record carries a :class:`Citation` so a finding can always quote its evidence. Every
timestamp is timezone-aware UTC.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import polars as pl

    #: Columns of every VasaFrame (built on first use by the module ``__getattr__``).
    VASA_SCHEMA: dict[str, pl.DataType]

#: Longest line text kept in a citation; evidence lines can be 10 MB of junk.
MAX_CITED_TEXT = 400


#: ESXi 8/9 end some lines with a base64 backtrace, ``[context]...[/context]``: noise to whoever
#: reads a citation or matches a message. The ``$`` alternative drops a blob that a clip cut
#: short. One pattern text for Python's ``re`` and polars' regex crate (both know ``(?s:...)``).
CONTEXT_BLOB_RS = r"\s*\[context\](?s:.*?)(?:\[/context\]|$)"
CONTEXT_BLOB_RE = re.compile(CONTEXT_BLOB_RS)


def strip_context(text: str) -> str:
    """Drop ``[context]...[/context]`` backtrace blobs (ESXi 8/9)."""
    return CONTEXT_BLOB_RE.sub("", text) if "[context]" in text else text


def clip(text: str, limit: int = MAX_CITED_TEXT) -> str:
    """Trim a line for citation so one pathological line cannot bloat a report."""
    text = text.rstrip("\r\n")
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True, slots=True)
class Citation:
    """Where a fact came from.

    ``file`` is the path the user gave, with the member path inside an archive appended after
    ``!`` (``bundle.tgz!var/run/log/vvold.log``), so a person can find the line again.
    """

    file: str
    line: int | None
    text: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "text", clip(strip_context(self.text)))


@dataclass(frozen=True, slots=True)
class ReadWarning:
    """Something a reader could not use. Never fatal: the rest of the evidence still counts.

    ``caveat`` marks the other kind: the input *was* used, and the message says what to keep in
    mind about it (times without a zone taken as UTC, a stream cut short whose readable part
    counted). Reports list the two apart, so "could not be used" never labels a file that was."""

    file: str
    line: int | None
    message: str
    caveat: bool = False

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.message}"


class EvidenceKind(StrEnum):
    """What a file is, decided by content and name (see ``evidence.sniff``)."""

    VVOLD_LOG = "vvold-log"
    HOSTD_LOG = "hostd-log"
    VMKERNEL_LOG = "vmkernel-log"
    VASAPROVIDER_LIST = "esxcli-vasaprovider-list"
    PROTOCOLENDPOINT_LIST = "esxcli-protocolendpoint-list"
    STORAGECONTAINER_LIST = "esxcli-storagecontainer-list"
    VCENTER_TASKS = "vcenter-tasks"
    VCENTER_EVENTS = "vcenter-events"
    VASA_PROVIDER_EXPORT = "powercli-vasaprovider"
    CERTIFICATE = "certificate"
    SPS_LOG = "vcenter-sps-log"  # vCenter's Storage Monitoring Service (sms/sps.log)
    VPXD_LOG = "vcenter-vpxd-log"  # vCenter's vpxd.log: the task lifecycle ([VpxLRO] BEGIN/FINISH)
    SUPPORT_BUNDLE = "support-bundle"
    GROUND_TRUTH = "vvolguard-ground-truth"
    CASE_MANIFEST = "vvolguard-case-manifest"  # collect's case.json: what was gathered, what is missing
    UNKNOWN = "unknown"


# --------------------------------------------------------------------------------------------
# vvold.log: columnar frames
# --------------------------------------------------------------------------------------------


class VasaEventKind(StrEnum):
    """The kinds of vvold line the analysis cares about; every other line is dropped early."""

    ISSUE = "issue"  # VasaOp ... ===> Issuing '<op>' to VP <vp> (#outstanding a/b)
    SUCCESS = "success"  # ===> FINAL SUCCESS <op> ... timeElapsed=N msecs
    FAILURE = "failure"  # ===> FINAL FAILURE <op>, error (CODE / detail)
    NO_FREE_CONN = "no-free-conn"  # VasaSession::GetFreeConn / "No free connections to VP"
    BUSY = "busy"  # PROVIDER_BUSY / VasaProviderBusy outside a FINAL line
    TIMEOUT = "timeout"  # TimedOut / TIMEOUT outside a FINAL line
    SETCONTEXT_FAILURE = "setcontext-failure"  # VasaSession::DoSetContext ... failed
    TRANSPORT = "transport"  # TRANSPORT_FAULT, connection refused, endpoint errors
    SSL = "ssl"  # SSL Exception, certificate verify failed, handshake errors
    BIND_RETRY = "bind-retry"  # bindVirtualVolume retry lines
    SERVICE_START = "service-start"  # "Section for VMware ESX" header: version, daemon restart
    OTHER = "other"  # matched the prefilter but no specific shape


def _vasa_schema() -> dict[str, pl.DataType]:
    """Columns of every VasaFrame. Missing values are null; ``ts`` is always set (lines without a
    timestamp inherit their header's, as ``-->`` continuations do)."""
    import polars as pl

    return {
        "file": pl.String(),  # display path, as in Citation.file
        "line": pl.Int64(),  # 1-based line number in the (decompressed) file
        "ts": pl.Datetime("us", "UTC"),
        "host": pl.String(),  # ESXi host name when known (bundle, file name), else null
        "pid": pl.Int64(),
        "level": pl.String(),  # normalised: error / warning / info / verbose / debug
        "kind": pl.String(),  # a VasaEventKind value
        "op": pl.String(),  # VASA operation name, e.g. createVirtualVolume
        "opseq": pl.Int64(),  # [#89844]: ties Issuing to FINAL
        "vp": pl.String(),  # provider name as vvold prints it
        "container": pl.String(),
        "elapsed_ms": pl.Int64(),
        "outstanding": pl.Int64(),  # n of (#outstanding n/max) or (#outstanding n)
        "outstanding_max": pl.Int64(),  # max of (#outstanding n/max)
        "fault": pl.String(),  # upper-snake code: TIMEOUT, PROVIDER_BUSY, TRANSPORT_FAULT ...
        "detail": pl.String(),  # text after the code
        "url": pl.String(),  # provider URL when the line names one
        "text": pl.String(),  # the line itself, no CR, clipped (a Citation drops a [context] blob)
    }


def __getattr__(name: str) -> Any:
    """``VASA_SCHEMA`` (:func:`_vasa_schema`) is built on first use, so that importing the records
    does not import polars (~0.15 s): the CLI's help, the simulator and most commands never need it."""
    if name == "VASA_SCHEMA":
        schema = globals()["VASA_SCHEMA"] = _vasa_schema()
        return schema
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass(frozen=True, slots=True)
class VasaFrame:
    """A batch of parsed vvold lines from one file (schema :data:`VASA_SCHEMA`)."""

    frame: pl.DataFrame
    shape: str  # "esxi7" (6.7/7.0 lowercase level, --> lines) or "esxi8" (In(166) VVold[pid]:)


@dataclass(frozen=True, slots=True)
class HostIdentity:
    """What is known of one ESXi host from a bundle name, log headers or file contents."""

    host: str
    esxi_version: str | None = None
    build: str | None = None
    citation: Citation | None = None


# --------------------------------------------------------------------------------------------
# hostd / vmkernel: sparse events
# --------------------------------------------------------------------------------------------


class HostEventKind(StrEnum):
    SWITCHOVER_EXCEEDED = "switchover-exceeded"  # Maximum switchover time for migration exceeded
    VMOTION_FAILED = "vmotion-failed"  # [MIGRATE] ... vMotion failed: vmodl.fault.SystemError
    DEST_FAILED_RESUME = "destination-failed-resume"
    PE_PATH_BAD = "pe-path-bad"  # badpath.unreachpe / unsafepe, PE inaccessible
    CONTAINER_OFFLINE = "container-offline"  # esx.problem.vvol.container.offline
    VVOL_NOT_FOUND = "vvol-not-found"  # Could not find VVol
    CONFIG_VVOL_LIMIT = "config-vvol-limit"
    # Faults that name a cause outside the VASA control plane (cited for not-control-plane).
    FILE_TOO_LARGE = "file-too-large"  # file too large for the datastore / config vVol
    VMOTION_NETWORK = "vmotion-network"  # vMotion network: connection reset, timed out, unreachable
    INSUFFICIENT_RESOURCES = "insufficient-resources"  # admission control, insufficient resources
    INVALID_STATE = "invalid-state"  # operation not allowed in the current state
    NO_PERMISSION = "no-permission"  # permission denied / NoPermission
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class HostLogEvent:
    ts: datetime
    host: str | None
    source: str  # "hostd" | "vmkernel" | ...
    kind: HostEventKind
    message: str
    citation: Citation


# --------------------------------------------------------------------------------------------
# esxcli storage vvol ... and PowerCLI Get-VasaProvider
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ArrayBinding:
    array_id: str
    is_active: bool | None = None
    priority: int | None = None


@dataclass(frozen=True, slots=True)
class ProviderRecord:
    """A VASA provider as one observer (an ESXi host, or vCenter via PowerCLI) saw it."""

    name: str
    url: str | None
    status: str | None  # online / offline / syncError / unknown / connected / disconnected
    observer: str | None  # the ESXi host name, or "vcenter" for PowerCLI/SMS exports
    arrays: tuple[ArrayBinding, ...] = ()
    version: str | None = None
    vasa_version: str | None = None
    last_sync: datetime | None = None
    certificate_expiry: datetime | None = None
    certificate_status: str | None = None
    citation: Citation | None = None


@dataclass(frozen=True, slots=True)
class ProtocolEndpointRecord:
    pe_id: str
    host: str | None
    array_id: str | None = None
    pe_type: str | None = None  # SCSI / NFS / NVMe
    accessible: bool | None = None
    configured: bool | None = None
    lun_id: str | None = None
    storage_containers: tuple[str, ...] = ()
    citation: Citation | None = None


@dataclass(frozen=True, slots=True)
class StorageContainerRecord:
    name: str
    uuid: str | None
    host: str | None
    array_id: str | None = None
    accessible: bool | None = None
    citation: Citation | None = None


# --------------------------------------------------------------------------------------------
# vCenter tasks and events
# --------------------------------------------------------------------------------------------


class TaskState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCESS = "success"
    ERROR = "error"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class MigrationTask:
    """One vMotion / relocate as vCenter recorded it (task export or migration event)."""

    task_id: str | None
    vm: str | None
    source_host: str | None
    dest_host: str | None
    state: TaskState
    start: datetime | None
    end: datetime | None
    error: str | None = None
    datastore: str | None = None
    description_id: str | None = None
    event_chain_id: str | None = None
    citation: Citation | None = None


@dataclass(frozen=True, slots=True)
class HostOperation:
    """A vCenter task or event on a host that is not a migration, above all "Enter maintenance
    mode": it names the source host of migrations whose own export does not."""

    operation: str  # "enter-maintenance-mode", "exit-maintenance-mode", "rescan", ...
    host: str | None
    state: TaskState
    start: datetime | None
    end: datetime | None = None
    task_id: str | None = None
    error: str | None = None
    citation: Citation | None = None


# --------------------------------------------------------------------------------------------
# vCenter's own view of the providers (sps.log)
# --------------------------------------------------------------------------------------------


class ProviderEventKind(StrEnum):
    SETCONTEXT_FAILURE = "setcontext-failure"  # SetContext / setContext failed for a provider
    CERTIFICATE = "certificate"  # certificate_unknown, self signed certificate, verify failed
    SSL = "ssl"  # other SSL / TLS handshake errors
    TRANSPORT = "transport"  # connection refused / reset, TRANSPORT_FAULT seen by SMS
    SYNC_FAILURE = "sync-failure"  # provider sync / refresh failed
    OFFLINE = "offline"  # provider marked offline / disconnected
    ONLINE = "online"  # provider (re)connected or registered: ends an outage
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class ProviderEvent:
    """One dated statement about a provider's registration or trust, from vCenter's side (SMS,
    ``sps.log``) or a host's; registration and trust evidence, never pressure."""

    ts: datetime
    kind: ProviderEventKind
    provider: str | None  # provider name or id as the log prints it
    url: str | None
    observer: str  # "vcenter", or the ESXi host name
    message: str
    citation: Citation


# --------------------------------------------------------------------------------------------
# Coverage: which time each piece of evidence can see
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EvidenceSpan:
    """The time span one file of timed evidence covers, for one host.

    Yielded once per file (or per host within a file) by every reader of timed evidence: vvold,
    hostd, vmkernel, sps and vpxd logs, and the moment an esxcli snapshot was taken
    (``start == end``) when that is known. A conclusion drawn from absence ("no VASA pressure",
    "PE fine") is only as good as the spans that cover the failure window.
    """

    file: str  # display path, as in Citation.file
    host: str | None  # the ESXi host, "vcenter", or None when unknown
    kind: EvidenceKind
    start: datetime
    end: datetime
    lines: int = 0  # timed lines seen (0 for a snapshot)


# --------------------------------------------------------------------------------------------
# Certificates
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CertificateRecord:
    subject: str
    issuer: str
    not_before: datetime
    not_after: datetime
    serial: str
    sha256: str
    dns_names: tuple[str, ...] = ()
    ip_addresses: tuple[str, ...] = ()
    self_signed: bool = False
    pem: str = field(default="", repr=False)
    citation: Citation | None = None


@dataclass(frozen=True, slots=True)
class GroundTruth:
    """The simulator's statement of what really happened (never used by the analysis)."""

    scenario: str
    expected_class: str
    citation: Citation | None = None


Record = (
    VasaFrame
    | HostIdentity
    | HostLogEvent
    | ProviderRecord
    | ProtocolEndpointRecord
    | StorageContainerRecord
    | MigrationTask
    | HostOperation
    | ProviderEvent
    | EvidenceSpan
    | CertificateRecord
    | GroundTruth
    | ReadWarning
)
