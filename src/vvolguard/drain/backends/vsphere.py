"""The drain's vCenter backend: the :class:`~vvolguard.drain.backends.base.Backend` protocol over
pyVmomi.

Why it looks the way it does:

* **TLS is verified by default** (``ssl.create_default_context()``, optionally with the site's CA
  file). ``insecure=True`` is the explicit opt-out the CLI maps to ``--insecure``. A rejected
  certificate becomes a :class:`VSphereError` that says what to do, not a traceback.
* **Secrets stay inside.** The password is passed to ``SmartConnect`` and dropped; neither it nor
  the session cookie is stored on this object, put in ``endpoint`` or in any message.
* **Nothing blocks the controller.** ``submit_relocate`` returns the task id at once and
  ``poll`` reads one task's state; only ``check_relocate`` and ``enter_maintenance`` wait, and
  they wait on the backend's clock.
* **Ids survive the process.** VMs and tasks are named by their managed-object ids, so a drain
  killed with ``kill -9`` and run again polls the same tasks (``poll``), or finds a task it
  submitted but never journaled (``find_relocate_task``) through the VM's and the task
  manager's recent tasks.
* **One spelling per host.** ``--host esx-03`` finds ``esx-03.lab.local``; every name this
  backend returns (``vm_host``, ``VmRef.host``, ``resolve_targets``) is the inventory name, which
  ``canonical_host`` gives for any spelling, so "is this VM still on the source?" compares like
  with like.
"""

from __future__ import annotations

import http.client
import logging
import os
import ssl
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pyVim.connect import Disconnect, SmartConnect
from pyVmomi import VmomiSupport, vim, vmodl

from vvolguard.drain.backends.base import (
    DEFAULT_HOST_LIMIT,
    Clock,
    LogSource,
    RelocateState,
    TaskOutcome,
    VmRef,
    WallClock,
)

log = logging.getLogger(__name__)

#: How long CheckRelocate_Task may take before the drain goes on without its answer.
CHECK_TIMEOUT_S = 60.0
#: vpxd's cost model (docs/drain-background.md §1.2, docs/evidence-formats.md §6.1): a host
#: admits maxCostPerHost / costPerVmotion vMotions.
_MAX_COST_KEY = "config.vpxd.ResourceManager.maxCostPerHost"
_VMOTION_COST_KEY = "config.vpxd.ResourceManager.costPerVmotionESX6x"


class VSphereError(ConnectionError):
    """A problem the user can act on (certificate, login, unreachable vCenter, a host that
    refuses maintenance mode). The message is complete and safe to print: it never contains the
    password or the session cookie. A ``ConnectionError`` so callers that report connection
    problems without a traceback catch it."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where vCenter is: parsed from ``--vcenter`` (``vc01``, ``vc01:8443``, ``https://vc01/sdk``)."""

    host: str
    port: int
    path: str

    @classmethod
    def parse(cls, url: str) -> Endpoint:
        text = url.strip()
        if "://" not in text:
            text = "https://" + text
        parts = urlsplit(text)
        if parts.scheme != "https":
            raise VSphereError(f"vCenter URL must use https, not {parts.scheme!r}: {url}")
        if not parts.hostname:
            raise VSphereError(f"no host name in vCenter URL {url!r}")
        path = parts.path.rstrip("/") or "/sdk"
        try:
            port = parts.port or 443
        except ValueError as exc:
            raise VSphereError(f"bad port in vCenter URL {url!r}") from exc
        return cls(parts.hostname, port, path)

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


def ssl_context(*, insecure: bool = False, ca_file: str | Path | None = None) -> ssl.SSLContext:
    """A verifying context (system CAs plus ``ca_file``), or an unverified one on request."""
    if insecure:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    try:
        return ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    except (OSError, ssl.SSLError) as exc:
        raise VSphereError(f"cannot read the CA file {ca_file}: {exc}") from exc


