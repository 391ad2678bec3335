"""The shape of a file summary's buckets: one definition for the worker that writes them
(:mod:`.summarise`), the cache that keeps them (:mod:`.files`) and the client that merges them
(:mod:`.tables`)."""

from __future__ import annotations

from typing import Any

import polars as pl

#: The fleet tables' time bucket (seconds): fine enough to tie pressure to the migrations in
#: flight, coarse enough that a year of one host is ~100k rows.
BUCKET_S = 300
#: Counters per bucket, as the analysis's timeline keeps them.
COUNTERS = ("no_free_conn", "busy", "timeout", "failure", "setcontext_failure", "transport")
#: The histogram of a bucket's ``createVirtualVolume`` latencies: (bin index, calls) pairs, bins
#: as :class:`~vvolguard.analysis.histogram.LatencyHistogram` numbers them.
BINS_DTYPE = pl.List(pl.Struct({"hidx": pl.Int64, "n": pl.Int64}))
#: A summary's ``buckets`` frame: one row per host, provider and :data:`BUCKET_S` bucket (epoch
#: seconds); ``lo``/``hi`` the fastest and slowest create in it, null (as ``bins``) without one.
BUCKET_SCHEMA: dict[str, Any] = {
    "host": pl.String,
    "vp": pl.String,
    "bucket": pl.Int64,
    **dict.fromkeys(COUNTERS, pl.Int64),
    "outstanding_max": pl.Int64,
    "ceiling": pl.Int64,
    "lo": pl.Float64,
    "hi": pl.Float64,
    "bins": BINS_DTYPE,
}
