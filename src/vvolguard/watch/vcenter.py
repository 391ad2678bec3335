"""``--vcenter``: migrations as vCenter sees them, polled read-only with pyVmomi.

The runbook's first two monitoring signals are vCenter's: the failed migration count and the
migration concurrency per source host. The hosts' logs give failures (hostd's ``[MIGRATE]``
line) but not concurrency, so watch also asks vCenter, every ``interval`` seconds, in a thread of
its own (pyVmomi blocks):

* **In flight** — the task manager's ``recentTask`` list and each task's ``info`` in one
  ``RetrievePropertiesEx``: relocate/migrate tasks (and DRS's vMotions) that are queued or
  running, per *source* host. The source is the VM's ``runtime.host`` when the task is first
  seen running, remembered per task (after switchover vCenter already shows the destination).
  Every inventory host is exported, 0 when nothing moves from it, so graphs fall to zero.
* **Outcomes** — an ``EventHistoryCollector`` for the migration events only; its
  ``latestPage`` (up to :data:`PAGE` events) is read each poll and events are taken once by
  their key (a moving window). ``VmFailedMigrateEvent`` names the source host as its host,
  ``VmMigratedEvent`` as ``sourceHost``. Events from before watch started are not counted. A
  page full of unseen events means some may have been missed: counted (``reason="event-gap"``).
* **Providers** — vCenter's SMS service (``/sms/sdk``, the same session): each VASA provider's
  status (online, offline, syncError) and certificate expiry, where the vCenter offers it.

A vCenter that is down, refuses the login or lacks a privilege never stops watch: each problem is
counted (``vvolguard_vcenter_errors_total{reason}``), logged once until the vCenter answers
again, and the next poll tries again (logging in anew when the session is gone). The password
is kept in memory only to log in again; it is never logged, put in a label or a message.
"""

from __future__ import annotations

import contextlib
import http.client
import logging
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from vvolguard.drain.backends.vsphere import Endpoint, VSphereBackend, VSphereError, login, ssl_context
from vvolguard.watch.state import Change

log = logging.getLogger("vvolguard.watch")

#: Task description ids of a VM changing host: vSphere client/API relocations and migrations, and
#: DRS's own vMotions (which vCenter runs as the ``Drm.ExecuteVMotionLRO`` task).
MIGRATION_TASKS = frozenset({"VirtualMachine.relocate", "VirtualMachine.migrate", "Drm.ExecuteVMotionLRO"})
#: Events that end a migration; DrsVmMigratedEvent is VmMigratedEvent's DRS flavour.
MIGRATION_EVENTS = ("VmMigratedEvent", "DrsVmMigratedEvent", "VmFailedMigrateEvent")
#: The most events a collector page holds (vCenter's and the simulator's maximum).
PAGE = 1000
#: Tasks remembered for their source host; more running at once than this is not a real vCenter.
MAX_TRACKED_TASKS = 10_000

#: ``reason`` values of ``vvolguard_vcenter_errors_total``.
UNREACHABLE, LOGIN, TLS, PERMISSION, EVENT_GAP, SMS, API = (
    "unreachable",
    "login",
    "tls",
    "permission",
    "event-gap",
    "sms",
    "api",
)
#: Polls between two tries of an SMS service that did not answer (it is optional).
SMS_RETRY_POLLS = 30


def _reason(exc: BaseException) -> str:
    """Which problem an exception is, for the error counter (the message itself is logged)."""
    from pyVmomi import vim

    if isinstance(exc, vim.fault.NoPermission):
        return PERMISSION
    if isinstance(exc, vim.fault.NotAuthenticated):
        return LOGIN
    if isinstance(exc, VSphereError):
        text = str(exc)
        if "not trusted" in text or "TLS" in text:
            return TLS
        if "rejected the user name" in text or "refused the login" in text:
            return LOGIN
        return UNREACHABLE
    if isinstance(exc, (ssl.SSLEOFError, ssl.SSLZeroReturnError)):
        return UNREACHABLE  # the connection went away mid-call, not a trust problem
    if isinstance(exc, ssl.SSLError):
        return TLS
    if isinstance(exc, (OSError, http.client.HTTPException)):
        return UNREACHABLE
    return API


def _fault_text(lmf: Any) -> str:
    """The message of a LocalizedMethodFault (pyVmomi hands the fault itself, with ``msg``)."""
    if lmf is None:
        return ""
    fault = getattr(lmf, "fault", None) or lmf
    return str(
        getattr(lmf, "localizedMessage", None)
        or getattr(fault, "msg", None)
        or getattr(fault, "reason", None)
        or type(fault).__name__
    )