#: Environment variable naming a CA bundle to trust for vCenter (when no ``ca_file`` is given).
CA_FILE_ENV = "VVOLGUARD_CA_FILE"


def connect(
    url: str,
    user: str,
    password: str,
    *,
    insecure: bool = False,
    ca_file: str | Path | None = None,
    clock: Clock | None = None,
) -> VSphereBackend:
    """Log in to vCenter and return the drain backend (what ``vvolguard drain --vcenter`` uses).

    ``ca_file`` defaults to ``$VVOLGUARD_CA_FILE``. Failures become :class:`VSphereError`."""
    return VSphereBackend.connect(url, user, password, insecure=insecure, ca_file=ca_file, clock=clock)


def login(
    url: str,
    user: str,
    password: str,
    *,
    insecure: bool = False,
    ca_file: str | Path | None = None,
    timeout: float = 60.0,
) -> Any:
    """Log in and return the pyVmomi ServiceInstance; failures become :class:`VSphereError`."""
    ep = Endpoint.parse(url)
    ca_file = ca_file or os.environ.get(CA_FILE_ENV) or None
    ctx = ssl_context(insecure=insecure, ca_file=ca_file)
    try:
        return SmartConnect(
            host=ep.host,
            port=ep.port,
            path=ep.path,
            user=user,
            pwd=password,
            sslContext=ctx,
            httpConnectionTimeout=timeout,
        )
    except ssl.SSLCertVerificationError as exc:
        why = exc.verify_message or str(exc)
        raise VSphereError(
            f"the TLS certificate of {ep} is not trusted ({why}). Pass the vCenter CA with "
            "--ca-file (vCenter serves it at https://<vcenter>/certs/download.zip), or --insecure "
            "to skip verification (not recommended)."
        ) from None
    except ssl.SSLError as exc:
        raise VSphereError(f"TLS handshake with {ep} failed: {exc.reason or exc}") from None
    except vim.fault.InvalidLogin:
        raise VSphereError(f"vCenter {ep} rejected the user name or password for {user!r}") from None
    except vmodl.MethodFault as exc:
        reason = getattr(exc, "msg", None) or type(exc).__name__  # pyVmomi sets msg at run time
        raise VSphereError(f"vCenter {ep} refused the login: {reason}") from None
    except OSError as exc:
        raise VSphereError(f"cannot reach vCenter at {ep}: {exc.strerror or exc}") from None


def _fault_name(fault: Any) -> str:
    """``vmodl.fault.SystemError`` for a pyVmomi fault object."""
    try:
        return str(VmomiSupport.GetVmodlName(type(fault)))
    except (AttributeError, KeyError, TypeError):
        return type(fault).__name__


def _fault_message(fault: Any) -> str:
    msg = getattr(fault, "msg", None) or getattr(fault, "localizedMessage", None)
    if not msg and getattr(fault, "faultMessage", None):
        msg = "; ".join(m.message for m in fault.faultMessage if getattr(m, "message", None))
    return str(msg or _fault_name(fault))


