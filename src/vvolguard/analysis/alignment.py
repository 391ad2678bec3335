"""Whether the provider pressure in vvold and the failed migrations happened at the same time.

Pressure explains a failure only if it was there when the migration failed. vvold.log is in UTC,
but a vSphere Client CSV is in the exporting browser's local time and its zone is not in the file:
read in the wrong zone (a wrong or missing ``--tz``), the failures move by whole hours and still
"agree" with pressure from another part of the day. An expert puts the two side by side and
notices; this module does that, so the verdict does not tie failures to pressure hours away and
the report says how far apart they are and whether the gap has the size of a time-zone offset.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from vvolguard.analysis.series import SeriesStats
from vvolguard.analysis.timeline import Timeline

#: Zones are whole hours from UTC, or half and quarter hours (India +05:30, Nepal +05:45).
_ZONE_STEP_SECONDS = 900
#: Clocks and exports round; a gap within this of a zone step has a zone's size.
_ZONE_SLACK_SECONDS = 120


@dataclass(frozen=True)
class PressureApart:
    """Failures and the only pressure seen are far apart in time."""

    failures: tuple[datetime, datetime]
    pressure: tuple[datetime, datetime]
    #: signed: the failures' start minus the nearest pressure's start
    offset_seconds: float

    @property
    def zone_sized(self) -> bool:
        """The gap is a multiple of 15 minutes (to within rounding): what a wrong zone makes."""
        off = abs(self.offset_seconds)
        steps = round(off / _ZONE_STEP_SECONDS)
        return steps > 0 and off <= 14 * 3600 and abs(off - steps * _ZONE_STEP_SECONDS) <= _ZONE_SLACK_SECONDS

    def gap_text(self) -> str:
        minutes = round(abs(self.offset_seconds) / 60)
        hours, mins = divmod(minutes, 60)
        size = f"{hours} h {mins:02d} min" if hours else f"{mins} min"
        return f"{size} {'after' if self.offset_seconds > 0 else 'before'}"


def pressure_apart(
    window: tuple[datetime, datetime] | None,
    pressured: Iterable[tuple[tuple[str, str], SeriesStats]],
    timeline: Timeline,
    margin_seconds: float,
) -> PressureApart | None:
    """The gap when no pressured series came within ``margin_seconds`` of the failure window;
    None when nothing failed at a known time, nothing was pressured, or some pressure was near.

    A series' pressure is where its waits, busy faults and timeouts were; a series pressured only
    by its ceiling or slow creates has no such buckets and is placed by the span of its lines."""
    if window is None:
        return None
    lo = window[0].timestamp() - margin_seconds
    hi = window[1].timestamp() + margin_seconds
    width = timeline.bucket_seconds
    spans: list[tuple[float, float]] = []
    for (host, vp), stats in pressured:
        buckets = timeline.pressure_buckets(host, vp)
        if buckets:
            span = (float(buckets[0]), float(buckets[-1] + width))
            near = any(b + width >= lo and b <= hi for b in buckets)
        elif stats.first is not None and stats.last is not None:
            span = (stats.first.timestamp(), stats.last.timestamp())
            near = span[1] >= lo and span[0] <= hi
        else:
            return None  # a pressured series with no time cannot be placed: assume it was near
        if near:
            return None
        spans.append(span)
    if not spans:
        return None
    start = window[0].timestamp()
    nearest = min(spans, key=lambda s: min(abs(start - s[0]), abs(start - s[1])))
    return PressureApart(
        failures=window,
        pressure=(_dt(nearest[0]), _dt(nearest[1])),
        offset_seconds=start - nearest[0],
    )


def _dt(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=UTC)
