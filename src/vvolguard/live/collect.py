"""``collect``: gather, read-only, what ``diagnose`` reads from vCenter and the hosts into a case.

Each source runs on its own and reports to ``on_progress``; one that fails (SSH closed, SMS not
reachable, a permission missing) becomes a :class:`~vvolguard.live.case.Missing` naming the
evidence, the reason and the permission or command that would get it, and the others go on.
Only read calls are made: history collectors (created and destroyed, they change nothing),
property reads, SMS queries, a TLS handshake, ``ls``/``cat`` over SSH, BrowseDiagnosticLog.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from vvolguard.live import history, hostlogs, providers, storage
from vvolguard.live.case import Case, Missing, SourceResult
from vvolguard.live.connection import Session, datacenter_of
from vvolguard.live.window import iso

#: on_progress(source, target, state, detail): state is "running", "ok", "warning".
Progress = Callable[[str, str, str, str], None]


def _quiet(source: str, target: str, state: str, detail: str) -> None:
    return None


def fault_text(exc: BaseException) -> str:
    """A fault's name and message without anything secret (faults carry no credentials)."""
    name = type(exc).__name__.rsplit(".", 1)[-1]
    msg = getattr(exc, "msg", None) or getattr(exc, "reason", None) or str(exc)
    text = f"{name}: {msg}" if msg and msg != name else name
    return text[:300]


def is_permission(exc: BaseException) -> bool:
    from pyVmomi import vim

    return (
        isinstance(exc, vim.fault.NoPermission | vim.fault.NotAuthenticated)
        or "NoPermission" in type(exc).__name__
    )


def _privilege(exc: BaseException) -> str | None:
    return getattr(exc, "privilegeId", None)


#: A source fails on any of these (vSphere faults are Exceptions; http.client's are not OSErrors);
#: whatever it is, the case goes on without that source, and the warning names the exception.
SOURCE_ERRORS = (Exception,)


def _access_remedy(exc: BaseException, scope: str) -> str:
    """What would get past ``exc``: the privilege vCenter named, a newer vCenter for a method it
    lacks, or the read-only role."""
    privilege = _privilege(exc)
    if privilege:
        return f"Grant {privilege} on {scope}"
    if "MethodNotFound" in type(exc).__name__ or "does not implement" in str(exc):
        return "This vCenter does not offer that call"
    return f"Use a user with the Read-only role on {scope}"


@dataclass
class CollectOptions:
    ssh: hostlogs.SshOptions
    use_ssh: bool = True
    #: provider URL -> HOST:PORT to reach it at for the certificate handshake (a port forward)
    provider_addresses: dict[str, str] = field(default_factory=dict)


def collect(
    session: Session, hosts: list[Any], case: Case, options: CollectOptions, on_progress: Progress = _quiet
) -> Case:
    """Fill ``case`` from ``session`` for ``hosts`` (HostSystem objects; none: vCenter only)."""
    roots: list[Any] = []
    for h in hosts:
        dc = datacenter_of(h)
        if dc is not None and all(dc != r for r in roots):
            roots.append(dc)
    server = session.endpoint
    _tasks(session, roots, case, server, on_progress)
    _events(session, roots, case, on_progress)
    rows = _providers(session, case, on_progress)
    _certificates(rows, case, on_progress, options.provider_addresses)
    for h in hosts:
        _host_storage(h, case, on_progress)
        _host_logs(session, h, case, options, on_progress)
    return case


def _miss(case: Case, on_progress: Progress, missing: Missing) -> None:
    case.miss(missing)
    on_progress(
        missing.source,
        missing.target,
        "warning",
        f"missing {missing.evidence}: {missing.reason}. {missing.remedy}",
    )


def _tasks(session: Session, roots: list[Any], case: Case, server: str, on_progress: Progress) -> None:
    on_progress("tasks", "vCenter", "running", "task history")
    try:
        with case.open(history.TASKS_FILE) as fh:
            count = history.write_json_array(
                fh, history.read_tasks(session.content, roots, case.window), history.task_converter(server)
            )
    except SOURCE_ERRORS as exc:
        case.discard(history.TASKS_FILE)
        _miss(
            case,
            on_progress,
            Missing(
                "tasks",
                "vCenter",
                "vCenter task history of the window (migrations, maintenance mode and who started it)",
                fault_text(exc),
                _access_remedy(exc, "the datacenter")
                + ", or export by hand in PowerCLI: Get-Task | ConvertTo-Json -Depth 4 > get-task.json "
                "(Recent Tasks only: run it soon after the incident).",
            ),
        )
        return
    case.record(SourceResult("tasks", "vCenter", [history.TASKS_FILE], count))
    on_progress("tasks", "vCenter", "ok", f"{count} tasks")


def _events(session: Session, roots: list[Any], case: Case, on_progress: Progress) -> None:
    on_progress("events", "vCenter", "running", "event history")
    try:
        with case.open(history.EVENTS_FILE) as fh:
            count = history.write_json_array(
                fh, history.read_events(session.content, roots, case.window), history.EVENT_CONVERTER
            )
    except SOURCE_ERRORS as exc:
        case.discard(history.EVENTS_FILE)
        start, end = (iso(w) for w in (case.window.start, case.window.end))
        _miss(
            case,
            on_progress,
            Missing(
                "events",
                "vCenter",
                "vCenter events of the window (migration outcomes, maintenance mode)",
                fault_text(exc),
                _access_remedy(exc, "the datacenter")
                + f", or in PowerCLI: Get-VIEvent -Start '{start}' -Finish '{end}' "
                "-MaxSamples ([int]::MaxValue) | Select *, @{N='EventType';E={$_.GetType().Name}} "
                "| ConvertTo-Json -Depth 4 > get-vievent.json",
            ),
        )
        return
    case.record(SourceResult("events", "vCenter", [history.EVENTS_FILE], count))
    on_progress("events", "vCenter", "ok", f"{count} events")


