"""Fold vvold VasaFrames into bounded per-(host, provider) accumulators.

vvold.log can be gigabytes, so nothing here keeps rows. Each frame is reduced with polars
aggregations, one concept per module:

* :mod:`.counts`: the counters per (host, vp) and per timeline bucket, summed from one
  per-bucket aggregate of the frame;
* :mod:`.histogram`: a log-bucket latency histogram for ``createVirtualVolume`` (the swap vVol
  creation KB 318662 names);
* :mod:`.levels`: seconds spent at each ``#outstanding`` level;
* :mod:`.exemplars`: a handful of quoted lines per (host, vp, kind);
* :mod:`.timeline`: the timeline cells on a ladder of bucket widths;
* :mod:`.finals`: FINAL lines tied to their Issuing lines (elapsed time and operation);
* :mod:`.series`: what is kept per (host, provider).

This module is the fold that drives them for each frame, plus what does not belong to any one
of them: the cap on providers per host, the containers per host, and the ``signals`` part of the
diagnosis. A frame is one file of one host, and the folds take fast paths for that (and for one
vvold process, and for exemplar quotas already full); tests/analysis/test_fold_fast_paths.py
checks that the fast and the general paths give the same signals.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

import polars as pl

from vvolguard.analysis.counts import ALL_COUNTS, COUNT_NAMES, CREATE_OP, bucket_aggregates
from vvolguard.analysis.exemplars import fold_exemplars
from vvolguard.analysis.finals import FinalTies
from vvolguard.analysis.foldutil import any_of, epoch_dt, host_out, max_of, one_host, utc
from vvolguard.analysis.histogram import index_expr
from vvolguard.analysis.levels import LevelDurations
from vvolguard.analysis.model import ProviderSignals, Signals, TimelinePoint
from vvolguard.analysis.series import SeriesStats, merge_series
from vvolguard.analysis.timeline import Cell, CellKey, Timeline
from vvolguard.records import VASA_SCHEMA, VasaEventKind, VasaFrame

__all__ = ["CONTAINERS_CAP", "COUNT_NAMES", "OTHER_PROVIDERS", "PROVIDERS_PER_HOST_CAP", "SignalAccumulator"]

#: Distinct container ids remembered per host (for PE coverage checks).
CONTAINERS_CAP = 1000
#: Distinct providers followed per host. Provider names come from the log's content, so a log
#: naming millions of them (damage, or an attack) would grow every per-provider structure
#: (series, timeline cells, exemplars, carries) without bound; past this many, further names
#: are counted together under :data:`OTHER_PROVIDERS`. Real hosts talk to a handful.
PROVIDERS_PER_HOST_CAP = 64
OTHER_PROVIDERS = "(other providers)"


class SignalAccumulator:
    """Bounded state built from every VasaFrame seen (see the module docstring)."""

    def __init__(self, max_points: int = 2000, exemplars: int = 5, gap_cap_seconds: float = 30.0) -> None:
        self.exemplars = max(1, int(exemplars))
        self.series: dict[tuple[str, str], SeriesStats] = {}
        self.timeline = Timeline(max(10, int(max_points)))
        self.levels = LevelDurations(float(gap_cap_seconds))
        self.finals = FinalTies()
        self.rows = 0
        self.frames = 0
        self.shapes: set[str] = set()
        self.containers: dict[str, set[str]] = {}
        self._providers: dict[str, set[str]] = {}  # provider names followed, per host

    @property
    def bucket_seconds(self) -> int:
        return self.timeline.bucket_seconds

    @property
    def cells(self) -> dict[CellKey, Cell]:
        return self.timeline.cells

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
        self.timeline.widen_for(df)
        width = self.timeline.bucket_seconds
        df = df.with_columns(((pl.col("es") // width) * width).cast(pl.Int64).alias("bucket"))
        host = one_host(df)
        df = self.finals.tie(df, host)
        creates = _creates(df)
        buckets, kinds = bucket_aggregates(df)
        self._fold_series(buckets, creates)
        self.timeline.add(buckets, creates)
        for h, vp, level, seconds in self.levels.fold(df):
            stats = self._series(h, vp)
            stats.seconds_at_level[level] = stats.seconds_at_level.get(level, 0.0) + seconds
        fold_exemplars(self.series, self._series, df, creates, kinds, host, self.exemplars)
        self._fold_containers(df, host)

    def _cap_providers(self, df: pl.DataFrame) -> pl.DataFrame:
        """Fold provider names past :data:`PROVIDERS_PER_HOST_CAP` per host into one series."""
        pairs: Iterable[tuple[str, str]] = (
            df.select("host", "vp").unique().iter_rows()
            if one_host(df) is None
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
        folded = any_of(
            (pl.col("host") == host) & pl.col("vp").is_in(pl.Series(vps, dtype=pl.String).implode())
            for host, vps in over.items()
        )
        return df.with_columns(
            pl.when(folded).then(pl.lit(OTHER_PROVIDERS)).otherwise(pl.col("vp")).alias("vp")
        )

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
            stats.ceiling = max_of(stats.ceiling, row["ceiling"])
            stats.max_outstanding = max_of(stats.max_outstanding, row["max_outstanding"])
            first, last = utc(row["first"]), utc(row["last"])
            if first is not None and last is not None:  # rows without a time were dropped
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
            stats = self.series[key] = SeriesStats(host=host_out(host), vp=vp or "(unknown)")
        return stats

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
            merge_series(target, unnamed, self.exemplars)
            del self.series[(host, "")]
            self.timeline.rename_unnamed(host, vps[0])
            self.levels.rename_unnamed(host, vps[0])

    def size(self) -> dict[str, int]:
        """Sizes of every growing structure (for memory-boundedness tests and benchmarks)."""
        cells = self.cells
        return {
            "series": len(self.series),
            "cells": len(cells),
            "pending_issues": self.finals.pending.height,
            "level_carry": self.levels.size(),
            "histogram_bins": sum(len(s.create.bins) for s in self.series.values())
            + sum(len(c.create.bins) for c in cells.values()),
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

    def peak_pressure(self, host: str, vp: str, window_seconds: float) -> int:
        """See :meth:`Timeline.peak_pressure`."""
        return self.timeline.peak_pressure(host, vp, window_seconds)

    def pressure_span(self) -> tuple[datetime, datetime] | None:
        """First and last bucket holding any pressure or timeout signal."""
        return self.timeline.pressure_span()

    def span(self) -> tuple[datetime, datetime] | None:
        """First and last vvold line seen."""
        return self.timeline.span()

    def nearby(
        self, hosts_match: Callable[[str], bool], t: datetime, window_seconds: float
    ) -> dict[str, float]:
        """See :meth:`Timeline.nearby`."""
        return self.timeline.nearby(hosts_match, t, window_seconds)

    def signals(self) -> Signals:
        """The ``bucket_seconds``, ``per_provider`` and ``timeline`` parts of ``Diagnosis.signals``."""
        per_provider: list[ProviderSignals] = []
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
        timeline: list[TimelinePoint] = []
        for (host, vp, b), cell in sorted(self.cells.items(), key=lambda kv: (kv[0][2], kv[0][0], kv[0][1])):
            timeline.append(
                {
                    "t": epoch_dt(b),
                    "host": host_out(host),
                    "vp": vp or "(unknown)",
                    "outstanding_max": cell.outstanding_max,
                    # the ceiling is the provider's, also in buckets without an Issuing line
                    "ceiling": max_of(cell.ceiling, ceilings.get((host, vp))),
                    "no_free_conn": cell.counts["no_free_conn"],
                    "busy": cell.counts["busy"],
                    "timeout": cell.counts["timeout"],
                    "failure": cell.counts["failure"],
                    "create_ms_max": cell.create.max,
                    "create_ms_p95": cell.create.quantile(0.95),
                }
            )
        return {"bucket_seconds": self.bucket_seconds, "per_provider": per_provider, "timeline": timeline}


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
        .with_columns(index_expr(pl.col("elapsed_ms")).alias("hidx"))
    )
