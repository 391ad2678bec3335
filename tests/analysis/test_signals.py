"""The signals accumulator: exact shape, bounded memory, percentile error, exact coarsening."""

from __future__ import annotations

import itertools
import random
from datetime import datetime

import polars as pl
from analysis_builders import CONTAINER, NOW, T0, Vvold, wave
from hypothesis import given, settings
from hypothesis import strategies as st

from vvolguard.analysis.engine import Analyzer
from vvolguard.analysis.finals import PENDING_ISSUES_CAP
from vvolguard.analysis.histogram import LatencyHistogram
from vvolguard.analysis.signals import SignalAccumulator
from vvolguard.analysis.timeline import BUCKET_LADDER
from vvolguard.records import VASA_SCHEMA, VasaFrame

COUNT_KEYS = {
    "issue", "success", "failure", "no_free_conn", "busy", "timeout",
    "setcontext_failure", "transport", "ssl", "bind_retry",
}  # fmt: skip
PROVIDER_KEYS = {
    "host", "vp", "counts", "ceiling", "max_outstanding", "at_ceiling_seconds", "create_latency_ms",
    "first", "last",
}  # fmt: skip
TIMELINE_KEYS = {
    "t", "host", "vp", "outstanding_max", "ceiling", "no_free_conn", "busy", "timeout", "failure",
    "create_ms_max", "create_ms_p95",
}  # fmt: skip


def test_signals_shape_is_exactly_the_documented_one() -> None:
    v = Vvold()
    v.quiet_traffic(0, 120)
    v.no_free_conn(50)
    an = Analyzer(now=NOW)
    an.add(v.frame())
    for t in wave(2, {1}):
        an.add(t)
    signals = an.finish().signals
    assert set(signals) == {"bucket_seconds", "per_provider", "timeline", "migrations_in_flight"}
    assert isinstance(signals["bucket_seconds"], int)
    (prov,) = signals["per_provider"]
    assert set(prov) == PROVIDER_KEYS
    assert set(prov["counts"]) == COUNT_KEYS
    assert set(prov["create_latency_ms"]) == {"count", "p50", "p95", "max"}
    assert isinstance(prov["first"], datetime) and isinstance(prov["at_ceiling_seconds"], float)
    assert signals["timeline"] and all(set(p) == TIMELINE_KEYS for p in signals["timeline"])
    assert all(isinstance(p["t"], datetime) and p["t"].tzinfo for p in signals["timeline"])
    assert [set(p) for p in signals["migrations_in_flight"]] == [{"t", "source_host", "in_flight"}] * 4
    assert [p["in_flight"] for p in signals["migrations_in_flight"]] == [1, 2, 1, 0]


def test_empty_analysis_still_has_every_key() -> None:
    signals = Analyzer(now=NOW).finish().signals
    assert signals == {"bucket_seconds": 10, "per_provider": [], "timeline": [], "migrations_in_flight": []}


def _big_frame(rows: int, seed: int = 7) -> pl.DataFrame:
    """``rows`` vvold lines over ~1 h: issues, successes with latencies, waits and busy faults."""
    rng = random.Random(seed)
    kinds = ["issue", "success", "success", "issue", "no-free-conn", "busy", "failure", "timeout"]
    ops = ["createVirtualVolume", "bindVirtualVolume", "getEvents"]
    return pl.DataFrame(
        {
            "file": ["esx-01.tgz!var/run/log/vvold.log"] * rows,
            "line": list(range(1, rows + 1)),
            "ts": pl.datetime_range(T0, T0 + pl.duration(seconds=3600), interval="1ms", eager=True)[
                :rows
            ].sort(),
            "host": [f"esx-0{i % 3}" for i in range(rows)],
            "pid": [100] * rows,
            "level": ["info"] * rows,
            "kind": [rng.choice(kinds) for _ in range(rows)],
            "op": [rng.choice(ops) for _ in range(rows)],
            "opseq": [rng.randrange(1, 10**9) for _ in range(rows)],
            "vp": [f"vp{i % 2}" for i in range(rows)],
            "container": [None] * rows,
            "elapsed_ms": [rng.randrange(5, 90_000) for _ in range(rows)],
            "outstanding": [rng.randrange(0, 6) for _ in range(rows)],
            "outstanding_max": [5] * rows,
            "fault": [None] * rows,
            "detail": [None] * rows,
            "url": [None] * rows,
            "text": ["x" * 80] * rows,
        },
        schema=VASA_SCHEMA,
    )


