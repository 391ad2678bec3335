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
    RelocateState,
    TaskOutcome,
    VmRef,
    is_pressure_failure,
)
from vvolguard.drain.journal import Journal, VmEntry, VmState
from vvolguard.drain.ledger import LevelLedger, LimitFinding
from vvolguard.drain.limits import Admission, Completion, Observation
from vvolguard.drain.placement import Placement
from vvolguard.drain.pressure import PressureMonitor
from vvolguard.drain.signal import PressureSignal

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
    * ``destination_pressure``: place moves away from a destination whose vvold.log (when it is
      tailed) shows pressure (``drain.placement``); off only to measure what it is worth.
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
    destination_pressure: bool = True


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
    #: Why a migration the limit allows is not started yet: it waits for a swap-vVol create of
    #: ours to finish (``PressureMonitor.room_for_a_create``), or "" when nothing waits so.
    create_wait: str = ""


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
    #: The highest concurrency at which nothing failed and no pressure was seen, with its
    #: evidence (``drain.ledger``): the "operational limit" the runbook asks admins to document.
    limit_found: LimitFinding | None = None
    #: Moves sent elsewhere because their first-choice destination's vvold showed pressure.
    diverted: int = 0
    peak_inflight: int = 0
    episodes: int = 0
    interrupted: bool = False
    limit_trace: list[tuple[float, int, int]] = field(default_factory=list)
    #: Seconds spent in each admission phase (``limits.Phase``): where a slow drain's time went.
    phase_seconds: dict[str, float] = field(default_factory=dict)
    #: Seconds the drain held, paused or did not grow because of someone else's load
    #: (``Admission.waiting_on_others``): what another tenant's clone storm cost this drain.
    foreign_seconds: float = 0.0

    @property
    def makespan(self) -> float:
        return self.finished - self.started

    @property
    def safe_limit(self) -> int | None:
        return self.limit_found.level if self.limit_found else None

    @property
    def complete(self) -> bool:
        return not self.interrupted


