"""FINAL tying: give each FINAL line the elapsed time and operation of its Issuing line.

Issuing and FINAL lines are tied by ``(host, pid, opseq)`` (the sequence number is unique within
one vvold process, and an operation can straddle a log rotation, so the file is not part of the
key) so a FINAL line without ``timeElapsed`` (or without the operation name) still gets both.
Issuing lines still waiting for their FINAL line at the end of a frame are carried to the next
frame, capped at :data:`PENDING_ISSUES_CAP` (oldest dropped).

Fast paths (guarded by tests/analysis/test_fold_fast_paths.py): when the frame and every pending
issue are one host's, the join leaves the host out of its key; when they are also one vvold
process's, the finished issues are dropped by a membership test on the sequence number.
"""

from __future__ import annotations

import polars as pl

from vvolguard.records import VasaEventKind

#: Issuing lines waiting for their FINAL line across frames.
PENDING_ISSUES_CAP = 20_000


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


class FinalTies:
    """The Issuing lines still waiting for their FINAL line, and the tying of a frame to them."""

    def __init__(self) -> None:
        self.pending = _empty_pending()

    def tie(self, df: pl.DataFrame, one_host: str | None) -> pl.DataFrame:
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
        candidates = pl.concat([self.pending, issues])
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
        self.pending = still_pending
        return df