def _providers(session: Session, case: Case, on_progress: Progress) -> list[providers.ProviderInfo]:
    on_progress("providers", "vCenter SMS", "running", "Storage Monitoring Service")
    try:
        sms_si = providers.sms_service(session.si, session.ssl_context)
        rows = providers.query_providers(sms_si, session.endpoint)
    except SOURCE_ERRORS as exc:
        if _privilege(exc) or is_permission(exc):
            remedy = f"Grant {_privilege(exc) or 'StorageViews.View'} (Storage views) on the vCenter root"
        else:
            remedy = (
                "Check that vCenter's Storage Monitoring Service runs (service-control --status vmware-sps)"
            )
        _miss(
            case,
            on_progress,
            Missing(
                "providers",
                "vCenter SMS",
                "VASA provider status, statusFault, arrays and certificate expiry (Get-VasaProvider)",
                fault_text(exc),
                remedy + "; or in PowerCLI: Get-VasaProvider -Refresh | ConvertTo-Json -Depth 4 "
                "> get-vasaprovider.json",
            ),
        )
        return []
    case.write_text(providers.PROVIDERS_FILE, providers.providers_json(rows))
    case.record(SourceResult("providers", "vCenter SMS", [providers.PROVIDERS_FILE], len(rows)))
    states = ", ".join(f"{r.name} {r.status}" for r in rows) or "no provider registered"
    on_progress("providers", "vCenter SMS", "ok", states)
    return rows


def _certificates(
    rows: list[providers.ProviderInfo], case: Case, on_progress: Progress, addresses: dict[str, str]
) -> None:
    for row in rows:
        target = row.name
        on_progress("certificate", target, "running", "TLS handshake")
        try:
            pem = providers.fetch_certificate(row.url, address=addresses.get(row.url))
        except (OSError, ValueError, ConnectionError) as exc:
            _miss(
                case,
                on_progress,
                Missing(
                    "certificate",
                    target,
                    f"the certificate {row.name} serves at {row.url}",
                    getattr(exc, "strerror", None) or str(exc) or type(exc).__name__,
                    "From a machine that reaches the provider: openssl s_client -connect HOST:PORT "
                    "-showcerts </dev/null > provider.pem (SMS's expiry date is in get-vasaprovider.json)",
                ),
            )
            continue
        name = providers.certificate_file(row.name)
        case.write_text(name, pem)
        case.record(SourceResult("certificate", target, [name], 1))
        on_progress("certificate", target, "ok", name)


def _host_storage(host: Any, case: Case, on_progress: Progress) -> None:
    on_progress("storage", host.name, "running", "vVol datastores, containers, PEs")
    try:
        found = storage.host_storage(host)
    except SOURCE_ERRORS as exc:
        _miss(
            case,
            on_progress,
            Missing(
                "storage",
                host.name,
                "vVol datastores, storage containers and Protocol Endpoints",
                fault_text(exc),
                "Use a user with the Read-only role on the host, or run on the host: "
                "esxcli storage vvol protocolendpoint list; esxcli storage vvol storagecontainer list; "
                "esxcli storage vvol vasaprovider list",
            ),
        )
        return
    files = storage.host_files(found)
    for name, text in files.items():
        case.write_text(name, text)
    case.record(SourceResult("storage", host.name, sorted(files), len(found.endpoints)))
    bad = [e.pe_id for e in found.endpoints if not (e.accessible and e.configured)]
    detail = f"{len(found.datastores)} vVol datastores, {len(found.endpoints)} PEs"
    on_progress(
        "storage", host.name, "ok", detail + (f" ({len(bad)} not accessible/configured)" if bad else "")
    )


def _host_logs(
    session: Session, host: Any, case: Case, options: CollectOptions, on_progress: Progress
) -> None:
    name = host.name
    ssh_error: str | None = None
    if options.use_ssh:
        on_progress("vvold-log", name, "running", "SSH")
        try:
            got = hostlogs.collect_over_ssh(
                name, options.ssh, case.window, lambda remote: case.open(hostlogs.local_name(remote, name))
            )
        except hostlogs.HostLogError as exc:
            ssh_error = str(exc)
            case.discard(hostlogs.local_name("", name).rstrip("/"))  # a half-copied generation
        else:
            files = [hostlogs.local_name(g, name) for g in got]
            case.record(SourceResult("vvold-log", name, files, len(files), note="over SSH"))
            on_progress("vvold-log", name, "ok", f"{len(files)} files over SSH")
            return
        on_progress("vvold-log", name, "running", f"{ssh_error}; trying vCenter's diagnostic manager")
    relative = hostlogs.local_name("vvold.log", name)
    try:
        with case.open(relative) as fh:
            lines = hostlogs.collect_via_vcenter(session.content.diagnosticManager, host, fh)
    except SOURCE_ERRORS as exc:
        case.discard(relative)
        why = "; ".join(w for w in (ssh_error, f"vCenter: {fault_text(exc)}") if w)
        _miss(
            case,
            on_progress,
            Missing(
                "vvold-log",
                name,
                "vvold.log and its rotated files (the VASA control plane's own account)",
                why,
                f"Start SSH on {name} (vSphere Client: Host > Configure > Services > SSH) and run "
                "collect again, or generate its support bundle (vSphere Client: Host > Export System "
                "Logs, or vm-support on the host) and give the .tgz to diagnose",
            ),
        )
        return
    case.record(SourceResult("vvold-log", name, [relative], lines, note="vCenter BrowseDiagnosticLog"))
    on_progress("vvold-log", name, "ok", f"{lines} lines through vCenter")
