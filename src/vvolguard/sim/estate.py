"""``simulate estate``: weeks of a whole vVol estate, as a central syslog server keeps it.

Why: ``vvolguard fleet`` answers estate questions (which providers run near their ceiling, what
concurrency each has sustained, which certificates expire next) from months of logs of hundreds
of hosts. Its tests and benchmark need such an estate with a known answer, so this module
writes one, with ``estate-truth.json`` saying what was planted.

How, reusing the incident simulator rather than writing a second one:

* The eventful windows run in the SimPy model (:func:`vvolguard.sim.world.build_world`): each
  provider's nightly patch waves (hosts of one cluster drained one after another at different
  concurrencies, one of them put in maintenance mode: every VM at once, as DRS does), a provider
  service restart (every host of that provider loses its sessions for a few minutes), and an
  admin's migrations towards a host that lacks the Protocol Endpoint. Each window is a small
  world of the hosts involved; its records are renamed onto the estate's hosts.
* The calm between windows (getEvents every 10 s per host, the nightly backup burst of snapshot
  calls, hostd/vmkernel routine lines) is written straight from the evidence builders of
  :mod:`vvolguard.sim.evidence`: simulating 200 idle hosts for days in SimPy would cost minutes
  and show nothing a formula cannot.
* Every line is written as an ESXi 7 host forwards it to syslog (``<time> <host> Vvold: info
  vvold[pid] ...``, docs/evidence-formats.md §8), one folder per host, rotated daily with
  logrotate's ``dateext``: ``<host>/vvold.log-20260301.gz`` … and the live ``<host>/vvold.log``.
  Each host folder also holds the vVol ``esxcli`` outputs a nightly inventory script collects
  (``commands/``, ``json/``), which is how a missing PE shows. ``vcenter/`` has the estate's task
  and event exports and ``Get-VasaProvider``; ``certs/`` each provider's certificate.

Hosts are written one after another, each as a stream of merged record iterators straight into
gzip, so memory holds one host's eventful windows, not the estate.

Ground truth (``estate-truth.json``): the incidents with the class ``diagnose`` uses, on the
host where the simulator saw them (a host whose migrations or VASA calls failed in a window, or
the one certificate near expiry, provider-wide, ``host`` null), the quiet hosts (in no window at
all), the quiet days, each wave's concurrency and pressure per host, and per provider what it
sustained in these waves and the knee ``simulate sweep`` finds for it.
"""

from __future__ import annotations

import gzip
import heapq
import json
import random
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import simpy

from vvolguard.sim.evidence import certs, esxcli, hostlogs, vcenter
from vvolguard.sim.evidence.hostlogs import HostdRecord, VmkernelRecord, format_hostd, format_vmkernel
from vvolguard.sim.evidence.vvold import Shape, VvoldRecord, format_record, msg_final_success, msg_issue
from vvolguard.sim.output import GROUND_TRUTH_KEY, task_rows
from vvolguard.sim.profiles import ProviderProfile, get_profile
from vvolguard.sim.scenarios import Plan, _maintenance
from vvolguard.sim.world import DOMAIN, World, build_world, evacuate, submit_migration

ESTATE_T0 = datetime(2026, 3, 1, tzinfo=UTC)
TRUTH_FILE = "estate-truth.json"
TRUTH_KEY = "vvolguard_estate_truth"
SHAPE: Shape = "esxi7"  # the forwarded shape of docs/evidence-formats.md §8 (plaso's verbatim example)
#: Hosts per cluster: a patch wave drains the hosts of one cluster onto the others.
CLUSTER_SIZE = 6
#: Concurrencies the nightly drains use, one per drained host, lowest first: history that shows
#: where each provider's pressure begins.
WAVE_CONCURRENCY = (1, 2, 3, 4, 6)
#: VMs on each host a wave drains (more than any drain runs at once, fewer than maintenance
#: mode's 8 admitted per host would hide).
DRAINED_VMS = 10
#: Every third day nothing but polling and backups happens (a change freeze).
QUIET_DAY_EVERY = 3
POLL_S = 10.0
BACKUP_HOUR = 1
PATCH_HOUR = 21
#: The provider profiles of the estate's providers, in turn.
PROFILE_CYCLE = ("midrange", "entry", "enterprise")
VENDORS = ("pure", "nimble", "pstore", "unity", "hpe", "ibm")