def test_memory_stays_bounded_over_200_frames_of_50k_rows() -> None:
    base = _big_frame(50_000)
    acc = SignalAccumulator(max_points=2000, exemplars=5)
    sizes = []
    for i in range(200):
        # each frame is the next hour of the same log
        frame = base.with_columns(
            pl.col("ts") + pl.duration(hours=i),
            pl.col("line") + i * 50_000,
            pl.col("opseq") + i,
        )
        acc.add(VasaFrame(frame, "esxi8"))
        sizes.append(acc.size())
    assert acc.rows == 10_000_000
    first, last = sizes[9], sizes[-1]
    series = last["series"]
    assert series == 6  # 3 hosts x 2 providers
    # timeline: at most max_points buckets per series whatever the span (200 h here)
    assert last["cells"] <= series * 2000
    assert acc.bucket_seconds in BUCKET_LADDER and acc.bucket_seconds >= 300
    assert last["pending_issues"] <= PENDING_ISSUES_CAP
    assert last["level_carry"] <= series
    # exemplars: at most 5 per (series, kind) plus 5 slowest and 5 at-ceiling lines per series
    assert last["exemplars"] <= series * (9 * 5 + 5 + 5)
    # the latency histograms have a few hundred log buckets at most, not one entry per call
    assert max(len(s.create.bins) for s in acc.series.values()) < 200
    # nothing grows with the number of frames once the span's bucket width is settled
    assert last["histogram_bins"] <= first["histogram_bins"] * 25
    assert sum(s.counts["issue"] for s in acc.series.values()) > 2_000_000


def test_histogram_percentiles_are_within_the_documented_error() -> None:
    rng = random.Random(3)
    values = sorted(rng.lognormvariate(7, 1.5) for _ in range(20_000))
    h = LatencyHistogram()
    for v in values:
        h.add(v)
    for q in (0.5, 0.95, 0.99):
        exact = values[int(q * len(values)) - 1]
        approx = h.quantile(q)
        assert approx is not None and abs(approx - exact) / exact < 0.05
    assert h.max == values[-1] and h.count == len(values)


def test_coarsening_is_exact() -> None:
    """Folding a long log at once or hour by hour gives the same timeline."""
    frame = _big_frame(40_000, seed=11).with_columns(
        (pl.col("ts") - pl.lit(T0)).mul(50).add(pl.lit(T0)).alias("ts")  # stretch to ~50 h
    )
    whole = SignalAccumulator(max_points=500)
    whole.add(VasaFrame(frame, "esxi7"))
    pieces = SignalAccumulator(max_points=500)
    for chunk in frame.iter_slices(4000):
        pieces.add(VasaFrame(chunk, "esxi7"))
    assert whole.bucket_seconds == pieces.bucket_seconds
    a, b = whole.signals(), pieces.signals()
    assert a["timeline"] == b["timeline"]
    strip = [{k: v for k, v in p.items() if k != "at_ceiling_seconds"} for p in a["per_provider"]]
    assert strip == [{k: v for k, v in p.items() if k != "at_ceiling_seconds"} for p in b["per_provider"]]
    for pa, pb in zip(a["per_provider"], b["per_provider"], strict=True):
        assert abs(pa["at_ceiling_seconds"] - pb["at_ceiling_seconds"]) < 1e-6
    assert len(a["timeline"]) <= 6 * 500


