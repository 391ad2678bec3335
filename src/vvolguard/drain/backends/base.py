"""The one interface the drain controller talks to: a vCenter (pyVmomi) or the simulator.

Why a protocol: the issue asks for "one controller, two worlds". The controller never imports
pyVmomi or SimPy; it only sees this surface. Everything that differs between the worlds
(inventory, tasks, the passage of time, where vvold.log lines come from) sits behind it.

Time is part of the backend on purpose. The controller is a plain synchronous loop that calls
``clock.sleep(dt)`` between looks at its tasks. Against vCenter that is a wall-clock wait (cut
short by Ctrl-C); against the simulator it advances SimPy's virtual time, so a two-hour drain
runs in milliseconds with exactly the same decisions.

Identifiers are strings so they can be written to the SQLite journal and read back by a later
process: ``VmRef.id`` is the managed-object id (``vm-42``) or the simulator's id; a task id is
the vCenter task moref (``task-1234``) or the simulator's.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, runtime_checkable

#: vCenter's default cost limit for concurrent vMotions per host (docs/drain-background.md §1.2,
#: docs/evidence-formats.md §6.1): the ceiling the controller never exceeds unless the backend
#: reports a different one.
DEFAULT_HOST_LIMIT = 8


@dataclass(frozen=True, slots=True)
class VmRef:
    """A VM to move. ``id`` is stable across processes (journal key); ``name`` is for people."""

    id: str
    name: str
    host: str  # the host it was on when listed
    datastores: tuple[str, ...] = ()
    powered_on: bool = True


class RelocateState(StrEnum):
    """Where a relocate task is. ``MISSING`` means the backend has no record of that task id
    (vCenter purged it, or it was never created); the controller then reconciles by looking at
    where the VM is (:meth:`Backend.vm_host`)."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCESS = "success"
    ERROR = "error"
    MISSING = "missing"

    @property
    def done(self) -> bool:
        return self in (RelocateState.SUCCESS, RelocateState.ERROR, RelocateState.MISSING)


@dataclass(frozen=True, slots=True)
class TaskOutcome:
    """What a poll of one task says. ``error`` is the localized message vCenter shows
    ("A system error occurred."), ``fault`` the fault type (``vmodl.fault.SystemError``)."""

    state: RelocateState
    error: str | None = None
    fault: str | None = None


#: The message vCenter shows when a relocation dies in the VASA control plane (KB 318662).
SYSTEM_ERROR_MESSAGE = "A system error occurred."
#: Fault types that, with no more specific reason, mean "the provider is saturated, back off".
PRESSURE_FAULTS = frozenset({"vmodl.fault.SystemError"})
#: Words in a failure's reason that point at the vVol control plane.
_CONTROL_PLANE_WORDS = re.compile(
    r"(?i)\bvasa|vvol|virtual ?volume|\bswap\b|protocol endpoint|\bprovider\b|busy|free conn"
)


def is_pressure_failure(outcome: TaskOutcome) -> bool:
    """True when a relocation that ended this way may be VASA saturation, so the drain must back
    off. The one classifier of failures (polled tasks and faults raised at submit time alike).

    That is vCenter's bare "A system error occurred." (KB 318662: the control plane gave no
    reason), a ``SystemError`` fault with no message, a reason that names the vVol control
    plane, or a task that vanished (nothing says it was not). A failure that names another
    cause (the destination failed to resume, a switchover limit, an invalid VM state, resources)
    is not: backing off would slow the drain without relieving anything, so the limit only stops
    growing. A success is never one.
    """
    if outcome.state is RelocateState.MISSING:
        return True
    if outcome.state is not RelocateState.ERROR:
        return False
    message = (outcome.error or "").strip()
    if message.startswith(SYSTEM_ERROR_MESSAGE.rstrip(".")):
        return True
    if not message:
        return outcome.fault in PRESSURE_FAULTS
    return bool(_CONTROL_PLANE_WORDS.search(message))


@runtime_checkable
class Clock(Protocol):
    """Monotonic seconds and a wait, so the controller runs in SimPy or wall time alike."""

    def now(self) -> float:
        """Seconds on a monotonic scale (virtual seconds in the simulator)."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait up to ``seconds``. May return early when something happened that the controller
        should look at (a task finished, Ctrl-C was pressed); the controller always re-polls."""
        ...