class VSphereBackend:
    """A vCenter reached through pyVmomi. Build it with :meth:`connect`, or around an existing
    ServiceInstance (tests, or a caller that manages the session)."""

    def __init__(self, si: Any, *, endpoint: str, clock: Clock | None = None, owns_session: bool = True):
        self.si = si
        self.content = si.RetrieveContent()
        self.endpoint = endpoint
        self.clock: Clock = clock or WallClock()
        self.notes: list[str] = []  # things the user should know (printed by the CLI)
        self._owns = owns_session
        self._hosts_cache: dict[str, Any] | None = None
        self._names: dict[str, str] | None = None  # host moid -> inventory name
        #: task id -> (destination host moid, VM moid), while in flight
        self._bound: dict[str, tuple[str, str]] = {}
        self._checker_ok = True

    @classmethod
    def connect(
        cls,
        url: str,
        user: str,
        password: str,
        *,
        insecure: bool = False,
        ca_file: str | Path | None = None,
        clock: Clock | None = None,
    ) -> VSphereBackend:
        si = login(url, user, password, insecure=insecure, ca_file=ca_file)
        backend = cls(si, endpoint=str(Endpoint.parse(url)), clock=clock)
        if insecure:
            backend.notes.append("TLS certificate verification is OFF (--insecure)")
        return backend

    # -- inventory ----------------------------------------------------------------------------

    def _hosts(self) -> dict[str, Any]:
        """moid -> vim.HostSystem for every host, looked up once per backend (the inventory of
        hosts does not change during a drain)."""
        if self._hosts_cache is None:
            view = self.content.viewManager.CreateContainerView(
                self.content.rootFolder, [vim.HostSystem], True
            )
            try:
                self._hosts_cache = {h._moId: h for h in view.view}
            finally:
                view.Destroy()
        return self._hosts_cache

    def _retrieve(self, objs: Iterable[Any], kind: Any, paths: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Properties of many objects in one round trip (a drain lists dozens of VMs)."""
        objs = list(objs)
        if not objs:
            return {}
        pc = self.content.propertyCollector
        spec = vmodl.query.PropertyCollector.FilterSpec(
            objectSet=[vmodl.query.PropertyCollector.ObjectSpec(obj=o, skip=False) for o in objs],
            propSet=[vmodl.query.PropertyCollector.PropertySpec(type=kind, pathSet=list(paths))],
        )
        out: dict[str, dict[str, Any]] = {}
        result = pc.RetrievePropertiesEx([spec], vmodl.query.PropertyCollector.RetrieveOptions())
        while result is not None:
            for oc in result.objects:
                out[oc.obj._moId] = {p.name: p.val for p in oc.propSet}
            if not result.token:
                break
            result = pc.ContinueRetrievePropertiesEx(result.token)
        return out

    def _find_host(self, name: str) -> Any:
        """A host by inventory name, short name, FQDN or moid."""
        hosts = self._hosts()
        wanted = name.strip().lower()
        if name in hosts:
            return hosts[name]
        names = self._host_names()
        exact = [m for m, n in names.items() if n.lower() == wanted]
        if not exact:
            short = wanted.split(".", 1)[0]
            exact = [m for m, n in names.items() if n.lower().split(".", 1)[0] == short]
        if not exact:
            raise LookupError(f"no host named {name!r} in vCenter {self.endpoint}")
        if len(exact) > 1:
            full = ", ".join(sorted(names[m] for m in exact))
            raise LookupError(f"{name!r} matches several hosts ({full}); give the full name")
        moid = exact[0]
        return hosts[moid]

    def canonical_host(self, name: str) -> str:
        """The inventory name of the host ``name`` designates (raises ``LookupError``)."""
        return self._find_host(name).name

    def _host_names(self) -> dict[str, str]:
        """moid -> inventory name of every host, read in one round trip and kept."""
        if self._names is None:
            found = self._retrieve(self._hosts().values(), vim.HostSystem, ["name"])
            self._names = {m: str(p.get("name", m)) for m, p in found.items()}
        return self._names

    def _host_label(self, host: Any) -> str:
        """The inventory name: the one spelling this backend answers with."""
        return self._host_names().get(host._moId) or str(host.name)

    def _vm(self, vm_id: str) -> Any:
        return vim.VirtualMachine(vm_id, self.si._stub)

    def list_vms(self, host: str) -> list[VmRef]:
        h = self._find_host(host)
        props = self._retrieve(h.vm, vim.VirtualMachine, ["name", "runtime.powerState", "datastore"])
        label = self._host_label(h)
        refs = [
            VmRef(
                id=moid,
                name=p.get("name", moid),
                host=label,
                datastores=tuple(sorted(ds._moId for ds in p.get("datastore") or [])),
                powered_on=p.get("runtime.powerState") == vim.VirtualMachine.PowerState.poweredOn,
            )
            for moid, p in props.items()
        ]
        # Powered-on VMs first: they are what keeps the host out of maintenance mode.
        return sorted(refs, key=lambda r: (not r.powered_on, r.name, r.id))

    def resolve_targets(self, source: str, targets: Sequence[str]) -> list[str]:
        src = self._find_host(source)
        picked: dict[str, Any] = {}
        explicit: set[str] = set()  # named one by one: unusable is an error, not a skip
        if targets:
            for t in targets:
                hosts, is_cluster = self._expand_target(t)
                for h in hosts:
                    picked[h._moId] = h
                    if not is_cluster:
                        explicit.add(h._moId)
        else:
            parent = src.parent
            if isinstance(parent, vim.ClusterComputeResource):
                for h in parent.host:
                    picked[h._moId] = h
        picked.pop(src._moId, None)
        state = self._retrieve(
            picked.values(),
            vim.HostSystem,
            ["name", "runtime.connectionState", "runtime.inMaintenanceMode"],
        )
        usable = []
        for moid, h in picked.items():
            p = state.get(moid, {})
            problem = None
            if p.get("runtime.inMaintenanceMode"):
                problem = "is in maintenance mode"
            elif p.get("runtime.connectionState") not in (None, "connected"):
                problem = f"is {p.get('runtime.connectionState')}"
            if problem is None:
                usable.append(h)
            elif moid in explicit:
                raise LookupError(f"destination host {p.get('name', moid)} {problem}")
        return sorted(self._host_label(h) for h in usable)

    def _expand_target(self, name: str) -> tuple[list[Any], bool]:
        """``--to`` value: a host, or a cluster (all its hosts); the flag says "cluster"."""
        try:
            return [self._find_host(name)], False
        except LookupError as host_error:
            view = self.content.viewManager.CreateContainerView(
                self.content.rootFolder, [vim.ClusterComputeResource], True
            )
            try:
                for cluster in view.view:
                    if cluster.name.lower() == name.strip().lower():
                        return list(cluster.host), True
            finally:
                view.Destroy()
            raise LookupError(f"no host or cluster named {name!r} in vCenter {self.endpoint}") from host_error

    def pick_destination(
        self, vm: VmRef, candidates: Sequence[str], planned: Mapping[str, int] | None = None
    ) -> str:
        """Least loaded (registered VMs + moves this drain has in flight towards it, or has
        ``planned`` there in a dry run) among the candidates that mount all the VM's
        datastores; any candidate if none does (then ``check_relocate`` says why). A move whose
        VM is already registered on its destination counts once."""
        if not candidates:
            raise LookupError("no destination host to choose from")
        hosts = {c: self._find_host(c) for c in candidates}
        props = self._retrieve(hosts.values(), vim.HostSystem, ["vm", "datastore"])
        vm_ds = set(vm.datastores) or self._vm_datastores(vm.id)

        def load(name: str) -> tuple[int, int, str]:
            moid = hosts[name]._moId
            p = props.get(moid, {})
            mounted = {ds._moId for ds in p.get("datastore") or []}
            compatible = vm_ds <= mounted
            registered = {v._moId for v in p.get("vm") or []}
            pending = sum(1 for d, v in self._bound.values() if d == moid and v not in registered)
            count = len(registered) + pending + (planned or {}).get(name, 0)
            return (0 if compatible else 1, count, name)

        return min(candidates, key=load)

    def _vm_datastores(self, vm_id: str) -> set[str]:
        try:
            return {ds._moId for ds in self._vm(vm_id).datastore}
        except vmodl.fault.ManagedObjectNotFound:
            return set()

    def _relocate_spec(self, vm_id: str, dest: Any) -> Any:
        """Host change only. The pool follows the destination's cluster unless the VM's pool
        already belongs to it (a VM in a child pool or vApp keeps it); a template gets no pool,
        which vCenter refuses for templates."""
        props = self._retrieve([self._vm(vm_id)], vim.VirtualMachine, ["resourcePool", "config.template"])
        p = props.get(vm_id, {})
        if p.get("config.template"):
            return vim.vm.RelocateSpec(host=dest)
        owner = dest.parent
        current = p.get("resourcePool")
        pool = current if current is not None and owner is not None and current.owner == owner else None
        if pool is None and owner is not None:
            pool = owner.resourcePool
        return vim.vm.RelocateSpec(host=dest, pool=pool)

    def check_relocate(self, vm: VmRef, dest: str) -> list[str]:
        host = self._find_host(dest)
        problems = self._own_checks(vm, host)
        if problems:
            return problems
        checker = self.content.vmProvisioningChecker
        if checker is None or not self._checker_ok:
            return []
        try:
            task = checker.CheckRelocate_Task(self._vm(vm.id), self._relocate_spec(vm.id, host))
        except (vmodl.fault.NotImplemented, vmodl.fault.MethodNotFound, vmodl.fault.ManagedObjectNotFound):
            self._checker_ok = False
            self.notes.append("vCenter does not implement CheckRelocate_Task; relied on own checks")
            return []
        info = self._wait(task, CHECK_TIMEOUT_S)
        if info is None:
            self.notes.append(f"CheckRelocate_Task for {vm.name} did not finish in {CHECK_TIMEOUT_S:.0f} s")
            return []
        if info.state == vim.TaskInfo.State.error:
            if isinstance(info.error, vmodl.fault.NotImplemented | vmodl.fault.MethodNotFound):
                self._checker_ok = False
                self.notes.append("vCenter does not implement CheckRelocate_Task; relied on own checks")
                return []
            return [f"CheckRelocate failed: {_fault_message(info.error)}"]
        out: list[str] = []
        for result in info.result or []:
            out.extend(_fault_message(err) for err in result.error or [])
        return out

    def _own_checks(self, vm: VmRef, host: Any) -> list[str]:
        p = self._retrieve(
            [host], vim.HostSystem, ["runtime.connectionState", "runtime.inMaintenanceMode", "datastore"]
        )
        props = p.get(host._moId, {})
        problems = []
        if props.get("runtime.inMaintenanceMode"):
            problems.append(f"{host.name} is in maintenance mode")
        if props.get("runtime.connectionState") not in (None, "connected"):
            problems.append(f"{host.name} is {props.get('runtime.connectionState')}")
        mounted = {ds._moId for ds in props.get("datastore") or []}
        missing = (set(vm.datastores) or self._vm_datastores(vm.id)) - mounted
        if missing:
            names = self._retrieve(
                [vim.Datastore(m, self.si._stub) for m in missing], vim.Datastore, ["name"]
            )
            shown = sorted(names.get(m, {}).get("name", m) for m in missing)
            problems.append(f"{host.name} does not mount the VM's datastore(s) {', '.join(shown)}")
        return problems

    # -- tasks --------------------------------------------------------------------------------

    def submit_relocate(self, vm: VmRef, dest: str) -> str:
        host = self._find_host(dest)
        task = self._vm(vm.id).RelocateVM_Task(
            spec=self._relocate_spec(vm.id, host),
            priority=vim.VirtualMachine.MovePriority.defaultPriority,
        )
        self._bound[task._moId] = (host._moId, vm.id)
        return task._moId

    def poll(self, task_id: str) -> TaskOutcome:
        try:
            info = vim.Task(task_id, self.si._stub).info
        except vmodl.fault.ManagedObjectNotFound:
            self._bound.pop(task_id, None)
            return TaskOutcome(RelocateState.MISSING)
        except (OSError, http.client.HTTPException) as exc:
            # A network blip must not end the drain: the task runs on in vCenter whatever we
            # see, so report it as running and look again on the next tick.
            log.warning("polling %s failed (%s); will retry", task_id, type(exc).__name__)
            return TaskOutcome(RelocateState.RUNNING)
        state = RelocateState(str(info.state))
        if state.done:
            self._bound.pop(task_id, None)
        if state is RelocateState.ERROR:
            return TaskOutcome(state, error=_fault_message(info.error), fault=_fault_name(info.error))
        return TaskOutcome(state)

    def find_relocate_task(self, vm_id: str) -> str | None:
        vm = self._vm(vm_id)
        refs: dict[str, Any] = {}
        try:
            for t in vm.recentTask or []:
                refs[t._moId] = t
        except vmodl.fault.ManagedObjectNotFound:
            return None
        for t in self.content.taskManager.recentTask or []:
            refs.setdefault(t._moId, t)
        infos = self._retrieve(refs.values(), vim.Task, ["info"])
        for moid, p in sorted(infos.items()):
            info = p.get("info")
            if info is None or info.entity is None or info.entity._moId != vm_id:
                continue
            if not str(info.descriptionId or "").lower().startswith("virtualmachine.relocate"):
                continue
            if info.state in (vim.TaskInfo.State.queued, vim.TaskInfo.State.running):
                return moid
        return None

    def vm_host(self, vm_id: str) -> str | None:
        try:
            host = self._vm(vm_id).runtime.host
        except vmodl.fault.ManagedObjectNotFound:
            return None
        return None if host is None else self._host_label(host)

    def host_limit(self, host: str) -> int:
        """maxCostPerHost / costPerVmotion from vpxd's advanced settings when set, else 8."""
        values = {}
        for key in (_MAX_COST_KEY, _VMOTION_COST_KEY):
            try:
                for opt in self.content.setting.QueryOptions(key):
                    if opt.key == key:
                        values[key] = int(opt.value)
            except (vmodl.MethodFault, ValueError, TypeError):
                continue
        if _MAX_COST_KEY in values:
            cost = values.get(_VMOTION_COST_KEY, 1) or 1
            return max(1, values[_MAX_COST_KEY] // cost)
        return DEFAULT_HOST_LIMIT

    def provider_of(self, host: str) -> str:
        """The VASA provider URL of the host's first vVol datastore, else ``"unknown"``."""
        h = self._find_host(host)
        for ds in h.datastore or []:
            try:
                info = ds.info
            except vmodl.MethodFault:
                continue
            vvol = getattr(info, "vvolDS", None)
            if vvol is None:
                continue
            for pair in getattr(vvol, "vasaProviderInfo", None) or []:
                provider = getattr(pair, "provider", None)
                url = getattr(provider, "url", None)
                if url:
                    return str(url)
            arrays = getattr(vvol, "storageArray", None) or []
            if arrays:
                return f"array:{arrays[0].uuid or arrays[0].name}"
        return "unknown"

    def log_sources(self, hosts: Sequence[str]) -> list[LogSource]:
        return []  # the CLI adds local or SSH tails of vvold.log from its own options

    def enter_maintenance(self, host: str) -> None:
        h = self._find_host(host)
        task = h.EnterMaintenanceMode_Task(timeout=0, evacuatePoweredOffVms=False)
        info = self._wait(task, None)
        assert info is not None
        if info.state == vim.TaskInfo.State.error:
            raise VSphereError(f"{h.name} did not enter maintenance mode: {_fault_message(info.error)}")

    def close(self) -> None:
        if self._owns and self.si is not None:
            try:
                Disconnect(self.si)
            except Exception as exc:  # logging out of a dead session must not mask the result
                log.debug("disconnect failed: %s", type(exc).__name__)
        self.si = None

    # -- helpers ------------------------------------------------------------------------------

    def _wait(self, task: Any, timeout: float | None) -> Any:
        """Wait for a short task (a check, maintenance mode); ``None`` on timeout. Wall time on
        purpose: this backend only ever talks to a real (or simulated) vCenter."""
        start = time.monotonic()
        delay = 0.05
        while True:
            info = task.info
            if info.state in (vim.TaskInfo.State.success, vim.TaskInfo.State.error):
                return info
            if timeout is not None and time.monotonic() - start > timeout:
                return None
            time.sleep(delay)
            delay = min(delay * 2, 2.0)
