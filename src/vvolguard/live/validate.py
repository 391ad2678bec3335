"""``validate``: the runbook's "Validation After Remediation", layer by layer, live.

1. provider: online and not in syncError in SMS, its certificate valid (SMS's expiry and status,
   and the certificate the provider serves now), and listed by the host with an active array;
2. Protocol Endpoints: every PE of the host's vVol storage configured and accessible on it;
3. vvold.log quiet: no fresh connection waits, busy faults, timeouts or setContext failures while
   the log is watched for ``watch_seconds``;
4. one low-risk VM migrated (the smallest powered-on VM not excluded, or ``vm``) while vvold is
   watched, and, with ``and_back``, back again;
5. a small batch (``batch`` VMs, ``batch`` at once) with the same watch.

It stops at the first layer that fails (the runbook's rollback guidance: stop the batch, keep
the evidence); the layers after it are "skipped". Every layer writes what it looked at into the
case folder (SMS export, certificates, esxcli-style outputs, the watched vvold lines, the drain
journal of the migrations), so a failed validation is diagnosed or escalated from that folder.
Layers 4-5 are the drain's controller and journal with a fixed limit and one attempt per VM, on a
backend that offers only the VMs chosen: validation never retries its way past a failure.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from vvolguard.live import providers, storage
from vvolguard.live.case import Case
from vvolguard.live.connection import Session
from vvolguard.live.hostlogs import HostLogError, SshOptions

LAYERS = (
    (1, "provider online, certificate valid"),
    (2, "Protocol Endpoints accessible and configured"),
    (3, "vvold.log quiet"),
    (4, "one low-risk VM migrated"),
    (5, "small batch migrated"),
)
PASS, FAIL, SKIPPED = "pass", "fail", "skipped"

#: SMS provider states that are healthy (docs/evidence-formats.md §2.1).
HEALTHY_STATES = frozenset({"online", "connected"})
#: SMS certificate states that fail layer 1 (the soft limit is a warning in the evidence).
BAD_CERTIFICATE_STATES = frozenset({"expiryHardLimitReached", "expired", "invalid"})
#: vvold line kinds that mean the control plane is not quiet (records.VasaEventKind values).
NOISY_KINDS = frozenset({"no-free-conn", "busy", "timeout", "setcontext-failure", "bind-retry"})
#: FINAL FAILURE fault codes that are pressure, not a one-off (drain.pressure.TRANSIENT_FAULTS).
JOURNAL_DIR = ".validate"


@dataclass
class LayerResult:
    layer: int
    name: str
    status: str = SKIPPED
    evidence: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"layer": self.layer, "name": self.name, "status": self.status, "evidence": self.evidence}


@dataclass
class ValidationResult:
    host: str
    layers: list[LayerResult]
    case_dir: str
    clean_concurrency: int | None = None
    recorded_limit: str | None = None

    @property
    def passed(self) -> bool:
        return all(layer.status == PASS for layer in self.layers)

    def as_json(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "passed": self.passed,
            "layers": [layer.as_json() for layer in self.layers],
            "case": self.case_dir,
            "clean_concurrency": self.clean_concurrency,
        }


@dataclass
class ValidateOptions:
    ssh: SshOptions
    vm: str | None = None
    exclude: Sequence[str] = ()
    batch: int = 2
    dry_run: bool = False
    watch_seconds: float = 60.0
    and_back: bool = False
    poll: float = 2.0
    #: provider URL -> HOST:PORT for the certificate handshake (see CollectOptions)
    provider_addresses: dict[str, str] = field(default_factory=dict)


class LayerFailed(Exception):
    """Raised inside a layer with the evidence line that failed it."""


class Validator:
    """Runs the layers against one host; ``on_layer`` sees each result as it is decided."""

    def __init__(
        self,
        session: Session,
        host: Any,
        case: Case,
        options: ValidateOptions,
        on_layer: Callable[[LayerResult], None] | None = None,
        stop: threading.Event | None = None,
        on_start: Callable[[LayerResult], None] | None = None,
    ) -> None:
        self.session = session
        self.host = host
        self.case = case
        self.opt = options
        self.on_layer = on_layer or (lambda r: None)
        self.on_start = on_start or (lambda r: None)  # a layer begins (progress display)
        self.stop = stop or threading.Event()
        self.storage: storage.HostStorage | None = None
        self.clean_concurrency: int | None = None
        self.pressure_bound: tuple[int, str] | None = None
        self._tail: Any = None
        self._others: dict[str, Any] = {}  # destination host -> its tail (None: no SSH settings)
        self._last_peak = 0  # most migrations in flight at once in the last _migrate
        self._single: str | None = None  # layer 4's VM

    # -- driver ------------------------------------------------------------------------------

    def run(self, first: int = 1) -> ValidationResult:
        """Run the layers from ``first`` on (the ones before it are "skipped": not checked, so
        the result cannot pass)."""
        layers = [LayerResult(n, name) for n, name in LAYERS]
        checks: list[Callable[[LayerResult], None]] = [
            self.layer_provider,
            self.layer_endpoints,
            self.layer_quiet,
            self.layer_one_vm,
            self.layer_batch,
        ]
        try:
            for result, check in zip(layers, checks, strict=True):
                if result.layer < first:
                    result.evidence.append(f"not checked: started at layer {first}")
                    continue
                if self.stop.is_set():  # Ctrl-C between layers: start nothing more
                    result.evidence.append("not run: interrupted")
                    self.on_layer(result)
                    continue
                if self.opt.dry_run and result.layer >= 4:
                    result.evidence.append("--dry-run: no migration started")
                    self.on_layer(result)
                    continue
                self.on_start(result)
                try:
                    check(result)
                except LayerFailed as exc:
                    result.status = FAIL
                    result.evidence.append(str(exc))
                except Exception as exc:  # a failing source is a failed layer, never a traceback
                    result.status = FAIL
                    result.evidence.append(f"could not check: {type(exc).__name__}: {exc}"[:400])
                else:
                    result.status = PASS
                self.on_layer(result)
                if result.status == FAIL:
                    for later in layers[result.layer :]:
                        later.evidence.append(f"not run: layer {result.layer} failed")
                        self.on_layer(later)
                    break
        finally:
            for tail in [self._tail, *self._others.values()]:
                if tail is not None:
                    tail.close()
        return ValidationResult(
            host=self.host.name,
            layers=layers,
            case_dir=str(self.case.root),
            clean_concurrency=self.clean_concurrency,
        )

    # -- layer 1 -----------------------------------------------------------------------------

    def _host_storage(self) -> storage.HostStorage:
        if self.storage is None:
            self.storage = storage.host_storage(self.host)
            for name, text in storage.host_files(self.storage).items():
                self.case.write_text(name, text)
        return self.storage

    def layer_provider(self, result: LayerResult) -> None:
        seen = self._host_storage()
        try:
            sms_si = providers.sms_service(self.session.si, self.session.ssl_context)
            rows = providers.query_providers(sms_si, self.session.endpoint)
        except Exception as exc:
            raise LayerFailed(
                f"vCenter's Storage Monitoring Service did not answer ({type(exc).__name__}: {exc}); "
                "provider health cannot be confirmed"
            ) from None
        self.case.write_text(providers.PROVIDERS_FILE, providers.providers_json(rows))
        host_view = self._host_providers(seen, result)
        host_urls = {url for _, url, _, _ in host_view}
        relevant = [r for r in rows if r.url in host_urls] or rows
        if not relevant:
            raise LayerFailed("SMS lists no VASA provider")
        failures = []
        now = datetime.now(UTC)
        for row in relevant:
            line = f"{row.name} ({row.url}): SMS status {row.status}"
            if row.status_fault:
                line += f", statusFault {row.status_fault}"
            if row.status not in HEALTHY_STATES:
                failures.append(line)
            expiry = row.certificate_expiry
            if expiry is not None:
                expiry = expiry if expiry.tzinfo else expiry.replace(tzinfo=UTC)
                line += f"; certificate {row.certificate_status or '?'} until {expiry:%Y-%m-%d}"
                if expiry <= now:
                    failures.append(f"{row.name}: certificate expired on {expiry:%Y-%m-%d}")
            if row.certificate_status in BAD_CERTIFICATE_STATES:
                failures.append(f"{row.name}: certificate status {row.certificate_status}")
            result.evidence.append(line)
            served = self._served_certificate(row, now)
            if served is not None:
                result.evidence.append(served[0])
                if not served[1]:
                    failures.append(served[0])
        for name, url, status, active in host_view:
            state = f"status {status}, " if status else ""
            result.evidence.append(
                f"{self.host.name} sees {name} ({url}): {state}active for {', '.join(active) or 'no array'}"
            )
            if status and status not in HEALTHY_STATES:
                failures.append(f"{self.host.name} sees {name} {status}")
            elif not active:
                failures.append(f"{self.host.name}: {name} is active for no array")
        if failures:
            raise LayerFailed("; ".join(failures))

    def _host_providers(
        self, seen: storage.HostStorage, result: LayerResult
    ) -> list[tuple[str, str | None, str | None, list[str]]]:
        """(name, url, status, active arrays) of each provider as the host sees it: from the
        vSphere API (``vvolDS.vasaProviderInfo``), else ``esxcli storage vvol vasaprovider list``
        over SSH, which also gives the host's own status (online in vCenter, offline on the host
        is a trust or network problem of that host). Neither available is said, not failed: SMS
        above still decides."""
        if seen.providers:
            return [
                (n, u, None, [a.array_id for a in arrays if a.is_active]) for n, u, arrays in seen.providers
            ]
        from vvolguard.evidence.esxcli import VASAPROVIDER_READER
        from vvolguard.evidence.source import from_bytes
        from vvolguard.live.hostlogs import VASAPROVIDER_LIST, run_on_host

        try:
            text = run_on_host(self.host.name, self.opt.ssh, VASAPROVIDER_LIST)
        except HostLogError as exc:
            result.evidence.append(f"{self.host.name}'s own provider list not available: {exc}")
            return []
        name = f"hosts/{self.host.name}/commands/localcli_storage-vvol-vasaprovider-list.txt"
        self.case.path(name).write_bytes(text)
        ef = from_bytes(name, text, host=self.host.name)
        out = []
        for record in VASAPROVIDER_READER.read(ef):
            name_, url = getattr(record, "name", None), getattr(record, "url", None)
            if name_ is None:
                continue
            status = getattr(record, "status", None)
            active = [a.array_id for a in getattr(record, "arrays", ()) if a.is_active is not False]
            out.append((str(name_), url, str(status) if status else None, active))
        return out

    def _served_certificate(self, row: providers.ProviderInfo, now: datetime) -> tuple[str, bool] | None:
        """(evidence, valid) of the certificate the provider serves now; None if unreachable
        (SMS's own certificate view above still decides)."""
        from cryptography import x509

        try:
            pem = providers.fetch_certificate(row.url, address=self.opt.provider_addresses.get(row.url))
        except (OSError, ValueError, ConnectionError) as exc:
            return (
                f"{row.name}: TLS handshake to {row.url} failed ({exc}); SMS's certificate view used",
                True,
            )
        self.case.write_text(providers.certificate_file(row.name), pem)
        cert = x509.load_pem_x509_certificate(pem.encode())
        start, end = cert.not_valid_before_utc, cert.not_valid_after_utc
        valid = start <= now <= end
        text = f"{row.name} serves a certificate valid {start:%Y-%m-%d} to {end:%Y-%m-%d}"
        return (text if valid else f"{text}: not valid now", valid)

    # -- layer 2 -----------------------------------------------------------------------------

    def layer_endpoints(self, result: LayerResult) -> None:
        seen = self._host_storage()
        if not seen.containers:
            raise LayerFailed(f"{self.host.name} has no vVol datastore")
        bad = []
        for pe in seen.endpoints:
            line = (
                f"PE {pe.pe_id} ({pe.pe_type}, array {pe.array_id}): "
                f"accessible {str(pe.accessible).lower()}, configured {str(pe.configured).lower()}"
            )
            result.evidence.append(line)
            if pe.configured and not pe.accessible:
                bad.append(f"PE {pe.pe_id} is configured but not accessible on {self.host.name}")
        for container in seen.containers:
            usable = [
                pe
                for pe in seen.endpoints
                if container.uuid in pe.containers and pe.configured and pe.accessible
            ]
            if not usable:
                missing = [pe.pe_id for pe in seen.endpoints if container.uuid in pe.containers]
                bad.append(
                    f"storage container {container.name} has no PE configured and accessible on "
                    f"{self.host.name}" + (f" (known PEs: {', '.join(missing)})" if missing else "")
                )
        if bad:
            raise LayerFailed("; ".join(bad) + ". Check host group mapping, presentation, zoning and rescan")

    # -- layer 3 -----------------------------------------------------------------------------

    def _ensure_tail(self) -> Any:
        if self._tail is None:
            from vvolguard.live.sshtail import open_tail

            self._tail = open_tail(self.host.name, self.opt.ssh, backoff_start=0.5, backoff_max=5.0)
        return self._tail

    def _log_file(self, host: str | None = None) -> str:
        return f"hosts/{host or self.host.name}/var/run/log/vvold.log"

    def _destination_sources(self, targets: list[str]) -> list[Any]:
        """Tails of the destinations' vvold.log too: a vMotion's swap vVol is created on the
        destination, so that is where the provider's answers show (docs/evidence-formats.md §1.7).
        A destination without SSH settings is watched through the source alone."""
        from vvolguard.live.sshtail import open_tail

        out = []
        for name in targets:
            if name not in self._others:
                try:
                    self._others[name] = open_tail(name, self.opt.ssh, backoff_start=0.5, backoff_max=5.0)
                except HostLogError:
                    self._others[name] = None
            tail = self._others[name]
            if tail is not None:
                out.append(_KeepingSource(tail, self.case.path(self._log_file(name)), name))
        return out

    def layer_quiet(self, result: LayerResult) -> None:
        try:
            tail = self._ensure_tail()
        except HostLogError as exc:
            raise LayerFailed(f"cannot watch vvold.log: {exc}") from None
        noisy, lines, connected = self._watch(tail, self.opt.watch_seconds)
        if self.stop.is_set():
            raise LayerFailed(
                f"interrupted during the {self.opt.watch_seconds:g} s watch ({lines} lines read): "
                "a quiet log cannot be concluded from a cut watch"
            )
        if not connected:
            raise LayerFailed(
                f"vvold.log of {self.host.name} could not be watched ({tail.state}); a quiet log cannot be "
                "concluded from no log. Start SSH on the host, or give --ssh-config"
            )
        result.evidence.append(
            f"watched {self._log_file()} for {self.opt.watch_seconds:g} s: {lines} lines, "
            f"{len(noisy)} waits/busy/timeouts/setContext failures"
        )
        if noisy:
            result.evidence.extend(noisy[:10])
            raise LayerFailed(f"vvold.log is not quiet: {len(noisy)} fresh pressure or session lines")

    def _watch(
        self, tail: Any, seconds: float, until: Callable[[], bool] | None = None
    ) -> tuple[list[str], int, bool]:
        """Read the tail for ``seconds`` (or until ``until()``); (noisy lines, lines, connected)."""
        from vvolguard.evidence.vvold import VvoldStream

        stream = VvoldStream(f"{self.host.name}:vvold.log", host=self.host.name)
        noisy: list[str] = []
        lines = 0
        deadline = time.monotonic() + seconds
        connected = False
        path = self.case.path(self._log_file())
        with path.open("ab") as keep:
            while not self.stop.is_set():
                data = tail.read()
                connected = connected or tail.state == "connected"
                if data:
                    keep.write(data)
                    lines += data.count(b"\n")
                    frame = stream.feed(data)
                    if frame is not None:
                        noisy += _noisy(frame.frame)
                if time.monotonic() >= deadline or (until is not None and until()):
                    break
                time.sleep(0.2)
            frame = stream.flush()
            if frame is not None:
                noisy += _noisy(frame.frame)
        return noisy, lines, connected

    # -- layers 4 and 5 ------------------------------------------------------------------------

    def layer_one_vm(self, result: LayerResult) -> None:
        vm = self._pick_vm()
        self._single = vm.name
        result.evidence.append(
            f"chose {vm.name} ({vm.id})" + ("" if self.opt.vm else ": smallest powered-on VM")
        )
        run = self._migrate([vm], 1, result)
        self.clean_concurrency = max(self.clean_concurrency or 0, self._last_peak)
        if self.opt.and_back and run is not None:
            dest = run
            self._migrate([vm], 1, result, source=dest, targets=(self.host.name,))

    def layer_batch(self, result: LayerResult) -> None:
        chosen = self._pick_batch(self.opt.batch)
        result.evidence.append(f"batch of {len(chosen)}: {', '.join(v.name for v in chosen)}")
        try:
            self._migrate(chosen, len(chosen), result)
        except LayerFailed as exc:
            if self._last_peak > (self.clean_concurrency or 0):
                self.pressure_bound = (self._last_peak, str(exc))
            raise
        if self._last_peak < len(chosen):
            result.evidence.append(
                f"only {self._last_peak} of the batch ran at once: {self._last_peak} is what this proves"
            )
        self.clean_concurrency = max(self.clean_concurrency or 0, self._last_peak)

    def _backend(self) -> Any:
        from vvolguard.drain.backends.base import WallClock
        from vvolguard.drain.backends.vsphere import VSphereBackend

        return VSphereBackend(
            self.session.si, endpoint=self.session.endpoint, clock=WallClock(self.stop), owns_session=False
        )

    def _candidates(self) -> list[Any]:
        """Powered-on VMs of the host, not excluded, smallest first (memory, then disk)."""
        from pyVmomi import vim

        out = []
        excluded = {e.lower() for e in self.opt.exclude}
        for vm in self.host.vm or []:
            summary = vm.summary
            if summary.runtime.powerState != vim.VirtualMachine.PowerState.poweredOn:
                continue
            if vm.name.lower() in excluded or summary.config.template:
                continue
            memory = summary.config.memorySizeMB or 0
            disk = summary.storage.committed if summary.storage is not None else 0
            out.append((memory, disk or 0, vm.name, vm))
        return [item[3] for item in sorted(out, key=lambda t: (t[0], t[1], t[2]))]

    def _pick_vm(self) -> Any:
        from vvolguard.drain.backends.base import VmRef

        candidates = self._candidates()
        if self.opt.vm:
            wanted = [v for v in self.host.vm or [] if v.name.lower() == self.opt.vm.lower()]
            if not wanted:
                raise LayerFailed(f"no VM {self.opt.vm!r} on {self.host.name}")
            candidates = wanted
        if not candidates:
            raise LayerFailed(f"no powered-on VM on {self.host.name} to test with (none, or all excluded)")
        vm = candidates[0]
        return VmRef(id=vm._moId, name=vm.name, host=self.host.name, powered_on=True)

    def _pick_batch(self, n: int) -> list[Any]:
        from vvolguard.drain.backends.base import VmRef

        # not layer 4's VM (back on the host after --and-back): the batch tests other VMs
        tested = {n.lower() for n in (self.opt.vm, self._single) if n}
        candidates = [v for v in self._candidates() if v.name.lower() not in tested]
        if len(candidates) < n:
            raise LayerFailed(
                f"only {len(candidates)} powered-on VMs left on {self.host.name} for a batch of {n}"
            )
        return [VmRef(id=v._moId, name=v.name, host=self.host.name, powered_on=True) for v in candidates[:n]]

    def _migrate(
        self,
        vms: list[Any],
        concurrency: int,
        result: LayerResult,
        source: str | None = None,
        targets: tuple[str, ...] = (),
    ) -> str | None:
        """Move ``vms`` with ``concurrency`` in flight through the drain's controller, one attempt
        each, watching vvold; returns the destination of the last move. LayerFailed on a failed
        task, a VM left behind, or pressure in vvold.log."""
        from vvolguard.drain.controller import DrainController, DrainOptions
        from vvolguard.drain.journal import Journal
        from vvolguard.drain.limits import make_limit
        from vvolguard.drain.pressure import PressureMonitor

        backend = OnlyThese(self._backend(), vms)
        src = source or self.host.name
        tail = self._ensure_tail()
        journal_path = self.case.path(f"{JOURNAL_DIR}/journal.sqlite")
        journal, _ = Journal.open(
            journal_path,
            endpoint=self.session.endpoint,
            source_host=src,
            targets=targets,
            options={"validate": True, "concurrency": concurrency},
        )
        monitor = PressureMonitor(backend.clock)
        kept = _KeepingSource(tail, self.case.path(self._log_file()), self.host.name)
        destinations = backend.resolve_targets(src, targets)
        others = self._destination_sources(destinations)
        backend.precheck(destinations)
        controller = DrainController(
            backend,
            journal,
            make_limit("fixed", concurrency, fixed=concurrency),
            DrainOptions(
                source=src,
                targets=targets,
                max_inflight=concurrency,
                max_attempts=1,
                poll_interval=self.opt.poll,
                spacing=0.0,  # the batch starts at once, as a batch does
            ),
            monitor=monitor,
            log_sources=[kept, *others],
            stop=self.stop,
        )
        try:
            run = controller.run()
        finally:
            journal.close()
        monitor.flush()
        self._last_peak = run.peak_inflight
        dests = {vm.id: backend.vm_host(vm.id) for vm in vms}
        for vm in vms:
            dest = dests.get(vm.id)
            moved = dest is not None and dest != src
            result.evidence.append(
                f"{vm.name}: {src} -> {dest}" if moved else f"{vm.name}: stayed on {dest or '?'}"
            )
        result.evidence.append(
            f"{len(run.moved)} moved, {run.failed_tasks} failed task(s), peak {run.peak_inflight} in flight, "
            f"{monitor.marks} congestion mark(s) in vvold.log"
        )
        watched = [f"{s.host} ({'watched' if s.connected else s.tail.state})" for s in [kept, *others]]
        result.evidence.append(f"vvold.log during the migrations: {', '.join(watched)}")
        if run.interrupted:
            raise LayerFailed(
                "interrupted: the migrations in flight were waited for; nothing new was started"
            )
        if run.failed_tasks or run.left:
            reasons = "; ".join(f"{name}: {why}" for name, why in run.left) or "a migration task failed"
            raise LayerFailed(f"migration failed: {reasons}")
        if monitor.marks:
            raise LayerFailed(f"vvold.log showed pressure during the migrations: {monitor.signal().reason}")
        if not kept.connected:
            raise LayerFailed(
                "vvold.log was not watched during the migrations (SSH not connected): "
                "a clean run cannot be concluded"
            )
        last = vms[-1]
        return dests.get(last.id)


def _noisy(frame: Any) -> list[str]:
    """Evidence lines of the frame's waits, busy faults, timeouts, setContext failures and
    transient FINAL FAILUREs."""
    from vvolguard.drain.pressure import TRANSIENT_FAULTS

    out = []
    for kind, fault, text, line in frame.select(["kind", "fault", "text", "line"]).iter_rows():
        if kind in NOISY_KINDS or (kind == "failure" and (fault or "").upper() in TRANSIENT_FAULTS):
            out.append(f"vvold.log:{line}: {(text or kind)[:200]}")
    return out


class _KeepingSource:
    """The controller's log source: the tail's bytes, also appended to the case's vvold.log."""

    def __init__(self, tail: Any, path: Any, host: str) -> None:
        self.tail = tail
        self.path = path
        self.host = host
        self.connected = False

    def read(self) -> bytes:
        data = self.tail.read()
        self.connected = self.connected or self.tail.state == "connected"
        if data:
            with self.path.open("ab") as fh:
                fh.write(data)
        return bytes(data)

    def close(self) -> None:
        return None  # the validator closes the tail once, at the end


class OnlyThese:
    """A drain backend that offers only ``vms`` on their host: validation moves the VMs it chose,
    never the rest of the host. Everything else is the real backend.

    vCenter's CheckRelocate answers for every (VM, destination) pair are asked for up front, a
    few at a time (:meth:`precheck`), and served from there: the controller asks one per
    submission and waits for it, which spaces a batch out by a check's duration, and a batch
    whose migrations never overlap would not test the concurrency it claims."""

    def __init__(self, backend: Any, vms: list[Any]) -> None:
        self._backend = backend
        self._vms = list(vms)
        self._ids = {vm.id for vm in vms}
        self._checks: dict[tuple[str, str], list[str]] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._backend, name)

    def list_vms(self, host: str) -> list[Any]:
        return [vm for vm in self._backend.list_vms(host) if vm.id in self._ids]

    def precheck(self, targets: Sequence[str], workers: int = 4) -> None:
        from concurrent.futures import ThreadPoolExecutor

        pairs = [(vm, dest) for vm in self._vms for dest in targets]
        with ThreadPoolExecutor(max_workers=workers) as pool:
            answers = list(pool.map(lambda pair: self._backend.check_relocate(*pair), pairs))
        for (vm, dest), problems in zip(pairs, answers, strict=True):
            self._checks[(vm.id, dest)] = list(problems)

    def check_relocate(self, vm: Any, dest: str) -> list[str]:
        cached = self._checks.get((vm.id, dest))
        return list(cached) if cached is not None else list(self._backend.check_relocate(vm, dest))


