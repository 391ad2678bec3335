"""Seconds spent at each ``#outstanding`` level, per (host, provider).

Measured between consecutive lines of the same file, host and provider (gaps capped by
``at_ceiling_max_gap_seconds``). The ceiling is the largest ``n/max`` denominator seen, so "time
at the ceiling" can be summed at the end even if the ceiling is only learnt late. The last line
of each file seen so far is carried to the next frame, which continues it.

Fast path (guarded by tests/analysis/test_fold_fast_paths.py): a frame is one file of one host,
so the line-to-line window is keyed on the columns that vary only, usually the provider alone.
"""

from __future__ import annotations

from collections.abc import Iterator

import polars as pl


class LevelDurations:
    """The fold of line-to-line durations at each ``#outstanding`` level."""

    def __init__(self, gap_cap_seconds: float) -> None:
        self.gap_cap = gap_cap_seconds
        self.carry: pl.DataFrame | None = None

    def fold(self, df: pl.DataFrame) -> Iterator[tuple[str, str, int, float]]:
        """(host, vp, level, seconds) measured in ``df`` (and from the carried last lines)."""
        samples = df.select("file", "host", "vp", "line", "es", "outstanding").filter(
            pl.col("outstanding").is_not_null()
        )
        if self.carry is not None and self.carry.height:
            samples = pl.concat([self.carry, samples])
        if samples.height == 0:
            return iter(())
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
        # only the files of this frame can continue; a finished file's last line is dropped.
        # The last lines are few, so they are taken first; the frame's files are usually one,
        # which a comparison finds without hashing every row's file name.
        last = samples.filter(pl.col("dt").is_null()).drop("dt")
        file = df.item(0, "file")
        if df.select((pl.col("file") == file).all()).item():
            self.carry = last.filter(pl.col("file") == file)
        else:
            self.carry = last.filter(pl.col("file").is_in(df.get_column("file").unique().implode()))
        return ((host, vp, int(level), float(seconds)) for host, vp, level, seconds in durations.iter_rows())

    def rename_unnamed(self, host: str, vp: str) -> None:
        """Carried lines of ``host`` that named no provider continue as ``vp``'s."""
        if self.carry is not None and self.carry.height:
            self.carry = self.carry.with_columns(
                pl.when((pl.col("host") == host) & (pl.col("vp") == ""))
                .then(pl.lit(vp))
                .otherwise(pl.col("vp"))
                .alias("vp")
            )

    def size(self) -> int:
        return 0 if self.carry is None else self.carry.height
