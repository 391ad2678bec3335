"""The drain backend on the SimPy simulator (``vvolguard.sim``): a vCenter that lives in a file.

Why a file: the drain's promise is "kill -9 at any point, rerun, no VM migrated twice". A real
vCenter keeps its inventory and tasks while our process dies; to test that for real, the
simulated vCenter must outlive the process too. So the world's durable state (where each VM is,
every task and its outcome, every relocation that happened, the virtual clock) is kept in a
SQLite file, written *before* the call that creates it returns, exactly as vCenter has a task id
before ``RelocateVM_Task`` returns. The SimPy world itself (provider queues, vvold sessions) is
rebuilt from the same seed when a new process opens the file; tasks that were still running when
the previous process died are restarted by the world (vCenter keeps running them), and finish
once. ``relocations`` is the simulator's own record that the kill test checks.

With ``path=None`` everything stays in memory (the benchmark: hundreds of drains per second).

Time: :class:`SimClock` advances SimPy's virtual clock in ``sleep`` and wakes early when a task
finishes, so the controller's decisions happen at the instants a real one would see.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import simpy

from vvolguard.drain.backends.base import LogSource, RelocateState, TaskOutcome, VmRef
from vvolguard.drain.backends.sim_profiles import resolve_profile
from vvolguard.sim import build_world
from vvolguard.sim.migration import run_migration
from vvolguard.sim.vcenter import Task
from vvolguard.sim.world import World

CLUSTER = "cluster01"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS inventory (vm_id TEXT PRIMARY KEY, host TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS hosts (name TEXT PRIMARY KEY, maintenance INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS tasks (
    task_id TEXT PRIMARY KEY, vm_id TEXT NOT NULL, source TEXT NOT NULL, dest TEXT NOT NULL,
    state TEXT NOT NULL, error TEXT, fault TEXT, submitted_at REAL NOT NULL, finished_at REAL
);
CREATE TABLE IF NOT EXISTS relocations (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, vm_id TEXT NOT NULL, task_id TEXT NOT NULL,
    src TEXT NOT NULL, dst TEXT NOT NULL, at REAL NOT NULL
);
"""


class SimClock:
    """Virtual seconds. ``sleep`` runs the world forward, returning early when a task ends."""

    def __init__(self, env: simpy.Environment, on_sleep: Any = None, speed: float = 0.0) -> None:
        self.env = env
        self._wake = env.event()
        self._on_sleep = on_sleep
        #: Virtual seconds per wall second; 0 = as fast as possible. A demo at ``speed=60``
        #: shows an hour-long drain in a minute; tests use it to kill a drain mid-run.
        self.speed = speed

    def now(self) -> float:
        return float(self.env.now)

    def wake(self) -> None:
        if not self._wake.triggered:
            self._wake.succeed()

    def sleep(self, seconds: float) -> None:
        if self._wake.triggered:
            self._wake = self.env.event()
        before = self.env.now
        until = self.env.any_of([self.env.timeout(max(seconds, 1e-6)), self._wake])
        self.env.run(until=until)
        if self.speed > 0:
            time.sleep((self.env.now - before) / self.speed)
        if self._on_sleep is not None:
            self._on_sleep()