def record_limit(
    store_path: Any, session: Session, host_name: str, result: ValidationResult, validator: Validator
) -> str | None:
    """Store the concurrency that ran clean (and the batch that did not, if one failed under
    pressure) in the limits store the drain starts from; returns the line describing it."""
    from vvolguard.drain.backends.vsphere import VSphereBackend
    from vvolguard.store import ObservedLimit, Store, utcnow_iso

    clean = validator.clean_concurrency
    if clean is None:
        return None
    backend = VSphereBackend(session.si, endpoint=session.endpoint, owns_session=False)
    provider = backend.provider_of(host_name)
    bound = validator.pressure_bound
    record = ObservedLimit(
        vcenter=session.endpoint,
        host=host_name,
        provider=provider,
        safe_limit=clean,
        ceiling=max(clean, bound[0] if bound else clean),
        migrated=sum(1 for layer in result.layers[3:] for e in layer.evidence if " -> " in e),
        failed=0 if bound is None else 1,
        congestion_episodes=0 if bound is None else 1,
        observed_at=utcnow_iso(),
        kind="bounded" if bound else "lower-bound",
        bound=bound[0] if bound else None,
        bound_reason=f"validate: {bound[1]}" if bound else None,
    )
    store = Store(store_path)
    try:
        store.record_limit(record)
    finally:
        store.close()
    return record.describe()