def _expiry(value: Any) -> datetime | None:
    """SMS's ``certificateExpiryDate``: an ISO 8601 string in the API (a datetime in some
    bindings); None when absent or unreadable."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@dataclass
class ProviderStatus:
    name: str
    url: str
    status: str
    expiry_days: float | None = None


@dataclass
class VCenterView:
    """What the last polls saw; read by scrapes under :attr:`VCenterWatch.lock`."""

    up: bool = False
    hosts: list[str] = field(default_factory=list)
    in_flight: dict[str, int] = field(default_factory=dict)
    outcomes: Counter[tuple[str, str]] = field(default_factory=Counter)  # (host, outcome) -> n
    errors: Counter[str] = field(default_factory=Counter)
    providers: dict[str, ProviderStatus] = field(default_factory=dict)


class VCenterWatch:
    """Polls one vCenter in a thread; a prometheus-client collector for what it saw."""

    def __init__(
        self,
        url: str,
        user: str,
        password: str,
        *,
        ca_file: str | Path | None = None,
        insecure: bool = False,
        interval: float = 10.0,
        on_change: Callable[[Change], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.endpoint = str(Endpoint.parse(url))  # raises VSphereError for a bad URL, at start
        self.url = url
        self.user = user
        self._password = password
        self.ca_file = ca_file
        self.insecure = insecure
        self.interval = interval
        self.on_change = on_change
        self.clock = clock
        self.view = VCenterView()
        self.lock = threading.Lock()
        self._si: Any = None
        self._backend: VSphereBackend | None = None
        self._collector: Any = None
        self._last_key: int | None = None
        self._sources: dict[str, str] = {}  # task moid -> source host name, while it runs
        self._host_names: dict[str, str] = {}  # host moid -> inventory name
        self._said: set[str] = set()  # reasons logged since the vCenter last answered
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.polls = 0
        self._sms_next = 0

    def __repr__(self) -> str:  # never the password
        return f"VCenterWatch({self.endpoint!r}, user={self.user!r})"

    # -- the thread --------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="vvolguard-watch-vcenter", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)
        self._logout()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.poll_once()
            self._stop.wait(self.interval)

    def poll_once(self) -> None:
        """One round: log in if needed, then tasks, events and providers, each on its own so a
        missing privilege for one leaves the others working."""
        try:
            if self._si is None:
                self._login()
        except Exception as exc:
            self._failed(exc)
            return
        answered = False
        for part in (self._poll_tasks, self._poll_events):
            try:
                part()
                answered = True
            except Exception as exc:
                self._failed(exc)
                if _reason(exc) in (UNREACHABLE, LOGIN, TLS):
                    self._si = None  # the session is gone: log in again next round
                    break
        if self._si is not None and self.polls >= self._sms_next:
            try:
                self._poll_providers()
            except Exception as exc:  # no SMS, or not allowed: counted, tried again later
                self._failed(exc, SMS if _reason(exc) != PERMISSION else PERMISSION)
                self._sms_next = self.polls + SMS_RETRY_POLLS
        with self.lock:
            was = self.view.up
            self.view.up = answered and self._si is not None
            now_up = self.view.up
        if now_up and not was:
            # a later outage is said again; a missing privilege or an API fault, still there
            # whether vCenter is up or not, is not (the first poll comes up after saying it)
            self._said -= {UNREACHABLE, LOGIN, TLS}
            self._note("up")
        self.polls += 1

    def _failed(self, exc: BaseException, reason: str | None = None) -> None:
        reason = reason or _reason(exc)
        with self.lock:
            self.view.errors[reason] += 1
            was = self.view.up
            if reason in (UNREACHABLE, LOGIN, TLS):
                self.view.up = False
        if was and reason in (UNREACHABLE, LOGIN, TLS):
            self._note("down", str(exc))
        if reason not in self._said:
            self._said.add(reason)
            what = getattr(exc, "msg", None) or str(exc) or type(exc).__name__
            log.warning(
                "vCenter %s: %s: %s (counted; watch goes on, tries again every %g s, logs this once)",
                self.endpoint,
                reason,
                what,
                self.interval,
            )

    def _note(self, new: str, why: str = "") -> None:
        if self.on_change is not None:
            old = "down" if new == "up" else "up"
            self.on_change(
                Change(self.clock(), self.endpoint, None, "vcenter", old, new, (why,) if why else ())
            )

    def _login(self) -> None:
        ca = str(self.ca_file) if self.ca_file else None
        self._si = login(self.url, self.user, self._password, insecure=self.insecure, ca_file=ca)
        self._collector = None
        self._host_names = {}

    def _logout(self) -> None:
        si, self._si = self._si, None
        if si is not None:
            from pyVim.connect import Disconnect

            with contextlib.suppress(Exception):
                if self._collector is not None:
                    self._collector.DestroyCollector()
                Disconnect(si)

    # -- tasks: in flight per source host ----------------------------------------------------

    def _retrieve(self, objs: Sequence[Any], kind: Any, paths: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Properties of many objects in one round trip: the drain backend's batched
        ``RetrievePropertiesEx``, on this poller's session (which it does not own)."""
        if self._backend is None or self._backend.si is not self._si:
            self._backend = VSphereBackend(self._si, endpoint=self.endpoint, owns_session=False)
        return self._backend._retrieve(objs, kind, paths)

    def _hosts(self) -> dict[str, str]:
        """Host moid -> inventory name, looked up again when a host is new to us."""
        from pyVmomi import vim

        content = self._si.content
        view = content.viewManager.CreateContainerView(content.rootFolder, [vim.HostSystem], True)
        try:
            refs = list(view.view)
        finally:
            view.Destroy()
        names = self._retrieve(refs, vim.HostSystem, ["name"])
        self._host_names = {moid: str(p.get("name", moid)) for moid, p in names.items()}
        return self._host_names

    def _poll_tasks(self) -> None:
        from pyVmomi import vim

        content = self._si.content
        recent = list(content.taskManager.recentTask)
        infos = self._retrieve(recent, vim.Task, ["info"])
        running: dict[str, Any] = {}  # task moid -> VM
        for moid, props in infos.items():
            info = props.get("info")
            if info is None or info.descriptionId not in MIGRATION_TASKS:
                continue
            if str(info.state) in ("queued", "running") and info.entity is not None:
                running[moid] = info.entity
        new = {moid: vm for moid, vm in running.items() if moid not in self._sources}
        if new:
            where = self._retrieve(
                list({vm._moId: vm for vm in new.values()}.values()), vim.VirtualMachine, ["runtime.host"]
            )
            names = self._host_names or self._hosts()
            for moid, vm in new.items():
                host = where.get(vm._moId, {}).get("runtime.host")
                if host is None:
                    continue
                if host._moId not in names:
                    names = self._hosts()
                self._sources[moid] = names.get(host._moId, host._moId)
        # forget the tasks that ended (and never hold more than a vCenter could run)
        for moid in [m for m in self._sources if m not in running]:
            del self._sources[moid]
        while len(self._sources) > MAX_TRACKED_TASKS:
            self._sources.pop(next(iter(self._sources)))
        names = self._host_names or self._hosts()
        counts = Counter(self._sources.values())
        with self.lock:
            self.view.hosts = sorted(set(names.values()))
            self.view.in_flight = {h: counts.get(h, 0) for h in {*self.view.hosts, *counts}}

    # -- events: outcomes -------------------------------------------------------------------

    def _poll_events(self) -> None:
        from pyVmomi import vim

        if self._collector is None:
            spec = vim.event.EventFilterSpec(eventTypeId=list(MIGRATION_EVENTS), maxCount=PAGE)
            self._collector = self._si.content.eventManager.CreateCollectorForEvents(spec)
        page = list(self._collector.latestPage or [])
        keys = [int(e.key) for e in page]
        if self._last_key is None:  # first look: what happened before watch started is history
            self._last_key = max(keys, default=0)
            return
        fresh = sorted((e for e in page if int(e.key) > self._last_key), key=lambda e: int(e.key))
        if len(page) >= PAGE and fresh and len(fresh) == len(page):
            with self.lock:
                self.view.errors[EVENT_GAP] += 1
            if EVENT_GAP not in self._said:
                self._said.add(EVENT_GAP)
                log.warning("vCenter %s: more migration events than one page between polls", self.endpoint)
        for event in fresh:
            self._outcome(event)
        if keys:
            self._last_key = max(self._last_key, *keys)

    def _outcome(self, event: Any) -> None:
        from pyVmomi import vim

        if isinstance(event, vim.event.VmFailedMigrateEvent):
            host, outcome = event.host, "failed"
        elif isinstance(event, vim.event.VmMigratedEvent):
            host, outcome = event.sourceHost, "succeeded"
        else:
            return
        name = getattr(host, "name", None) or "unknown"
        with self.lock:
            self.view.outcomes[(name, outcome)] += 1
        if outcome == "failed" and self.on_change is not None:
            vm = getattr(getattr(event, "vm", None), "name", None) or "a VM"
            reason = _fault_text(getattr(event, "reason", None)) or str(event.fullFormattedMessage or "")
            why = f"{vm}: {reason}" if reason else vm
            self.on_change(Change(self.clock(), name, None, "migration", "running", "failed", (why,)))

    # -- SMS: provider status and certificate expiry -----------------------------------------

    def _poll_providers(self) -> None:
        providers = list(sms_providers(self._si, self.url, self.ca_file, self.insecure))
        now = datetime.now(UTC)
        seen: dict[str, ProviderStatus] = {}
        for info in providers:
            when = _expiry(getattr(info, "certificateExpiryDate", None))
            days = None if when is None else (when - now).total_seconds() / 86_400
            name = str(getattr(info, "name", "") or getattr(info, "url", "") or "unknown")
            seen[name] = ProviderStatus(
                name, str(getattr(info, "url", "") or ""), str(info.status or "unknown"), days
            )
        with self.lock:
            old = self.view.providers
            self.view.providers = seen
        if self.on_change is not None:
            for name, p in seen.items():
                before = old.get(name)
                if before is not None and before.status != p.status:
                    self.on_change(
                        Change(self.clock(), self.endpoint, name, "provider", before.status, p.status)
                    )

    def failures(self) -> Iterable[tuple[str, int]]:
        """(source host, failed migrations) for ``vvolguard_migration_failures_total``."""
        with self.lock:
            return [(h, n) for (h, o), n in sorted(self.view.outcomes.items()) if o == "failed"]


