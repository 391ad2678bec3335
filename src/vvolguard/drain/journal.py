"""The drain journal: one SQLite row per VM per drain run, written before every risky step.

Why this order of writes makes kill -9 safe (no VM migrated twice, nothing lost):

1. ``planned``: the VM is on the list.
2. ``submitting``: the destination is chosen and written *before* ``RelocateVM_Task`` is called.
   If the process dies here, a resume asks the backend whether a relocate task is running on
   the VM (``find_relocate_task``) or whether it already left the host (``vm_host``) instead of
   submitting again.
3. ``submitted``: the task id is written as soon as vCenter returns it, *before* waiting. A
   resume polls that task instead of submitting a new one.
4. ``succeeded`` / ``failed`` (with attempts and a retry time) / ``left`` (two failures, or a
   CheckRelocate problem: the VM stays where it is and is reported).

Every write is its own committed transaction (autocommit + WAL + synchronous=FULL).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from vvolguard import store as store_mod
from vvolguard.drain.backends.base import VmRef

SCHEMA = """
CREATE TABLE IF NOT EXISTS drain_runs (
    run_id      INTEGER PRIMARY KEY AUTOINCREMENT,
    run_key     TEXT NOT NULL,
    endpoint    TEXT NOT NULL,
    source_host TEXT NOT NULL,
    targets     TEXT NOT NULL,
    options     TEXT NOT NULL,
    status      TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    finished_at TEXT
);
CREATE INDEX IF NOT EXISTS drain_runs_key ON drain_runs (run_key, status);
CREATE TABLE IF NOT EXISTS drain_vms (
    run_id      INTEGER NOT NULL REFERENCES drain_runs(run_id),
    seq         INTEGER NOT NULL,
    vm_id       TEXT NOT NULL,
    name        TEXT NOT NULL,
    state       TEXT NOT NULL,
    dest        TEXT,
    task_id     TEXT,
    attempts    INTEGER NOT NULL DEFAULT 0,
    retry_at    REAL,
    last_error  TEXT,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (run_id, vm_id)
);
CREATE TABLE IF NOT EXISTS drain_events (
    run_id  INTEGER NOT NULL,
    at      TEXT NOT NULL,
    vm_id   TEXT,
    event   TEXT NOT NULL,
    detail  TEXT
);
"""


class VmState(StrEnum):
    PLANNED = "planned"
    SUBMITTING = "submitting"
    SUBMITTED = "submitted"
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # waiting for its lone retry after the cooldown
    LEFT = "left"  # left in place and reported

    @property
    def final(self) -> bool:
        return self in (VmState.SUCCEEDED, VmState.LEFT)


@dataclass(frozen=True, slots=True)
class VmEntry:
    run_id: int
    seq: int
    vm_id: str
    name: str
    state: VmState
    dest: str | None
    task_id: str | None
    attempts: int
    retry_at: float | None
    last_error: str | None

    def ref(self, host: str) -> VmRef:
        return VmRef(id=self.vm_id, name=self.name, host=host)


def run_key(endpoint: str, source_host: str) -> str:
    """A drain is "the same command again" when it targets the same host of the same vCenter."""
    return f"{endpoint}|{source_host}"


class Journal:
    """Read and write one drain run."""

    def __init__(self, conn: sqlite3.Connection, run_id: int, source_host: str) -> None:
        self.conn = conn
        self.run_id = run_id
        self.source_host = source_host

    # -- opening ---------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        path: Path | str | None,
        *,
        endpoint: str,
        source_host: str,
        targets: Sequence[str],
        options: dict[str, object],
    ) -> tuple[Journal, bool]:
        """Resume the unfinished run for (endpoint, host) if there is one, else start a new one.

        Returns the journal and whether it is a resume."""
        conn = store_mod.connect(path)
        conn.executescript(SCHEMA)
        key = run_key(endpoint, source_host)
        row = conn.execute(
            "SELECT run_id FROM drain_runs WHERE run_key=? AND status IN ('running', 'interrupted') "
            "ORDER BY run_id DESC LIMIT 1",
            (key,),
        ).fetchone()
        if row:
            conn.execute("UPDATE drain_runs SET status='running' WHERE run_id=?", (row[0],))
            return cls(conn, int(row[0]), source_host), True
        cur = conn.execute(
            "INSERT INTO drain_runs (run_key, endpoint, source_host, targets, options, status, "
            "started_at) VALUES (?,?,?,?,?,'running',?)",
            (
                key,
                endpoint,
                source_host,
                json.dumps(list(targets)),
                json.dumps(options, default=str),
                store_mod.utcnow_iso(),
            ),
        )
        return cls(conn, int(cur.lastrowid or 0), source_host), False

    def close(self) -> None:
        self.conn.close()

    # -- planning ----------------------------------------------------------------------------

    def plan(self, vms: Sequence[VmRef]) -> int:
        """Add VMs not yet in this run (a resume may find VMs that arrived since). Returns how
        many were added."""
        added = 0
        with store_mod.transaction(self.conn):
            (seq,) = self.conn.execute(
                "SELECT COALESCE(MAX(seq), -1) + 1 FROM drain_vms WHERE run_id=?", (self.run_id,)
            ).fetchone()
            for vm in vms:
                cur = self.conn.execute(
                    "INSERT OR IGNORE INTO drain_vms (run_id, seq, vm_id, name, state, updated_at) "
                    "VALUES (?,?,?,?,?,?)",
                    (self.run_id, seq, vm.id, vm.name, VmState.PLANNED, store_mod.utcnow_iso()),
                )
                if cur.rowcount:
                    seq += 1
                    added += 1
                    self._event(vm.id, "planned", None)
        return added

    # -- transitions -------------------------------------------------------------------------

    def _set(self, vm_id: str, event: str, detail: str | None = None, **cols: object) -> None:
        cols["updated_at"] = store_mod.utcnow_iso()
        assignments = ", ".join(f"{k}=?" for k in cols)
        with store_mod.transaction(self.conn):
            self.conn.execute(
                f"UPDATE drain_vms SET {assignments} WHERE run_id=? AND vm_id=?",
                (*cols.values(), self.run_id, vm_id),
            )
            self._event(vm_id, event, detail)

    def _event(self, vm_id: str | None, event: str, detail: str | None) -> None:
        self.conn.execute(
            "INSERT INTO drain_events VALUES (?,?,?,?,?)",
            (self.run_id, store_mod.utcnow_iso(), vm_id, event, detail),
        )

    def submitting(self, vm_id: str, dest: str) -> None:
        self._set(vm_id, "submitting", dest, state=VmState.SUBMITTING, dest=dest, task_id=None)

    def submitted(self, vm_id: str, task_id: str) -> None:
        self._set(vm_id, "submitted", task_id, state=VmState.SUBMITTED, task_id=task_id)

    def succeeded(self, vm_id: str, dest: str | None = None) -> None:
        cols: dict[str, object] = {"state": VmState.SUCCEEDED}
        if dest:
            cols["dest"] = dest
        self._set(vm_id, "succeeded", dest, **cols)

    def failed(self, vm_id: str, error: str, retry_at: float) -> int:
        """Count one more failed attempt and schedule the lone retry. Returns the attempts."""
        entry = self.get(vm_id)
        attempts = (entry.attempts if entry else 0) + 1
        self._set(
            vm_id,
            "failed",
            error,
            state=VmState.FAILED,
            attempts=attempts,
            retry_at=retry_at,
            last_error=error,
            task_id=None,
        )
        return attempts

    def left(self, vm_id: str, reason: str) -> None:
        self._set(vm_id, "left", reason, state=VmState.LEFT, last_error=reason, task_id=None)

    def back_to_planned(self, vm_id: str, why: str) -> None:
        self._set(vm_id, "replanned", why, state=VmState.PLANNED, task_id=None)

    def finish(self, status: str) -> None:
        """Close the run: ``completed`` (nothing left to do) or ``interrupted`` (Ctrl-C); the
        next identical command resumes an interrupted run, as it does one a crash left
        ``running``."""
        with store_mod.transaction(self.conn):
            self.conn.execute(
                "UPDATE drain_runs SET status=?, finished_at=? WHERE run_id=?",
                (status, store_mod.utcnow_iso(), self.run_id),
            )
            self._event(None, f"run {status}", None)

    # -- reading -----------------------------------------------------------------------------

    def entries(self) -> list[VmEntry]:
        rows = self.conn.execute(
            "SELECT run_id, seq, vm_id, name, state, dest, task_id, attempts, retry_at, last_error "
            "FROM drain_vms WHERE run_id=? ORDER BY seq",
            (self.run_id,),
        ).fetchall()
        return [_entry(r) for r in rows]

    def get(self, vm_id: str) -> VmEntry | None:
        row = self.conn.execute(
            "SELECT run_id, seq, vm_id, name, state, dest, task_id, attempts, retry_at, last_error "
            "FROM drain_vms WHERE run_id=? AND vm_id=?",
            (self.run_id, vm_id),
        ).fetchone()
        return _entry(row) if row else None

    def counts(self) -> dict[str, int]:
        out = {s.value: 0 for s in VmState}
        for state, n in self.conn.execute(
            "SELECT state, COUNT(*) FROM drain_vms WHERE run_id=? GROUP BY state", (self.run_id,)
        ):
            out[state] = n
        return out

    def events(self) -> list[tuple[str | None, str, str | None]]:
        return [
            (r[0], r[1], r[2])
            for r in self.conn.execute(
                "SELECT vm_id, event, detail FROM drain_events WHERE run_id=? ORDER BY rowid",
                (self.run_id,),
            )
        ]


def _entry(r: sqlite3.Row) -> VmEntry:
    return VmEntry(
        run_id=r[0],
        seq=r[1],
        vm_id=r[2],
        name=r[3],
        state=VmState(r[4]),
        dest=r[5],
        task_id=r[6],
        attempts=r[7],
        retry_at=r[8],
        last_error=r[9],
    )