@dataclass
class EstateHost:
    name: str
    index: int
    provider: int
    cluster: int
    moref: str
    vvold_pid: int
    hostd_pid: int
    vmkernel_world: int
    #: (start, end) epoch seconds of the windows this host spent in a simulated world
    windows: list[tuple[float, float]] = field(default_factory=list)
    vvold: list[VvoldRecord] = field(default_factory=list)
    hostd: list[HostdRecord] = field(default_factory=list)
    vmkernel: list[VmkernelRecord] = field(default_factory=list)
    pe_missing: bool = False


@dataclass
class Estate:
    """The plan and everything the windows produced, before it is written."""

    hosts: list[EstateHost]
    providers: list[ProviderProfile]
    start: datetime
    days: int
    seed: int
    tasks: list[vcenter.TaskRow] = field(default_factory=list)
    incidents: list[dict[str, Any]] = field(default_factory=list)
    waves: list[dict[str, Any]] = field(default_factory=list)
    near_expiry: int = 1  # index of the provider whose certificate expires soon
    cert_days_left: int = 12
    poll_s: float = POLL_S

    @property
    def end(self) -> datetime:
        return self.start + timedelta(days=self.days)

    def hosts_of(self, provider: int) -> list[EstateHost]:
        return [h for h in self.hosts if h.provider == provider]


def provider_profiles(count: int, rng: random.Random) -> list[ProviderProfile]:
    """``count`` providers, profiles in turn from :data:`PROFILE_CYCLE`, each its own identity."""
    out = []
    for k in range(count):
        base = get_profile(PROFILE_CYCLE[k % len(PROFILE_CYCLE)])
        vendor = VENDORS[k % len(VENDORS)]
        name = f"{vendor}-vp{k + 1}"
        h = f"{rng.getrandbits(128):032x}"
        out.append(
            base.variant(
                name=f"{base.name}-{k + 1}",
                vp_name=name,
                vp_host=f"{name}.{DOMAIN}",
                vp_ip=f"10.21.{88 + k}.113",
                array_id=f"com.example.{vendor}:{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}",
                container_name=f"vVol_DS{k + 1}",
                container_uuid=f"vvol:{h[:16]}-{h[16:]}",
                container_vvold=f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}",
                pe_id=f"naa.624a9370{rng.getrandbits(96):024x}",
            )
        )
    return out


