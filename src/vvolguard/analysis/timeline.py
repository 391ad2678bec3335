"""The incident timeline: per (host, provider, bucket) cells on a ladder of bucket widths.

The bucket width starts at 10 s and widens along a ladder of whole multiples (10 s, 30 s,
1 min, 5 min, ... 1 day, 1 week) whenever the span seen so far would need more than
``timeline_max_points`` buckets; existing buckets are merged exactly when it widens, so the
result is the same as if the final width had been used from the start.

Folding a frame adds its bucket aggregates as a polars part (no Python loop); parts are
compacted when they grow, and materialised as :class:`Cell` objects on first use.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import polars as pl

from vvolguard.analysis.counts import CELL_COUNTS
from vvolguard.analysis.foldutil import epoch_dt, max_of
from vvolguard.analysis.histogram import LatencyHistogram

#: Timeline bucket widths; each is a whole multiple of the previous so merging is exact.
BUCKET_LADDER = (10, 30, 60, 300, 600, 1800, 3600, 7200, 21600, 43200, 86400, 604800)
#: Unmerged per-frame bucket aggregate rows before they are compacted (bounds memory).
_COMPACT_ROWS = 50_000

CellKey = tuple[str, str, int]


@dataclass
class Cell:
    """One timeline bucket of one series."""

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CELL_COUNTS, 0))
    outstanding_max: int | None = None
    ceiling: int | None = None
    create: LatencyHistogram = field(default_factory=LatencyHistogram)

    def merge(self, other: Cell) -> None:
        for name, n in other.counts.items():
            self.counts[name] += n
        self.outstanding_max = max_of(self.outstanding_max, other.outstanding_max)
        self.ceiling = max_of(self.ceiling, other.ceiling)
        self.create.merge(other.create)


class Timeline:
    """Bounded timeline cells (see the module docstring) and the questions asked of them."""

    def __init__(self, max_points: int) -> None:
        self.max_points = max_points
        self.bucket_seconds = BUCKET_LADDER[0]
        self.t_min: float | None = None
        self.t_max: float | None = None
        self._cells: dict[CellKey, Cell] = {}
        #: Per-frame bucket aggregates not yet merged into ``_cells`` (polars frames, compacted
        #: when they grow): folding a frame then costs one group-by and no Python loop.
        self._cell_parts: list[pl.DataFrame] = []
        self._hist_parts: list[pl.DataFrame] = []
        self._part_rows = 0
        self._version = 0
        self._index: dict[tuple[str, str], list[tuple[int, Cell]]] = {}
        self._index_stamp: tuple[int, int, int] | None = None

    # ---------------------------------------------------------------- folding

    def widen_for(self, df: pl.DataFrame) -> None:
        """Take in ``df``'s time span (column ``es``), widening the buckets if it needs to."""
        lo, hi = df.select(pl.col("es").min().alias("lo"), pl.col("es").max().alias("hi")).row(0)
        self.t_min = lo if self.t_min is None else min(self.t_min, lo)
        self.t_max = hi if self.t_max is None else max(self.t_max, hi)
        width = self.bucket_seconds
        for candidate in BUCKET_LADDER:
            if candidate < width:
                continue
            width = candidate
            if (self.t_max - self.t_min) / candidate + 1 <= self.max_points:
                break
        if width != self.bucket_seconds:
            self._coarsen(width)

    def _coarsen(self, width: int) -> None:
        # the unmerged parts are re-bucketed when they are compacted; only cells already
        # materialised (rare: a query came before the last frame) are merged here
        merged: dict[CellKey, Cell] = {}
        for (host, vp, b), cell in self._cells.items():
            key = (host, vp, (b // width) * width)
            if key in merged:
                merged[key].merge(cell)
            else:
                merged[key] = cell
        self._cells = merged
        self.bucket_seconds = width

    def add(self, buckets: pl.DataFrame, creates: pl.DataFrame) -> None:
        """Fold one frame's bucket aggregates and its binned creates (column ``hidx``)."""
        self._version += 1
        part = buckets.select("host", "vp", "bucket", *CELL_COUNTS, "outstanding_max", "ceiling")
        self._cell_parts.append(part)
        self._part_rows += part.height
        if creates.height:
            hist = creates.group_by("host", "vp", "bucket", "hidx").agg(
                pl.len().cast(pl.Int64).alias("n"),
                pl.col("elapsed_ms").min().cast(pl.Int64).alias("lo"),
                pl.col("elapsed_ms").max().cast(pl.Int64).alias("hi"),
            )
            self._hist_parts.append(hist)
            self._part_rows += hist.height
        if self._part_rows > _COMPACT_ROWS:
            self._compact_parts()

    def _compact_parts(self) -> None:
        """Merge the per-frame aggregates into one frame per kind, at the current bucket width
        (widths are whole multiples of each other, so re-flooring is exact)."""
        width = self.bucket_seconds
        bucket = ((pl.col("bucket") // width) * width).cast(pl.Int64).alias("bucket")
        if self._cell_parts:
            cells = pl.concat(self._cell_parts, rechunk=False).with_columns(bucket)
            aggs = [pl.col(name).sum().alias(name) for name in CELL_COUNTS]
            aggs += [pl.col("outstanding_max").max(), pl.col("ceiling").max()]
            self._cell_parts = [cells.group_by("host", "vp", "bucket", maintain_order=True).agg(aggs)]
        if self._hist_parts:
            hist = pl.concat(self._hist_parts, rechunk=False).with_columns(bucket)
            self._hist_parts = [
                hist.group_by("host", "vp", "bucket", "hidx", maintain_order=True).agg(
                    pl.col("n").sum(), pl.col("lo").min(), pl.col("hi").max()
                )
            ]
        self._part_rows = sum(p.height for p in self._cell_parts) + sum(p.height for p in self._hist_parts)

    @property
    def cells(self) -> dict[CellKey, Cell]:
        """Timeline buckets per (host, vp, bucket start), built from the folded aggregates on
        first use after folding (and brought up to date if more frames came since)."""
        if self._cell_parts or self._hist_parts:
            self._compact_parts()
            for row in self._cell_parts[0].iter_rows(named=True) if self._cell_parts else ():
                cell = self._cell(row["host"], row["vp"], row["bucket"])
                for name in CELL_COUNTS:
                    cell.counts[name] += int(row[name] or 0)
                cell.outstanding_max = max_of(cell.outstanding_max, row["outstanding_max"])
                cell.ceiling = max_of(cell.ceiling, row["ceiling"])
            if self._hist_parts:
                hist = self._hist_parts[0]
                per: dict[CellKey, dict[int, int]] = {}
                for host, vp, b, idx, n in hist.select("host", "vp", "bucket", "hidx", "n").iter_rows():
                    per.setdefault((host, vp, b), {})[idx] = n
                bounds = hist.group_by("host", "vp", "bucket", maintain_order=True).agg(
                    pl.col("lo").min(), pl.col("hi").max()
                )
                for host, vp, b, lo, hi in bounds.iter_rows():
                    self._cell(host, vp, b).create.add_bins(per.get((host, vp, b), {}), float(lo), float(hi))
            self._cell_parts, self._hist_parts, self._part_rows = [], [], 0
        return self._cells

    def frames(self) -> tuple[pl.DataFrame, pl.DataFrame]:
        """The cells as two frames at the current width, without building :class:`Cell` objects:
        counters per ``host, vp, bucket`` (columns as :meth:`add` takes them) and the create
        histogram per ``host, vp, bucket, hidx`` (``n``, and the ``lo``/``hi`` latency of that
        bin's calls). Why: ``fleet`` ships a file's whole timeline to the client, and a Python
        object per cell cost a third of a small file's summary; a cell already built (a question
        was asked before the last fold) is turned back into rows, which only that rare case pays."""
        self._compact_parts()
        cells = self._cell_parts[0] if self._cell_parts else _empty_cells()
        hist = self._hist_parts[0] if self._hist_parts else _empty_hist()
        if self._cells:
            built_cells = pl.DataFrame(
                [
                    (host, vp, b, *(c.counts.get(n, 0) for n in CELL_COUNTS), c.outstanding_max, c.ceiling)
                    for (host, vp, b), c in self._cells.items()
                ],
                schema=cells.schema,
                orient="row",
            )
            built_hist = pl.DataFrame(
                [
                    (host, vp, b, idx, n, c.create.min, c.create.max)
                    for (host, vp, b), c in self._cells.items()
                    for idx, n in c.create.bins.items()
                ],
                schema={**hist.schema, "lo": pl.Float64, "hi": pl.Float64},
                orient="row",
            )
            width = self.bucket_seconds
            bucket = ((pl.col("bucket") // width) * width).cast(pl.Int64)
            keys = ("host", "vp", "bucket")
            cells = (
                pl.concat([cells, built_cells], how="vertical_relaxed")
                .with_columns(bucket)
                .group_by(*keys, maintain_order=True)
                .agg(
                    *(pl.col(n).sum() for n in CELL_COUNTS),
                    pl.col("outstanding_max").max(),
                    pl.col("ceiling").max(),
                )
            )
            hist = (
                pl.concat([hist, built_hist], how="vertical_relaxed")
                .with_columns(bucket)
                .group_by(*keys, "hidx", maintain_order=True)
                .agg(pl.col("n").sum(), pl.col("lo").min(), pl.col("hi").max())
            )
        return cells, hist

    def _cell(self, host: str, vp: str, bucket: int) -> Cell:
        key = (host, vp, bucket)
        cell = self._cells.get(key)
        if cell is None:
            cell = self._cells[key] = Cell()
        return cell

    def rename_unnamed(self, host: str, vp: str) -> None:
        """``host``'s cells that named no provider become ``vp``'s (merged into its own)."""
        self._version += 1
        for key in [k for k in self.cells if k[0] == host and k[1] == ""]:
            cell = self._cells.pop(key)
            into = self._cell(host, vp, key[2])
            into.merge(cell)

    # ---------------------------------------------------------------- questions at the end

    def _series_cells(self) -> dict[tuple[str, str], list[tuple[int, Cell]]]:
        """Cells grouped per series and sorted by time, built once the folding is over (and
        rebuilt if a later fold or coarsening changed the cells)."""
        cells = self.cells
        stamp = (len(cells), self.bucket_seconds, self._version)
        if self._index_stamp != stamp:
            index: dict[tuple[str, str], list[tuple[int, Cell]]] = {}
            for (host, vp, b), cell in cells.items():
                index.setdefault((host, vp), []).append((b, cell))
            for series_cells in index.values():
                series_cells.sort(key=lambda item: item[0])
            self._index = index
            self._index_stamp = stamp
        return self._index

    def peak_pressure(self, host: str, vp: str, window_seconds: float) -> int:
        """The most pressure events (no-free-connection waits + busy) inside any window of
        ``window_seconds``, read from timeline buckets (a sliding window over the series' sorted
        buckets). When buckets are wider than the window (spans over about a week), one bucket is
        the window, which can only over-count."""
        cells = self._series_cells().get((host, vp), [])
        span = max(1, math.ceil(window_seconds / self.bucket_seconds)) * self.bucket_seconds
        best = total = 0
        start = 0
        for b, cell in cells:
            total += cell.counts["no_free_conn"] + cell.counts["busy"]
            while cells[start][0] <= b - span:
                total -= cells[start][1].counts["no_free_conn"] + cells[start][1].counts["busy"]
                start += 1
            best = max(best, total)
        return best

    def pressure_buckets(self, host: str, vp: str) -> list[int]:
        """Start times (epoch seconds) of the series' buckets holding a wait, busy fault or timeout,
        in time order: where its pressure was, for placing it against the failures."""
        return [
            b
            for b, c in self._series_cells().get((host, vp), [])
            if c.counts["no_free_conn"] or c.counts["busy"] or c.counts["timeout"]
        ]

    def pressure_span(self) -> tuple[datetime, datetime] | None:
        """First and last bucket holding any pressure or timeout signal."""
        times = [
            b
            for (_h, _v, b), c in self.cells.items()
            if c.counts["no_free_conn"] or c.counts["busy"] or c.counts["timeout"]
        ]
        if not times:
            return None
        return epoch_dt(min(times)), epoch_dt(max(times) + self.bucket_seconds)

    def span(self) -> tuple[datetime, datetime] | None:
        if self.t_min is None or self.t_max is None:
            return None
        return epoch_dt(self.t_min), epoch_dt(self.t_max)

    def nearby(
        self, hosts_match: Callable[[str], bool], t: datetime, window_seconds: float
    ) -> dict[str, float]:
        """Signals of the matching hosts (any provider) in [t - window, t + window].

        ``hosts_match(raw_host)`` says whether a series host is one of the hosts asked about, so
        the caller's name normalisation (FQDN vs short name) decides.
        """
        lo = t.timestamp() - window_seconds
        hi = t.timestamp() + window_seconds
        width = self.bucket_seconds
        out: dict[str, float] = {}
        hist = LatencyHistogram()
        outstanding: int | None = None
        ceiling: int | None = None
        found = False
        for (host, _vp), cells in self._series_cells().items():
            if not hosts_match(host):
                continue
            first = bisect.bisect_right(cells, lo - width, key=lambda item: item[0])
            for b, cell in cells[first:]:
                if b > hi:
                    break
                if b + width <= lo:
                    continue
                found = True
                for name, n in cell.counts.items():
                    out[name] = out.get(name, 0) + n
                hist.merge(cell.create)
                outstanding = max_of(outstanding, cell.outstanding_max)
                ceiling = max_of(ceiling, cell.ceiling)
        if not found:
            return {}
        if hist.count:
            out["create_count"] = hist.count
            out["create_p95_ms"] = round(hist.quantile(0.95) or 0.0, 1)
            out["create_max_ms"] = hist.max or 0.0
        if outstanding is not None:
            out["outstanding_max"] = outstanding
        if ceiling is not None:
            out["ceiling"] = ceiling
        return out


def _empty_cells() -> pl.DataFrame:
    schema: dict[str, pl.DataType | type[pl.DataType]] = {
        "host": pl.String,
        "vp": pl.String,
        "bucket": pl.Int64,
    }
    schema.update(dict.fromkeys(CELL_COUNTS, pl.Int64))
    schema.update(outstanding_max=pl.Int64, ceiling=pl.Int64)
    return pl.DataFrame(schema=schema)


def _empty_hist() -> pl.DataFrame:
    return pl.DataFrame(
        schema={
            "host": pl.String,
            "vp": pl.String,
            "bucket": pl.Int64,
            "hidx": pl.Int64,
            "n": pl.Int64,
            "lo": pl.Int64,
            "hi": pl.Int64,
        }
    )
