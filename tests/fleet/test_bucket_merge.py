"""The client's bucket merge (``tables.buckets_table``) against the histogram's own definition.

The merge runs in polars, in slices of hosts; the reference here is the plain Python fold the
quantiles are defined by (:class:`LatencyHistogram`), so a difference in the vectorised quantile,
the host-key merge, the time filter or the slicing shows as a mismatch.
"""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime
from typing import Any

import polars as pl
import pytest

from vvolguard.analysis.histogram import LatencyHistogram
from vvolguard.analysis.migrations import host_key
from vvolguard.fleet import tables
from vvolguard.fleet.schema import BUCKET_S, BUCKET_SCHEMA, COUNTERS
from vvolguard.fleet.summarise import SummarySink
from vvolguard.records import VASA_SCHEMA, VasaFrame

T0 = 1_772_323_200  # 2026-03-01T00:00:00Z
#: Spellings of the same hosts, as different files name them (FQDN, short, upper case, root dot).
SPELLINGS = (
    ("esx-01.corp.example", "ESX-01", "esx-01."),
    ("esx-02.corp.example", "esx-02"),
    ("10.0.0.7",),
    ("esx-10.corp.example", "ESX-10.corp.example."),
)


def _frame(rng: random.Random, spellings: tuple[str, ...], buckets: int) -> pl.DataFrame:
    rows: list[dict[str, Any]] = []
    for b in rng.sample(range(buckets), k=buckets // 2):
        for vp in rng.sample(["pure-vp1", "nimble-vp2", ""], k=rng.randint(1, 2)):
            creates = [round(rng.lognormvariate(7, 1.2)) for _ in range(rng.choice((0, 0, 1, 2, 7)))]
            hist = LatencyHistogram()
            for ms in creates:
                hist.add(ms)
            rows.append(
                {
                    "host": rng.choice(spellings),
                    "vp": vp,
                    "bucket": T0 + b * BUCKET_S,
                    **{c: rng.choice((0, 0, 0, 1, 3)) for c in COUNTERS},
                    "outstanding_max": rng.choice((None, 0, 2, 5)),
                    "ceiling": rng.choice((None, 5)),
                    "lo": hist.min,
                    "hi": hist.max,
                    "bins": [{"hidx": i, "n": n} for i, n in sorted(hist.bins.items())] if creates else None,
                }
            )
    # a file names each bucket once per host spelling and provider
    return pl.DataFrame(rows, schema=BUCKET_SCHEMA).unique(["host", "vp", "bucket"], keep="first")


def _reference(frames: list[pl.DataFrame], since: datetime | None, until: datetime | None) -> pl.DataFrame:
    merged: dict[tuple[str, str, int], dict[str, Any]] = {}
    for frame in frames:
        for row in frame.iter_rows(named=True):
            ts = datetime.fromtimestamp(row["bucket"], UTC)
            if (since and ts < since) or (until and ts >= until):
                continue
            cell = merged.setdefault(
                (host_key(row["host"]), row["vp"], row["bucket"]),
                {"counts": [0] * len(COUNTERS), "o": None, "c": None, "hist": LatencyHistogram()},
            )
            for i, c in enumerate(COUNTERS):
                cell["counts"][i] += row[c]
            for name, column in (("o", "outstanding_max"), ("c", "ceiling")):
                if row[column] is not None:
                    cell[name] = row[column] if cell[name] is None else max(cell[name], row[column])
            if row["bins"]:
                cell["hist"].add_bins({b["hidx"]: b["n"] for b in row["bins"]}, row["lo"], row["hi"])
    out = []
    for (hk, vp, b), cell in sorted(merged.items()):
        hist = cell["hist"]
        out.append(
            {
                "host_key": hk,
                "provider": vp,
                "bucket_start": datetime.fromtimestamp(b, UTC),
                **dict(zip(COUNTERS, cell["counts"], strict=True)),
                "outstanding_max": cell["o"],
                "ceiling": cell["c"],
                "create_count": hist.count,
                "create_p50_ms": hist.quantile(0.5),
                "create_p95_ms": hist.quantile(0.95),
                "create_max_ms": hist.max,
            }
        )
    return pl.DataFrame(out, schema={k: v for k, v in tables.BUCKETS_TABLE_SCHEMA.items() if k != "host"})


@pytest.mark.parametrize("merge_rows", [10**9, 40])
@pytest.mark.parametrize("since_s", [None, 10 * BUCKET_S, 10 * BUCKET_S + 0.5])
def test_merged_buckets_match_the_histogram_definition(
    monkeypatch: pytest.MonkeyPatch, merge_rows: int, since_s: float | None
) -> None:
    monkeypatch.setattr(tables, "MERGE_ROWS", merge_rows)  # 40: many slices of hosts
    rng = random.Random(merge_rows + (since_s or 0))
    frames = [_frame(rng, rng.choice(SPELLINGS), buckets=60) for _ in range(14)]
    # a window from a bucket's start (kept) or half a second after it (that bucket is not),
    # to the start of a bucket (not kept)
    since = None if since_s is None else datetime.fromtimestamp(T0 + since_s, UTC)
    until = None if since_s is None else datetime.fromtimestamp(T0 + 45 * BUCKET_S, UTC)
    summaries = [{"hosts": f.get_column("host").unique().to_list(), "buckets": f} for f in frames]
    names = tables.host_names(summaries)
    got = tables.buckets_table(summaries, names, since, until)
    want = _reference(frames, since, until)

    assert got.height == want.height > 0
    assert got.get_column("host").to_list() == [names[k] for k in got.get_column("host_key")]
    exact = [c for c in want.columns if not c.startswith("create_") or c == "create_count"]
    assert got.select(exact).equals(want.select(exact))
    for column in ("create_p50_ms", "create_p95_ms", "create_max_ms"):
        for g, w in zip(got.get_column(column), want.get_column(column), strict=True):
            assert (g is None) == (w is None)
            if w is not None:
                assert math.isclose(g, w, abs_tol=0.051), (column, g, w)  # rounded to 0.1 ms
    assert got.get_column("create_count").sum() > 0


def _vvold_frame(host: str, rows: list[tuple[int, str, str | None, int | None]]) -> VasaFrame:
    """A VASA frame of Issuing / FINAL SUCCESS rows: (second, kind, op, elapsed)."""
    data: dict[str, list[Any]] = {name: [] for name in VASA_SCHEMA}
    for i, (second, kind, op, elapsed) in enumerate(rows):
        values = dict.fromkeys(VASA_SCHEMA)
        values.update(
            file="vvold.log",
            line=i + 1,
            ts=datetime.fromtimestamp(T0 + second, UTC),
            host=host,
            pid=1,
            level="info",
            kind=kind,
            op=op,
            opseq=i,
            vp="pure-vp1",
            elapsed_ms=elapsed,
            outstanding=1,
            outstanding_max=5,
            text="x",
        )
        for name in VASA_SCHEMA:
            data[name].append(values[name])
    return VasaFrame(frame=pl.DataFrame(data, schema=VASA_SCHEMA), shape="esxi7")


def test_a_timeline_asked_before_its_last_fold_gives_the_same_buckets() -> None:
    """``Timeline.frames`` turns cells already built back into rows: a summary must not depend
    on whether someone looked at the timeline half way."""
    rng = random.Random(3)
    parts = []
    for start in range(0, 4 * 3600, 900):
        rows = []
        for s in sorted(rng.sample(range(start, start + 900), 40)):
            rows.append((s, "success", "createVirtualVolume", rng.randint(50, 40_000)))
            rows.append((s, "issue", "bindVirtualVolume", None))
        parts.append(_vvold_frame("esx-01", rows))

    plain, asked = SummarySink(), SummarySink()
    for i, part in enumerate(parts):
        plain.add(part)
        asked.add(part)
        if i in (3, 9):
            assert asked.signals.timeline.cells  # builds Cell objects from the parts so far
    want = plain.buckets(None)
    assert want.height and want.get_column("bins").list.len().sum() > 0
    assert asked.buckets(None).equals(want)
    assert plain.buckets("esx-99").equals(want)  # the host named in the lines beats the hint