def test_final_failure_without_elapsed_is_timed_from_its_issuing_line_across_frames() -> None:
    v = Vvold()
    v.op(0, "createVirtualVolume", 45_000, outstanding=5, fault="TIMEOUT", final_elapsed=False)
    rows = v.ordered()
    acc = SignalAccumulator()
    acc.add(VasaFrame(pl.DataFrame(rows[:1], schema=VASA_SCHEMA), "esxi7"))
    final = dict(rows[1], op=None)  # a FINAL line that names neither the op nor the time
    acc.add(VasaFrame(pl.DataFrame([final], schema=VASA_SCHEMA), "esxi7"))
    stats = acc.series[("esx-01", "pure-ct0")]
    assert stats.create.count == 1 and stats.create.max == 45_000
    assert stats.slowest_creates[0].value == 45_000
    assert acc.size()["pending_issues"] == 0


def test_time_at_ceiling_is_measured_line_to_line_with_gaps_capped() -> None:
    v = Vvold()
    v.line(0, "issue", outstanding=5, outstanding_max=5)
    v.line(10, "issue", outstanding=5, outstanding_max=5)
    v.line(20, "success", outstanding=4)
    v.line(3600, "success", outstanding=3)  # an hour of silence at 4: not at the ceiling anyway
    v.line(3601, "issue", outstanding=5, outstanding_max=5)
    v.line(7200, "success", outstanding=4)  # silence after a 5/5 line counts only up to the cap
    acc = SignalAccumulator(gap_cap_seconds=30)
    acc.add(v.frame())
    stats = acc.series[("esx-01", "pure-ct0")]
    assert stats.at_ceiling_seconds == 20 + 30


def test_lines_naming_no_provider_go_to_the_hosts_only_provider() -> None:
    v = Vvold()
    v.quiet_traffic(0, 60)
    v.line(30, "bind-retry", vp=None, fault="PROVIDER_BUSY", text="bindVirtualVolume retrying: PROVIDER_BUSY")
    two = Vvold(host="esx-02", file="esx-02.tgz!var/run/log/vvold.log")
    two.quiet_traffic(0, 60)
    two.rows += Vvold(host="esx-02", vp="pure-ct1", file=two.file).rows
    two.op(5, "getEvents", 30)
    other = Vvold(host="esx-02", vp="pure-ct1", file=two.file)
    other.op(6, "getEvents", 30)
    two.rows += other.rows
    two.line(30, "busy", vp=None, fault="PROVIDER_BUSY", text="PROVIDER_BUSY")
    acc = SignalAccumulator()
    acc.add(v.frame())
    acc.add(two.frame())
    acc.attribute_unnamed()
    acc.attribute_unnamed()  # idempotent
    assert ("esx-01", "") not in acc.series
    assert acc.series[("esx-01", "pure-ct0")].counts["busy"] == 1
    assert acc.series[("esx-01", "pure-ct0")].counts["bind_retry"] == 1
    # two providers on esx-02: the busy line is not guessed
    assert acc.series[("esx-02", "")].counts["busy"] == 1
    assert all(key[1] for key in acc.cells if key[0] == "esx-01")


@settings(max_examples=12, deadline=None)
@given(cuts=st.lists(st.integers(min_value=1, max_value=400), min_size=0, max_size=8))
def test_folding_does_not_depend_on_where_frames_are_cut(cuts: list[int]) -> None:
    """Readers cut a log into frames wherever their block ends; the answer must not move."""
    v = Vvold()
    v.quiet_traffic(-300, 300)
    for i in range(6):
        v.op(2 * i, "createVirtualVolume", 20_000 + 3_000 * i, outstanding=5)
    for s in (3, 9, 15, 21):
        v.no_free_conn(s)
    v.op(30, "createVirtualVolume", 50_000, outstanding=5, fault="TIMEOUT", final_elapsed=False)
    frame = v.frame().frame
    whole = SignalAccumulator()
    whole.add(VasaFrame(frame, "esxi7"))
    pieces = SignalAccumulator()
    offsets = sorted({0, *(c % frame.height for c in cuts), frame.height})
    for lo, hi in itertools.pairwise(offsets):
        pieces.add(VasaFrame(frame.slice(lo, hi - lo), "esxi7"))
    a, b = whole.series[("esx-01", "pure-ct0")], pieces.series[("esx-01", "pure-ct0")]
    assert a.counts == b.counts
    assert a.create.bins == b.create.bins and a.create.max == b.create.max == 50_000
    assert a.seconds_at_level.keys() == b.seconds_at_level.keys()
    assert all(abs(a.seconds_at_level[k] - b.seconds_at_level[k]) < 1e-6 for k in a.seconds_at_level)
    assert whole.signals()["timeline"] == pieces.signals()["timeline"]
    assert [e.citation for e in a.first_by_kind["no-free-conn"]] == [
        e.citation for e in b.first_by_kind["no-free-conn"]
    ]


