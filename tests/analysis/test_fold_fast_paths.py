"""One differential property guards every fast path of the signal fold.

The fold takes shortcuts when a frame is one host's (FINAL tying joins without the host key,
level durations window on the provider alone, exemplar picks leave full keys out by provider,
containers skip the pairs), when the frame and the pending issues are one vvold process's (a
membership filter instead of an anti join), and when every exemplar quota is already full (no
pick at all). Readers give one-host, one-file frames, so the shortcuts are what runs in
practice, and the general paths are what the shortcuts must equal.

Here the same rows are folded twice: as one-host, one-file frames (the shortcuts), and as
mixed-host frames cut elsewhere (the general paths), and everything the analysis reads from
the accumulator must be the same. Times are whole quarter seconds so durations add up exactly
in any grouping, and create latencies are distinct so "the slowest" has one answer.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from vvolguard.analysis.signals import SignalAccumulator
from vvolguard.records import VASA_SCHEMA, VasaEventKind, VasaFrame

T0 = datetime(2026, 3, 14, 9, tzinfo=UTC)
KINDS = [k.value for k in VasaEventKind if k not in (VasaEventKind.SERVICE_START, VasaEventKind.OTHER)]
OPS = ["createVirtualVolume", "bindVirtualVolume", "getEvents", None]
FAULTS = [None, None, "PROVIDER_BUSY", "TIMEOUT", "TRANSPORT_FAULT"]
VPS = ["vp-a", "vp-b", None]

row_st = st.fixed_dictionaries(
    {
        "step": st.one_of(st.integers(0, 40), st.integers(0, 4000)),  # quarter seconds to the next line
        "kind": st.sampled_from(KINDS),
        "op": st.sampled_from(OPS),
        "opseq": st.one_of(st.none(), st.integers(0, 12)),  # a FINAL's: how many issues back
        "vp": st.sampled_from(VPS),
        "outstanding": st.one_of(st.none(), st.integers(0, 4)),
        "fault": st.sampled_from(FAULTS),
        "elapsed": st.one_of(st.none(), st.integers(0, 90)),
        "container": st.sampled_from([None, "ct-1", "ct-2"]),
        "url": st.sampled_from([None, None, "https://vp-a:8443/vasa", "https://vp-b:8443/vasa"]),
        "pid": st.integers(0, 1),
    }
)
host_st = st.fixed_dictionaries(
    {
        "files": st.lists(st.lists(row_st, min_size=1, max_size=25), min_size=1, max_size=2),
        "restarts": st.booleans(),  # False: one vvold process; True: lines from two
        "cuts": st.lists(st.integers(1, 30), max_size=4),  # where the one-host frames are cut
    }
)


def _host_rows(index: int, spec: dict[str, Any], serial: list[int]) -> list[list[dict[str, Any]]]:
    """The host's rows per file, in log order, as VASA_SCHEMA dicts."""
    host = f"esx-{index:02d}.example"
    t = T0 + timedelta(seconds=index)
    issued: dict[int, int] = {}  # pid -> operations issued so far
    waiting: dict[int, list[int]] = {}  # pid -> sequence numbers not answered yet
    files = []
    for number, rows in enumerate(spec["files"]):
        name = f"{host}!var/run/log/vvold.{len(spec['files']) - 1 - number}.log"
        out = []
        for line, r in enumerate(rows, start=1):
            t += timedelta(seconds=r["step"] / 4)
            serial[0] += 1
            pid = 1000 + (r["pid"] if spec["restarts"] else 0)  # hosts reuse each other's pids
            open_ops = waiting.setdefault(pid, [])
            opseq = None
            if r["opseq"] is not None and r["kind"] == "issue":
                # vvold numbers its operations upwards, and one FINAL line answers one issued
                # before it: the tying is per frame, so data breaking either rule would be tied
                # differently by different cuttings, fast paths or not
                opseq = issued[pid] = issued.get(pid, 0) + 1
                open_ops.append(opseq)
            elif r["opseq"] is not None and r["kind"] in ("success", "failure") and open_ops:
                opseq = open_ops.pop(-1 - r["opseq"] % len(open_ops))
            out.append(
                {
                    "file": name,
                    "line": line,
                    "ts": t,
                    "host": host,
                    "pid": pid,
                    "level": "info",
                    "kind": r["kind"],
                    "op": r["op"],
                    "opseq": opseq,
                    "vp": r["vp"],
                    "container": r["container"],
                    # distinct, so the slowest creates are one set whatever the grouping
                    "elapsed_ms": None if r["elapsed"] is None else r["elapsed"] * 1000 + serial[0],
                    "outstanding": r["outstanding"],
                    "outstanding_max": None if r["outstanding"] is None else 3,
                    "fault": r["fault"],
                    "detail": None,
                    "url": r["url"],
                    "text": f"{name}:{line} {r['kind']}",
                }
            )
        files.append(out)
    return files


