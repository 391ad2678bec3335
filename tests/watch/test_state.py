"""Pressure judged with diagnose's thresholds over a window of log time; stale and forgotten
hosts; multi-line records split across batches."""

from __future__ import annotations

import pytest
from tests.watch.watch_helpers import NFC_8

from vvolguard.analysis.thresholds import Thresholds
from vvolguard.watch import replay
from vvolguard.watch.ingest import Ingest
from vvolguard.watch.state import Pressure, WatchState


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def _feed(ingest: Ingest, lines: list[str], host: str = "esx01") -> None:
    msgs = [m for rec in replay.records(lines) for m in replay.messages(rec, host, "3164", multiline=False)]
    ingest.submit([m.encode() for m in msgs], "127.0.0.1", "udp")
    ingest.flush()


def _nfc(minute: int, second: int, i: int = 0) -> str:
    return NFC_8.format(s=second, i=i).replace("10:10:", f"10:{minute:02d}:")


def _issue(minute: int, second: int, n: int, seq: int) -> str:
    return (
        f"2026-03-14T10:{minute:02d}:{second:02d}.000Z In(166) VVold[1]: [Originator@6876 sub=Default] "
        f"VasaOp::CreateVirtualVolumeInt [#{seq}]: ===> Issuing 'createVirtualVolume' to VP pure-ct0 "
        f"(#outstanding {n}/5) [session state: Connected]"
    )


def _create(minute: int, second: int, ms: int, seq: int) -> str:
    return (
        f"2026-03-14T10:{minute:02d}:{second:02d}.000Z In(166) VVold[1]: [Originator@6876 sub=Default] "
        f"VasaOp::CreateVirtualVolumeInt [#{seq}]: ===> FINAL SUCCESS createVirtualVolume VP (pure-ct0) "
        f"Container (b487b73a-6128-3ad2-873b-8ddb1ba45d4f) timeElapsed={ms} msecs (#outstanding 0)"
    )


def _level(state: WatchState, host: str = "esx01") -> Pressure:
    state.evaluate()
    return state.series[(host, "pure-ct0")].level


def test_pressure_events_threshold_is_diagnoses() -> None:
    clock = Clock()
    state = WatchState(Thresholds(), clock=clock)
    ingest = Ingest(state)
    _feed(ingest, [_nfc(0, 0, 1), _nfc(0, 10, 2)])
    assert _level(state) == Pressure.PRESSURE  # 2 < pressure_events (3), 5/5 for only 10 s
    _feed(ingest, [_nfc(4, 0, 3)])
    assert _level(state) == Pressure.SATURATED  # 3 inside 300 s
    assert state.series[("esx01", "pure-ct0")].reasons[0].startswith("3 no-free-connection waits")
    # the same override diagnose takes
    strict = WatchState(Thresholds.from_overrides({"pressure_events": 4}), clock=clock)
    _feed(Ingest(strict), [_nfc(0, 0, 1), _nfc(0, 10, 2), _nfc(4, 0, 3)])
    assert _level(strict) == Pressure.PRESSURE


def test_window_runs_on_log_time_and_a_silent_host_ages_by_wall_time() -> None:
    clock = Clock()
    state = WatchState(Thresholds(), clock=clock, stale_after=600, expire_after=3600)
    ingest = Ingest(state)
    _feed(ingest, [_nfc(0, 0, 1), _nfc(0, 1, 2), _nfc(0, 2, 3)])
    assert _level(state) == Pressure.SATURATED
    _feed(ingest, [_issue(6, 0, 0, 9)])  # log time moves on 6 minutes: the waits leave the window
    assert _level(state) == Pressure.CALM
    _feed(ingest, [_nfc(6, 1, 4), _nfc(6, 2, 5), _nfc(6, 3, 6)])
    assert _level(state) == Pressure.SATURATED
    clock.now += 301  # the host falls silent: its clock runs on with the wall clock
    assert _level(state) == Pressure.CALM
    assert not state.hosts["esx01"].stale
    clock.now += 300
    changes = state.evaluate()
    assert state.hosts["esx01"].stale and [c.what for c in changes] == ["stale"]
    clock.now += 3600
    state.evaluate()
    assert "esx01" not in state.hosts and not state.series  # forgotten: memory stays bounded


