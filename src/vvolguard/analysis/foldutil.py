"""Small helpers shared by the signal folds (:mod:`.signals` and the modules it is split into).

Why a module of their own: the folds are split by concept (histogram, timeline, level
durations, exemplars, FINAL tying), and these few frame tests and ``None``-tolerant maxima
are what every one of them needs.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TypeVar

import polars as pl

T = TypeVar("T", int, float, datetime)


def max_of(a: T | None, b: T | None) -> T | None:
    """The larger of two optional values (``None`` means "not seen")."""
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)


def utc(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(UTC)


def epoch_dt(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def host_out(host: str) -> str | None:
    """A series' host as reported: the fold keys an unknown host as ``""``."""
    return host or None


def any_of(exprs: Iterable[pl.Expr]) -> pl.Expr:
    """``True`` where any of ``exprs`` holds (``False`` when there are none)."""
    terms = list(exprs)
    return pl.any_horizontal(terms).fill_null(False) if terms else pl.lit(False)


def one_host(df: pl.DataFrame) -> str | None:
    """The frame's host when every row has the same one (a frame is one file of one host), so
    per-key work can compare the provider alone."""
    host: str = df.item(0, "host")
    return host if df.select((pl.col("host") == host).all()).item() else None
