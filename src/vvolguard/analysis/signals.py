"""Fold vvold VasaFrames into bounded per-(host, provider) accumulators.

vvold.log can be gigabytes, so nothing here keeps rows. Each frame is reduced with polars
aggregations into:

* counters per (host, vp) and per timeline bucket;
* a log-bucket latency histogram for ``createVirtualVolume`` (the swap vVol creation KB 318662
  names). Buckets grow by a factor of 2**(1/8), so a percentile read from the histogram is within
  about 4.4 % of the true value (the bucket's geometric midpoint is reported, clamped to the exact
  max); memory is a few hundred integers per series whatever the number of calls;
* seconds spent at each ``#outstanding`` level, measured between consecutive lines of the same
  file, host and provider (gaps capped by ``at_ceiling_max_gap_seconds``). The ceiling is the
  largest ``n/max`` denominator seen, so "time at the ceiling" can be summed at the end even if the
  ceiling is only learnt late;
* a handful of exemplar lines per (host, vp, kind): the first few of each kind, the slowest
  creates and the first lines at the ceiling, so findings can quote real evidence;
* a timeline whose bucket width starts at 10 s and widens along a ladder of whole multiples
  (10 s, 30 s, 1 min, 5 min, ... 1 day, 1 week) whenever the span seen so far would need more than
  ``timeline_max_points`` buckets; existing buckets are merged exactly when it widens, so the
  result is the same as if the final width had been used from the start.

Issuing and FINAL lines are tied by ``(host, pid, opseq)`` (the sequence number is unique within
one vvold process, and an operation can straddle a log rotation, so the file is not part of the
key) so a FINAL line without ``timeElapsed`` (or without the operation name) still gets both.
Issuing lines still waiting for their FINAL line at the end of a frame are carried to the next
frame, capped at :data:`PENDING_ISSUES_CAP` (oldest dropped).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import polars as pl

from vvolguard.records import VASA_SCHEMA, Citation, VasaEventKind, VasaFrame

CREATE_OP = "createVirtualVolume"
BIND_OP = "bindVirtualVolume"

#: The counters reported per provider (the ``counts`` of ``Diagnosis.signals``).
COUNT_NAMES = (
    "issue",
    "success",
    "failure",
    "no_free_conn",
    "busy",
    "timeout",
    "setcontext_failure",
    "transport",
    "ssl",
    "bind_retry",
)
#: Counted too but not reported: a line that is a setContext failure or a transport fault (or
#: both, as ``DoSetContext ... TRANSPORT_FAULT`` is), so connection trouble is not counted twice.
INTERNAL_COUNTS = ("connect",)
ALL_COUNTS = COUNT_NAMES + INTERNAL_COUNTS
#: Counters kept per timeline bucket (the shape shows four; the rest serve nearby_signals).
CELL_COUNTS = (
    "no_free_conn",
    "busy",
    "timeout",
    "failure",
    "setcontext_failure",
    "transport",
    "ssl",
    "bind_retry",
)
#: Pressure, in the KB 318662 sense: the pool was exhausted or the provider said busy.
PRESSURE_COUNTS = ("no_free_conn", "busy")

#: Timeline bucket widths; each is a whole multiple of the previous so merging is exact.
BUCKET_LADDER = (10, 30, 60, 300, 600, 1800, 3600, 7200, 21600, 43200, 86400, 604800)
#: Issuing lines waiting for their FINAL line across frames.
PENDING_ISSUES_CAP = 20_000
#: Unmerged per-frame bucket aggregate rows before they are compacted (bounds memory).
_COMPACT_ROWS = 50_000
#: Distinct container ids remembered per host (for PE coverage checks).
CONTAINERS_CAP = 1000
#: Distinct providers followed per host. Provider names come from the log's content, so a log
#: naming millions of them (damage, or an attack) would grow every per-provider structure
#: (series, timeline cells, exemplars, carries) without bound; past this many, further names
#: are counted together under :data:`OTHER_PROVIDERS`. Real hosts talk to a handful.
PROVIDERS_PER_HOST_CAP = 64
OTHER_PROVIDERS = "(other providers)"
#: Kinds worth quoting as evidence.
EXEMPLAR_KINDS = (
    VasaEventKind.SUCCESS,  # proof that vvold was read and working, for "look elsewhere" findings
    VasaEventKind.NO_FREE_CONN,
    VasaEventKind.BUSY,
    VasaEventKind.TIMEOUT,
    VasaEventKind.FAILURE,
    VasaEventKind.SETCONTEXT_FAILURE,
    VasaEventKind.TRANSPORT,
    VasaEventKind.SSL,
    VasaEventKind.BIND_RETRY,
)

HIST_BASE = 2 ** (1 / 8)
_LOG_BASE = math.log(HIST_BASE)


def _fault_has(*needles: str) -> pl.Expr:
    upper = pl.col("fault").str.to_uppercase()
    expr = pl.lit(False)
    for needle in needles:
        expr = expr | upper.str.contains(needle, literal=True).fill_null(False)
    return expr


def _count_exprs(op_is_bind: pl.Expr | None = None) -> dict[str, pl.Expr]:
    """One boolean per counter. A FINAL FAILURE whose code says BUSY/TIMEOUT/TRANSPORT counts as a
    failure *and* as that fault, because the fault is the signal and the failure the outcome; a
    bind retried because of PROVIDER_BUSY is both a bind retry and a busy fault.
    ``SSL_connect() failed`` inside a TRANSPORT_FAULT is deliberately *not* counted as ssl: KB
    412434 shows it is what a TCP timeout looks like under a setContext storm."""
    kind = pl.col("kind")
    failing = kind.is_in([VasaEventKind.FAILURE.value, VasaEventKind.SETCONTEXT_FAILURE.value])
    if op_is_bind is None:
        op_is_bind = (pl.col("op") == BIND_OP).fill_null(False)
    exprs = {
        "issue": kind == VasaEventKind.ISSUE.value,
        "success": kind == VasaEventKind.SUCCESS.value,
        "failure": kind == VasaEventKind.FAILURE.value,
        "no_free_conn": kind == VasaEventKind.NO_FREE_CONN.value,
        "busy": (kind == VasaEventKind.BUSY.value)
        | ((failing | (kind == VasaEventKind.BIND_RETRY.value)) & _fault_has("BUSY")),
        "timeout": (kind == VasaEventKind.TIMEOUT.value) | (failing & _fault_has("TIMEOUT", "TIMEDOUT")),
        "setcontext_failure": kind == VasaEventKind.SETCONTEXT_FAILURE.value,
        "transport": (kind == VasaEventKind.TRANSPORT.value) | (failing & _fault_has("TRANSPORT")),
        "ssl": kind == VasaEventKind.SSL.value,
        "bind_retry": (kind == VasaEventKind.BIND_RETRY.value)
        | ((kind == VasaEventKind.FAILURE.value) & op_is_bind),
    }
    exprs["connect"] = exprs["setcontext_failure"] | exprs["transport"]
    return exprs


# --------------------------------------------------------------------------------------------
# Latency histogram
# --------------------------------------------------------------------------------------------


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

    def summary(self) -> dict[str, Any]:
        return {"count": self.count, "p50": self.quantile(0.5), "p95": self.quantile(0.95), "max": self.max}


# --------------------------------------------------------------------------------------------
# Accumulators
# --------------------------------------------------------------------------------------------


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

    def pressure_total(self) -> int:
        return sum(self.counts[name] for name in PRESSURE_COUNTS)


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
        self.outstanding_max = _max(self.outstanding_max, other.outstanding_max)
        self.ceiling = _max(self.ceiling, other.ceiling)
        self.create.merge(other.create)


def _max(a: Any, b: Any) -> Any:
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)


def _utc(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(UTC)


def _host_out(host: str) -> str | None:
    return host or None


class SignalAccumulator:
    """Bounded state built from every VasaFrame seen (see the module docstring)."""

    def __init__(self, max_points: int = 2000, exemplars: int = 5, gap_cap_seconds: float = 30.0) -> None:
        self.max_points = max(10, int(max_points))
        self.exemplars = max(1, int(exemplars))
        self.gap_cap = float(gap_cap_seconds)
        self.series: dict[tuple[str, str], SeriesStats] = {}
        self._cells: dict[tuple[str, str, int], Cell] = {}
        #: Per-frame bucket aggregates not yet merged into ``_cells`` (polars frames, compacted
        #: when they grow): folding a frame then costs one group-by and no Python loop.
        self._cell_parts: list[pl.DataFrame] = []
        self._hist_parts: list[pl.DataFrame] = []
        self._part_rows = 0
        self.bucket_seconds = BUCKET_LADDER[0]
        self.t_min: float | None = None
        self.t_max: float | None = None
        self.rows = 0
        self.frames = 0
        self.shapes: set[str] = set()
        self.containers: dict[str, set[str]] = {}
        self._providers: dict[str, set[str]] = {}  # provider names followed, per host
        self._pending = _empty_pending()
        self._level_carry: pl.DataFrame | None = None
        self._index: dict[tuple[str, str], list[tuple[int, Cell]]] = {}
        self._index_stamp: tuple[int, int, int] | None = None

    # ---------------------------------------------------------------- folding

    def add(self, frame: VasaFrame) -> None:
        df = frame.frame
        if df.height == 0:
            return
        self.frames += 1
        self.rows += df.height
        self.shapes.add(frame.shape)
        df = _normalise(df)
        if df.height == 0:  # every row lacked a time: nothing to place on the timeline
            return
        df = self._cap_providers(df)
        self._widen_for(df)
        width = self.bucket_seconds
        df = df.with_columns(((pl.col("es") // width) * width).cast(pl.Int64).alias("bucket"))
        host = _one_host(df)
        df = self._tie_finals(df, host)
        creates = _creates(df)
        buckets, kinds = _bucket_aggregates(df)
        self._fold_series(buckets, creates)
        self._fold_cells(buckets, creates)
        self._fold_levels(df)
        self._fold_exemplars(df, creates, kinds, host)
        self._fold_containers(df, host)

    def _cap_providers(self, df: pl.DataFrame) -> pl.DataFrame:
        """Fold provider names past :data:`PROVIDERS_PER_HOST_CAP` per host into one series."""
        pairs = (
            df.select("host", "vp").unique().iter_rows()
            if _one_host(df) is None
            else ((df.item(0, "host"), vp) for vp in df.get_column("vp").unique())
        )
        over: dict[str, list[str]] = {}
        for host, vp in pairs:
            known = self._providers.setdefault(host, set())
            if vp in known:
                continue
            if len(known) < PROVIDERS_PER_HOST_CAP:
                known.add(vp)
            else:
                over.setdefault(host, []).append(vp)
        if not over:
            return df
        folded = _any_of(
            (pl.col("host") == host) & pl.col("vp").is_in(pl.Series(vps, dtype=pl.String).implode())
            for host, vps in over.items()
        )
        return df.with_columns(
            pl.when(folded).then(pl.lit(OTHER_PROVIDERS)).otherwise(pl.col("vp")).alias("vp")
        )

    def _widen_for(self, df: pl.DataFrame) -> None:
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
        merged: dict[tuple[str, str, int], Cell] = {}
        for (host, vp, b), cell in self._cells.items():
            key = (host, vp, (b // width) * width)
            if key in merged:
                merged[key].merge(cell)
            else:
                merged[key] = cell
        self._cells = merged
        self.bucket_seconds = width

    def _tie_finals(self, df: pl.DataFrame, one_host: str | None) -> pl.DataFrame:
        """Give FINAL lines their elapsed time and op from the matching Issuing line."""
        keys = ["host", "pid", "opseq"]
        is_final = pl.col("kind").is_in([VasaEventKind.SUCCESS.value, VasaEventKind.FAILURE.value])
        # the row masks in one pass over the frame (each string test once), then the filters
        # copy only the selected key columns, never a line's text
        has_seq = pl.col("opseq").is_not_null()
        masks = df.select(
            ((pl.col("kind") == VasaEventKind.ISSUE.value) & has_seq).alias("issue"),
            (is_final & has_seq).alias("final"),
        )
        is_issue, final_rows = masks.get_column("issue"), masks.get_column("final")
        issues = df.select(*keys, pl.col("es").alias("issue_es"), pl.col("op").alias("issue_op")).filter(
            is_issue
        )
        # pending first, then this frame's issues: the frame is in log order, so the rows stay
        # oldest-first and the cap below can keep the newest without sorting
        candidates = pl.concat([self._pending, issues])
        needs = final_rows & df.select(pl.col("elapsed_ms").is_null() | pl.col("op").is_null()).to_series()
        # A frame is one host's, and so usually is every pending issue: then the host key is
        # the same on both sides and joining on the two integer keys alone is the same join,
        # without hashing a string per row.
        if one_host is not None and candidates.select((pl.col("host") == one_host).all()).item():
            keys = ["pid", "opseq"]
        if needs.any():
            latest = candidates.unique(subset=keys, keep="last", maintain_order=True)
            if "host" not in keys:
                latest = latest.drop("host")
            df = df.join(latest, on=keys, how="left", maintain_order="left").with_columns(
                pl.when(is_final & pl.col("elapsed_ms").is_null() & pl.col("issue_es").is_not_null())
                .then(((pl.col("es") - pl.col("issue_es")) * 1000).round().cast(pl.Int64))
                .otherwise(pl.col("elapsed_ms"))
                .alias("elapsed_ms"),
                pl.when(is_final).then(pl.coalesce("op", "issue_op")).otherwise(pl.col("op")).alias("op"),
            )
            df = df.drop("issue_es", "issue_op")
        pid = df.item(0, "pid")
        if "host" not in keys and all(
            frame.select((pl.col("pid") == pid).all()).item() for frame in (df, candidates)
        ):
            # one vvold process too: the sequence number alone is the key, and a membership
            # filter is several times cheaper than an anti join (and keeps the order)
            finished = df.get_column("opseq").filter(final_rows)
            still_pending = candidates.filter(~pl.col("opseq").is_in(finished.implode()))
        else:
            still_pending = candidates.join(df.select(keys).filter(final_rows), on=keys, how="anti")
        if still_pending.height > PENDING_ISSUES_CAP:
            still_pending = still_pending.tail(PENDING_ISSUES_CAP)
        self._pending = still_pending
        return df

    def _fold_series(self, buckets: pl.DataFrame, creates: pl.DataFrame) -> None:
        """Per-provider totals, summed from the frame's bucket aggregates (a few hundred rows)."""
        aggs = [pl.col(name).sum().alias(name) for name in ALL_COUNTS]
        aggs += [
            pl.col("ceiling").max().alias("ceiling"),
            pl.col("outstanding_max").max().alias("max_outstanding"),
            pl.col("first").min().alias("first"),
            pl.col("last").max().alias("last"),
            # the frame's first url: the one whose row came first
            pl.col("url").sort_by("url_row").drop_nulls().first().alias("url"),
        ]
        for row in buckets.group_by("host", "vp").agg(aggs).iter_rows(named=True):
            stats = self._series(row["host"], row["vp"])
            for name in ALL_COUNTS:
                stats.counts[name] += int(row[name] or 0)
            stats.ceiling = _max(stats.ceiling, row["ceiling"])
            stats.max_outstanding = _max(stats.max_outstanding, row["max_outstanding"])
            first, last = _utc(row["first"]), _utc(row["last"])
            stats.first = first if stats.first is None else min(stats.first, first)
            stats.last = last if stats.last is None else max(stats.last, last)
            stats.url = stats.url or row["url"]
        if creates.height:
            hist = creates.group_by("host", "vp", "hidx").agg(pl.len().alias("n"))
            bounds = creates.group_by("host", "vp").agg(
                pl.col("elapsed_ms").min().alias("lo"), pl.col("elapsed_ms").max().alias("hi")
            )
            per: dict[tuple[str, str], dict[int, int]] = {}
            for host, vp, idx, n in hist.iter_rows():
                per.setdefault((host, vp), {})[idx] = n
            for host, vp, lo, hi in bounds.iter_rows():
                self._series(host, vp).create.add_bins(per.get((host, vp), {}), float(lo), float(hi))

    def _fold_cells(self, buckets: pl.DataFrame, creates: pl.DataFrame) -> None:
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
    def cells(self) -> dict[tuple[str, str, int], Cell]:
        """Timeline buckets per (host, vp, bucket start), built from the folded aggregates on
        first use after folding (and brought up to date if more frames came since)."""
        if self._cell_parts or self._hist_parts:
            self._compact_parts()
            for row in self._cell_parts[0].iter_rows(named=True) if self._cell_parts else ():
                cell = self._cell(row["host"], row["vp"], row["bucket"])
                for name in CELL_COUNTS:
                    cell.counts[name] += int(row[name] or 0)
                cell.outstanding_max = _max(cell.outstanding_max, row["outstanding_max"])
                cell.ceiling = _max(cell.ceiling, row["ceiling"])
            if self._hist_parts:
                hist = self._hist_parts[0]
                per: dict[tuple[str, str, int], dict[int, int]] = {}
                for host, vp, b, idx, n in hist.select("host", "vp", "bucket", "hidx", "n").iter_rows():
                    per.setdefault((host, vp, b), {})[idx] = n
                bounds = hist.group_by("host", "vp", "bucket", maintain_order=True).agg(
                    pl.col("lo").min(), pl.col("hi").max()
                )
                for host, vp, b, lo, hi in bounds.iter_rows():
                    self._cell(host, vp, b).create.add_bins(per.get((host, vp, b), {}), float(lo), float(hi))
            self._cell_parts, self._hist_parts, self._part_rows = [], [], 0
        return self._cells

    def _fold_levels(self, df: pl.DataFrame) -> None:
        """Seconds at each #outstanding level, line to line, per file/host/vp."""
        samples = df.select("file", "host", "vp", "line", "es", "outstanding").filter(
            pl.col("outstanding").is_not_null()
        )
        if self._level_carry is not None and self._level_carry.height:
            samples = pl.concat([self._level_carry, samples])
        if samples.height == 0:
            return
        group = ["file", "host", "vp"]
        if not samples["line"].is_sorted():  # readers emit log order; sort only if one did not
            samples = samples.sort([*group, "line"], nulls_last=True, maintain_order=True)
        # A frame comes from one file of one host (and the carry from the same file), so the
        # window usually needs only the providers as key: hashing one key column instead of three
        # is most of this method's cost. Columns that vary still go in the key.
        first = samples.row(0, named=True)
        constant = samples.select(
            *((pl.col(name) == first[name]).all().alias(name) for name in ("file", "host"))
        ).row(0, named=True)
        window = [name for name in group if not constant.get(name, False)]
        samples = samples.with_columns(
            (pl.col("es").shift(-1).over(window) - pl.col("es")).alias("dt"),
        )
        by = [name for name in ("host", "vp") if name in window]
        # lazily, so the select, filter and clip are fused into the group-by instead of each
        # materialising a copy of the samples
        durations = (
            samples.lazy()
            .select(*by, "outstanding", "dt")
            .filter(pl.col("dt").is_not_null())
            .group_by(*by, "outstanding")
            .agg(pl.col("dt").clip(0.0, self.gap_cap).sum())
            .collect()
        )
        if "host" not in by:
            durations = durations.select(pl.lit(first["host"], dtype=pl.String).alias("host"), pl.all())
        for host, vp, level, seconds in durations.iter_rows():
            stats = self._series(host, vp)
            stats.seconds_at_level[int(level)] = stats.seconds_at_level.get(int(level), 0.0) + float(seconds)
        # only the files of this frame can continue; a finished file's last line is dropped.
        # The last lines are few, so they are taken first; the frame's files are usually one,
        # which a comparison finds without hashing every row's file name.
        last = samples.filter(pl.col("dt").is_null()).drop("dt")
        file = df.item(0, "file")
        if df.select((pl.col("file") == file).all()).item():
            self._level_carry = last.filter(pl.col("file") == file)
        else:
            self._level_carry = last.filter(pl.col("file").is_in(df.get_column("file").unique().implode()))

    def _fold_exemplars(
        self, df: pl.DataFrame, creates: pl.DataFrame, kinds: set[tuple[str, str, str]], host: str | None
    ) -> None:
        n = self.exemplars
        cols = ["host", "vp", "kind", "file", "line", "ts", "text", "elapsed_ms"]
        wanted = [k.value for k in EXEMPLAR_KINDS]

        # The first n lines of a key are kept for the whole run, so a key that already holds n
        # takes nothing more: once every (host, vp, kind) of the frame (``kinds``, from the
        # bucket aggregates) is full, usually from the second frame on, the pick, a group-by
        # over every row, is skipped; otherwise the full keys' rows are left out of it.
        def full(key: tuple[str, str, str]) -> bool:
            stats = self.series.get(key[:2])
            return stats is not None and len(stats.first_by_kind.get(key[2], ())) >= n

        need_firsts = any(kind in wanted and not full((h, vp, kind)) for h, vp, kind in kinds)
        full_kinds: dict[str, list[str]] = {}
        full_ceiling: list[str] = []
        if host is not None:
            for (h, vp), stats in self.series.items():
                if h == host:
                    full_kinds[vp] = [k for k, items in stats.first_by_kind.items() if len(items) >= n]
                    if len(stats.at_ceiling_lines) >= n:
                        full_ceiling.append(vp)
        firsts_where = pl.col("kind").is_in(wanted) & ~_any_of(
            (pl.col("vp") == vp) & pl.col("kind").is_in(done) for vp, done in full_kinds.items() if done
        )
        firsts = _pick(df, firsts_where, ["host", "vp", "kind"], n, cols) if need_firsts else None
        for row in firsts.iter_rows(named=True) if firsts is not None else ():
            bucket = self._series(row["host"], row["vp"]).first_by_kind.setdefault(row["kind"], [])
            if len(bucket) < n:
                bucket.append(_exemplar(row))
        if creates.height:
            slow = (
                creates.sort("elapsed_ms", descending=True)
                .select(cols)
                .group_by("host", "vp", maintain_order=True)
                .head(n)
            )
            for row in slow.iter_rows(named=True):
                stats = self._series(row["host"], row["vp"])
                stats.slowest_creates.append(_exemplar(row, value=float(row["elapsed_ms"])))
                stats.slowest_creates.sort(key=lambda e: -(e.value or 0))
                del stats.slowest_creates[n:]
        at_ceiling_where = (
            (pl.col("outstanding") >= pl.col("outstanding_max")).fill_null(False)
            & pl.col("outstanding_max").is_not_null()
            & ~_any_of(pl.col("vp") == vp for vp in full_ceiling)
        )
        at_ceiling = _pick(df, at_ceiling_where, ["host", "vp"], n, cols)
        for row in at_ceiling.iter_rows(named=True):
            lines = self._series(row["host"], row["vp"]).at_ceiling_lines
            if len(lines) < n:
                lines.append(_exemplar(row))

    def _fold_containers(self, df: pl.DataFrame, host: str | None) -> None:
        if host is not None:  # one host: the distinct containers alone, no (host, container) pairs
            containers = df.get_column("container").drop_nulls().unique()
            pairs: Iterable[tuple[str, str]] = ((host, container) for container in containers)
        else:
            # select before filtering: filtering the whole frame would copy every line's text
            pairs = (
                df.select("host", "container").filter(pl.col("container").is_not_null()).unique().iter_rows()
            )
        for host_name, container in pairs:
            seen = self.containers.setdefault(host_name, set())
            if len(seen) < CONTAINERS_CAP:
                seen.add(container)

    def _series(self, host: str, vp: str) -> SeriesStats:
        key = (host, vp)
        stats = self.series.get(key)
        if stats is None:
            stats = self.series[key] = SeriesStats(host=_host_out(host), vp=vp or "(unknown)")
        return stats

    def _cell(self, host: str, vp: str, bucket: int) -> Cell:
        key = (host, vp, bucket)
        cell = self._cells.get(key)
        if cell is None:
            cell = self._cells[key] = Cell()
        return cell

    # ---------------------------------------------------------------- questions at the end

    def attribute_unnamed(self) -> None:
        """Give lines that name no provider (retry lines, bare busy/timeout lines) to the host's
        provider when the host talks to exactly one; with several, they stay ``(unknown)`` rather
        than be guessed. Idempotent; called before the series are read."""
        by_host: dict[str, list[str]] = {}
        for host, vp in self.series:
            if vp:
                by_host.setdefault(host, []).append(vp)
        for host, vps in by_host.items():
            unnamed = self.series.get((host, ""))
            if unnamed is None or len(vps) != 1:
                continue
            target = self.series[(host, vps[0])]
            _merge_series(target, unnamed, self.exemplars)
            del self.series[(host, "")]
            for key in [k for k in self.cells if k[0] == host and k[1] == ""]:
                cell = self._cells.pop(key)
                into = self._cell(host, vps[0], key[2])
                into.merge(cell)
            self._carry_rename(host, vps[0])

    def _carry_rename(self, host: str, vp: str) -> None:
        if self._level_carry is not None and self._level_carry.height:
            self._level_carry = self._level_carry.with_columns(
                pl.when((pl.col("host") == host) & (pl.col("vp") == ""))
                .then(pl.lit(vp))
                .otherwise(pl.col("vp"))
                .alias("vp")
            )

    def size(self) -> dict[str, int]:
        """Sizes of every growing structure (for memory-boundedness tests and benchmarks)."""
        return {
            "series": len(self.series),
            "cells": len(self.cells),
            "pending_issues": self._pending.height,
            "level_carry": 0 if self._level_carry is None else self._level_carry.height,
            "histogram_bins": sum(len(s.create.bins) for s in self.series.values())
            + sum(len(c.create.bins) for c in self.cells.values()),
            "exemplars": sum(
                sum(len(v) for v in s.first_by_kind.values())
                + len(s.slowest_creates)
                + len(s.at_ceiling_lines)
                for s in self.series.values()
            ),
            "containers": sum(len(v) for v in self.containers.values()),
        }

    def hosts(self) -> list[str]:
        return sorted({host for host, _ in self.series if host})

    def _series_cells(self) -> dict[tuple[str, str], list[tuple[int, Cell]]]:
        """Cells grouped per series and sorted by time, built once the folding is over (and
        rebuilt if a later fold or coarsening changed the cells)."""
        cells = self.cells
        stamp = (len(cells), self.bucket_seconds, self.rows)
        if self._index_stamp != stamp:
            index: dict[tuple[str, str], list[tuple[int, Cell]]] = {}
            for (host, vp, b), cell in cells.items():
                index.setdefault((host, vp), []).append((b, cell))
            for cells in index.values():
                cells.sort(key=lambda item: item[0])
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

    def pressure_span(self) -> tuple[datetime, datetime] | None:
        """First and last bucket holding any pressure or timeout signal."""
        times = [
            b
            for (_h, _v, b), c in self.cells.items()
            if c.counts["no_free_conn"] or c.counts["busy"] or c.counts["timeout"]
        ]
        if not times:
            return None
        return _dt(min(times)), _dt(max(times) + self.bucket_seconds)

    def span(self) -> tuple[datetime, datetime] | None:
        if self.t_min is None or self.t_max is None:
            return None
        return _dt(self.t_min), _dt(self.t_max)

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
                outstanding = _max(outstanding, cell.outstanding_max)
                ceiling = _max(ceiling, cell.ceiling)
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

    def signals(self) -> dict[str, Any]:
        """The ``per_provider`` and ``timeline`` parts of ``Diagnosis.signals``."""
        per_provider = []
        for stats in sorted(self.series.values(), key=lambda s: (s.host or "", s.vp)):
            per_provider.append(
                {
                    "host": stats.host,
                    "vp": stats.vp,
                    "counts": {name: stats.counts[name] for name in COUNT_NAMES},
                    "ceiling": stats.ceiling,
                    "max_outstanding": stats.max_outstanding,
                    "at_ceiling_seconds": round(stats.at_ceiling_seconds, 3),
                    "create_latency_ms": stats.create.summary(),
                    "first": stats.first,
                    "last": stats.last,
                }
            )
        ceilings = {key: stats.ceiling for key, stats in self.series.items()}
        timeline = []
        for (host, vp, b), cell in sorted(self.cells.items(), key=lambda kv: (kv[0][2], kv[0][0], kv[0][1])):
            timeline.append(
                {
                    "t": _dt(b),
                    "host": _host_out(host),
                    "vp": vp or "(unknown)",
                    "outstanding_max": cell.outstanding_max,
                    # the ceiling is the provider's, also in buckets without an Issuing line
                    "ceiling": _max(cell.ceiling, ceilings.get((host, vp))),
                    "no_free_conn": cell.counts["no_free_conn"],
                    "busy": cell.counts["busy"],
                    "timeout": cell.counts["timeout"],
                    "failure": cell.counts["failure"],
                    "create_ms_max": cell.create.max,
                    "create_ms_p95": cell.create.quantile(0.95),
                }
            )
        return {"bucket_seconds": self.bucket_seconds, "per_provider": per_provider, "timeline": timeline}