def test_an_operation_straddling_a_log_rotation_is_still_timed_and_finished_files_leave_no_state() -> None:
    old = Vvold(file="esx-01.tgz!var/run/log/vvold.1.gz")
    old.op(0, "createVirtualVolume", 42_000, outstanding=5, fault="TIMEOUT", final_elapsed=False)
    issue, final = old.ordered()
    new_file = "esx-01.tgz!var/run/log/vvold.0.gz"
    acc = SignalAccumulator()
    acc.add(VasaFrame(pl.DataFrame([issue], schema=VASA_SCHEMA), "esxi8"))
    acc.add(VasaFrame(pl.DataFrame([{**final, "file": new_file, "line": 2}], schema=VASA_SCHEMA), "esxi8"))
    assert acc.series[("esx-01", "pure-ct0")].create.max == 42_000
    for i in range(50):  # fifty more rotated files: carried state stays one row per live series
        v = Vvold(file=f"esx-01.tgz!var/run/log/vvold.{i}.gz")
        v.quiet_traffic(i * 100, 50)
        acc.add(v.frame())
    assert acc.size()["level_carry"] <= 1


def test_finals_are_tied_only_within_their_host_and_process() -> None:
    """The fold keys on (pid, opseq) alone when a frame and the pending issues are one host's
    and one process's; a frame that mixes hosts or processes must still use the full key."""
    a = Vvold()
    a.line(0, "issue", op="createVirtualVolume", opseq=7)
    b = Vvold(host="esx-02", file="esx-02.tgz!var/run/log/vvold.log")
    b.line(2, "failure", op=None, opseq=7)  # same pid and opseq, other host: not a match
    c = Vvold(pid=999)
    c.line(3, "failure", op=None, opseq=7)  # same host and opseq, other process: not a match
    acc = SignalAccumulator()
    acc.add(a.frame())
    acc.add(VasaFrame(pl.DataFrame(b.rows + c.rows, schema=VASA_SCHEMA), "esxi7"))
    assert acc.size()["pending_issues"] == 1
    assert all(s.create.count == 0 for s in acc.series.values())
    finished = Vvold()
    finished.line(5, "failure", op=None, opseq=7)  # the real FINAL line, in a later frame
    acc.add(finished.frame())
    assert acc.size()["pending_issues"] == 0
    assert acc.series[("esx-01", "pure-ct0")].create.max == 5000


def test_a_frame_whose_rows_all_lack_a_time_is_skipped_not_fatal() -> None:
    """Readers stamp every row, but a library caller's frame may not: the fold must not raise."""
    import polars as pl

    from vvolguard.analysis.signals import SignalAccumulator
    from vvolguard.records import VASA_SCHEMA, VasaFrame

    frame = pl.DataFrame(
        {"file": ["f"], "line": [1], "kind": ["issue"], "vp": ["vp1"], "opseq": [1], "text": ["x"]}
    ).with_columns(pl.lit(None).alias("ts"))
    frame = frame.select(
        [
            pl.col(c).cast(t) if c in frame.columns else pl.lit(None, dtype=t).alias(c)
            for c, t in VASA_SCHEMA.items()
        ]
    )
    acc = SignalAccumulator()
    acc.add(VasaFrame(frame=frame, shape="esxi7"))
    assert acc.series == {}


