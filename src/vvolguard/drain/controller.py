"""The drain controller: one code path for vCenter and the simulator.

What a careful admin does by hand, as a loop: look at the logs and the running tasks, decide
how many migrations may be in flight, start the next ones, wait a little, repeat.

Rules it keeps, whatever the limit algorithm says:

* never more in flight than ``ceiling`` = min(vCenter's per-host limit, ``--max``);
* every step is journaled *before* it is taken (``journal.py`` explains the order), so kill -9
  loses nothing and a rerun never migrates a VM twice;
* a failed VM is retried **alone** (nothing else is submitted while its retry runs, and the
  retry starts only when nothing else is in flight) after ``cooldown`` seconds; a second
  failure leaves it in place, reported;
* a stop request (Ctrl-C) stops new submissions and waits for those in flight.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from vvolguard.drain.backends.base import (
    Backend,
    LogSource,
    TaskState,
    VmRef,
    failure_is_pressure,
    is_pressure_failure,
)
from vvolguard.drain.journal import Journal, VmEntry, VmState
from vvolguard.drain.limits import Completion, Limit, Observation
from vvolguard.drain.pressure import PressureMonitor
from vvolguard.drain.signal import PressureLevel, PressureSignal

#: Seconds between two submissions by default (see ``DrainOptions.spacing``).
DEFAULT_SPACING = 4.0


@dataclass(frozen=True, slots=True)
class DrainOptions:
    """How to drain. Times are clock seconds (virtual in the simulator).

    * ``cooldown``: how long a failed VM waits before its lone retry; the runbook's "retry one
      affected VM after a cooldown period".
    * ``poll_interval``: how often tasks and logs are looked at. vCenter task polling every few
      seconds is cheap next to minute-long vMotions.
    * ``max_attempts``: a VM that fails this many times is left in place.
    * ``spacing``: seconds between two submissions. The VASA-heavy part of a vMotion (vVol
      queries, the swap-vVol create, the binds) is its first seconds; migrations started in
      the same instant hit the provider in the same instant, and a burst is what overflows its
      queue. Spacing them is TCP's ack clocking in spirit and costs seconds per drain.
    """

    source: str
    targets: tuple[str, ...] = ()
    max_inflight: int | None = None
    cooldown: float = 120.0
    poll_interval: float = 2.0
    max_attempts: int = 2
    spacing: float = DEFAULT_SPACING


@dataclass(frozen=True, slots=True)
class PlannedMove:
    vm: VmRef
    dest: str | None
    problems: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Progress:
    """What the person at the console sees (``progress.py`` renders it)."""

    limit: int
    allowed: int
    ceiling: int
    inflight: int
    done: int
    failed: int  # failed relocate tasks so far (attempts, not VMs)
    left: int  # VMs left in place
    remaining: int  # VMs not yet moved nor left
    state: str  # what the limit is doing: probe / grow / hold: <reason> ...
    pressure: PressureSignal
    stopping: bool = False


@dataclass(slots=True)
class DrainResult:
    run_id: int
    resumed: bool
    moved: list[str] = field(default_factory=list)
    left: list[tuple[str, str]] = field(default_factory=list)
    failed_tasks: int = 0
    started: float = 0.0
    finished: float = 0.0
    ceiling: int = 0
    #: The most migrations that ran at once while every one of them finished cleanly with no
    #: congestion seen: the "operational limit" the runbook asks admins to document.
    safe_limit: int | None = None
    peak_inflight: int = 0
    episodes: int = 0
    interrupted: bool = False
    limit_trace: list[tuple[float, int, int]] = field(default_factory=list)

    @property
    def makespan(self) -> float:
        return self.finished - self.started

    @property
    def complete(self) -> bool:
        return not self.interrupted


class DrainController:
    """Runs one drain of ``options.source`` on ``backend`` with ``limit``."""

    def __init__(
        self,
        backend: Backend,
        journal: Journal,
        limit: Limit,
        options: DrainOptions,
        *,
        monitor: PressureMonitor | None = None,
        log_sources: Sequence[LogSource] = (),
        on_progress: Callable[[Progress], None] | None = None,
        stop: threading.Event | None = None,
        resumed: bool = False,
    ) -> None:
        self.backend = backend
        self.clock = backend.clock
        self.journal = journal
        self.limit = limit
        # One spelling of the source: "is the VM still on the source?" must compare like with
        # like, or a VM would look already moved and be skipped.
        self.opt = replace(options, source=backend.canonical_host(options.source))
        self.monitor = monitor or PressureMonitor(self.clock)
        self.log_sources = list(log_sources)
        self.on_progress = on_progress
        self.stop = stop or threading.Event()
        self.resumed = resumed
        host_limit = backend.host_limit(options.source)
        self.ceiling = max(1, min(host_limit, options.max_inflight or host_limit))
        if limit.ceiling > self.ceiling:
            limit.ceiling = self.ceiling
        self._inflight: dict[str, VmEntry] = {}  # vm_id -> entry with task id
        self._retry_inflight: str | None = None
        self._completions: list[Completion] = []
        self._submitted_at: dict[str, float] = {}
        #: Per VM in flight: the most migrations in flight at once during its flight, and
        #: whether no congestion was seen meanwhile. A clean success proves that concurrency.
        self._flight: dict[str, tuple[int, bool]] = {}
        self._proven_safe: int | None = None
        self._last_submit = float("-inf")
        self._targets: list[str] | None = None

    # -- planning ----------------------------------------------------------------------------

    def targets(self) -> list[str]:
        if self._targets is None:
            self._targets = self.backend.resolve_targets(self.opt.source, self.opt.targets)
            if not self._targets:
                raise LookupError(f"no destination host for {self.opt.source}")
        return self._targets

    def plan(self) -> list[PlannedMove]:
        """What a drain would do, touching nothing (``--dry-run``)."""
        return plan_drain(self.backend, self.opt, self.targets())

    def _choose(self, vm: VmRef) -> tuple[str | None, list[str]]:
        return choose_destination(self.backend, vm, self.targets())

    # -- running -----------------------------------------------------------------------------

    def run(self) -> DrainResult:
        result = DrainResult(run_id=self.journal.run_id, resumed=self.resumed, ceiling=self.ceiling)
        result.started = self.clock.now()
        self.journal.plan(self.backend.list_vms(self.opt.source))
        self._reconcile()
        signal = self.monitor.signal()
        while True:
            self.monitor.note_inflight(len(self._inflight))
            self._read_logs()
            self._poll(result)
            signal = self.monitor.signal()
            self.limit.update(
                Observation(
                    now=self.clock.now(),
                    inflight=len(self._inflight),
                    pressure=signal,
                    completions=tuple(self._completions),
                )
            )
            self._completions.clear()
            if not self.stop.is_set():
                self._submit_ready(result)
            n, calm = len(self._inflight), signal.level < PressureLevel.CONGESTED
            for vm_id in self._inflight:
                peak, clean = self._flight.get(vm_id, (0, True))
                self._flight[vm_id] = (max(peak, n), clean and calm)
            result.peak_inflight = max(result.peak_inflight, len(self._inflight))
            trace = result.limit_trace
            point = (self.clock.now(), self.limit.allowed(), len(self._inflight))
            if not trace or trace[-1][1:] != point[1:]:
                trace.append(point)
            self._report(signal)
            if not self._inflight and (self.stop.is_set() or not self._pending()):
                break
            self.clock.sleep(self._next_wait())
        result.finished = self.clock.now()
        result.interrupted = self.stop.is_set() and bool(self._pending())
        result.episodes = signal.episode
        result.safe_limit = self._proven_safe
        for e in self.journal.entries():
            if e.state is VmState.SUCCEEDED:
                result.moved.append(e.name)
            elif e.state is VmState.LEFT:
                result.left.append((e.name, e.last_error or ""))
        self.journal.finish("interrupted" if result.interrupted else "completed")
        self._report(signal)
        return result

    def _next_wait(self) -> float:
        """Poll interval, or until the next retry is due when that comes sooner and nothing
        else is moving (so a cooldown does not cost a whole extra poll)."""
        wait = self.opt.poll_interval
        if not self._inflight:
            due = [e.retry_at for e in self.journal.entries() if e.state is VmState.FAILED]
            if due and all(d is not None for d in due) and not self._has_planned():
                wait = max(0.001, min(d for d in due if d is not None) - self.clock.now())
        return wait

    def _has_planned(self) -> bool:
        return any(e.state is VmState.PLANNED for e in self.journal.entries())

    def _pending(self) -> bool:
        return any(not e.state.final for e in self.journal.entries())

    def _read_logs(self) -> None:
        for src in self.log_sources:
            self.monitor.feed_bytes(src.host, src.read())

    # -- resume ------------------------------------------------------------------------------

    def _reconcile(self) -> None:
        """Bring the journal in line with the world after a crash, without resubmitting."""
        for e in self.journal.entries():
            if e.state is VmState.SUBMITTED and e.task_id:
                self._inflight[e.vm_id] = e
                self._submitted_at[e.vm_id] = self.clock.now()
            elif e.state is VmState.SUBMITTING:
                task = self.backend.find_relocate_task(e.vm_id)
                if task:
                    self.journal.submitted(e.vm_id, task)
                    self._inflight[e.vm_id] = self.journal.get(e.vm_id)  # type: ignore[assignment]
                    self._submitted_at[e.vm_id] = self.clock.now()
                    continue
                where = self.backend.vm_host(e.vm_id)
                if where is not None and where != self.opt.source:
                    self.journal.succeeded(e.vm_id, where)
                else:
                    self.journal.back_to_planned(e.vm_id, "no task found after restart")

    # -- tasks -------------------------------------------------------------------------------

    def _poll(self, result: DrainResult) -> None:
        for vm_id, e in list(self._inflight.items()):
            assert e.task_id is not None
            outcome = self.backend.poll(e.task_id)
            if not outcome.state.done:
                continue
            del self._inflight[vm_id]
            duration = self.clock.now() - self._submitted_at.pop(vm_id, self.clock.now())
            if vm_id == self._retry_inflight:
                self._retry_inflight = None
            ok = outcome.state is TaskState.SUCCESS
            if outcome.state is TaskState.MISSING:
                where = self.backend.vm_host(vm_id)
                ok = where is not None and where != self.opt.source
            peak, clean = self._flight.pop(vm_id, (0, False))
            if ok:
                self.journal.succeeded(vm_id, self.backend.vm_host(vm_id) or e.dest)
                if clean and peak:
                    self._proven_safe = max(self._proven_safe or 0, peak)
            else:
                result.failed_tasks += 1
                error = outcome.error or ("task vanished" if outcome.state is TaskState.MISSING else "error")
                pressure = outcome.state is TaskState.MISSING or is_pressure_failure(outcome)
                self._task_failed(e.name, error, pressure)
                attempts = self.journal.failed(vm_id, error, self.clock.now() + self.opt.cooldown)
                if attempts >= self.opt.max_attempts:
                    self.journal.left(vm_id, f"failed {attempts} times, left in place: {error}")
            self._completions.append(Completion(vm_id, duration, ok, pressure=ok or pressure))

    def _task_failed(self, name: str, error: str, pressure: bool) -> None:
        """Tell the monitor: a failure that may be VASA saturation is a congestion mark (the
        wave is cut); one whose reason names another cause only stops the wave growing."""
        if pressure:
            self.monitor.task_failed(name, error)
        else:
            self.monitor.task_failed_elsewhere(name, error)

    def _submit_ready(self, result: DrainResult) -> None:
        if self._retry_inflight is not None:
            return  # a retry runs alone
        now = self.clock.now()
        entries = self.journal.entries()
        due = [e for e in entries if e.state is VmState.FAILED and (e.retry_at or 0) <= now]
        if due and not self._inflight and self.limit.allowed() >= 1:
            self._submit(due[0], result, retry=True)
            return
        for e in entries:
            if len(self._inflight) >= min(self.limit.allowed(), self.ceiling):
                return
            if now - self._last_submit < self.opt.spacing:
                return
            if e.state is VmState.PLANNED:
                self._submit(e, result, retry=False)

    def _submit(self, e: VmEntry, result: DrainResult, *, retry: bool) -> None:
        where = self.backend.vm_host(e.vm_id)
        if where is None:
            self.journal.left(e.vm_id, "the VM no longer exists")
            return
        if where != self.opt.source:
            self.journal.succeeded(e.vm_id, where)  # already elsewhere (moved by someone else)
            return
        vm = e.ref(self.opt.source)
        dest, problems = self._choose(vm)
        if dest is None:
            self.journal.left(e.vm_id, "CheckRelocate: " + "; ".join(problems))
            return
        self.journal.submitting(e.vm_id, dest)
        try:
            task = self.backend.submit_relocate(vm, dest)
        except Exception as exc:  # a fault raised at submit time is a failed attempt
            result.failed_tasks += 1
            error = f"{type(exc).__name__}: {exc}"
            self._task_failed(e.name, error, failure_is_pressure(str(exc), type(exc).__name__))
            attempts = self.journal.failed(e.vm_id, error, self.clock.now() + self.opt.cooldown)
            if attempts >= self.opt.max_attempts:
                self.journal.left(e.vm_id, f"failed {attempts} times, left in place: {error}")
            return
        self.journal.submitted(e.vm_id, task)
        entry = self.journal.get(e.vm_id)
        assert entry is not None
        self._inflight[e.vm_id] = entry
        self._submitted_at[e.vm_id] = self.clock.now()
        self._last_submit = self.clock.now()
        if retry:
            self._retry_inflight = e.vm_id

    # -- display -----------------------------------------------------------------------------

    def _report(self, signal: PressureSignal) -> None:
        if self.on_progress is None:
            return
        c = self.journal.counts()
        self.on_progress(
            Progress(
                limit=self.limit.limit,
                allowed=self.limit.allowed(),
                ceiling=self.ceiling,
                inflight=len(self._inflight),
                done=c[VmState.SUCCEEDED],
                failed=sum(e.attempts for e in self.journal.entries()),
                left=c[VmState.LEFT],
                remaining=c[VmState.PLANNED] + c[VmState.FAILED] + c[VmState.SUBMITTING],
                state=self.limit.state,
                pressure=signal,
                stopping=self.stop.is_set(),
            )
        )


def choose_destination(backend: Backend, vm: VmRef, targets: Sequence[str]) -> tuple[str | None, list[str]]:
    """First destination that CheckRelocate accepts, trying the backend's pick first; else
    ``None`` and every problem seen (the VM is then left in place and reported)."""
    candidates = list(targets)
    all_problems: list[str] = []
    while candidates:
        dest = backend.pick_destination(vm, candidates)
        problems = backend.check_relocate(vm, dest)
        if not problems:
            return dest, []
        all_problems.extend(f"{dest}: {p}" for p in problems)
        candidates.remove(dest)
    return None, all_problems


def plan_drain(
    backend: Backend, options: DrainOptions, targets: Sequence[str] | None = None
) -> list[PlannedMove]:
    """Each VM of the source, the destination it would get now and what CheckRelocate says.
    Read-only: this is all ``--dry-run`` does."""
    if targets is None:
        targets = backend.resolve_targets(options.source, options.targets)
    if not targets:
        raise LookupError(f"no destination host for {options.source}")
    moves = []
    for vm in backend.list_vms(options.source):
        dest, problems = choose_destination(backend, vm, targets)
        moves.append(PlannedMove(vm, dest, tuple(problems)))
    return moves
