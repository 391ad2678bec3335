"""A handful of quoted lines per (host, provider, kind), so findings can cite real evidence.

Kept: the first few lines of each kind, the slowest creates and the first lines at the
ceiling. Only the picked rows' wide columns (the line's text) are ever copied.

Fast paths (guarded by tests/analysis/test_fold_fast_paths.py): once every (host, vp, kind) of a
frame already holds its quota, usually from the second frame on, the pick is skipped; with one
host per frame, the keys already full are left out of the pick by provider alone.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import polars as pl

from vvolguard.analysis.foldutil import any_of, utc
from vvolguard.analysis.series import Exemplar, SeriesStats
from vvolguard.records import Citation, VasaEventKind

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
_COLS = ["host", "vp", "kind", "file", "line", "ts", "text", "elapsed_ms"]


def fold_exemplars(
    series: dict[tuple[str, str], SeriesStats],
    series_for: Callable[[str, str], SeriesStats],
    df: pl.DataFrame,
    creates: pl.DataFrame,
    kinds: set[tuple[str, str, str]],
    host: str | None,
    n: int,
) -> None:
    """Add ``df``'s exemplars to the series (``series_for`` makes a missing one), at most ``n``
    of each sort. ``kinds`` are the frame's distinct (host, vp, kind); ``host`` its one host."""
    cols = _COLS
    wanted = [k.value for k in EXEMPLAR_KINDS]

    # The first n lines of a key are kept for the whole run, so a key that already holds n
    # takes nothing more: once every (host, vp, kind) of the frame (``kinds``, from the
    # bucket aggregates) is full, usually from the second frame on, the pick, a group-by
    # over every row, is skipped; otherwise the full keys' rows are left out of it.
    def full(key: tuple[str, str, str]) -> bool:
        stats = series.get((key[0], key[1]))
        return stats is not None and len(stats.first_by_kind.get(key[2], ())) >= n

    need_firsts = any(kind in wanted and not full((h, vp, kind)) for h, vp, kind in kinds)
    full_kinds: dict[str, list[str]] = {}
    full_ceiling: list[str] = []
    if host is not None:
        for (h, vp), stats in series.items():
            if h == host:
                full_kinds[vp] = [k for k, items in stats.first_by_kind.items() if len(items) >= n]
                if len(stats.at_ceiling_lines) >= n:
                    full_ceiling.append(vp)
    firsts_where = pl.col("kind").is_in(wanted) & ~any_of(
        (pl.col("vp") == vp) & pl.col("kind").is_in(done) for vp, done in full_kinds.items() if done
    )
    firsts = _pick(df, firsts_where, ["host", "vp", "kind"], n, cols) if need_firsts else None
    for row in firsts.iter_rows(named=True) if firsts is not None else ():
        bucket = series_for(row["host"], row["vp"]).first_by_kind.setdefault(row["kind"], [])
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
            stats = series_for(row["host"], row["vp"])
            stats.slowest_creates.append(_exemplar(row, value=float(row["elapsed_ms"])))
            stats.slowest_creates.sort(key=lambda e: -(e.value or 0))
            del stats.slowest_creates[n:]
    at_ceiling_where = (
        (pl.col("outstanding") >= pl.col("outstanding_max")).fill_null(False)
        & pl.col("outstanding_max").is_not_null()
        & ~any_of(pl.col("vp") == vp for vp in full_ceiling)
    )
    at_ceiling = _pick(df, at_ceiling_where, ["host", "vp"], n, cols)
    for row in at_ceiling.iter_rows(named=True):
        lines = series_for(row["host"], row["vp"]).at_ceiling_lines
        if len(lines) < n:
            lines.append(_exemplar(row))


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


def _exemplar(row: dict[str, Any], value: float | None = None) -> Exemplar:
    return Exemplar(
        ts=utc(row["ts"]) or datetime.now(UTC),
        citation=Citation(row["file"] or "vvold.log", row["line"], row["text"] or ""),
        value=value,
    )
