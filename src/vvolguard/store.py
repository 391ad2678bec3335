"""The local SQLite store: observed safe concurrency limits and drain journals.

Why SQLite: it survives kill -9 with its journal intact (WAL + synchronous=FULL), needs no
server, and an admin can open it with the ``sqlite3`` shell. One file holds both the limits the
runbook asks admins to document ("operational limit" per provider and host) and the drain
journals (``drain.journal``), so ``vvolguard limits`` and a resumed drain see the same truth.

Default location: ``$VVOLGUARD_HOME/vvolguard.db`` or ``~/.local/share/vvolguard/vvolguard.db``.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS observed_limits (
    vcenter     TEXT NOT NULL,
    host        TEXT NOT NULL,
    provider    TEXT NOT NULL,
    safe_limit  INTEGER NOT NULL,
    ceiling     INTEGER NOT NULL,
    migrated    INTEGER NOT NULL,
    failed      INTEGER NOT NULL,
    congestion_episodes INTEGER NOT NULL,
    observed_at TEXT NOT NULL,
    PRIMARY KEY (vcenter, host, provider)
);
"""


def default_path() -> Path:
    """Where the store lives unless ``--store`` says otherwise."""
    home = os.environ.get("VVOLGUARD_HOME")
    if home:
        return Path(home) / "vvolguard.db"
    return Path.home() / ".local" / "share" / "vvolguard" / "vvolguard.db"


def connect(path: Path | str | None = None) -> sqlite3.Connection:
    """Open (and create) a store file with crash-safe settings.

    ``isolation_level=None`` (autocommit) plus explicit ``transaction()`` blocks: each journal
    transition is durable the moment the call returns, which is what makes kill -9 safe.
    """
    p = Path(path) if path else default_path()
    p.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(p, isolation_level=None, timeout=30.0, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.executescript(SCHEMA)
    return conn


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE … COMMIT, rolled back on error."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def utcnow_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True, slots=True)
class ObservedLimit:
    """The concurrency a drain found safe for one (vCenter, host, provider)."""

    vcenter: str
    host: str
    provider: str
    safe_limit: int
    ceiling: int
    migrated: int
    failed: int
    congestion_episodes: int
    observed_at: str


class Store:
    """Observed limits, on one SQLite connection."""

    def __init__(self, path: Path | str | None = None) -> None:
        self.path = Path(path) if path else default_path()
        self.conn = connect(self.path)

    def close(self) -> None:
        self.conn.close()

    def record_limit(self, limit: ObservedLimit) -> None:
        """Insert or replace the observation for (vcenter, host, provider): the latest drain is
        the best knowledge, since providers are upgraded and loads change."""
        self.conn.execute(
            "INSERT OR REPLACE INTO observed_limits VALUES (?,?,?,?,?,?,?,?,?)",
            (
                limit.vcenter,
                limit.host,
                limit.provider,
                limit.safe_limit,
                limit.ceiling,
                limit.migrated,
                limit.failed,
                limit.congestion_episodes,
                limit.observed_at,
            ),
        )

    def known_limit(self, vcenter: str, host: str, provider: str) -> int | None:
        """The safe limit a previous drain found for this host, else the most conservative one
        seen for the same provider on another host of the same vCenter, else ``None``."""
        row = self.conn.execute(
            "SELECT safe_limit FROM observed_limits WHERE vcenter=? AND host=? AND provider=?",
            (vcenter, host, provider),
        ).fetchone()
        if row:
            return int(row[0])
        row = self.conn.execute(
            "SELECT MIN(safe_limit) FROM observed_limits WHERE vcenter=? AND provider=?",
            (vcenter, provider),
        ).fetchone()
        return int(row[0]) if row and row[0] is not None else None

    def limits(self) -> list[ObservedLimit]:
        rows = self.conn.execute("SELECT * FROM observed_limits ORDER BY vcenter, provider, host").fetchall()
        return [ObservedLimit(**dict(r)) for r in rows]