def collect(watches: Sequence[VCenterWatch]) -> Iterator[Any]:
    """The metric families of every ``--vcenter`` (one family per name, whatever their number)."""
    up = GaugeMetricFamily(
        "vvolguard_vcenter_up", "1 when the last poll of vCenter answered.", labels=["vcenter"]
    )
    errors = CounterMetricFamily(
        "vvolguard_vcenter_errors",
        "vCenter polls that failed: unreachable, login, tls, permission, event-gap, sms, api.",
        labels=["vcenter", "reason"],
    )
    inflight = GaugeMetricFamily(
        "vvolguard_migrations_in_flight",
        "Relocate/migrate tasks queued or running in vCenter, per source host.",
        labels=["host"],
    )
    outcomes = CounterMetricFamily(
        "vvolguard_migrations",
        "Migrations vCenter reported finished (VmMigratedEvent / VmFailedMigrateEvent), per source host.",
        labels=["host", "outcome"],
    )
    status = GaugeMetricFamily(
        "vvolguard_vasa_provider_status",
        "1 for the VASA provider's status as vCenter's SMS reports it (online, offline, syncError, ...).",
        labels=["provider", "url", "status"],
    )
    expiry = GaugeMetricFamily(
        "vvolguard_vcenter_provider_certificate_expiry_days",
        "Days until the provider certificate expires, as vCenter's SMS reports it.",
        labels=["provider", "url"],
    )
    in_flight: Counter[str] = Counter()
    finished: Counter[tuple[str, str]] = Counter()
    for w in watches:
        with w.lock:
            v = w.view
            up.add_metric([w.endpoint], 1 if v.up else 0)
            for reason, n in sorted(v.errors.items()):
                errors.add_metric([w.endpoint, reason], n)
            for host, n in v.in_flight.items():
                in_flight[host] += n
            finished.update(v.outcomes)
            for p in v.providers.values():
                status.add_metric([p.name, p.url, p.status], 1)
                if p.expiry_days is not None:
                    expiry.add_metric([p.name, p.url], p.expiry_days)
    for host, n in sorted(in_flight.items()):
        inflight.add_metric([host], n)
    for (host, outcome), n in sorted(finished.items()):
        outcomes.add_metric([host, outcome], n)
    yield from (up, errors, inflight, outcomes, status, expiry)


def sms_providers(si: Any, url: str, ca_file: str | Path | None, insecure: bool) -> list[Any]:
    """The VASA providers registered in vCenter (``VasaProviderInfo``), through the SMS service
    at ``/sms/sdk`` with the session of ``si``. A vCenter without SMS gives an error the caller
    counts."""
    from pyVmomi import SoapStubAdapter, sms

    ep = Endpoint.parse(url)
    ctx = ssl_context(insecure=insecure, ca_file=ca_file)
    stub = SoapStubAdapter(
        host=ep.host, port=ep.port, path="/sms/sdk", version="sms.version.v7_0", sslContext=ctx
    )
    stub.cookie = si._stub.cookie
    service = sms.ServiceInstance("ServiceInstance", stub)
    manager = service.QueryStorageManager()
    return [p.QueryProviderInfo() for p in manager.QueryProvider()]