def _merge_series(into: SeriesStats, other: SeriesStats, keep: int) -> None:
    for name, n in other.counts.items():
        into.counts[name] = into.counts.get(name, 0) + n
    into.ceiling = _max(into.ceiling, other.ceiling)
    into.max_outstanding = _max(into.max_outstanding, other.max_outstanding)
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


def _dt(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _empty_pending() -> pl.DataFrame:
    return pl.DataFrame(
        schema={
            "host": pl.String(),
            "pid": pl.Int64(),
            "opseq": pl.Int64(),
            "issue_es": pl.Float64(),
            "issue_op": pl.String(),
        }
    )


def _bucket_aggregates(df: pl.DataFrame) -> tuple[pl.DataFrame, set[tuple[str, str, str]]]:
    """Per (host, vp, bucket): every counter, the ``#outstanding`` maxima, the time span and the
    first url. Both the provider totals and the timeline cells are then folded from this small
    frame instead of from the rows. Also the frame's distinct (host, vp, kind), read off the
    same grouping, so the exemplar fold can tell cheaply whether it has anything to pick.

    The counters depend only on ``kind``, ``fault`` and whether ``op`` is a bind, which take a
    handful of distinct values, so the rows are first grouped on those too and the ~15 string
    tests of :func:`_count_exprs` run on the few hundred groups (weighted by their row count)
    instead of on every row."""
    keys = ["host", "vp", "bucket"]
    # the first url of a group is found as the smallest row number holding one (a plain min,
    # which polars aggregates natively, where a filtered first() runs per group) and gathered
    # once at the end
    url_row = pl.when(pl.col("url").is_not_null()).then(pl.int_range(pl.len(), dtype=pl.UInt32))
    fine = (
        df.with_columns(url_row.alias("_url_row"))
        .group_by(*keys, "kind", "fault", (pl.col("op") == BIND_OP).fill_null(False).alias("_bind"))
        .agg(
            pl.len().cast(pl.Int64).alias("_n"),
            pl.col("outstanding").max().alias("_omax"),
            pl.col("outstanding_max").max().alias("_ceil"),
            pl.col("ts").min().alias("_first"),
            pl.col("ts").max().alias("_last"),
            pl.col("_url_row").min(),
        )
    )
    n = pl.col("_n")
    aggs = [
        (expr.cast(pl.Int64) * n).sum().cast(pl.Int64).alias(name)
        for name, expr in _count_exprs(pl.col("_bind")).items()
    ]
    aggs += [
        pl.col("_omax").max().cast(pl.Int64).alias("outstanding_max"),
        pl.col("_ceil").max().cast(pl.Int64).alias("ceiling"),
        pl.col("_first").min().alias("first"),
        pl.col("_last").max().alias("last"),
        pl.col("_url_row").min().alias("url_row"),
    ]
    kinds = set(fine.select("host", "vp", "kind").unique().iter_rows())
    buckets = fine.group_by(*keys).agg(aggs)
    url = df.get_column("url").gather(buckets.get_column("url_row"))
    return buckets.with_columns(url.alias("url")), kinds


def _normalise(df: pl.DataFrame) -> pl.DataFrame:
    """Fill the columns a reader may have left out, and make keys non-null for grouping."""
    missing = [
        pl.lit(None, dtype=dtype).alias(name) for name, dtype in VASA_SCHEMA.items() if name not in df.columns
    ]
    if missing:
        df = df.with_columns(missing)
    df = df.with_columns(
        pl.col("host").fill_null(""),
        pl.col("vp").fill_null(""),
        pl.col("file").fill_null(""),
        pl.col("pid").fill_null(-1),
        (pl.col("ts").dt.epoch("ms") / 1000.0).alias("es"),
    )
    # readers stamp every line, so the filter (which copies every column, text included) is
    # usually not needed
    if df.get_column("ts").null_count():
        df = df.filter(pl.col("ts").is_not_null())
    return df


def _creates(df: pl.DataFrame) -> pl.DataFrame:
    """FINAL createVirtualVolume lines with a duration, with their histogram bucket index (only
    the columns the folds read are kept, so the filter copies no other column)."""
    cols = ["host", "vp", "bucket", "kind", "op", "file", "line", "ts", "text", "elapsed_ms"]
    return (
        df.select(cols)
        .filter(
            pl.col("kind").is_in([VasaEventKind.SUCCESS.value, VasaEventKind.FAILURE.value])
            & (pl.col("op") == CREATE_OP).fill_null(False)
            & pl.col("elapsed_ms").is_not_null()
        )
        .with_columns(
            (pl.col("elapsed_ms").cast(pl.Float64).clip(lower_bound=1.0).log(HIST_BASE) + 1e-9)
            .floor()
            .cast(pl.Int64)
            .alias("hidx")
        )
    )


def _pick(df: pl.DataFrame, where: pl.Expr, keys: list[str], n: int, cols: list[str]) -> pl.DataFrame:
    """The first ``n`` rows per ``keys`` among those matching ``where``, in frame order, with
    ``cols``; only the picked rows' wide columns are copied. When no row matches (checked with
    one cheap pass) the group-by is skipped."""
    matched = df.select(where.fill_null(False).alias("_w")).to_series()
    if not matched.any():
        return df.select(cols).clear()
    index = (
        df.select(keys)
        .with_columns(matched)
        .with_row_index("_r")
        .filter(pl.col("_w"))
        .group_by(keys, maintain_order=True)
        .head(n)
        .get_column("_r")
        .sort()
    )
    return df.select(cols)[index]


def _any_of(exprs: Iterable[pl.Expr]) -> pl.Expr:
    """``True`` where any of ``exprs`` holds (``False`` when there are none)."""
    terms = list(exprs)
    return pl.any_horizontal(terms).fill_null(False) if terms else pl.lit(False)


def _one_host(df: pl.DataFrame) -> str | None:
    """The frame's host when every row has the same one (a frame is one file of one host), so
    per-key work can compare the provider alone."""
    host = df.item(0, "host")
    return host if df.select((pl.col("host") == host).all()).item() else None


def _exemplar(row: dict[str, Any], value: float | None = None) -> Exemplar:
    return Exemplar(
        ts=_utc(row["ts"]) or datetime.now(UTC),
        citation=Citation(row["file"] or "vvold.log", row["line"], row["text"] or ""),
        value=value,
    )
