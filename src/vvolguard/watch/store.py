"""What watch saw, in the local SQLite store (``vvolguard.store``), so a later
``diagnose --since 2h`` can name it (``watch.history``), and ``sqlite3`` can read it:

* ``watch_changes``: one row per state change (pressure level, host stale/receiving, vCenter
  up/down, a failed migration vCenter reported, a provider's status);
* ``watch_runs``: when each watch process started, was last known alive (a heartbeat every
  ``heartbeat`` seconds) and stopped, and what it listened to: the *coverage*, without which
  "watch saw nothing" cannot be told from "watch was not running";
* ``watch_hosts``: per run, each host's first and last time heard (any daemon) and heard from
  vvold, so "no pressure" is only ever said of a host whose vvold lines reached watch.

Rows are small and few, and rows older than ``keep_days`` are deleted as new ones arrive, so the
tables stay bounded over months.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from vvolguard import store as base
from vvolguard.watch.state import Change, HostHeard

SCHEMA = """
CREATE TABLE IF NOT EXISTS watch_changes (
    at       TEXT NOT NULL,
    host     TEXT NOT NULL,
    provider TEXT,
    what     TEXT NOT NULL,
    old      TEXT NOT NULL,
    new      TEXT NOT NULL,
    reasons  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS watch_changes_at ON watch_changes (at);
CREATE TABLE IF NOT EXISTS watch_runs (
    id         INTEGER PRIMARY KEY,
    started_at TEXT NOT NULL,
    alive_at   TEXT NOT NULL,
    stopped_at TEXT,
    sources    TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS watch_hosts (
    run_id      INTEGER NOT NULL REFERENCES watch_runs (id) ON DELETE CASCADE,
    host        TEXT NOT NULL,
    first_heard TEXT NOT NULL,
    last_heard  TEXT NOT NULL,
    first_vvold TEXT,
    last_vvold  TEXT,
    PRIMARY KEY (run_id, host)
);
"""


def iso(wall: float) -> str:
    """Epoch seconds as the store writes times: ISO 8601 UTC with milliseconds (sorts as text)."""
    return datetime.fromtimestamp(wall, UTC).isoformat(timespec="milliseconds")


class ChangeStore:
    def __init__(self, path: Path | str | None = None, keep_days: float = 90.0) -> None:
        self.conn = base.connect(path)
        self.conn.executescript(SCHEMA)
        self.keep = timedelta(days=keep_days)
        self._written = 0
        self.run_id: int | None = None

    # -- coverage: runs and hosts heard ------------------------------------------------------

    def begin(self, sources: Iterable[str], wall: float) -> int:
        """A watch run starts listening to ``sources`` (``udp://...``, ``file:...``, ``vcenter:...``)."""
        cur = self.conn.execute(
            "INSERT INTO watch_runs (started_at, alive_at, sources) VALUES (?,?,?)",
            (iso(wall), iso(wall), json.dumps(sorted(sources))),
        )
        self.run_id = int(cur.lastrowid or 0)
        return self.run_id

    def heartbeat(self, wall: float, hosts: Iterable[HostHeard]) -> None:
        """The run is alive at ``wall``; ``hosts`` were heard since the last heartbeat."""
        if self.run_id is None:
            return
        rows = [
            (
                self.run_id,
                h.host,
                iso(h.first),
                iso(h.last),
                None if h.first_vvold is None else iso(h.first_vvold),
                None if h.last_vvold is None else iso(h.last_vvold),
            )
            for h in hosts
        ]
        with base.transaction(self.conn):
            self.conn.execute("UPDATE watch_runs SET alive_at = ? WHERE id = ?", (iso(wall), self.run_id))
            self.conn.executemany(
                """INSERT INTO watch_hosts VALUES (?,?,?,?,?,?)
                   ON CONFLICT (run_id, host) DO UPDATE SET
                     last_heard = excluded.last_heard,
                     first_vvold = COALESCE(watch_hosts.first_vvold, excluded.first_vvold),
                     last_vvold = COALESCE(excluded.last_vvold, watch_hosts.last_vvold)""",
                rows,
            )

    def end(self, wall: float) -> None:
        if self.run_id is None:
            return
        self.conn.execute(
            "UPDATE watch_runs SET alive_at = ?, stopped_at = ? WHERE id = ?",
            (iso(wall), iso(wall), self.run_id),
        )
        self.run_id = None

    def record(self, change: Change) -> None:
        at = iso(change.at)
        self.conn.execute(
            "INSERT INTO watch_changes VALUES (?,?,?,?,?,?,?)",
            (
                at,
                change.host,
                change.provider,
                change.what,
                change.old,
                change.new,
                json.dumps(change.reasons),
            ),
        )
        self._written += 1
        if self._written % 1000 == 1:
            self.prune()

    def prune(self) -> None:
        """Forget what is older than ``keep_days`` (changes, and runs that ended before it)."""
        cutoff = (datetime.now(UTC) - self.keep).isoformat(timespec="milliseconds")
        self.conn.execute("DELETE FROM watch_changes WHERE at < ?", (cutoff,))
        self.conn.execute("DELETE FROM watch_runs WHERE alive_at < ?", (cutoff,))

    def since(self, when: datetime) -> list[dict[str, object]]:
        """Changes at or after ``when`` (aware), oldest first."""
        rows = self.conn.execute(
            "SELECT * FROM watch_changes WHERE at >= ? ORDER BY at",
            (when.astimezone(UTC).isoformat(timespec="milliseconds"),),
        ).fetchall()
        return [dict(r) | {"reasons": json.loads(r["reasons"])} for r in rows]

    def close(self) -> None:
        self.conn.close()