class SimulatedBackend:
    """A :class:`~vvolguard.drain.backends.base.Backend` on a simulated world."""

    def __init__(
        self,
        world: World,
        db: sqlite3.Connection,
        *,
        endpoint: str,
        persist_clock: bool,
        problems: dict[str, str] | None = None,
        speed: float = 0.0,
        api_latency: float = 0.0,
    ) -> None:
        self.world = world
        self.env = world.env
        self.db = db
        self.endpoint = endpoint
        self.clock = SimClock(self.env, self._save_clock if persist_clock else None, speed)
        self.problems = dict(problems or {})
        #: Wall seconds ``submit_relocate`` takes to return after vCenter created the task (a
        #: real RelocateVM_Task round trip); widens the window a crash test aims at.
        self.api_latency = api_latency
        self._tails: dict[str, LogSource] = {}

    # -- opening -----------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        path: Path | str | None,
        *,
        profile: str = "midrange",
        vms: int = 24,
        hosts: int = 4,
        seed: int = 1,
        esxi: int = 8,
        problems: dict[str, str] | None = None,
        speed: float = 0.0,
        api_latency: float = 0.0,
    ) -> SimulatedBackend:
        """Open the world in ``path`` (created on first use with these parameters; later opens
        keep the parameters stored in the file) or an in-memory world if ``path`` is None."""
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(str(path) if path is not None else ":memory:", isolation_level=None)
        if path is not None:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")  # survives kill -9 (not power loss): enough here
        db.executescript(_SCHEMA)
        meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
        if not meta:
            meta = {
                "profile": profile,
                "source_index": "0",
                "vms": str(vms),
                "hosts": str(hosts),
                "seed": str(seed),
                "esxi": str(esxi),
                "clock": "0",
                "problems": json.dumps(problems or {}),
            }
            db.execute("BEGIN IMMEDIATE")
            db.executemany("INSERT INTO meta VALUES (?, ?)", list(meta.items()))
            db.execute("COMMIT")
            fresh = True
        else:
            fresh = False
        prof = resolve_profile(meta["profile"])
        env = simpy.Environment(initial_time=float(meta["clock"]))
        world = build_world(
            env,
            prof,
            hosts=int(meta["hosts"]),
            vms=int(meta["vms"]),
            seed=int(meta["seed"]),
            esxi=int(meta["esxi"]),
            placement=[int(meta["source_index"])],
        )
        backend = cls(
            world,
            db,
            endpoint=f"sim:{prof.name}",
            persist_clock=path is not None,
            problems=json.loads(meta.get("problems", "{}")),
            speed=speed,
            api_latency=api_latency,
        )
        if fresh:
            db.execute("BEGIN IMMEDIATE")
            db.executemany(
                "INSERT INTO inventory VALUES (?, ?)", [(vm.id, vm.host) for vm in world.vms.values()]
            )
            db.executemany("INSERT INTO hosts (name) VALUES (?)", [(h,) for h in world.hosts])
            db.execute("COMMIT")
        else:
            backend._restore()
        return backend

    def _restore(self) -> None:
        """Put the rebuilt world back where the file says it was, and let running tasks run."""
        for vm_id, host in self.db.execute("SELECT vm_id, host FROM inventory"):
            if vm_id in self.world.vms:
                self.world.vms[vm_id].host = host
        top = 0
        for (task_id,) in self.db.execute("SELECT task_id FROM tasks WHERE state != 'rejected'"):
            top = max(top, int(task_id.rsplit("-", 1)[1]))
        self.world.vcenter._next_task = max(self.world.vcenter._next_task, top)
        rows = self.db.execute(
            "SELECT task_id, vm_id, source, dest, state, error, fault, submitted_at, finished_at FROM tasks "
            "WHERE state != 'rejected'"
        ).fetchall()
        for task_id, vm_id, source, dest, state, error, fault, submitted, finished in rows:
            vm = self.world.vms[vm_id]
            task = Task(
                task_id=task_id,
                vm_id=vm_id,
                vm_name=vm.name,
                source=source,
                dest=dest,
                queued_at=submitted,
                opid=self.world.new_opid(),
                chain_id=0,
                state=state,
                error=error,
                fault=fault,
                finished_at=finished,
            )
            self.world.vcenter.tasks[task_id] = task
            if state in ("queued", "running"):
                task.state = "queued"
                self._start(task)

    # -- world helpers -----------------------------------------------------------------------

    def canonical_host(self, name: str) -> str:
        """``esx01``, ``esx-01`` or ``esx01.vvol.lab`` -> the world's name."""
        wanted = name.lower().replace("-", "")
        for h in self.world.hosts:
            if h.lower() == name.lower() or h.split(".")[0].replace("-", "") == wanted:
                return h
        raise LookupError(f"no host {name!r} in the simulated vCenter (hosts: {', '.join(self.world.hosts)})")

    def _start(self, task: Task) -> None:
        task.process = self.env.process(run_migration(self.world, task))
        self.env.process(self._watch(task))

    def _watch(self, task: Task) -> Any:
        yield task.process
        # One transaction: the task outcome and, on success, the move it made.
        self.db.execute("BEGIN IMMEDIATE")
        if task.state == "success":
            self.db.execute("UPDATE inventory SET host=? WHERE vm_id=?", (task.dest, task.vm_id))
            self.db.execute(
                "INSERT INTO relocations (vm_id, task_id, src, dst, at) VALUES (?,?,?,?,?)",
                (task.vm_id, task.task_id, task.source, task.dest, self.env.now),
            )
        self.db.execute(
            "UPDATE tasks SET state=?, error=?, fault=?, finished_at=? WHERE task_id=?",
            (task.state, task.error, task.fault, self.env.now, task.task_id),
        )
        self.db.execute("COMMIT")
        self.clock.wake()

    def _save_clock(self) -> None:
        self.db.execute("UPDATE meta SET value=? WHERE key='clock'", (repr(float(self.env.now)),))

    # -- Backend -----------------------------------------------------------------------------

    def list_vms(self, host: str) -> list[VmRef]:
        host = self.canonical_host(host)
        return [
            VmRef(id=vm.id, name=vm.name, host=host, datastores=(self.world.profile.container_name,))
            for vm in sorted(self.world.vms_on(host), key=lambda v: v.index)
        ]

    def resolve_targets(self, source: str, targets: Sequence[str]) -> list[str]:
        source = self.canonical_host(source)
        maint = {n for (n,) in self.db.execute("SELECT name FROM hosts WHERE maintenance=1")}
        if not targets:
            names = list(self.world.hosts)
        else:
            names = []
            for t in targets:
                if t.lower() == CLUSTER:
                    names.extend(self.world.hosts)
                else:
                    names.append(self.canonical_host(t))
        out: list[str] = []
        for n in names:
            if n != source and n not in maint and n not in out:
                out.append(n)
        return out

    def pick_destination(
        self, vm: VmRef, candidates: Sequence[str], planned: Mapping[str, int] | None = None
    ) -> str:
        """DRS-like: the candidate with the fewest VMs, counting moves in flight towards it
        (once: a VM already registered there while its task finishes is not counted twice) and,
        in a dry run, the moves ``planned`` there; ties by order."""
        counts = {h: (planned or {}).get(h, 0) for h in candidates}
        for v in self.world.vms.values():
            if v.host in counts:
                counts[v.host] += 1
        for task in self.world.vcenter.tasks.values():
            if not task.done and task.dest in counts and self.world.vms[task.vm_id].host != task.dest:
                counts[task.dest] += 1
        return min(candidates, key=lambda h: (counts[h], candidates.index(h)))

    def check_relocate(self, vm: VmRef, dest: str) -> list[str]:
        problems = []
        if vm.id in self.problems:
            problems.append(self.problems[vm.id])
        row = self.db.execute("SELECT maintenance FROM hosts WHERE name=?", (dest,)).fetchone()
        if row and row[0]:
            problems.append(f"{dest} is in maintenance mode")
        return problems

    def submit_relocate(self, vm: VmRef, dest: str) -> str:
        world_vm = self.world.vms[vm.id]
        if any(t.vm_id == vm.id and not t.done for t in self.world.vcenter.tasks.values()):
            # vCenter refuses a second relocate of a VM that is moving; the file remembers the
            # attempt so a test can prove the drain never tried.
            self.db.execute(
                "INSERT INTO tasks (task_id, vm_id, source, dest, state, submitted_at) VALUES (?,?,?,?,?,?)",
                (f"rejected-{self.env.now}-{vm.id}", vm.id, world_vm.host, dest, "rejected", self.env.now),
            )
            raise RuntimeError("The operation is not allowed in the current state.")
        task_id, chain = self.world.vcenter.new_task_id()
        task = Task(
            task_id=task_id,
            vm_id=vm.id,
            vm_name=world_vm.name,
            source=world_vm.host,
            dest=dest,
            queued_at=self.env.now,
            opid=self.world.new_opid(),
            chain_id=chain,
            description_id="VirtualMachine.relocate",
            initiator="vvolguard",
        )
        # vCenter has the task before the call returns: so does the file.
        self.db.execute(
            "INSERT INTO tasks (task_id, vm_id, source, dest, state, submitted_at) VALUES (?,?,?,?,?,?)",
            (task_id, vm.id, task.source, dest, "queued", self.env.now),
        )
        self.world.vcenter.tasks[task_id] = task
        self._start(task)
        if self.api_latency > 0:
            time.sleep(self.api_latency)
        return task_id

    def poll(self, task_id: str) -> TaskOutcome:
        task = self.world.vcenter.tasks.get(task_id)
        if task is None:
            return TaskOutcome(RelocateState.MISSING)
        state = {
            "queued": RelocateState.QUEUED,
            "running": RelocateState.RUNNING,
            "success": RelocateState.SUCCESS,
            "error": RelocateState.ERROR,
        }[task.state]
        return TaskOutcome(state, task.error, task.fault)

    def find_relocate_task(self, vm_id: str) -> str | None:
        for task in self.world.vcenter.tasks.values():
            if task.vm_id == vm_id and not task.done:
                return task.task_id
        return None

    def vm_host(self, vm_id: str) -> str | None:
        vm = self.world.vms.get(vm_id)
        return vm.host if vm else None

    def host_limit(self, host: str) -> int:
        return self.world.vcenter.limit_for(self.canonical_host(host))

    def provider_of(self, host: str) -> str:
        return self.world.profile.vp_name

    def log_sources(self, hosts: Sequence[str]) -> list[LogSource]:
        """vvold tails of every host a drain of ``hosts`` touches: the sources and all possible
        destinations (the swap vVol is created on the destination)."""
        out: list[LogSource] = []
        for h in self.world.hosts:
            if h not in self._tails:
                self._tails[h] = self.world.tail(h)
            out.append(self._tails[h])
        return out

    def enter_maintenance(self, host: str) -> None:
        host = self.canonical_host(host)
        left = self.world.vms_on(host)
        if left:
            raise RuntimeError(f"{host} still has {len(left)} VMs; not entering maintenance mode")
        self.db.execute("UPDATE hosts SET maintenance=1 WHERE name=?", (host,))

    def close(self) -> None:
        self.db.close()

    # -- for tests and the benchmark ---------------------------------------------------------

    def relocations(self) -> list[tuple[str, str, str, str]]:
        """Every relocation the simulated vCenter performed: (vm_id, task_id, src, dst)."""
        return [
            tuple(r) for r in self.db.execute("SELECT vm_id, task_id, src, dst FROM relocations ORDER BY seq")
        ]

    def task_rows(self) -> list[tuple[str, str, str]]:
        """(task_id, vm_id, state) of every task ever submitted."""
        return [tuple(r) for r in self.db.execute("SELECT task_id, vm_id, state FROM tasks ORDER BY rowid")]
