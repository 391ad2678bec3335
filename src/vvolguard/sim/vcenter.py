"""vCenter's side: migration tasks and the admission control of its cost model.

vCenter queues (does not fail) an operation that would push a resource past its maximum cost
(docs/evidence-formats.md §6.1, "Limits on Simultaneous Migrations" and KB 326281):

* host: max cost 16, vMotion cost 2 (6.0+ units) → 8 concurrent vMotions per host, counted on
  the source **and** the destination;
* network: 8 vMotions on 10 GbE (4 on 1 GbE), per host;
* datastore: max cost 128, vMotion cost 1 on the shared (vVol) datastore → 128 per datastore.

A task starts when all three have room, scanning the queue in submission order (a later task
whose hosts are free may start before an earlier one that waits: costs are per resource). A
maintenance-mode evacuation submits every VM of the host at once, as DRS does, so the admission
control is all that paces it.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

import simpy

#: vMotions per host on 10 GbE (host cost 16 / vMotion cost 2; network 8 on 10 GbE).
DEFAULT_HOST_LIMIT = 8
#: vMotions per datastore (max cost 128, vMotion cost 1).
DEFAULT_DATASTORE_LIMIT = 128

#: The task error of KB 318662 when a VASA step fails.
SYSTEM_ERROR = "A system error occurred."


@dataclass(eq=False)
class Task:
    """One migration task as vCenter tracks it; also what the drain backend polls."""

    task_id: str
    vm_id: str
    vm_name: str
    source: str
    dest: str
    queued_at: float
    opid: str
    chain_id: int
    description_id: str = "Drm.ExecuteVMotionLRO"
    initiator: str = "System"
    state: str = "queued"  # queued | running | success | error
    started_at: float | None = None
    finished_at: float | None = None
    error: str | None = None
    fault: str | None = None
    fault_reason: str | None = None
    failed_step: str | None = None
    cause: str | None = None  # ground truth: vasa | pe | switchover | None
    process: Any = field(default=None, repr=False)

    @property
    def done(self) -> bool:
        return self.state in ("success", "error")


@dataclass(frozen=True, slots=True)
class MigrationResult:
    """The value of a migration process."""

    task_id: str
    vm: str
    source: str
    dest: str
    ok: bool
    error: str | None
    fault: str | None
    failed_step: str | None
    queued_at: float
    started_at: float | None
    finished_at: float | None

    @classmethod
    def of(cls, task: Task) -> MigrationResult:
        return cls(
            task.task_id,
            task.vm_name,
            task.source,
            task.dest,
            task.state == "success",
            task.error,
            task.fault,
            task.failed_step,
            task.queued_at,
            task.started_at,
            task.finished_at,
        )


class VCenter:
    """Admission control for migrations, per host and per datastore."""

    def __init__(
        self,
        env: simpy.Environment,
        host_limit: int = DEFAULT_HOST_LIMIT,
        datastore_limit: int = DEFAULT_DATASTORE_LIMIT,
        host_limits: dict[str, int] | None = None,
    ) -> None:
        self.env = env
        self.host_limit = host_limit
        self.host_limits = dict(host_limits or {})
        self.datastore_limit = datastore_limit
        self.active: dict[str, int] = {}
        self.datastore_active = 0
        self._pending: deque[tuple[Task, simpy.Event]] = deque()
        self.tasks: dict[str, Task] = {}
        self._next_task = 5000
        self._next_chain = 41000

    def limit_for(self, host: str) -> int:
        return self.host_limits.get(host, self.host_limit)

    def new_task_id(self) -> tuple[str, int]:
        self._next_task += 1
        self._next_chain += 3
        return f"task-{self._next_task}", self._next_chain

    def admit(self, task: Task) -> simpy.Event:
        """An event that fires when the task may start (immediately if there is room)."""
        event = self.env.event()
        self._pending.append((task, event))
        self._pump()
        return event

    def release(self, task: Task) -> None:
        for host in (task.source, task.dest):
            self.active[host] -= 1
        self.datastore_active -= 1
        self._pump()

    def _fits(self, task: Task) -> bool:
        return (
            self.active.get(task.source, 0) < self.limit_for(task.source)
            and self.active.get(task.dest, 0) < self.limit_for(task.dest)
            and self.datastore_active < self.datastore_limit
        )

    def _pump(self) -> None:
        waiting: deque[tuple[Task, simpy.Event]] = deque()
        while self._pending:
            task, event = self._pending.popleft()
            if self._fits(task):
                for host in (task.source, task.dest):
                    self.active[host] = self.active.get(host, 0) + 1
                self.datastore_active += 1
                event.succeed()
            else:
                waiting.append((task, event))
        self._pending = waiting

    def running_on(self, host: str) -> int:
        return self.active.get(host, 0)
