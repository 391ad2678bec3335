"""Watch's state changes in the local SQLite store (``vvolguard.store``), one row per change,
so what watch saw can be looked up later (``sqlite3``, and a later ``diagnose --since``).

Rows are small and few (a change is a pressure level or staleness flip), and rows older than
``keep_days`` are deleted as new ones arrive, so the table stays bounded over months.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from vvolguard import store as base
from vvolguard.watch.state import Change

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
"""


class ChangeStore:
    def __init__(self, path: Path | str | None = None, keep_days: float = 90.0) -> None:
        self.conn = base.connect(path)
        self.conn.executescript(SCHEMA)
        self.keep = timedelta(days=keep_days)
        self._written = 0

    def record(self, change: Change) -> None:
        at = datetime.fromtimestamp(change.at, UTC).isoformat(timespec="milliseconds")
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
            cutoff = (datetime.now(UTC) - self.keep).isoformat(timespec="milliseconds")
            self.conn.execute("DELETE FROM watch_changes WHERE at < ?", (cutoff,))

    def since(self, when: datetime) -> list[dict[str, object]]:
        """Changes at or after ``when`` (aware), oldest first."""
        rows = self.conn.execute(
            "SELECT * FROM watch_changes WHERE at >= ? ORDER BY at",
            (when.astimezone(UTC).isoformat(timespec="milliseconds"),),
        ).fetchall()
        return [dict(r) | {"reasons": json.loads(r["reasons"])} for r in rows]

    def close(self) -> None:
        self.conn.close()
