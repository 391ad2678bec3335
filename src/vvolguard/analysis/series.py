"""What the fold keeps about one (host, provider) pair: totals, levels, latency, quoted lines.

Why apart: :class:`SeriesStats` is what the rest of the analysis reads (facts, findings, trust),
while the folds that fill it live in :mod:`.signals` and the modules beside it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from vvolguard.analysis.counts import ALL_COUNTS
from vvolguard.analysis.foldutil import max_of
from vvolguard.analysis.histogram import LatencyHistogram
from vvolguard.records import Citation


@dataclass
class Exemplar:
    """A quoted line with its time, so it can be placed on the incident timeline."""

    ts: datetime
    citation: Citation
    value: float | None = None  # e.g. elapsed ms for slow creates


@dataclass
class SeriesStats:
    """Everything kept about one (host, provider) pair."""

    host: str | None
    vp: str
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ALL_COUNTS, 0))
    ceiling: int | None = None
    max_outstanding: int | None = None
    seconds_at_level: dict[int, float] = field(default_factory=dict)
    create: LatencyHistogram = field(default_factory=LatencyHistogram)
    first: datetime | None = None
    last: datetime | None = None
    url: str | None = None
    first_by_kind: dict[str, list[Exemplar]] = field(default_factory=dict)
    slowest_creates: list[Exemplar] = field(default_factory=list)
    at_ceiling_lines: list[Exemplar] = field(default_factory=list)

    @property
    def at_ceiling_seconds(self) -> float:
        if self.ceiling is None:
            return 0.0
        return sum(s for level, s in self.seconds_at_level.items() if level >= self.ceiling)


def merge_series(into: SeriesStats, other: SeriesStats, keep: int) -> None:
    """Fold ``other`` into ``into``, keeping at most ``keep`` exemplars of each sort."""
    for name, n in other.counts.items():
        into.counts[name] = into.counts.get(name, 0) + n
    into.ceiling = max_of(into.ceiling, other.ceiling)
    into.max_outstanding = max_of(into.max_outstanding, other.max_outstanding)
    for level, seconds in other.seconds_at_level.items():
        into.seconds_at_level[level] = into.seconds_at_level.get(level, 0.0) + seconds
    into.create.merge(other.create)
    into.first = min((t for t in (into.first, other.first) if t is not None), default=None)
    into.last = max((t for t in (into.last, other.last) if t is not None), default=None)
    into.url = into.url or other.url
    for kind, items in other.first_by_kind.items():
        merged = sorted([*into.first_by_kind.get(kind, []), *items], key=lambda e: e.ts)
        into.first_by_kind[kind] = merged[:keep]
    into.slowest_creates = sorted(
        [*into.slowest_creates, *other.slowest_creates], key=lambda e: -(e.value or 0)
    )[:keep]
    into.at_ceiling_lines = sorted([*into.at_ceiling_lines, *other.at_ceiling_lines], key=lambda e: e.ts)[
        :keep
    ]
