"""The runbook's escalation list as data, and which of its items a package holds.

Why data: the list is the contract with the vendor's support engineer ("For escalation,
include: ..."), so it lives in one table (:data:`ITEMS`) that the manifest, the README and the
tests all read. Each item says how to judge it from what was packaged and how to collect it when
it is missing, with the host names, provider URLs and incident window filled in where known.

Statuses: ``present`` (everything the item asks for is in the package), ``partial`` (some of it:
e.g. the protocol endpoint list of one host out of two), ``missing`` (none of it). Every
``partial`` or ``missing`` item lists what is missing and the command that collects it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from vvolguard.analysis.model import Diagnosis
from vvolguard.escalate.classify import Part
from vvolguard.escalate.excerpts import short_host

SCHEMA_ID = "vvolguard.escalation-manifest/v1"

PRESENT, PARTIAL, MISSING = "present", "partial", "missing"


@dataclass
class PackagedFile:
    """One file placed in the package: where it came from and what it is."""

    member: str  # path inside the package (before redaction of names)
    part: Part
    source: str  # the input it came from (display, shortened)
    host: str | None = None
    note: str | None = None


@dataclass
class Inventory:
    """Everything the package builder learned while reading the inputs."""

    files: list[PackagedFile] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (input, why)
    warnings: list[str] = field(default_factory=list)
    hosts: dict[str, str] = field(default_factory=dict)  # short name -> fullest name seen
    anchor_times: list[datetime] = field(default_factory=list)
    excerpt_failures: int = 0  # failures (anchors) covered by excerpt windows
    given: dict[Part, set[str]] = field(default_factory=dict)  # part -> short hosts ("" = unknown)

    def saw(self, part: Part, host: str | None) -> None:
        self.given.setdefault(part, set()).add(short_host(host) if host else "")

    def add_host(self, name: str | None) -> None:
        if not name:
            return
        key = short_host(name)
        if len(name) > len(self.hosts.get(key, "")):
            self.hosts[key] = name

    def of(self, *parts: Part) -> list[PackagedFile]:
        return [f for f in self.files if f.part in parts]


@dataclass
class Missing:
    what: str
    command: str
    host: str | None = None


@dataclass
class ItemResult:
    id: str
    title: str
    runbook: bool  # on the runbook's "For escalation, include" list (else: asked by the issue)
    status: str
    files: list[str] = field(default_factory=list)
    details: list[str] = field(default_factory=list)
    missing: list[Missing] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "runbook": self.runbook,
            "status": self.status,
            "files": sorted(self.files),
            "details": self.details,
            "missing": [
                {k: v for k, v in (("what", m.what), ("host", m.host), ("command", m.command)) if v}
                for m in self.missing
            ],
        }


@dataclass
class Context:
    inventory: Inventory
    diagnosis: Diagnosis | None
    diagnosis_files: list[str]

    @property
    def window(self) -> tuple[str, str]:
        """The incident window for collection commands (ISO, UTC), or placeholders."""
        start = end = None
        if self.diagnosis is not None and self.diagnosis.incident_window:
            start, end = self.diagnosis.incident_window
        elif self.inventory.anchor_times:
            start, end = min(self.inventory.anchor_times), max(self.inventory.anchor_times)
        if start is None or end is None:
            return "<incident start, UTC>", "<incident end, UTC>"
        return _iso(start), _iso(end)

    def failed(self) -> list[Any]:
        return list(self.diagnosis.migrations.failed) if self.diagnosis is not None else []


def _iso(when: datetime) -> str:
    return when.isoformat(timespec="seconds").replace("+00:00", "Z")


def _status(present: bool, missing: list[Missing]) -> str:
    if present and not missing:
        return PRESENT
    return PARTIAL if present else MISSING


# -- per-item judges ------------------------------------------------------------------------


def _tasks(item: ItemSpec, ctx: Context) -> ItemResult:
    files = ctx.inventory.of(Part.TASKS, Part.EVENTS)
    result = ItemResult(item.id, item.title, item.runbook, MISSING, [f.member for f in files])
    start, end = ctx.window
    command = (
        "vSphere Client > Monitor > Tasks and Events > Export, or PowerCLI: "
        f"Get-VIEvent -Start '{start}' -Finish '{end}' -MaxSamples 100000 | "
        "Select-Object CreatedTime, ChainId, UserName, FullFormattedMessage, "
        "@{N='Type';E={$_.GetType().Name}} | Export-Csv -NoTypeInformation vcenter-events.csv; "
        "Get-Task | Select-Object Id, Name, State, StartTime, FinishTime, ObjectId, Description | "
        "Export-Csv -NoTypeInformation vcenter-tasks.csv"
    )
    failed = ctx.failed()
    with_ids = [f for f in failed if f.task_id and f.time]
    total = ctx.diagnosis.migrations.total if ctx.diagnosis is not None else 0
    if files:
        result.details.append(f"{total} migrations read from the exports, {len(failed)} failed")
        if with_ids:
            result.details.append(f"{len(with_ids)} failed tasks have a task ID and a timestamp")
    if not files:
        result.missing.append(Missing("vCenter task/event export covering the incident", command))
    elif total == 0:
        result.missing.append(Missing("no migration task could be read from the given exports", command))
    elif failed and len(with_ids) < len(failed):
        result.missing.append(
            Missing(f"{len(failed) - len(with_ids)} failed migrations lack a task ID or time", command)
        )
    result.status = _status(bool(files) and total > 0, result.missing)
    return result


def _hosts(item: ItemSpec, ctx: Context) -> ItemResult:
    result = ItemResult(item.id, item.title, item.runbook, MISSING, list(ctx.diagnosis_files))
    failed = ctx.failed()
    complete = [f for f in failed if f.source and f.destination]
    command = "the vCenter task/event export (see vcenter-tasks): migration events name both hosts"
    if ctx.diagnosis is not None and ctx.diagnosis.migrations.total and not failed:
        result.details.append("no failed migration in the exports")
        result.status = PRESENT
        return result
    if complete:
        pairs = sorted({f"{f.source} -> {f.destination}" for f in complete})
        result.details.append("failed migrations: " + ", ".join(pairs[:20]))
    if not failed:
        result.missing.append(Missing("source and destination host of each failed migration", command))
    elif len(complete) < len(failed):
        result.missing.append(
            Missing(f"{len(failed) - len(complete)} failed migrations lack a source or destination", command)
        )
    result.status = _status(bool(complete), result.missing)
    return result


def _vms(item: ItemSpec, ctx: Context) -> ItemResult:
    result = ItemResult(item.id, item.title, item.runbook, MISSING, list(ctx.diagnosis_files))
    failed = ctx.failed()
    named = [f for f in failed if f.vm]
    with_ds = [f for f in named if f.datastore]
    if ctx.diagnosis is not None and ctx.diagnosis.migrations.total and not failed:
        result.details.append("no failed migration in the exports")
        result.status = PRESENT
        return result
    if named:
        result.details.append(f"{len(named)} failed VMs named, {len(with_ds)} with their datastore")
    vms = ",".join(sorted({f.vm for f in named if not f.datastore})[:20]) or "<vm names>"
    if not named:
        result.missing.append(
            Missing(
                "names of the VMs whose migration failed", "the vCenter task/event export (vcenter-tasks)"
            )
        )
    if len(with_ds) < len(failed):
        result.missing.append(
            Missing(
                "datastore of each failed VM",
                f"PowerCLI: Get-VM -Name {vms} | Select-Object Name, "
                "@{N='Datastores';E={(Get-Datastore -RelatedObject $_).Name -join ','}} | "
                "Export-Csv -NoTypeInformation vm-datastores.csv",
            )
        )
    result.status = _status(bool(named), result.missing)
    return result


def _per_host(part: Part, command: str, what: str) -> Callable[[ItemSpec, Context], ItemResult]:
    def judge(item: ItemSpec, ctx: Context) -> ItemResult:
        files = ctx.inventory.of(part)
        result = ItemResult(item.id, item.title, item.runbook, MISSING, [f.member for f in files])
        covered = {short_host(f.host) for f in files if f.host}
        loose = [f for f in files if not f.host]
        for key, name in sorted(ctx.inventory.hosts.items()):
            if key not in covered:
                result.missing.append(Missing(f"{what} of {name}", command.format(host=name), host=name))
        if covered:
            result.details.append(
                f"hosts covered: {', '.join(sorted(ctx.inventory.hosts.get(h, h) for h in covered))}"
            )
        if loose:
            result.details.append(f"{len(loose)} file(s) whose host is not known")
        if not files and not ctx.inventory.hosts:
            result.missing.append(
                Missing(what + " of each affected host", command.format(host="<each host>"))
            )
        result.status = _status(bool(files), result.missing)
        if loose and not covered and result.missing and len(loose) >= len(result.missing):
            result.status = PARTIAL  # files exist but cannot be tied to the hosts: say so
        return result

    return judge


def _vvold(item: ItemSpec, ctx: Context) -> ItemResult:
    inventory = ctx.inventory
    excerpts = inventory.of(Part.VVOLD_LOG)
    result = ItemResult(item.id, item.title, item.runbook, MISSING, [f.member for f in excerpts])
    tails = [f for f in excerpts if f.note == "tail"]
    windows = len(excerpts) - len(tails)
    cut = {short_host(f.host) for f in excerpts if f.host and f.note != "tail"}
    given = inventory.given.get(Part.VVOLD_LOG, set())
    if excerpts:
        result.details.append(f"{windows} windows around {inventory.excerpt_failures} failures")
    if cut:
        result.details.append("windows cut for: " + ", ".join(sorted(inventory.hosts.get(h, h) for h in cut)))
    collect = (
        "on {host}: vm-support (the bundle holds /var/run/log/vvold.log and vvold.N.gz), or copy "
        "/var/run/log/vvold.log* off the host"
    )
    # The hosts a failure involved, when the tasks say; otherwise every host heard of.
    involved = {short_host(h) for f in ctx.failed() for h in (f.source, f.destination) if h}
    quiet = sorted(inventory.hosts.get(h, h) for h in given - cut - involved if h)
    if quiet:
        result.details.append(
            "no failure in the log of " + ", ".join(quiet) + " (its last lines are included)"
        )
    for key, name in sorted(inventory.hosts.items()):
        if key in cut or (involved and key not in involved) or (not involved and key in given):
            continue
        if key in given:
            result.missing.append(
                Missing(
                    f"vvold.log of {name} around the failure: the generations given hold no failure time",
                    collect.format(host=name) + " (older generations are vvold.0.gz ... vvold.7.gz)",
                    host=name,
                )
            )
        else:
            result.missing.append(Missing(f"vvold.log of {name}", collect.format(host=name), host=name))
    if not given and not inventory.hosts:
        result.missing.append(Missing("vvold.log of each affected host", collect.format(host="<each host>")))
    if tails and not windows:
        result.missing.append(
            Missing(
                "a failure time: no failed task and no failure signal fell inside the given logs, so only "
                "their last lines are included",
                "give the vCenter task export and the vvold.log generations that cover the failure",
            )
        )
    result.status = _status(windows > 0, result.missing)
    if tails and not windows:
        result.status = PARTIAL
    return result


def _provider_version(item: ItemSpec, ctx: Context) -> ItemResult:
    files = ctx.inventory.of(Part.PROVIDER_EXPORT)
    result = ItemResult(item.id, item.title, item.runbook, MISSING, [f.member for f in files])
    providers = [p for p in (ctx.diagnosis.providers if ctx.diagnosis is not None else []) if _real(p)]
    versions = [p for p in providers if p.version]
    for p in versions:
        result.details.append(f"{p.name}: version {p.version}")
    unversioned = [p.name for p in providers if not p.version]
    command = (
        "PowerCLI: Get-VasaProvider -Refresh | Select-Object Name, Url, Version, VasaVersion, Status | "
        "Export-Csv -NoTypeInformation vasa-providers.csv (or vCenter > Configure > Storage Providers)"
    )
    if not versions:
        result.missing.append(Missing("VASA provider version", command))
    elif unversioned:
        result.missing.append(Missing("version of " + ", ".join(unversioned), command))
    result.status = _status(bool(versions), result.missing)
    return result


def _real(provider: Any) -> bool:
    """The analysis names signals it cannot tie to a provider "(unknown)"; that is no provider."""
    return not (provider.name.startswith("(") and not provider.url and not provider.status)


def _certificates(item: ItemSpec, ctx: Context) -> ItemResult:
    files = ctx.inventory.of(Part.CERTIFICATE)
    result = ItemResult(item.id, item.title, item.runbook, MISSING, [f.member for f in files])
    certs = ctx.diagnosis.certificates if ctx.diagnosis is not None else []
    if certs:
        result.details.append(f"{len(certs)} certificates judged in the diagnosis")
    urls = []
    for p in ctx.diagnosis.providers if ctx.diagnosis is not None else []:
        if p.url:
            parts = urlsplit(p.url)
            if parts.hostname:
                urls.append(f"{parts.hostname}:{parts.port or 443}")
    targets = sorted(set(urls)) or ["<provider host>:<port>"]
    if not files and not certs:
        for target in targets:
            result.missing.append(
                Missing(
                    f"certificate of the VASA provider at {target}",
                    f"openssl s_client -connect {target} -showcerts </dev/null 2>/dev/null | "
                    "openssl x509 -out vasa-provider.pem",
                )
            )
    result.status = _status(bool(files or certs), result.missing)
    return result


def _array(item: ItemSpec, ctx: Context) -> ItemResult:
    files = ctx.inventory.of(Part.ARRAY_INFO)
    result = ItemResult(item.id, item.title, item.runbook, MISSING, [f.member for f in files])
    arrays: set[str] = set()
    if ctx.diagnosis is not None:
        for p in ctx.diagnosis.providers:
            arrays.update(p.arrays)
        arrays.update(pe.array_id for pe in ctx.diagnosis.protocol_endpoints if pe.array_id)
    if arrays:
        result.details.append("array IDs reported by the hosts: " + ", ".join(sorted(arrays)))
    if not files:
        result.missing.append(
            Missing(
                "firmware/software version of "
                + (", ".join(sorted(arrays)) or "each array behind the provider"),
                "from the array's management interface (system or about page, or its CLI: for example "
                "`purearray list` on Pure FlashArray, `version` on NetApp ONTAP); save it as "
                "array-firmware.txt",
            )
        )
    result.status = _status(bool(files), result.missing)
    return result


def _vendor(part: Part, what: str) -> Callable[[ItemSpec, Context], ItemResult]:
    def judge(item: ItemSpec, ctx: Context) -> ItemResult:
        files = ctx.inventory.of(part)
        result = ItemResult(item.id, item.title, item.runbook, MISSING, [f.member for f in files])
        start, end = ctx.window
        if not files:
            result.missing.append(
                Missing(
                    what,
                    f"from the storage vendor's own tools, covering {start} .. {end}; vvolguard cannot "
                    "collect it. Name the file so it contains 'metrics' or 'perf' "
                    + ("and 'vasa' or 'provider' " if part == Part.PROVIDER_METRICS else "")
                    + "and pass it to `vvolguard escalate` with the other evidence",
                )
            )
        result.status = _status(bool(files), result.missing)
        return result

    return judge


def _diagnosis(item: ItemSpec, ctx: Context) -> ItemResult:
    result = ItemResult(item.id, item.title, item.runbook, MISSING, list(ctx.diagnosis_files))
    if ctx.diagnosis is not None:
        result.details.append(f"verdict: {ctx.diagnosis.verdict.cls} ({ctx.diagnosis.verdict.summary})")
        result.status = PRESENT
    else:
        result.missing.append(Missing("the diagnosis", "vvolguard diagnose <the same inputs> --json"))
    return result


@dataclass(frozen=True)
class ItemSpec:
    id: str
    title: str
    runbook: bool
    judge: Callable[[ItemSpec, Context], ItemResult]


#: The runbook's "For escalation, include:" list, in its order, then what the issue adds.
ITEMS: tuple[ItemSpec, ...] = (
    ItemSpec("vcenter-tasks", "vCenter task IDs and timestamps", True, _tasks),
    ItemSpec("hosts", "Source and destination host names", True, _hosts),
    ItemSpec("vms-datastores", "VM names and datastores", True, _vms),
    ItemSpec("vvold-excerpts", "vvold.log excerpts around the failure", True, _vvold),
    ItemSpec(
        "esxcli-vasaprovider",
        "esxcli storage vvol vasaprovider list output",
        True,
        _per_host(
            Part.VASAPROVIDER,
            "on {host}: esxcli storage vvol vasaprovider list",
            "esxcli storage vvol vasaprovider list output",
        ),
    ),
    ItemSpec(
        "esxcli-protocolendpoint",
        "esxcli storage vvol protocolendpoint list output",
        True,
        _per_host(
            Part.PROTOCOLENDPOINT,
            "on {host}: esxcli storage vvol protocolendpoint list",
            "esxcli storage vvol protocolendpoint list output",
        ),
    ),
    ItemSpec("provider-version", "VASA provider version", True, _provider_version),
    ItemSpec("array-firmware", "Storage array firmware/software version (and array IDs)", True, _array),
    ItemSpec(
        "provider-appliance-metrics",
        "VASA provider appliance CPU, memory, service and queue metrics",
        True,
        _vendor(Part.PROVIDER_METRICS, "VASA provider appliance CPU, memory, service and queue metrics"),
    ),
    ItemSpec(
        "array-performance",
        "Backend array performance at the same timestamps",
        True,
        _vendor(
            Part.ARRAY_PERFORMANCE, "backend array performance (latency, IOPS, management-plane latency)"
        ),
    ),
    ItemSpec("provider-certificates", "VASA provider certificates", False, _certificates),
    ItemSpec("diagnosis", "vvolguard diagnosis (JSON and summary)", False, _diagnosis),
)


def evaluate(
    inventory: Inventory, diagnosis: Diagnosis | None, diagnosis_files: list[str]
) -> list[ItemResult]:
    ctx = Context(inventory, diagnosis, diagnosis_files)
    return [spec.judge(spec, ctx) for spec in ITEMS]


def manifest_document(
    items: list[ItemResult],
    inventory: Inventory,
    *,
    created: datetime,
    redacted: bool,
    window_minutes: float,
    redaction_counts: dict[str, int] | None = None,
    diagnosis: Diagnosis | None = None,
) -> dict[str, Any]:
    """The manifest.json document (schema :data:`SCHEMA_ID`).

    ``diagnosis_suggests`` carries the diagnosis' own list of missing evidence (what would settle
    its verdict), which can go beyond the runbook's escalation list.
    """
    from vvolguard import __version__

    return {
        "schema": SCHEMA_ID,
        "created": _iso(created),
        "tool": f"vvolguard {__version__}",
        "summary": {s: sum(1 for i in items if i.status == s) for s in (PRESENT, PARTIAL, MISSING)},
        "items": [i.to_dict() for i in items],
        "files": [
            {
                k: v
                for k, v in (
                    ("path", f.member),
                    ("kind", str(f.part)),
                    ("source", f.source),
                    ("host", f.host),
                    ("note", f.note),
                )
                if v
            }
            for f in sorted(inventory.files, key=lambda f: f.member)
        ],
        "diagnosis_suggests": [
            {"artifact": m.artifact, "why": m.why, "command": m.command}
            for m in (diagnosis.missing_evidence if diagnosis is not None else [])
        ],
        "not_included": [{"input": name, "why": why} for name, why in inventory.skipped],
        "warnings": list(inventory.warnings),
        "excerpt_window_minutes": window_minutes,
        "redaction": {
            "pseudonymised": redacted,
            "what": "host names, domains, IP addresses, user names, provider names" if redacted else None,
            "aliases": redaction_counts or {},
            "mapping": "kept by the sender, outside this archive" if redacted else None,
            "secrets": "passwords, session ids, cookies, tokens, SAML assertions and private keys removed",
        },
    }
