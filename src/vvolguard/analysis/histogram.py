"""The log-bucket latency histogram kept for ``createVirtualVolume`` per series and per bucket.

Buckets grow by a factor of 2**(1/8), so a percentile read from the histogram is within about
4.4 % of the true value (the bucket's geometric midpoint is reported, clamped to the exact
min/max); memory is a few hundred integers per series whatever the number of calls.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import polars as pl

from vvolguard.analysis.model import CreateLatency

HIST_BASE = 2 ** (1 / 8)
_LOG_BASE = math.log(HIST_BASE)


def index_expr(ms: pl.Expr) -> pl.Expr:
    """:meth:`LatencyHistogram.index` as a polars expression (the fold bins whole frames)."""
    return (ms.cast(pl.Float64).clip(lower_bound=1.0).log(HIST_BASE) + 1e-9).floor().cast(pl.Int64)


@dataclass
class LatencyHistogram:
    """Sparse log-bucket histogram of milliseconds (bucket i holds [B**i, B**(i+1)), B=2**(1/8))."""

    bins: dict[int, int] = field(default_factory=dict)
    count: int = 0
    max: float | None = None
    min: float | None = None

    @staticmethod
    def index(ms: float) -> int:
        return math.floor(math.log(max(ms, 1.0)) / _LOG_BASE + 1e-9)

    def add(self, ms: float) -> None:
        self.add_bins({self.index(ms): 1}, ms, ms)

    def add_bins(self, bins: dict[int, int], lo: float | None, hi: float | None) -> None:
        for i, n in bins.items():
            self.bins[i] = self.bins.get(i, 0) + n
            self.count += n
        if hi is not None:
            self.max = hi if self.max is None else max(self.max, hi)
        if lo is not None:
            self.min = lo if self.min is None else min(self.min, lo)

    def merge(self, other: LatencyHistogram) -> None:
        self.add_bins(other.bins, other.min, other.max)

    def quantile(self, q: float) -> float | None:
        if not self.count:
            return None
        rank = max(1, math.ceil(q * self.count))
        seen = 0
        for i in sorted(self.bins):
            seen += self.bins[i]
            if seen >= rank:
                value = HIST_BASE ** (i + 0.5)
                if self.max is not None:
                    value = min(value, self.max)
                if self.min is not None:
                    value = max(value, self.min)
                return value
        return self.max

    def summary(self) -> CreateLatency:
        return {"count": self.count, "p50": self.quantile(0.5), "p95": self.quantile(0.95), "max": self.max}