def test_outstanding_held_at_ceiling_and_slow_creates() -> None:
    state = WatchState(Thresholds(), clock=Clock())
    ingest = Ingest(state)
    _feed(ingest, [_issue(0, 0, 4, 1), _issue(0, 10, 4, 2)])
    assert _level(state) == Pressure.CALM  # 4/5 is below the ceiling (diagnose: n >= max)
    _feed(ingest, [_issue(0, 20, 5, 3), _issue(0, 40, 5, 4)])
    assert _level(state) == Pressure.PRESSURE  # at the ceiling for 20 s
    _feed(ingest, [_issue(0, 55, 5, 5)])
    assert _level(state) == Pressure.SATURATED  # held from 0:20 to 0:55 (>= at_ceiling_seconds)
    s = state.series[("esx01", "pure-ct0")]
    assert s.outstanding == 5 and s.ceiling == 5
    _feed(ingest, [_issue(0, 58, 1, 6)])
    assert _level(state) == Pressure.CALM
    _feed(ingest, [_create(1, i, 12_000, 10 + i) for i in range(4)])
    assert _level(state) == Pressure.PRESSURE  # slow, but fewer than create_min_samples
    _feed(ingest, [_create(1, 10, 12_000, 20)])
    assert _level(state) == Pressure.SATURATED
    assert s.create_count == 5 and s.create_buckets[7] == 5  # 12 s: the (10, 20] bucket


def test_continuation_split_across_batches_finds_its_record() -> None:
    """A 6.7/7.0 header in one batch, its ``-->`` line in the next (a file tail cut there)."""
    state = WatchState(Thresholds(), clock=Clock())
    ingest = Ingest(state)
    ingest.submit_lines(
        "esx07", b"2024-03-14T10:02:11.418Z warning vvold[2100874] [Originator@6876 sub=Default]\n", "file"
    )
    ingest.flush()
    tail = (
        b"--> VasaSession::GetFreeConn: No free connections to VP pure-ct0 (url: https://10.1.1.10:8084/vasa)"
    )
    ingest.submit_lines("esx07", tail + b" [#outstanding 5/5] - waiting\n", "file")
    ingest.flush()
    s = state.series[("esx07", "pure-ct0")]
    assert s.no_free_conn == 1
    assert s.pressure_ts[0] == 1710410531.418  # the header's time


def test_counts_are_exact_across_parse_batches() -> None:
    """Each batch starts with the host's previous header (for its continuations); that line
    must never be counted again."""
    state = WatchState(Thresholds(), clock=Clock())
    ingest = Ingest(state)
    for i in range(7):
        _feed(ingest, [_nfc(0, i, i)])
    assert state.series[("esx01", "pure-ct0")].no_free_conn == 7


def test_live_table_renders_names_from_the_network_as_text() -> None:
    from rich.console import Console

    from vvolguard.watch.table import render

    state = WatchState(Thresholds(), clock=Clock())
    ingest = Ingest(state)
    ingest.submit_lines("esx[bold]01[/bold]", (_nfc(0, 0, 1) + "\n").encode(), "file")  # --file HOST=PATH
    ingest.flush()
    state.evaluate()
    console = Console(width=200, record=True, color_system=None)
    console.print(render(state))
    out = console.export_text()
    assert "esx[bold]01[/bold]" in out and "pressure" in out


@pytest.mark.slow
def test_a_batch_bigger_than_one_reader_pass_is_counted_whole() -> None:
    """The vvold reader parses at most LINES_PER_PASS lines per pass; a bigger batch (a burst
    from many hosts) continues in the next pass, and no line is lost or counted twice."""
    from vvolguard.evidence.vvold_block import LINES_PER_PASS

    state = WatchState(Thresholds(), clock=Clock())
    ingest = Ingest(state, max_pending=2 * LINES_PER_PASS)
    filler = _issue(0, 0, 0, 1)
    lines = [filler] * (LINES_PER_PASS - 3) + [_nfc(0, 1, i) for i in range(7)]
    for host in ("esx01", "esx02"):
        ingest.submit_lines(
            host, ("\n".join(lines[: len(lines) // 2 if host == "esx01" else None]) + "\n").encode(), "file"
        )
    assert not ingest.errors  # nothing refused: all of it reaches the parser
    ingest.flush()
    assert state.series[("esx02", "pure-ct0")].no_free_conn == 7
    assert ("esx01", "pure-ct0") in state.series
