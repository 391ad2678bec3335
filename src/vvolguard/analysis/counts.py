"""What the fold counts on vvold lines, and the per-bucket aggregate every count is summed from.

Why apart: the counter definitions (which line is a busy fault, a timeout, a bind retry) are the
domain rules the rest of the analysis relies on; the folds only sum them.
"""

from __future__ import annotations

import polars as pl

from vvolguard.records import VasaEventKind

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


def _fault_has(*needles: str) -> pl.Expr:
    upper = pl.col("fault").str.to_uppercase()
    expr = pl.lit(False)
    for needle in needles:
        expr = expr | upper.str.contains(needle, literal=True).fill_null(False)
    return expr


def count_exprs(op_is_bind: pl.Expr | None = None) -> dict[str, pl.Expr]:
    """One boolean per counter. A FINAL FAILURE whose code says BUSY/TIMEOUT/TRANSPORT counts as a
    failure *and* as that fault, because the fault is the signal and the failure the outcome; a
    bind retried because of PROVIDER_BUSY is both a bind retry and a busy fault.
    ``SSL_connect() failed`` inside a TRANSPORT_FAULT is deliberately *not* counted as ssl: KB
    412434 shows it is what a TCP timeout looks like under a setContext storm. ``op_is_bind``
    says whether the line's operation is ``bindVirtualVolume`` (by default, read from ``op``;
    ``watch`` counts raw lines that way)."""
    if op_is_bind is None:
        op_is_bind = (pl.col("op") == BIND_OP).fill_null(False)
    kind = pl.col("kind")
    failing = kind.is_in([VasaEventKind.FAILURE.value, VasaEventKind.SETCONTEXT_FAILURE.value])
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


def bucket_aggregates(df: pl.DataFrame) -> tuple[pl.DataFrame, set[tuple[str, str, str]]]:
    """Per (host, vp, bucket): every counter, the ``#outstanding`` maxima, the time span and the
    first url. Both the provider totals and the timeline cells are then folded from this small
    frame instead of from the rows. Also the frame's distinct (host, vp, kind), read off the
    same grouping, so the exemplar fold can tell cheaply whether it has anything to pick.

    The counters depend only on ``kind``, ``fault`` and whether ``op`` is a bind, which take a
    handful of distinct values, so the rows are first grouped on those too and the ~15 string
    tests of :func:`count_exprs` run on the few hundred groups (weighted by their row count)
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
        for name, expr in count_exprs(pl.col("_bind")).items()
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