class DrainController:
    """Runs one drain of ``options.source`` on ``backend`` with ``limit``."""

    def __init__(
        self,
        backend: Backend,
        journal: Journal,
        limit: Admission,
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
        # Never above vCenter's per-host limit, --max, or the limit's own ceiling (a fixed
        # limit, or a recorded bound that caps this drain).
        self.ceiling = max(1, min(host_limit, options.max_inflight or host_limit, limit.ceiling))
        if limit.ceiling > self.ceiling:
            limit.ceiling = self.ceiling
        self._inflight: dict[str, VmEntry] = {}  # vm_id -> entry with task id
        self._retry_inflight: str | None = None
        self._completions: list[Completion] = []
        self._submitted_at: dict[str, float] = {}
        self.ledger = LevelLedger()
        self._marks_seen = 0
        self._episode_seen = 0
        self._last_submit = float("-inf")
        self._placement: Placement | None = None
        self._log_hosts: dict[str, str] = {}
        self._create_wait = False  # the last submission round stopped at the create cap

    # -- planning ----------------------------------------------------------------------------

    def targets(self) -> list[str]:
        return self.placement().targets

    def placement(self) -> Placement:
        if self._placement is None:
            targets = self.backend.resolve_targets(self.opt.source, self.opt.targets)
            if not targets:
                raise LookupError(f"no destination host for {self.opt.source}")
            use = self.log_sources and self.opt.destination_pressure
            pressure = self.monitor.host_level if use else None
            self._placement = Placement(self.backend, targets, pressure)
        return self._placement

    def plan(self) -> list[PlannedMove]:
        """What a drain would do, touching nothing (``--dry-run``)."""
        return plan_drain(self.backend, self.opt, self.targets())

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
            self._note_marks(signal)
            if not self.stop.is_set():
                self._submit_ready(result)
            self.ledger.observe(self.clock.now(), self._inflight)
            result.peak_inflight = max(result.peak_inflight, len(self._inflight))
            trace = result.limit_trace
            point = (self.clock.now(), self.limit.allowed(), len(self._inflight))
            if not trace or trace[-1][1:] != point[1:]:
                trace.append(point)
            self._report(signal)
            if not self._inflight and (self.stop.is_set() or not self._pending()):
                break
            phase, before = str(self.limit.phase), self.clock.now()
            foreign = self.limit.waiting_on_others
            self.clock.sleep(self._next_wait())
            spent = self.clock.now() - before
            result.phase_seconds[phase] = result.phase_seconds.get(phase, 0.0) + spent
            if foreign:
                result.foreign_seconds += spent
        result.finished = self.clock.now()
        result.interrupted = self.stop.is_set() and bool(self._pending())
        result.episodes = signal.episode
        result.limit_found = self.ledger.finding()
        result.diverted = self._placement.diverted if self._placement else 0
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
            self.monitor.feed_bytes(self._log_host(src.host), src.read())

    def _log_host(self, name: str) -> str:
        """The backend's spelling of a log source's host (``--ssh esx-04`` vs the inventory's
        ``esx-04.lab.local``), so destination pressure finds the destination."""
        if name not in self._log_hosts:
            try:
                self._log_hosts[name] = self.backend.canonical_host(name)
            except LookupError:
                self._log_hosts[name] = name
        return self._log_hosts[name]

    def _note_marks(self, signal: PressureSignal) -> None:
        """A new congestion mark from the control plane (or a new episode of create latency near
        the deadline) taints the concurrency level that held while it arose."""
        if signal.marks > self._marks_seen or signal.episode > self._episode_seen:
            self.ledger.mark(signal.reason)
        self._marks_seen = signal.marks
        self._episode_seen = signal.episode

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
            ok = outcome.state is RelocateState.SUCCESS
            if outcome.state is RelocateState.MISSING:
                where = self.backend.vm_host(vm_id)
                ok = where is not None and where != self.opt.source
            pressure = False
            if ok:
                self.journal.succeeded(vm_id, self.backend.vm_host(vm_id) or e.dest)
                self.ledger.finished(vm_id, ok=True, pressure=False)
            else:
                vanished = outcome.state is RelocateState.MISSING
                error = outcome.error or ("task vanished" if vanished else "error")
                pressure = is_pressure_failure(outcome)
                self._attempt_failed(e, error, pressure, result)
            self._completions.append(Completion(vm_id, duration, ok, pressure=ok or pressure))

    def _attempt_failed(self, e: VmEntry, error: str, pressure: bool, result: DrainResult) -> None:
        """One failed attempt, wherever it failed (a polled task or a fault at submit time):
        count it, tell the monitor and the ledger, schedule the lone retry after the cooldown,
        or leave the VM in place after ``max_attempts``.

        A failure that may be VASA saturation is a congestion mark (the wave is cut); one whose
        reason names another cause only stops the wave growing."""
        result.failed_tasks += 1
        if pressure:
            self.monitor.task_failed(e.name, error)
        else:
            self.monitor.task_failed_elsewhere(e.name, error)
        self.ledger.finished(e.vm_id, ok=False, pressure=pressure, reason=error)
        attempts = self.journal.failed(e.vm_id, error, self.clock.now() + self.opt.cooldown)
        if attempts >= self.opt.max_attempts:
            self.journal.left(e.vm_id, f"failed {attempts} times, left in place: {error}")

    def _submit_ready(self, result: DrainResult) -> None:
        self._create_wait = False
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
            # The clock now, not the tick's start: a submission takes time (a RelocateVM_Task
            # round trip), and measured from the tick's start the last one would look to lie in
            # the future, so even spacing 0 would give one submission per tick.
            if self.clock.now() - self._last_submit < self.opt.spacing:
                return
            if self.limit.adaptive and not self.monitor.room_for_a_create():
                # as many creates of ours at once as the provider takes: wait for one
                self._create_wait = any(x.state is VmState.PLANNED for x in entries)
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
        dest, problems = self.placement().choose(vm)
        if dest is None:
            self.journal.left(e.vm_id, "CheckRelocate: " + "; ".join(problems))
            return
        self.journal.submitting(e.vm_id, dest)
        try:
            task = self.backend.submit_relocate(vm, dest)
        except Exception as exc:  # a fault raised at submit time is a failed attempt
            error = f"{type(exc).__name__}: {exc}"
            outcome = TaskOutcome(RelocateState.ERROR, str(exc), type(exc).__name__)
            self._attempt_failed(e, error, is_pressure_failure(outcome), result)
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
                state=str(self.limit.state),
                pressure=signal,
                stopping=self.stop.is_set(),
                create_wait=self._create_wait_text(),
            )
        )

    def _create_wait_text(self) -> str:
        if not self._create_wait or self.monitor.create_cap is None:
            return ""
        cap = self.monitor.create_cap
        what = "one swap-vVol create" if cap == 1 else f"{cap} swap-vVol creates"
        because = self.monitor.create_cap_reason
        return f"at most {what} of ours at once ({because}): the next migration starts when one finishes"


def plan_drain(
    backend: Backend, options: DrainOptions, targets: Sequence[str] | None = None
) -> list[PlannedMove]:
    """Each VM of the source, in the order the drain submits them, with the destination the
    drain would give it (the same :class:`~vvolguard.drain.placement.Placement`, counting the
    moves planned before it as the drain counts moves in flight) and what CheckRelocate says.
    Read-only: this is all ``--dry-run`` does."""
    if targets is None:
        targets = backend.resolve_targets(options.source, options.targets)
    if not targets:
        raise LookupError(f"no destination host for {options.source}")
    placement = Placement(backend, targets)
    moves = []
    for vm in backend.list_vms(options.source):
        dest, problems = placement.choose(vm, plan=True)
        moves.append(PlannedMove(vm, dest, tuple(problems)))
    return moves