def plan_estate(
    hosts: int, days: int, seed: int, start: datetime = ESTATE_T0, poll_s: float = POLL_S
) -> Estate:
    if hosts < 8:
        raise ValueError("an estate needs at least 8 hosts (two providers of one cluster each)")
    if days < 1:
        raise ValueError("an estate needs at least one day")
    rng = random.Random(seed)
    # three providers or more once there are hosts for them: the restart and the expiring
    # certificate hit the second, so the third keeps hosts that nothing happens to (quiet hosts)
    count = max(3 if hosts >= 18 else 2, min(len(VENDORS), hosts // 40 + 2))
    providers = [p.variant(name=p.name, poll_interval_s=poll_s) for p in provider_profiles(count, rng)]
    per = hosts // count
    estate_hosts = []
    for i in range(hosts):
        provider = min(i // per, count - 1)
        within = i - provider * per
        estate_hosts.append(
            EstateHost(
                name=f"esx{i + 1:03d}.{DOMAIN}",
                index=i,
                provider=provider,
                cluster=within // CLUSTER_SIZE,
                moref=f"host-{10 + i * 3}",
                vvold_pid=2_099_000 + rng.randint(0, 9999),
                hostd_pid=2_101_000 + rng.randint(0, 9999),
                vmkernel_world=2_097_000 + rng.randint(0, 5000),
            )
        )
    return Estate(estate_hosts, providers, start, days, seed, near_expiry=1 % count, poll_s=poll_s)


# -- eventful windows, in the SimPy model ------------------------------------------------------


def _run_window(
    estate: Estate,
    provider: int,
    members: list[EstateHost],
    at: datetime,
    seed: int,
    vms: int,
    setup: Callable[[World], simpy.Process],
    placement: list[int] | None = None,
    before: Callable[[World], None] | None = None,
    calm_after_s: float = 300.0,
) -> World:
    """Run one window with ``members`` as the world's hosts; their records join the estate's."""
    env = simpy.Environment()
    world = build_world(
        env,
        estate.providers[provider],
        hosts=len(members),
        vms=vms,
        seed=seed,
        esxi=7,
        t0=at,
        placement=placement,
    )
    if before is not None:
        before(world)
    workload = setup(world)
    env.run(until=workload)
    env.run(until=env.now + calm_after_s)
    names = dict(zip(world.hosts, (m.name for m in members), strict=True))
    span = (at.timestamp(), at.timestamp() + env.now)
    for sim_host, member in zip(world.hosts, members, strict=True):
        member.windows.append(span)
        member.vvold.extend(world.vvolds[sim_host].records)
        member.hostd.extend(world.hostd.get(sim_host, []))
        member.vmkernel.extend(world.vmkernel.get(sim_host, []))
    for row in task_rows(world):
        number = len(estate.tasks)
        estate.tasks.append(
            replace(
                row,
                task_id=f"task-{number + 5001}",
                vm=f"{names[row.source].split('.')[0]}-{row.vm}",
                source=names[row.source],
                dest=names[row.dest],
                chain_id=number + 9001,
            )
        )
    return world


def _pressure(world: World, sim_host: str) -> dict[str, int]:
    p = world.pressure(sim_host)
    return {
        "busy": p.busy_faults,
        "no_free_conn": p.conn_waits,
        "timeouts": p.timeouts,
        "failures": p.failures,
    }


def _window_truth(
    estate: Estate,
    world: World,
    members: list[EstateHost],
    provider: int,
    cls: str,
    failed_hosts: set[str],
) -> None:
    """An incident on every member whose VASA calls failed (or that ``failed_hosts`` names)."""
    start = world.t0
    end = world.ts()
    for sim_host, member in zip(world.hosts, members, strict=True):
        if world.pressure(sim_host).failures > 0 or member.name in failed_hosts:
            estate.incidents.append(
                {
                    "host": member.name,
                    "provider": estate.providers[provider].vp_name,
                    "class": cls,
                    "start": _iso(start),
                    "end": _iso(end),
                }
            )


def _patch_wave(estate: Estate, provider: int, cluster: list[EstateHost], day: int, seed: int) -> None:
    """Drain the first hosts of ``cluster`` one after another, each at a higher concurrency;
    the last one enters maintenance mode (every VM at once, vCenter admitting 8 per host)."""
    steps: list[int | None] = [*WAVE_CONCURRENCY[: max(1, len(cluster) - 1)]]
    if day % 2 == 0 or provider == 0:
        steps[-1] = None  # maintenance mode: the planted saturation
    at = estate.start + timedelta(days=day, hours=PATCH_HOUR, minutes=7 * provider)
    record: dict[str, Any] = {"provider": estate.providers[provider].vp_name, "day": day, "drains": []}

    def setup(world: World) -> simpy.Process:
        def body() -> Generator[Any, Any, None]:
            yield world.env.timeout(300)
            for i, concurrency in enumerate(steps):
                host = world.hosts[i]
                before = _pressure(world, host)
                started = world.ts()
                if concurrency is None:
                    plan = Plan("saturation", None, "provider-saturation")
                    yield world.env.process(_maintenance(world, plan, host)())
                else:
                    yield evacuate(
                        world, host, concurrency=concurrency, description_id="VirtualMachine.relocate"
                    )
                after = _pressure(world, host)
                mine = [t for t in world.tasks() if t.source == host and t.started_at is not None]
                record["drains"].append(
                    {
                        "host": cluster[i].name,
                        "concurrency": _peak_in_flight(mine),
                        "maintenance_mode": concurrency is None,
                        "start": _iso(started),
                        "end": _iso(world.ts()),
                        "pressure": {k: after[k] - before[k] for k in after},
                    }
                )
                yield world.env.timeout(600)

        return world.env.process(body())

    # each drained host carries more VMs than any drain runs at once; the others receive them
    placement = [i for i in range(len(steps)) for _ in range(DRAINED_VMS)] + list(
        range(len(steps), len(cluster))
    )
    world = _run_window(estate, provider, cluster, at, seed, len(placement), setup, placement=placement)
    _window_truth(estate, world, cluster, provider, "provider-saturation", set())
    estate.waves.append(record)


def _peak_in_flight(tasks: list[Any]) -> int:
    """The most of ``tasks`` running at once (one that ends as another starts is no overlap)."""
    edges: dict[float, int] = {}
    for t in tasks:
        edges[t.started_at] = edges.get(t.started_at, 0) + 1
        end = t.finished_at if t.finished_at is not None else t.started_at
        edges[end] = edges.get(end, 0) - 1
    level = peak = 0
    for when in sorted(edges):
        level += edges[when]
        peak = max(peak, level)
    return peak


def _provider_restart(estate: Estate, provider: int, day: int, seed: int) -> None:
    """The provider service restarts: down for four minutes, every host's sessions fail."""
    members = estate.hosts_of(provider)
    at = estate.start + timedelta(days=day, hours=14)
    down_s, up_s = 600.0, 840.0

    def setup(world: World) -> simpy.Process:
        def body() -> Generator[Any, Any, None]:
            yield world.env.timeout(down_s)
            world.provider.state = "offline"
            yield world.env.timeout(up_s - down_s)
            world.provider.state = "online"
            yield world.env.timeout(600)

        return world.env.process(body())

    world = _run_window(estate, provider, members, at, seed, len(members), setup, calm_after_s=60)
    everyone = {m.name for m in members}
    _window_truth(estate, world, members, provider, "provider-registration", everyone)
    for incident in estate.incidents[-len(members) :]:
        incident["start"] = _iso(at + timedelta(seconds=down_s))
        incident["end"] = _iso(at + timedelta(seconds=up_s + 120))


def _pe_missing(estate: Estate, provider: int, day: int, seed: int) -> int:
    """An admin moves six VMs, two at a time, across a cluster whose last host lacks the PE."""
    clusters = sorted({h.cluster for h in estate.hosts_of(provider)})
    cluster_id = clusters[1] if len(clusters) > 1 else clusters[0]
    members = [h for h in estate.hosts_of(provider) if h.cluster == cluster_id][:4]
    bad = members[-1]
    bad.pe_missing = True
    at = estate.start + timedelta(days=day, hours=11)

    def before(world: World) -> None:
        world.host_info[world.hosts[-1]].pe_visible = False

    def setup(world: World) -> simpy.Process:
        src = world.hosts[0]
        dests = world.hosts[1:]
        vms = sorted(world.vms_on(src), key=lambda v: v.index)[:6]

        def body() -> Generator[Any, Any, None]:
            yield world.env.timeout(300)
            for pair in range(0, len(vms), 2):
                tasks = [
                    submit_migration(
                        world, vm, dests[(pair + j) % len(dests)], description_id="VirtualMachine.relocate"
                    )
                    for j, vm in enumerate(vms[pair : pair + 2])
                ]
                yield world.env.all_of([t.process for t in tasks])

        return world.env.process(body())

    world = _run_window(estate, provider, members, at, seed, 4 * len(members), setup, before=before)
    _window_truth(estate, world, members, provider, "pe-presentation", {bad.name})
    # only the host without the PE is the incident; the others merely sent VMs towards it
    estate.incidents[:] = [
        i for i in estate.incidents if not (i["class"] == "pe-presentation" and i["host"] != bad.name)
    ]
    return cluster_id


def simulate_windows(estate: Estate) -> None:
    """Run every eventful window of the estate's plan (order fixed, so a seed gives one estate)."""
    rng = random.Random(estate.seed * 7919 + 1)
    active_days = [d for d in range(estate.days) if d % QUIET_DAY_EVERY != QUIET_DAY_EVERY - 1]
    first = active_days[0] if active_days else 0
    pe_cluster = _pe_missing(estate, 0, first, rng.randrange(1 << 30))
    for day in active_days:
        for provider in range(len(estate.providers)):
            # the cluster with the PE problem is left out of the patch waves: its failures there
            # would be the PE's, not the provider's
            clusters = [
                c
                for c in sorted({h.cluster for h in estate.hosts_of(provider)})
                if (provider, c) != (0, pe_cluster)
            ]
            if not clusters:
                continue
            cluster_id = clusters[(day // QUIET_DAY_EVERY * 2 + day) % len(clusters)]
            cluster = [h for h in estate.hosts_of(provider) if h.cluster == cluster_id]
            if len(cluster) >= 3:
                _patch_wave(estate, provider, cluster, day, rng.randrange(1 << 30))
    restart = 1 % len(estate.providers)
    _provider_restart(estate, restart, active_days[-1] if active_days else 0, rng.randrange(1 << 30))


# -- the calm, written straight from the evidence builders -------------------------------------


def _ts(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _outside(windows: list[tuple[float, float]]) -> Callable[[float], bool]:
    ordered = sorted(windows)

    def ok(t: float) -> bool:
        return not any(s <= t <= e for s, e in ordered)

    return ok


def quiet_vvold(estate: Estate, host: EstateHost, rng: random.Random) -> Iterator[VvoldRecord]:
    """getEvents every 10 s outside the simulated windows (those have their own pollers)."""
    prof = estate.providers[host.provider]
    ceiling = prof.session_connections
    service = prof.service_time("getEvents")
    ok = _outside(host.windows)
    t = estate.start.timestamp() + rng.uniform(0, estate.poll_s)
    end = estate.end.timestamp()
    opseq = rng.randint(10_000, 90_000)
    while t < end:
        if ok(t):
            opseq += 1
            ms = max(1, int(service.sample(rng) * 1000))
            yield VvoldRecord(
                _ts(t), "info", msg_issue(opseq, "getEvents", prof.vp_name, 0, ceiling), opid="EventPoller"
            )
            yield VvoldRecord(
                _ts(t + ms / 1000),
                "info",
                msg_final_success(opseq, "getEvents", prof.vp_name, prof.container_vvold, ms, 0),
                opid="EventPoller",
            )
        t += estate.poll_s


def backup_burst(estate: Estate, host: EstateHost, rng: random.Random) -> list[VvoldRecord]:
    """Each night's VADP backups: snapshot calls, one at a time, well inside what any provider
    sustains (volume and routine latency; never pressure)."""
    prof = estate.providers[host.provider]
    service = prof.service_time("snapshotVirtualVolume")
    out: list[VvoldRecord] = []
    opseq = rng.randint(100_000, 900_000)
    for day in range(estate.days):
        t = (estate.start + timedelta(days=day, hours=BACKUP_HOUR)).timestamp() + rng.uniform(0, 900)
        for _ in range(rng.randint(10, 30)):
            opseq += 1
            ms = max(1, int(service.sample(rng) * 1000))
            op = "snapshotVirtualVolume"
            issue = msg_issue(opseq, op, prof.vp_name, 1, prof.session_connections)
            done = msg_final_success(opseq, op, prof.vp_name, prof.container_vvold, ms, 0)
            out.append(VvoldRecord(_ts(t), "info", issue, opid=f"backup-{opseq:x}"))
            out.append(VvoldRecord(_ts(t + ms / 1000), "info", done, opid=f"backup-{opseq:x}"))
            t += ms / 1000 + rng.uniform(20, 90)
    return out


def routine_host_lines(
    estate: Estate, host: EstateHost, rng: random.Random
) -> tuple[Iterator[HostdRecord], Iterator[VmkernelRecord]]:
    """hostd's catalog sync tasks and vmkernel's NMP throttling notes, all along."""
    prof = estate.providers[host.provider]
    start, end = estate.start.timestamp(), estate.end.timestamp()
    hrng = random.Random(rng.random())
    krng = random.Random(rng.random())

    def hostd() -> Iterator[HostdRecord]:
        t = start + hrng.uniform(0, 300)
        number = hrng.randint(100_000_000, 900_000_000)
        while t < end:
            opid = f"sps-Main-{hrng.randint(100000, 999999)}-{hrng.randint(10, 99)}"
            number += hrng.randint(1, 50)
            yield hostlogs.catalog_sync_task(_ts(t), number, opid, completed=False)
            yield hostlogs.catalog_sync_task(_ts(t + hrng.uniform(0.01, 0.4)), number, opid, True)
            t += hrng.uniform(240, 360)

    def kernel() -> Iterator[VmkernelRecord]:
        t = start + krng.uniform(0, 400)
        while t < end:
            yield hostlogs.nmp_throttle(_ts(t), krng.randrange(32), host.vmkernel_world, prof.pe_id)
            t += krng.uniform(300, 900)

    return hostd(), kernel()


# -- writing ---------------------------------------------------------------------------------


class DailyLog:
    """One host's log as logrotate keeps it on a syslog server: ``<name>-YYYYMMDD.gz`` per past
    day (gzip mtime fixed, so a seed gives the same bytes) and the live ``<name>``."""

    def __init__(self, folder: Path, name: str, last_day: datetime) -> None:
        self.folder = folder
        self.name = name
        self.last_day = last_day.date()
        self._day: Any = None
        self._out: Any = None
        self._pending: list[str] = []
        self.bytes = 0

    def write(self, ts: datetime, text: str) -> None:
        day = ts.date()
        if day != self._day:
            self._switch(day)
        self._pending.append(text)
        if len(self._pending) >= 2000:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            data = "".join(self._pending).encode()
            self._pending = []
            self.bytes += len(data)
            self._out.write(data)

    def _switch(self, day: Any) -> None:
        self.close()
        self._day = day
        if day >= self.last_day:
            self._out = open(self.folder / self.name, "ab")  # noqa: SIM115 (closed in close())
        else:
            rotated = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1)
            path = self.folder / f"{self.name}-{day:%Y%m%d}.gz"
            self._out = gzip.GzipFile(path, "ab", compresslevel=1, mtime=int(rotated.timestamp()))

    def close(self) -> None:
        if self._out is not None:
            self._flush()
            self._out.close()
            self._out = None


def forwarded(text: str, host: str, tag: str) -> str:
    """An ESXi 7 log record (first line stamped, ``-->`` lines after it) as the syslog server
    stores it: the sending host and the ``App:`` tag after the time (§8)."""
    cut = text.index(" ")
    return f"{text[:cut]} {host} {tag}:{text[cut:]}"


def write_host(estate: Estate, host: EstateHost, out: Path) -> int:
    """Write one host's folder; returns the bytes of log text written."""
    folder = out / host.name
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(f"{estate.seed}:{host.name}")
    last = estate.end - timedelta(seconds=1)
    written = 0
    vvold = DailyLog(folder, "vvold.log", last)
    records = heapq.merge(
        quiet_vvold(estate, host, rng),
        backup_burst(estate, host, rng),
        sorted(host.vvold, key=lambda r: r.ts),
        key=lambda r: r.ts,
    )
    for rec in records:
        vvold.write(rec.ts, forwarded(format_record(SHAPE, rec, host.vvold_pid), host.name, "Vvold"))
    vvold.close()
    written += vvold.bytes
    routine_hostd, routine_kernel = routine_host_lines(estate, host, rng)
    hostd = DailyLog(folder, "hostd.log", last)
    for hrec in heapq.merge(routine_hostd, sorted(host.hostd, key=lambda r: r.ts), key=lambda r: r.ts):
        hostd.write(hrec.ts, forwarded(format_hostd(SHAPE, hrec, host.hostd_pid), host.name, "Hostd"))
    hostd.close()
    kernel = DailyLog(folder, "vmkernel.log", last)
    for krec in heapq.merge(routine_kernel, sorted(host.vmkernel, key=lambda r: r.ts), key=lambda r: r.ts):
        kernel.write(krec.ts, forwarded(format_vmkernel(SHAPE, krec), host.name, "vmkernel"))
    kernel.close()
    written += hostd.bytes + kernel.bytes
    prof = estate.providers[host.provider]
    for rel, data in esxcli.host_command_files(host.name, *_esxcli_rows(prof, host)).items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    # the windows' records are written: drop them so memory holds one host at a time
    host.vvold, host.hostd, host.vmkernel = [], [], []
    return written


def _esxcli_rows(
    prof: ProviderProfile, host: EstateHost
) -> tuple[list[esxcli.VasaProviderRow], list[esxcli.StorageContainerRow], list[esxcli.ProtocolEndpointRow]]:
    providers = [
        esxcli.VasaProviderRow(prof.vp_name, prof.url, "online", (esxcli.ArrayRow(prof.array_id, True, 200),))
    ]
    containers = [
        esxcli.StorageContainerRow(
            prof.container_name, prof.container_uuid, prof.array_id, accessible=not host.pe_missing
        )
    ]
    endpoints = (
        []
        if host.pe_missing
        else [
            esxcli.ProtocolEndpointRow(
                prof.pe_id, prof.array_id, (prof.container_uuid,), accessible=True, configured=True
            )
        ]
    )
    return providers, containers, endpoints


def write_vcenter(estate: Estate, out: Path) -> None:
    rows = sorted(estate.tasks, key=lambda r: r.queued)
    vc = out / "vcenter"
    vc.mkdir(parents=True, exist_ok=True)
    (vc / "get-task.json").write_text(vcenter.get_task_json(rows), encoding="utf-8")
    morefs = {h.name: h.moref for h in estate.hosts}
    (vc / "get-vievent.json").write_text(vcenter.get_vievent_json(rows, morefs), encoding="utf-8")
    cert_dir = out / "certs"
    cert_dir.mkdir(exist_ok=True)
    exports = []
    for k, prof in enumerate(estate.providers):
        if k == estate.near_expiry:
            not_after = estate.end + timedelta(days=estate.cert_days_left)
            pem = certs.provider_certificate(
                "near-expiry", prof.vp_host, prof.vp_ip, estate.end, estate.seed + k, not_after=not_after
            )
            status = "expirySoftLimitReached"
        else:
            pem = certs.provider_certificate("valid", prof.vp_host, prof.vp_ip, estate.end, estate.seed + k)
            status = "valid"
        (cert_dir / f"{prof.vp_host}.pem").write_bytes(pem)
        from cryptography import x509

        expiry = x509.load_pem_x509_certificate(pem).not_valid_after_utc
        exports.append(
            vcenter.VasaProviderExport(
                name=prof.vp_name,
                url=prof.url,
                status="online",
                provider_id=f"{prof.array_id}:vp",
                last_sync=estate.end - timedelta(minutes=5),
                certificate_expiry=expiry,
                certificate_status=status,
                version=prof.vp_version,
                array_id=prof.array_id,
            )
        )
    (vc / "get-vasaprovider.json").write_text(vcenter.get_vasaprovider_json(exports), encoding="utf-8")


def provider_truth(estate: Estate, knee: Callable[[ProviderProfile], int | None]) -> list[dict[str, Any]]:
    """Per provider: its hosts, its model, what the waves show it sustained, the sweep's knee."""
    out = []
    for k, prof in enumerate(estate.providers):
        drains = [d for w in estate.waves if w["provider"] == prof.vp_name for d in w["drains"]]
        # pressure as vvold logs it on the drained host: waits, busy answers, timeouts
        felt = [d for d in drains if any(d["pressure"][k] for k in ("busy", "no_free_conn", "timeouts"))]
        calm = [d["concurrency"] for d in drains if d not in felt]
        pressured = [d["concurrency"] for d in felt]
        out.append(
            {
                "name": prof.vp_name,
                "profile": prof.name.rsplit("-", 1)[0],
                "url": prof.url,
                "hosts": [h.name for h in estate.hosts_of(k)],
                "concurrency": prof.concurrency,
                "queue_bound": prof.queue_bound,
                "session_connections": prof.session_connections,
                "sustained_in_waves": max(calm, default=None),
                "pressure_from_in_waves": min(pressured, default=None),
                "sweep_knee": knee(prof),
            }
        )
    return out


def sweep_knee(prof: ProviderProfile) -> int | None:
    """The knee ``simulate sweep`` finds for ``prof`` (concurrency 1-8, two seeds)."""
    from vvolguard.sim.sweep import sweep

    return sweep(prof, concurrency=range(1, 9), seeds=(1, 2), hosts=4, vms_per_host=12).knee


@dataclass
class EstateResult:
    out: Path
    hosts: int
    days: int
    bytes_written: int
    truth: dict[str, Any]


def simulate_estate(
    out: str | Path,
    hosts: int = 24,
    days: int = 3,
    seed: int = 1,
    start: datetime = ESTATE_T0,
    with_knee: bool = True,
    on_host: Callable[[str], None] | None = None,
    poll_s: float = POLL_S,
) -> EstateResult:
    """Write an estate of ``hosts`` hosts over ``days`` days under ``out`` (see module doc).
    ``with_knee=False`` skips the sweep per provider (``sweep_knee`` null in the truth).
    ``poll_s``: vvold's getEvents interval (10 s as on ESXi; tests use longer ones to write less)."""
    out_path = Path(out)
    out_path.mkdir(parents=True, exist_ok=True)
    estate = plan_estate(hosts, days, seed, start, poll_s)
    simulate_windows(estate)
    written = 0
    for host in estate.hosts:
        written += write_host(estate, host, out_path)
        if on_host is not None:
            on_host(host.name)
    write_vcenter(estate, out_path)
    prof = estate.providers[estate.near_expiry]
    not_after = estate.end + timedelta(days=estate.cert_days_left)
    incidents = sorted(estate.incidents, key=lambda i: (i["start"], i["host"] or ""))
    incidents.append(
        {
            "host": None,
            "provider": prof.vp_name,
            "class": "certificate-lifecycle",
            "start": _iso(estate.end),
            "end": _iso(not_after),
            "not_after": _iso(not_after),
        }
    )
    involved = {h.name for h in estate.hosts if h.windows}
    truth = {
        # the simulator's answer-key mark: diagnose and fleet recognise the file and never use it
        GROUND_TRUTH_KEY: 1,
        "scenario": "estate",
        "expected_class": "estate",
        TRUTH_KEY: 1,
        "seed": seed,
        "start": _iso(estate.start),
        "end": _iso(estate.end),
        "days": days,
        "hosts": [h.name for h in estate.hosts],
        "providers": provider_truth(estate, sweep_knee if with_knee else lambda _p: None),
        "incidents": incidents,
        "quiet_hosts": [h.name for h in estate.hosts if h.name not in involved],
        "quiet_days": [
            (estate.start + timedelta(days=d)).date().isoformat()
            for d in range(days)
            if d % QUIET_DAY_EVERY == QUIET_DAY_EVERY - 1
        ],
        "waves": estate.waves,
        "log_bytes": written,
    }
    (out_path / TRUTH_FILE).write_text(json.dumps(truth, indent=2) + "\n", encoding="utf-8")
    return EstateResult(out_path, hosts, days, written, truth)


def _iso(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat().replace("+00:00", "Z")


def iter_truth_incidents(truth: dict[str, Any]) -> Iterable[dict[str, Any]]:
    return truth.get("incidents", [])
