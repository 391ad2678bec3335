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

#: Columns added after the first release, with their SQL type and the value older rows read as.
#: ``kind`` 'legacy' marks a row written when the recorded number was the peak under which some
#: migration succeeded (it may overstate the safe level: issue 15).
_ADDED_COLUMNS = (
    ("kind", "TEXT NOT NULL DEFAULT 'legacy'"),
    ("bound", "INTEGER"),
    ("bound_reason", "TEXT"),
    ("seconds_at_limit", "REAL"),
    ("migrations_at_limit", "INTEGER"),
)


def _migrate(conn: sqlite3.Connection) -> None:
    """Bring an older store up to date in place (ADD COLUMN keeps every existing row)."""
    have = {row[1] for row in conn.execute("PRAGMA table_info(observed_limits)")}
    for name, decl in _ADDED_COLUMNS:
        if name not in have:
            conn.execute(f"ALTER TABLE observed_limits ADD COLUMN {name} {decl}")


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
    _migrate(conn)
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
    """The concurrency a drain found safe for one (vCenter, host, provider), with its evidence.

    ``kind``: ``bounded`` (``bound`` in flight caused pressure or a failure, ``bound_reason``
    says which), ``lower-bound`` (ran clean up to ``safe_limit``, not probed beyond) or
    ``legacy`` (a row from an older vvolguard). ``seconds_at_limit`` and
    ``migrations_at_limit``: how long, and with how many migrations, it ran at that level."""

    vcenter: str
    host: str
    provider: str
    safe_limit: int
    ceiling: int
    migrated: int
    failed: int
    congestion_episodes: int
    observed_at: str
    kind: str = "legacy"
    bound: int | None = None
    bound_reason: str | None = None
    seconds_at_limit: float | None = None
    migrations_at_limit: int | None = None

    def describe(self) -> str:
        """One line for the console and the runbook."""
        if self.kind == "bounded":
            return f"{self.safe_limit} (tested: {self.bound} caused pressure)"
        if self.kind == "lower-bound":
            return f"at least {self.safe_limit} (ran clean up to {self.safe_limit}, not probed beyond)"
        return f"{self.safe_limit} (recorded by an older version: peak, may overstate)"


_COLUMNS = tuple(ObservedLimit.__dataclass_fields__)


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
            f"INSERT OR REPLACE INTO observed_limits ({', '.join(_COLUMNS)}) "
            f"VALUES ({', '.join('?' for _ in _COLUMNS)})",
            tuple(getattr(limit, c) for c in _COLUMNS),
        )

    def known(self, vcenter: str, host: str, provider: str) -> ObservedLimit | None:
        """What a previous drain found for this host, else the most conservative observation of
        the same provider on another host of the same vCenter, else ``None``."""
        row = self.conn.execute(
            "SELECT * FROM observed_limits WHERE vcenter=? AND host=? AND provider=?",
            (vcenter, host, provider),
        ).fetchone()
        if row is None:
            row = self.conn.execute(
                "SELECT * FROM observed_limits WHERE vcenter=? AND provider=? ORDER BY safe_limit LIMIT 1",
                (vcenter, provider),
            ).fetchone()
        return ObservedLimit(**{k: row[k] for k in _COLUMNS}) if row else None

    def known_limit(self, vcenter: str, host: str, provider: str) -> int | None:
        """The safe level of :meth:`known` (``None`` if nothing is known)."""
        found = self.known(vcenter, host, provider)
        return found.safe_limit if found else None

    def limits(self) -> list[ObservedLimit]:
        rows = self.conn.execute("SELECT * FROM observed_limits ORDER BY vcenter, provider, host").fetchall()
        return [ObservedLimit(**{k: r[k] for k in _COLUMNS}) for r in rows]