def _cut(rows: list[dict[str, Any]], cuts: list[int]) -> list[list[dict[str, Any]]]:
    """``rows`` in consecutive pieces of the given lengths (the last piece takes the rest)."""
    pieces, start = [], 0
    for n in cuts:
        pieces.append(rows[start : start + n])
        start += n
    pieces.append(rows[start:])
    return pieces


def _frame(rows: list[dict[str, Any]]) -> VasaFrame:
    return VasaFrame(pl.DataFrame(rows, schema=VASA_SCHEMA), "esxi8")


def _fold(frames: list[list[dict[str, Any]]], exemplars: int, max_points: int) -> SignalAccumulator:
    acc = SignalAccumulator(max_points=max_points, exemplars=exemplars, gap_cap_seconds=30.0)
    for rows in frames:
        if rows:
            acc.add(_frame(rows))
    acc.attribute_unnamed()
    return acc


def _quotes(items: list[Any]) -> list[tuple[Any, ...]]:
    return [(e.ts, e.citation.file, e.citation.line, e.citation.text, e.value) for e in items]


def _everything(acc: SignalAccumulator) -> dict[str, Any]:
    """All the analysis reads from the accumulator (the final level carry aside: it is the
    last frame's files, which the two cuttings end on differently)."""
    sizes = acc.size()
    del sizes["level_carry"]
    series = {
        key: {
            "counts": s.counts,
            "ceiling": s.ceiling,
            "max_outstanding": s.max_outstanding,
            "levels": s.seconds_at_level,
            "create": (s.create.bins, s.create.min, s.create.max),
            "span": (s.first, s.last),
            "url": s.url,
            "firsts": {kind: _quotes(items) for kind, items in s.first_by_kind.items()},
            "slowest": _quotes(s.slowest_creates),
            "at_ceiling": _quotes(s.at_ceiling_lines),
        }
        for key, s in acc.series.items()
    }
    return {
        "signals": acc.signals(),
        "series": series,
        "containers": acc.containers,
        "sizes": sizes,
        "span": acc.span(),
        "pressure_span": acc.pressure_span(),
        "peaks": {key: acc.peak_pressure(*key, 60.0) for key in acc.series},
        "nearby": acc.nearby(lambda host: host.startswith("esx-00"), T0 + timedelta(seconds=120), 300.0),
    }


@settings(max_examples=60, deadline=None)
@given(
    hosts=st.lists(host_st, min_size=2, max_size=3),
    mixed_cuts=st.lists(st.integers(0, 30), min_size=1, max_size=4),
    exemplars=st.integers(1, 3),
    max_points=st.integers(10, 40),
)
def test_one_host_frames_and_mixed_host_frames_fold_to_the_same_signals(
    hosts: list[dict[str, Any]], mixed_cuts: list[int], exemplars: int, max_points: int
) -> None:
    serial = [0]
    per_host = [_host_rows(i, spec, serial) for i, spec in enumerate(hosts)]
    # as readers give them: one file of one host per frame, each file in pieces (fast paths)
    one_host = [
        piece
        for spec, files in zip(hosts, per_host, strict=True)
        for f in files
        for piece in _cut(f, spec["cuts"])
    ]
    # the same lines, every frame mixing the hosts' next pieces (general paths); each host's
    # lines keep their order, which is all the fold may depend on
    pieces = [_cut([row for f in files for row in f], mixed_cuts) for files in per_host]
    mixed = [[row for host_pieces in pieces for row in host_pieces[i]] for i in range(len(mixed_cuts) + 1)]
    fast = _everything(_fold(one_host, exemplars, max_points))
    general = _everything(_fold(mixed, exemplars, max_points))
    assert fast == general