@runtime_checkable
class LogSource(Protocol):
    """New bytes of one host's vvold.log since the last call (non-blocking; ``b""`` if none).

    The controller feeds them to a ``VvoldStream`` parser, the same reader ``diagnose`` uses.
    Implementations: a local file tail and an SSH ``tail -F`` (``drain.logsource``), and the
    simulator's own vvold writer (``drain.backends.simulated``).
    """

    host: str

    def read(self) -> bytes: ...

    def close(self) -> None: ...


@runtime_checkable
class Backend(Protocol):
    """A place whose VMs can be relocated: a vCenter, or the simulator."""

    #: Stable name of the management endpoint, used as a key in the store ("vc01.lab:443",
    #: "sim:steady-32"). Never contains credentials.
    endpoint: str
    clock: Clock

    def canonical_host(self, name: str) -> str:
        """The one spelling of host ``name`` (short name, FQDN, moid) that ``vm_host`` and
        ``VmRef.host`` use, so "is this VM still on the source?" compares like with like.
        Raises ``LookupError`` for an unknown host."""
        ...

    def list_vms(self, host: str) -> list[VmRef]:
        """VMs currently registered on ``host`` (powered on or off), in a stable order."""
        ...

    def resolve_targets(self, source: str, targets: Sequence[str]) -> list[str]:
        """Destination host names for a drain of ``source``.

        ``targets`` are the user's ``--to`` values, each a host or a cluster name; empty means
        "the other connected, non-maintenance hosts of the source's cluster". ``source`` itself
        is never returned. An unknown name raises ``LookupError`` with a message for the user.
        """
        ...

    def pick_destination(
        self, vm: VmRef, candidates: Sequence[str], planned: Mapping[str, int] | None = None
    ) -> str:
        """Choose one host among ``candidates`` for ``vm``: the least loaded, counting the VMs
        registered there, the moves in flight towards it and (in a dry run, where nothing is
        in flight) the moves ``planned`` there, so a plan places VMs as the run will."""
        ...

    def check_relocate(self, vm: VmRef, dest: str) -> list[str]:
        """``CheckRelocate_Task``: human-readable problems that forbid the move; empty = fine.
        Warnings that do not block the move are not returned."""
        ...

    def submit_relocate(self, vm: VmRef, dest: str) -> str:
        """Start ``RelocateVM_Task`` (host change only; storage stays) and return the task id
        at once, without waiting."""
        ...

    def poll(self, task_id: str) -> TaskOutcome:
        """Current state of a task this or an earlier process submitted."""
        ...

    def find_relocate_task(self, vm_id: str) -> str | None:
        """The id of a relocate task on ``vm_id`` that is still queued/running, if any.

        Used on resume when a process died between submitting and journaling the task id, so
        the VM is not submitted a second time while its first move is still running."""
        ...

    def vm_host(self, vm_id: str) -> str | None:
        """The host ``vm_id`` is registered on now, or ``None`` if the VM no longer exists."""
        ...

    def host_limit(self, host: str) -> int:
        """vCenter's per-host vMotion limit for ``host`` (default :data:`DEFAULT_HOST_LIMIT`)."""
        ...

    def provider_of(self, host: str) -> str:
        """The VASA provider serving the host's vVol datastores (key of the observed limit).
        ``"unknown"`` when it cannot be told."""
        ...

    def log_sources(self, hosts: Sequence[str]) -> list[LogSource]:
        """vvold.log sources this backend itself can offer for ``hosts`` (the simulator does;
        vCenter returns ``[]`` and the CLI adds local/SSH tails from its options)."""
        ...

    def enter_maintenance(self, host: str) -> None:
        """Put the (now empty) host into maintenance mode and wait for it; raise on failure."""
        ...

    def close(self) -> None:
        """Release sessions (``Disconnect``) and files."""
        ...


class WallClock:
    """Real time for a real vCenter. ``now`` is epoch seconds (so retry times written to the
    journal still mean something to a later process); ``sleep`` wakes early when ``wake`` is
    set (Ctrl-C), so an interrupted drain reacts at once instead of after the poll interval."""

    def __init__(self, wake: threading.Event | None = None) -> None:
        self.wake = wake or threading.Event()

    def now(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.wake.wait(seconds)
