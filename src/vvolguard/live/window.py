"""The incident window of ``--since 2h`` or ``--window START..END``: one pair of aware UTC times.

Why a module: ``collect``, ``diagnose --vcenter`` and ``validate`` take the same options, and a
window given wrongly must be a clear usage message, never a collector running over "everything".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|hr|d|day|w)?\s*$", re.IGNORECASE)
_UNIT_SECONDS = {
    "s": 1,
    "sec": 1,
    "m": 60,
    "min": 60,
    "h": 3600,
    "hr": 3600,
    "d": 86400,
    "day": 86400,
    "w": 604800,
}

#: Without --since or --window: the last two hours, the runbook's usual look-back.
DEFAULT_SINCE = timedelta(hours=2)


@dataclass(frozen=True, slots=True)
class Window:
    start: datetime
    end: datetime

    def __str__(self) -> str:
        return f"{iso(self.start)}..{iso(self.end)}"

    def covers(self, when: datetime) -> bool:
        return self.start <= when <= self.end


def iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def parse_duration(text: str) -> timedelta:
    """``90m``, ``2h``, ``1.5h``, ``3d``, ``7200`` (seconds)."""
    found = _DURATION.match(text)
    if not found:
        raise ValueError(f"{text!r} is not a duration (e.g. 30m, 2h, 1d)")
    unit = (found.group(2) or "s").lower()
    seconds = float(found.group(1)) * _UNIT_SECONDS[unit]
    if seconds <= 0:
        raise ValueError(f"{text!r} is not a positive duration")
    return timedelta(seconds=seconds)


def parse_time(text: str) -> datetime:
    """An ISO time; without an offset it is UTC (vCenter and ESXi log in UTC)."""
    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO date/time (e.g. 2026-03-14T10:00:00Z)") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_window(since: str | None, window: str | None, now: datetime | None = None) -> Window:
    """``--since`` or ``--window`` (not both) into a :class:`Window`; ValueError says what is wrong."""
    now = now or datetime.now(UTC)
    if since and window:
        raise ValueError("give --since or --window, not both")
    if window:
        start_text, sep, end_text = window.partition("..")
        if not sep:
            raise ValueError(f"--window {window!r} must be START..END (ISO times; END may be empty for now)")
        start = parse_time(start_text)
        end = parse_time(end_text) if end_text.strip() else now
        if end <= start:
            raise ValueError(f"--window {window!r} ends before it starts")
        return Window(start, end)
    span = parse_duration(since) if since else DEFAULT_SINCE
    return Window(now - span, now)
