"""Pressure signals from real vvold lines (both ESXi shapes), parsed by the diagnose reader."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from vvolguard.drain.pressure import PressureMonitor, PressureThresholds
from vvolguard.drain.signal import PressureLevel
from vvolguard.sim.evidence.vvold import (
    VvoldRecord,
    format_record,
    msg_final_failure,
    msg_final_success,
    msg_issue,
    msg_no_free_conn,
    msg_retry,
)

T0 = datetime(2026, 3, 14, 10, 0, tzinfo=UTC)
VP = "pure-ct0"
CONTAINER = "b487b73a-6128-3ad2-873b-8ddb1ba45d4f"


class FakeClock:
    """A settable clock (the monitor only reads ``now``)."""

    def __init__(self) -> None:
        self.t = 0.0

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds


def line(shape: str, level: str, message: str, at: float = 0.0) -> bytes:
    rec = VvoldRecord(T0 + timedelta(seconds=at), level, message)
    return format_record(shape, rec, 2100874).encode()  # type: ignore[arg-type]


def create_ok(seq: int, ms: int, shape: str) -> bytes:
    return line(shape, "info", msg_final_success(seq, "createVirtualVolume", VP, CONTAINER, ms, 1))


@pytest.mark.parametrize("shape", ["esxi7", "esxi8"])
def test_calm_creates_are_acks_and_set_the_baseline(shape: str) -> None:
    clock = FakeClock()
    mon = PressureMonitor(clock)
    for i, ms in enumerate([4000, 4200, 3900]):
        mon.feed_bytes("esx-03", line(shape, "info", msg_issue(100 + i, "createVirtualVolume", VP, 1, 5)))
        mon.feed_bytes("esx-03", create_ok(100 + i, ms, shape))
    sig = mon.signal()
    assert sig.level is PressureLevel.CALM
    assert sig.calm_ops == 3
    assert sig.latency_ratio == pytest.approx(1.0, abs=0.1)
    assert sig.reason == "calm"


@pytest.mark.parametrize("shape", ["esxi7", "esxi8"])
def test_no_free_connections_is_congestion_until_it_clears(shape: str) -> None:
    clock = FakeClock()
    mon = PressureMonitor(clock, PressureThresholds(clear_after=30.0))
    mon.feed_bytes(
        "esx-03", line(shape, "warning", msg_no_free_conn(VP, "https://10.1.1.10:8084/vasa", 5, 5))
    )
    sig = mon.signal()
    assert sig.level is PressureLevel.CONGESTED
    assert "no free connections" in sig.reason
    assert sig.episode == 1
    clock.t = 20.0
    assert mon.signal().level is PressureLevel.CONGESTED and mon.signal().episode == 1
    clock.t = 31.0
    assert mon.signal().level is PressureLevel.CALM
    mon.feed_bytes(
        "esx-03", line(shape, "warning", msg_no_free_conn(VP, "https://10.1.1.10:8084/vasa", 5, 5))
    )
    assert mon.signal().episode == 2


def test_transient_final_failure_and_failed_task_are_marks_but_a_permanent_fault_is_not() -> None:
    clock = FakeClock()
    mon = PressureMonitor(clock)
    perm = msg_final_failure(7, "bindVirtualVolume", "NOT_FOUND", "no such vVol", VP, CONTAINER, 20, 0)
    mon.feed_bytes("esx-03", line("esxi8", "error", perm))
    assert mon.signal().level is PressureLevel.CALM
    busy = msg_final_failure(
        8, "createVirtualVolume", "TIMEOUT", "Operation timed out", VP, CONTAINER, 60012, 5
    )
    mon.feed_bytes("esx-03", line("esxi8", "error", busy))
    sig = mon.signal()
    assert sig.level is PressureLevel.CONGESTED and "TIMEOUT" in sig.reason
    clock.t = 100.0
    mon.task_failed("app-7", "A system error occurred.")
    assert "app-7" in mon.signal().reason


def test_rising_create_latency_is_warm_then_congested_near_the_deadline_until_measured_again() -> None:
    clock = FakeClock()
    mon = PressureMonitor(
        clock, PressureThresholds(latency_warm=1.5, deadline_congested=0.4, recent_alpha=1.0)
    )
    mon.feed_bytes("esx-03", create_ok(1, 4000, "esxi7"))
    mon.feed_bytes("esx-03", create_ok(2, 7000, "esxi7"))
    sig = mon.signal()
    assert sig.level is PressureLevel.WARM and "calm baseline" in sig.reason
    assert sig.delay and sig.at_floor and not sig.foreign  # the delay signal, nothing else
    mon.feed_bytes("esx-03", create_ok(3, 16000, "esxi7"))
    assert mon.signal().level is PressureLevel.WARM  # 4x slower, but far from the deadline
    mon.feed_bytes("esx-03", create_ok(4, 26000, "esxi7"))
    sig = mon.signal()
    assert sig.level is PressureLevel.CONGESTED and "of a 60 s deadline" in sig.reason
    assert mon.calm_ops == 1  # slow creates are not acks
    clock.t = 1000.0
    # The last slow create is still the best knowledge (a brown-out makes creates rare).
    assert mon.signal().level is PressureLevel.CONGESTED
    mon.feed_bytes("esx-03", create_ok(5, 4100, "esxi7"))
    mon.feed_bytes("esx-03", create_ok(6, 4000, "esxi7"))
    assert mon.signal().level is PressureLevel.CALM and not mon.signal().delay


def test_a_create_still_outstanding_counts_before_it_finishes() -> None:
    clock = FakeClock()
    mon = PressureMonitor(clock)
    mon.feed_bytes("esx-04", line("esxi8", "info", msg_issue(42, "createVirtualVolume", VP, 1, 5)))
    clock.t = 10.0
    assert mon.signal().level is PressureLevel.CALM
    clock.t = 30.0
    sig = mon.signal()
    assert sig.level is PressureLevel.CONGESTED and "30 s of a 60 s deadline" in sig.reason
    mon.feed_bytes("esx-04", create_ok(42, 30000, "esxi8"))
    clock.t = 70.0
    assert mon.signal().level is PressureLevel.CONGESTED  # it finished, but slowly
    for seq in (43, 44, 45):
        mon.feed_bytes("esx-04", create_ok(seq, 4000, "esxi8"))
    assert mon.signal().level is PressureLevel.CALM


def test_a_timeout_line_teaches_the_real_deadline() -> None:
    clock = FakeClock()
    mon = PressureMonitor(clock)
    t = msg_final_failure(9, "createVirtualVolume", "TIMEOUT", "Operation timed out", VP, CONTAINER, 30004, 5)
    mon.feed_bytes("esx-03", line("esxi8", "error", t))
    assert mon.deadline_ms == 30004


@pytest.mark.parametrize("shape", ["esxi7", "esxi8"])
def test_early_busy_retries_are_warm_the_last_one_congested(shape: str) -> None:
    clock = FakeClock()
    mon = PressureMonitor(clock)
    for attempt in (1, 2):
        retry = msg_retry(5, "createVirtualVolume", "PROVIDER_BUSY", 2000, attempt, 3)
        mon.feed_bytes("esx-03", line(shape, "warning", retry))
        sig = mon.signal()
        assert sig.level is PressureLevel.WARM and "provider busy" in sig.reason
        assert sig.gate  # the provider's queue is full now: start nothing new
    clock.t = 31.0
    assert not mon.signal().gate
    last = msg_retry(5, "createVirtualVolume", "PROVIDER_BUSY", 8000, 3, 3)
    mon.feed_bytes("esx-03", line(shape, "warning", last))
    sig = mon.signal()
    assert sig.level is PressureLevel.CONGESTED and "retry 3" in sig.reason
    # A vvold that retries only twice: its last retry is the alarm.
    mon2 = PressureMonitor(clock)
    last2 = msg_retry(6, "bindVirtualVolume", "PROVIDER_BUSY", 2000, 2, 2)
    mon2.feed_bytes("esx-03", line(shape, "warning", last2))
    assert mon2.signal().level is PressureLevel.CONGESTED


def test_outstanding_at_the_ceiling_is_warm() -> None:
    clock = FakeClock()
    mon = PressureMonitor(clock)
    mon.feed_bytes("esx-03", line("esxi7", "info", msg_issue(5, "bindVirtualVolume", VP, 4, 5)))
    sig = mon.signal()
    assert sig.level is PressureLevel.WARM and sig.outstanding_max == 5
    # not the provider's pace: with the session full, the next operation of ours waits for a
    # connection (the lab's saturation scenario lost a migration growing on this)
    assert not sig.at_floor and not sig.delay


def test_a_ceiling_reached_now_and_then_is_the_floor_one_held_by_others_is_not() -> None:
    """A session of 2 connections whose other call (a host's poller) comes and goes leaves room
    for a second migration of ours at its quietest: the provider's floor. A session of 5 whose
    other work holds 4 all along (the lab's saturation scenario) has no room for a second."""
    clock = FakeClock()
    mon = PressureMonitor(clock)
    for seq, (at, n) in enumerate([(0.0, 0), (5.0, 1), (10.0, 0), (15.0, 1)]):
        clock.t = at
        mon.feed_bytes("esx-03", line("esxi7", "info", msg_issue(seq, "bindVirtualVolume", VP, n, 2), at))
    sig = mon.signal()
    assert sig.level is PressureLevel.WARM and sig.at_floor
    held = PressureMonitor(clock)
    for seq, at in enumerate([0.0, 5.0, 10.0, 15.0]):
        clock.t = at
        held.feed_bytes("esx-03", line("esxi7", "info", msg_issue(seq, "bindVirtualVolume", VP, 4, 5), at))
    sig = held.signal()
    assert sig.level is PressureLevel.WARM and not sig.at_floor
    # the quiet moments age out with the warm window: then only the ceiling is left
    clock.t = 15.0 + PressureThresholds().warm_for - 1.0
    mon.feed_bytes("esx-03", line("esxi7", "info", msg_issue(9, "bindVirtualVolume", VP, 1, 2), clock.t))
    assert not mon.signal().at_floor


def test_lines_split_across_reads_are_parsed_once() -> None:
    clock = FakeClock()
    mon = PressureMonitor(clock)
    data = create_ok(1, 4000, "esxi8") + create_ok(2, 4100, "esxi8")
    for i in range(0, len(data), 7):
        mon.feed_bytes("esx-03", data[i : i + 7])
    assert mon.calm_ops == 2


def test_with_one_of_ours_in_flight_the_latency_is_the_new_floor() -> None:
    """A provider that slowed down for everyone: creates measured with one migration of ours in
    flight move the baseline (BBR re-measures its min RTT); with three in flight they do not,
    so our own queueing still reads as WARM."""
    signals = {}
    for inflight in (1, 3):
        clock = FakeClock()
        mon = PressureMonitor(clock)
        mon.note_inflight(inflight)
        mon.feed_bytes("esx-03", create_ok(1, 4000, "esxi7"))
        for seq in range(2, 12):
            mon.feed_bytes("esx-03", create_ok(seq, 9000, "esxi7"))
        signals[inflight] = mon.signal()
    assert signals[1].level is PressureLevel.CALM and signals[1].latency_ratio < 1.1
    assert signals[3].level is PressureLevel.WARM and "calm baseline" in signals[3].reason


def test_busy_answers_at_the_providers_own_floor_only_stop_growth() -> None:
    """Busy answers that came as often with one of ours in flight are someone else's load: no
    pause, no hold; with many more of them than that floor, they are ours again."""
    from vvolguard.sim.evidence.vvold import msg_retry

    clock = FakeClock()
    mon = PressureMonitor(clock)
    mon.note_inflight(1)
    for seq in range(1, 11):
        mon.feed_bytes("esx-03", line("esxi7", "info", msg_issue(seq, "bindVirtualVolume", VP, 1, 5)))
        if seq % 3 == 0:
            mon.feed_bytes(
                "esx-03",
                line("esxi7", "warning", msg_retry(seq, "bindVirtualVolume", "PROVIDER_BUSY", 400, 2, 3)),
            )
    clock.t += 31.0  # the early ones (before the floor was known) no longer gate
    mon.feed_bytes(
        "esx-03", line("esxi7", "warning", msg_retry(20, "bindVirtualVolume", "PROVIDER_BUSY", 400, 2, 3))
    )
    sig = mon.signal()
    assert sig.level is PressureLevel.WARM and not sig.gate and mon.external_busy >= 1
    assert "provider busy for others too" in sig.reason
    assert not sig.foreign  # our own earlier busy retries still count (warm_for)
    clock.t += 30.0  # they expire; the busy answer judged someone else's is all that is left
    sig = mon.signal()
    assert sig.level is PressureLevel.WARM and sig.foreign and not sig.at_floor


def light_ok(seq: int, op: str, ms: int, at: float) -> bytes:
    return line("esxi7", "info", msg_final_success(seq, op, VP, CONTAINER, ms, 1), at)


def test_a_provider_slower_for_every_call_is_seen_in_light_calls_before_a_create_is_slow() -> None:
    """A brown-out: the hosts' getEvents polls take five times as long as at the start, with
    one of ours in flight. No create has finished slowly yet, but one issued now would take
    more than ``deadline_congested`` of the deadline: the signal says one at a time. When the
    light calls are fast again, it clears."""
    clock = FakeClock()
    mon = PressureMonitor(clock)
    mon.note_inflight(1)
    mon.feed_bytes("esx-03", create_ok(1, 5000, "esxi7"))
    seq = 10
    for ms in (50, 52, 48, 50):  # the provider's speed at the start
        seq += 1
        clock.t += 2.5
        mon.feed_bytes("esx-02", light_ok(seq, "getEvents", ms, clock.t))
    assert not mon.signal().slowed
    for ms in (260, 240, 250, 255):
        seq += 1
        clock.t += 2.5
        mon.feed_bytes("esx-02", light_ok(seq, "getEvents", ms, clock.t))
    sig = mon.signal()
    assert sig.slowed and sig.level is PressureLevel.CONGESTED and sig.latency_only
    assert "slower for every call" in sig.reason and not sig.at_floor
    for ms in (150, 160, 155):  # 3× slower: below the line, but it stays on until lower
        seq += 1
        clock.t += 2.5
        mon.feed_bytes("esx-02", light_ok(seq, "getEvents", ms, clock.t))
    assert mon.signal().slowed
    for ms in (50, 55, 49, 51):
        seq += 1
        clock.t += 2.5
        mon.feed_bytes("esx-02", light_ok(seq, "getEvents", ms, clock.t))
    assert not mon.signal().slowed


def test_light_calls_slowed_by_our_own_load_do_not_count_as_a_brown_out() -> None:
    """With many of ours in flight, some light calls wait in the provider's queue behind our
    creates: that is our load (the create latency shows it), not a provider slower for
    everyone, which would slow every one of them. At that load the fastest recent call counts."""
    clock = FakeClock()
    mon = PressureMonitor(clock)
    mon.note_inflight(1)
    mon.feed_bytes("esx-03", create_ok(1, 5000, "esxi7"))
    for seq, ms in enumerate((50, 52, 48, 50), start=10):
        clock.t += 2.5
        mon.feed_bytes("esx-02", light_ok(seq, "getEvents", ms, clock.t))
    mon.note_inflight(6)
    for seq, ms in enumerate((900, 1500, 55, 1200, 60), start=20):
        clock.t += 2.5
        mon.feed_bytes("esx-02", light_ok(seq, "getEvents", ms, clock.t))
    assert not mon.signal().slowed


def _slow_provider(mon: PressureMonitor, clock: FakeClock, light_ms: int, creates: list[int]) -> None:
    """The hosts poll every 5 s at ``light_ms``; one of ours in flight finishes a create every
    35 s with the given latencies (the provider's floor at its current pace)."""
    seq = 1000 + int(clock.t)
    for ms in creates:
        for _ in range(7):
            seq += 1
            clock.t += 5.0
            mon.feed_bytes("esx-02", light_ok(seq, "getEvents", light_ms, clock.t))
        mon.feed_bytes("esx-03", create_ok(seq, ms, "esxi7"))


def _started(clock: FakeClock) -> PressureMonitor:
    mon = PressureMonitor(clock)
    mon.note_inflight(1)
    for i, ms in enumerate((5000, 5200, 4900)):
        mon.feed_bytes("esx-03", create_ok(i + 1, ms, "esxi7"))
    for seq, ms in enumerate((50, 52, 48, 50), start=10):
        clock.t += 2.5
        mon.feed_bytes("esx-02", light_ok(seq, "getEvents", ms, clock.t))
    return mon


def test_a_provider_slower_for_good_becomes_the_new_normal_when_a_create_fits_the_deadline() -> None:
    """Every call 4× slower for good: one at a time at first (a create would take 20 s of 60),
    but the creates measured alone take 15-17 s for over a minute (a stall would not last so
    long), and a lone create still fits the deadline's budget. It becomes the new normal: one
    at a time ends, 16 s creates are calm against it, and only a pace slower again is a
    brown-out."""
    clock = FakeClock()
    mon = _started(clock)
    for _ in range(3):
        clock.t += 5.0
        mon.feed_bytes("esx-02", light_ok(int(clock.t), "getEvents", 200, clock.t))
    assert mon.signal().slowed
    _slow_provider(mon, clock, 200, [16000, 17000, 15000])
    assert mon.settled_ms == pytest.approx(16000)
    sig = mon.signal()
    assert not sig.slowed and sig.level is PressureLevel.CALM
    assert sig.latency_ratio is not None and sig.latency_ratio < mon.t.latency_warm
    _slow_provider(mon, clock, 200, [16500])
    assert mon.signal().level is PressureLevel.CALM
    # A brown-out on top of the new normal: twice slower again, seen within a minute.
    for _ in range(12):
        clock.t += 5.0
        mon.feed_bytes("esx-02", light_ok(int(clock.t), "getEvents", 400, clock.t))
    assert mon.signal().slowed


def test_a_brown_out_whose_creates_do_not_fit_the_deadline_never_becomes_the_new_normal() -> None:
    """Every call 5× slower, for minutes, and creates alone take 25-30 s: steady, but a second
    create sharing the provider or one busy retry passes the deadline. It stays one at a time."""
    clock = FakeClock()
    mon = _started(clock)
    _slow_provider(mon, clock, 250, [26000, 29000, 25000, 27000, 28000])
    assert mon.settled_ms is None
    assert mon.signal().slowed


def test_a_pace_measured_back_at_the_starts_ends_one_at_a_time() -> None:
    """One at a time stays on while the pace is unknown, but a pace measured faster than at the
    start is a recovery, not an unknown: slow-entry stayed one at a time for 400 s after a burst
    of its own queueing cleared, because a pace below 1 predicted nothing."""
    clock = FakeClock()
    mon = PressureMonitor(clock)
    mon.note_inflight(1)
    mon.feed_bytes("esx-03", create_ok(1, 5000, "esxi7"))
    seq = 10
    for ms in (50, 52, 48, 50, 260, 240, 250, 255):
        seq += 1
        clock.t += 2.5
        mon.feed_bytes("esx-02", light_ok(seq, "getEvents", ms, clock.t))
    assert mon.signal().slowed
    for ms in (30, 28, 32, 31):  # faster than at the start
        seq += 1
        clock.t += 2.5
        mon.feed_bytes("esx-02", light_ok(seq, "getEvents", ms, clock.t))
    assert not mon.signal().slowed


def test_a_pace_near_the_starts_does_not_turn_one_at_a_time_on_for_slow_lone_creates() -> None:
    """Lone creates at 12-20 s (slow-entry, slow-midrange) sit near the line already: a pace of
    1.2-1.7×, which three light calls read at an unchanged provider with two of ours queueing,
    must not read as a brown-out. Four times slower does."""
    clock = FakeClock()
    mon = PressureMonitor(clock)
    mon.note_inflight(1)
    mon.feed_bytes("esx-03", create_ok(1, 20000, "esxi7"))
    seq = 10
    for ms in (50, 52, 48, 60, 85, 70, 80):
        seq += 1
        clock.t += 2.5
        mon.feed_bytes("esx-02", light_ok(seq, "getEvents", ms, clock.t))
    assert mon.pace() == pytest.approx(1.6, abs=0.1)
    assert not mon.signal().slowed
    for ms in (200, 210, 190):
        seq += 1
        clock.t += 2.5
        mon.feed_bytes("esx-02", light_ok(seq, "getEvents", ms, clock.t))
    assert mon.signal().slowed


def test_busy_answers_with_two_of_our_creates_outstanding_cap_our_creates_at_one() -> None:
    """Two of our creates fill a two-worker provider (slow-entry): a busy answer then says a
    new migration should wait for one of them, and from then on at most one create of ours
    runs at once. A busy answer with one create outstanding says nothing about creates."""
    clock = FakeClock()
    mon = PressureMonitor(clock)
    mon.note_inflight(2)
    issue = lambda seq: line("esxi7", "info", msg_issue(seq, "createVirtualVolume", VP, 1, 5))  # noqa: E731
    busy = line("esxi7", "warning", msg_retry(99, "bindVirtualVolume", "PROVIDER_BUSY", 400, 1, 3))
    mon.feed_bytes("esx-03", issue(1))
    mon.feed_bytes("esx-03", busy)
    assert mon.create_cap is None and mon.room_for_a_create()
    mon.feed_bytes("esx-04", issue(2))
    assert mon.room_for_a_create()
    mon.feed_bytes("esx-03", busy)
    assert mon.create_cap == 1 and not mon.room_for_a_create()
    assert mon.create_cap_reason == "the provider answered busy with 2 of ours at once"
    mon.feed_bytes("esx-03", create_ok(1, 12000, "esxi7"))
    assert not mon.room_for_a_create()  # one still outstanding
    mon.feed_bytes("esx-04", create_ok(2, 12000, "esxi7"))
    assert mon.room_for_a_create()
    mon.feed_bytes("esx-03", issue(3))
    assert not mon.room_for_a_create()
    clock.t += mon.deadline_ms / 1000  # a create never answered in a line seen here
    assert mon.room_for_a_create()


def test_a_settled_provider_is_cut_only_where_two_or_three_of_ours_would_take_it() -> None:
    """Settled at 16 s lone creates, creates of 20 s with three of ours in flight are the
    latency they add to the new floor (WARM: stop growing), not a cut; the line is the floor
    times ``latency_warm`` squared, never above ``settled_congested`` of the deadline (21 s),
    and an unsettled provider keeps the absolute 30% line (18 s)."""
    clock = FakeClock()
    mon = _started(clock)
    for _ in range(3):
        clock.t += 5.0
        mon.feed_bytes("esx-02", light_ok(int(clock.t), "getEvents", 200, clock.t))
    _slow_provider(mon, clock, 200, [16000, 17000, 15000])
    assert mon.settled_ms == pytest.approx(16000)
    mon.note_inflight(3)
    for seq in (5001, 5002):
        mon.feed_bytes("esx-03", create_ok(seq, 20000, "esxi7"))
    sig = mon.signal()
    assert sig.level is PressureLevel.WARM and not sig.slowed
    for seq in (5003, 5004, 5005):
        mon.feed_bytes("esx-03", create_ok(seq, 23000, "esxi7"))
    assert mon.signal().level is PressureLevel.CONGESTED
    fresh = _started(FakeClock())
    fresh.note_inflight(3)
    for seq in (5001, 5002, 5003):
        fresh.feed_bytes("esx-03", create_ok(seq, 20000, "esxi7"))
    assert fresh.signal().level is PressureLevel.CONGESTED


def _low_load_floor(mon: PressureMonitor, clock: FakeClock, ops: int, busy_every: int) -> None:
    """``ops`` binds with one of ours in flight, every ``busy_every``-th answered busy once."""
    mon.note_inflight(1)
    for seq in range(1, ops + 1):
        mon.feed_bytes("esx-03", line("esxi7", "info", msg_issue(seq, "bindVirtualVolume", VP, 1, 5)))
        if seq % busy_every == 0:
            retry = msg_retry(seq, "bindVirtualVolume", "PROVIDER_BUSY", 400, 1, 3)
            mon.feed_bytes("esx-03", line("esxi7", "warning", retry))
    clock.t += 61.0  # the floor is known; the early answers (ours, then) have expired


def test_a_rare_busy_floor_caps_our_creates_at_one_and_does_not_stop_growth() -> None:
    """A provider that answers busy now and then with one of ours in flight, in about 1 of 20
    operations (workers-1: one worker, the hosts' own polls fill it), has no spare VASA capacity
    but is not loaded: its next busy answer neither stops growth nor pauses, and our creates go
    one at a time from then on. At 1 in 3 (a clone storm) such an answer stops growth, as
    before, and leaves creates alone."""
    busy = line("esxi7", "warning", msg_retry(99, "bindVirtualVolume", "PROVIDER_BUSY", 400, 1, 3))
    results = {}
    for every in (20, 3):
        clock = FakeClock()
        mon = PressureMonitor(clock)
        _low_load_floor(mon, clock, 40, every)
        mon.note_inflight(2)
        mon.feed_bytes("esx-03", busy)
        assert mon.external_busy >= 1  # judged the provider's own load either way
        results[every] = (mon.signal(), mon.create_cap)
        if mon.create_cap is not None:
            assert "busy now and then at any load" in mon.create_cap_reason
    rare, loaded = results[20], results[3]
    assert rare[0].level is PressureLevel.CALM and not rare[0].gate and rare[1] == 1
    assert loaded[0].level is PressureLevel.WARM and loaded[0].foreign and loaded[1] is None


def _capped_at_one(clock: FakeClock) -> PressureMonitor:
    """A monitor whose creates of ours are capped at one (a busy answer with two outstanding),
    both of those creates answered since: slow-entry after its first overflow."""
    mon = PressureMonitor(clock)
    mon.note_inflight(2)
    issue = lambda seq: line("esxi7", "info", msg_issue(seq, "createVirtualVolume", VP, 1, 5))  # noqa: E731
    mon.feed_bytes("esx-03", issue(1))
    mon.feed_bytes("esx-04", issue(2))
    mon.feed_bytes(
        "esx-03", line("esxi7", "warning", msg_retry(99, "bindVirtualVolume", "PROVIDER_BUSY", 400, 1, 3))
    )
    mon.feed_bytes("esx-03", create_ok(1, 12000, "esxi7"))
    mon.feed_bytes("esx-04", create_ok(2, 12000, "esxi7"))
    assert mon.create_cap == 1
    clock.t += 60  # the busy answer and its WARM have cleared
    return mon


def test_a_lone_create_at_the_cut_line_with_our_creates_one_at_a_time_is_the_floor() -> None:
    """With our creates capped at one, a create of ours at 30% of the deadline that is the only
    one outstanding is the provider's own pace: no cut could make it (or the next create, which
    waits for it) faster, so it stops growth (WARM) but does not cut. Without the cap, or with a
    second create of ours outstanding, the same age cuts as before."""
    clock = FakeClock()
    mon = _capped_at_one(clock)
    mon.feed_bytes("esx-03", line("esxi7", "info", msg_issue(3, "createVirtualVolume", VP, 1, 5)))
    clock.t += 20  # 20 s of a 60 s deadline, alone
    sig = mon.signal()
    assert sig.level is PressureLevel.WARM and "20 s of a 60 s deadline" in sig.reason
    mon.feed_bytes("esx-04", line("esxi7", "info", msg_issue(4, "createVirtualVolume", VP, 1, 5)))
    assert mon.signal().level is PressureLevel.CONGESTED  # two of ours: queueing is ours again

    uncapped = PressureMonitor(clock := FakeClock())
    uncapped.note_inflight(2)
    uncapped.feed_bytes("esx-03", line("esxi7", "info", msg_issue(3, "createVirtualVolume", VP, 1, 5)))
    clock.t += 20
    assert uncapped.create_cap is None and uncapped.signal().level is PressureLevel.CONGESTED


def test_a_lone_create_above_the_warm_line_but_short_of_the_cut_is_a_floor_ack() -> None:
    """slow-entry's lone creates take 12-17 s, at or above the WARM line (a fifth of the
    deadline), so they are never calm acks; with one of ours in flight such a create is the
    provider's floor answering (``floor_ops``). Above the cut line, or with two of ours in
    flight and our creates not capped, it is not."""
    clock = FakeClock()
    mon = PressureMonitor(clock)
    mon.note_inflight(1)
    for seq, ms in ((1, 12000), (2, 14000), (3, 20000)):
        mon.feed_bytes("esx-03", line("esxi7", "info", msg_issue(seq, "createVirtualVolume", VP, 1, 5)))
        mon.feed_bytes("esx-03", create_ok(seq, ms, "esxi7"))
    sig = mon.signal()
    assert sig.calm_ops == 0  # none below the 12 s WARM line
    assert sig.floor_ops == 2  # 12 s and 14 s: the floor; 20 s is past the 18 s line
    mon.note_inflight(2)
    mon.feed_bytes("esx-03", line("esxi7", "info", msg_issue(4, "createVirtualVolume", VP, 1, 5)))
    mon.feed_bytes("esx-03", create_ok(4, 14000, "esxi7"))
    assert mon.signal().floor_ops == 2
    capped = _capped_at_one(clock)  # our creates one at a time: alone with two in flight
    before = capped.signal().floor_ops
    assert capped.signal().creates_alone
    capped.feed_bytes("esx-03", line("esxi7", "info", msg_issue(5, "createVirtualVolume", VP, 1, 5)))
    capped.feed_bytes("esx-03", line("esxi7", "info", msg_issue(6, "createVirtualVolume", VP, 1, 5)))
    capped.feed_bytes("esx-03", create_ok(5, 14000, "esxi7"))
    assert capped.signal().floor_ops == before  # another create of ours outstanding: not alone
    capped.feed_bytes("esx-03", create_ok(6, 14000, "esxi7"))
    assert capped.signal().floor_ops == before + 1