def _exemplar_log() -> list[dict]:
    """One host, two providers: provider A fills its exemplar lists early and keeps logging the
    same kinds; B and new kinds of A come only later, mixed with A's full keys."""
    a = Vvold()
    for s in range(8):
        a.no_free_conn(s)  # no-free-conn lines at the ceiling: A's lists fill in the first lines
    a.busy(9)
    b = Vvold(vp="pure-ct1")
    b.quiet_traffic(10, 40)  # B's successes, below the ceiling
    for s in range(50, 60):
        a.no_free_conn(s)
        a.busy(s + 0.5)
        b.op(s + 0.2, "createVirtualVolume", 400, outstanding=5)  # B reaches its ceiling late
    a.line(61, "timeout", text="a timeout, A's first")
    return sorted(a.rows + b.rows, key=lambda r: r["ts"])


def _expected_exemplars(rows: list[dict], n: int) -> tuple[dict, dict]:
    wanted = {"success", "no-free-conn", "busy", "timeout", "failure", "bind-retry"}
    firsts: dict = {}
    ceiling: dict = {}
    for r in rows:
        if r["kind"] in wanted:
            firsts.setdefault((r["host"], r["vp"], r["kind"]), [])
            if len(firsts[(r["host"], r["vp"], r["kind"])]) < n:
                firsts[(r["host"], r["vp"], r["kind"])].append(r["line"])
        level, top = r["outstanding"], r["outstanding_max"]
        if level is not None and top is not None and level >= top:
            ceiling.setdefault((r["host"], r["vp"]), [])
            if len(ceiling[(r["host"], r["vp"])]) < n:
                ceiling[(r["host"], r["vp"])].append(r["line"])
    return firsts, ceiling


def _folded_exemplars(acc: SignalAccumulator) -> tuple[dict, dict]:
    firsts = {
        (key[0], key[1], kind): [e.citation.line for e in items]
        for key, stats in acc.series.items()
        for kind, items in stats.first_by_kind.items()
    }
    ceiling = {key: [e.citation.line for e in s.at_ceiling_lines] for key, s in acc.series.items()}
    return firsts, {k: v for k, v in ceiling.items() if v}


@settings(max_examples=10, deadline=None)
@given(size=st.integers(min_value=1, max_value=40), mixed_hosts=st.booleans())
def test_exemplars_are_the_first_lines_of_each_key_however_frames_are_cut(
    size: int, mixed_hosts: bool
) -> None:
    """Keys whose exemplar lists are full are skipped by later frames (and a frame with only full
    keys picks nothing); keys still short, in the same frames, must still get their first lines."""
    rows = _exemplar_log()
    if mixed_hosts:  # a frame mixing hosts takes the general path: every key's rows are picked
        rows = [dict(r, host="esx-02") if i % 3 == 0 else r for i, r in enumerate(rows)]
    rows = [dict(r, line=i) for i, r in enumerate(rows, 1)]
    frame = pl.DataFrame(rows, schema=VASA_SCHEMA)
    acc = SignalAccumulator(exemplars=3)
    for chunk in frame.iter_slices(size):
        acc.add(VasaFrame(chunk, "esxi7"))
    firsts, ceiling = _expected_exemplars(rows, 3)
    assert _folded_exemplars(acc) == (firsts, ceiling)
    # the log does what it is for: keys fill early while others still take lines later
    assert ("esx-01", "pure-ct0", "timeout") in firsts and ("esx-01", "pure-ct1") in ceiling


def test_containers_are_remembered_per_host_in_one_host_and_mixed_frames() -> None:
    """A one-host frame lists its distinct containers alone; a frame mixing hosts pairs each
    container with its own host. Both must give every host exactly its containers."""
    a = Vvold()
    a.quiet_traffic(0, 30)
    a.line(40, "success", container="c-a-only")
    b = Vvold(host="esx-02", file="esx-02.tgz!var/run/log/vvold.log")
    b.line(5, "success", container="c-b-only")
    b.line(6, "issue")  # no container
    one = SignalAccumulator()
    one.add(a.frame())
    one.add(b.frame())
    mixed = SignalAccumulator()
    mixed.add(VasaFrame(pl.DataFrame(a.ordered() + b.ordered(), schema=VASA_SCHEMA), "esxi7"))
    expected = {"esx-01": {CONTAINER, "c-a-only"}, "esx-02": {"c-b-only"}}
    assert one.containers == expected
    assert mixed.containers == expected
