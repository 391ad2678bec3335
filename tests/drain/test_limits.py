"""The limit algorithms and the admission beside them: probe of 1, growth when calm, cut and
hold on pressure, re-probe after back-off, never above the ceiling; explicit phases."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vvolguard.drain.limits import (
    Admission,
    AIMDLimit,
    Completion,
    GradientLimit,
    Observation,
    Phase,
    Sample,
    make_limit,
)
from vvolguard.drain.signal import PressureLevel, PressureSignal

CALM = PressureSignal()


def calm(acks: int, at: float = 0.0) -> PressureSignal:
    return PressureSignal(calm_ops=acks, at=at)


def aimd(ceiling: int = 8, *, backoff: float = 0.5, **kw: object) -> Admission:
    return Admission(AIMDLimit(ceiling, backoff=backoff), **kw)  # type: ignore[arg-type]


def opened(algorithm: AIMDLimit | GradientLimit, limit: int) -> Admission:
    """An admission past its probe, at ``limit`` (a remembered level, reached after one ack)."""
    adm = Admission(algorithm, known_safe=limit)
    adm.update(Observation(0, 1, calm(1)))
    assert adm.phase is Phase.GROW and adm.limit == limit
    return adm


def congested(episode: int = 1, acks: int = 0) -> PressureSignal:
    return PressureSignal(
        level=PressureLevel.CONGESTED, reasons=("no free connections to VP",), episode=episode, calm_ops=acks
    )


def test_aimd_starts_with_a_probe_of_one_then_grows_additively() -> None:
    lim = aimd()
    assert lim.allowed() == 1 and lim.phase is Phase.PROBE
    lim.update(Observation(0, 1, calm(0)))
    assert lim.allowed() == 1  # nothing calm seen yet: still probing
    lim.update(Observation(1, 1, calm(1)))  # the probe's swap vVol was created calmly
    assert lim.phase is Phase.GROW and lim.allowed() == 1
    lim.update(Observation(2, 1, calm(2)))
    assert lim.allowed() == 2
    lim.update(Observation(3, 2, calm(3)))
    assert lim.allowed() == 3


def test_aimd_does_not_grow_when_the_limit_is_not_used() -> None:
    lim = aimd()
    lim.update(Observation(1, 1, calm(1)))
    for i in range(2, 10):
        lim.update(Observation(i, 0, calm(i)))
    assert lim.limit == 1


def test_aimd_cuts_multiplicatively_holds_and_reprobes() -> None:
    lim = aimd(backoff=0.5, release_jitter=0.0)
    lim.update(Observation(0, 1, calm(1)))
    acks = 1
    for i in range(10):
        acks += 1
        lim.update(Observation(i, lim.limit, calm(acks)))
    assert lim.limit == 8
    lim.update(Observation(20, 8, congested(1, acks)))
    assert lim.limit == 4 and lim.phase is Phase.HOLD and lim.allowed() == 0
    assert "no free connections" in lim.state.reason
    # The same episode seen again does not cut again.
    lim.update(Observation(21, 8, congested(1, acks)))
    assert lim.limit == 4 and lim.allowed() == 0
    # Signals clear with 3 of ours still in flight: they are the probe; on at the cut limit.
    lim.update(Observation(60, 3, calm(acks)))
    assert lim.phase is Phase.GROW and lim.allowed() == 4 and "resumed at 4" in lim.state.reason
    # Another episode, waited out until nothing of ours runs: a probe of one first.
    lim.update(Observation(70, 4, congested(2, acks)))
    assert lim.limit == 2 and lim.phase is Phase.HOLD
    lim.update(Observation(100, 0, calm(acks)))
    assert lim.phase is Phase.PROBE and lim.allowed() == 1
    lim.update(Observation(101, 1, calm(acks + 1)))
    assert lim.allowed() == 2


def test_a_failed_task_counts_as_congestion_even_without_log_signals() -> None:
    lim = opened(AIMDLimit(8), 6)
    lim.update(Observation(5, 5, CALM, (Completion("vm-1", 30.0, ok=False),)))
    assert lim.limit == 3 and lim.phase is Phase.HOLD and lim.state.reason == "task failed"


@pytest.mark.parametrize("limit", [AIMDLimit, GradientLimit])
def test_a_failure_with_a_cause_outside_the_control_plane_does_not_cut(limit: type) -> None:
    """ "Destination failed to resume" is the data path: cutting the wave would not help it."""
    lim = opened(limit(8), 6)
    elsewhere = Completion("vm-1", 30.0, ok=False, pressure=False)
    lim.update(Observation(5, 5, PressureSignal(level=PressureLevel.WARM, calm_ops=3), (elsewhere,)))
    assert lim.limit == 6 and lim.phase is Phase.STEADY


def test_warm_stops_growth_without_cutting() -> None:
    lim = aimd()
    lim.update(Observation(0, 1, calm(1)))
    warm = PressureSignal(level=PressureLevel.WARM, reasons=("create 2.0×",), calm_ops=5)
    lim.update(Observation(1, 1, warm))
    lim.update(Observation(2, 1, PressureSignal(level=PressureLevel.WARM, calm_ops=9)))
    assert lim.limit == 1 and lim.phase is Phase.STEADY


def test_known_safe_limit_is_where_growth_starts_after_the_probe() -> None:
    lim = aimd(known_safe=5)
    assert lim.allowed() == 1
    lim.update(Observation(0, 1, calm(1)))
    assert lim.allowed() == 5


def test_known_safe_is_capped_by_the_ceiling() -> None:
    lim = aimd(3, known_safe=7)
    lim.update(Observation(0, 1, calm(1)))
    assert lim.allowed() == 3


def test_gradient_grows_with_headroom_and_cuts_on_latency() -> None:
    lim = Admission(GradientLimit(8))
    lim.update(Observation(0, 1, calm(1)))
    for i in range(2, 6):
        lim.update(Observation(i, lim.limit, calm(i)))
    assert lim.limit >= 2
    grown = lim.limit
    high = PressureSignal(
        level=PressureLevel.CONGESTED, reasons=("x",), episode=1, latency_ratio=4.0, calm_ops=2
    )
    lim.update(Observation(2, grown, high))
    assert lim.limit < grown and lim.phase is Phase.HOLD


def test_gradient_grows_less_when_creates_slow_down() -> None:
    """The latency gradient: the same calm event grows the limit less at twice the floor
    latency than at the floor."""
    floor, slow = GradientLimit(8, 2), GradientLimit(8, 2)
    floor.on_sample(Sample(inflight=2, calm=1, latency_ratio=1.0))
    slow.on_sample(Sample(inflight=2, calm=1, latency_ratio=3.0))
    assert floor._limit > slow._limit and floor._limit > 2


def test_a_failure_caps_growth_below_its_level() -> None:
    lim = opened(AIMDLimit(8), 6)
    lim.update(Observation(5, 4, CALM, (Completion("vm-1", 30.0, ok=False),)))  # failed at 5
    lim.update(Observation(60, 0, calm(9)))
    lim.update(Observation(200, 0, calm(9)))  # released: a probe, then the cut limit
    lim.update(Observation(201, 1, calm(10)))
    for i in range(20):
        lim.update(Observation(210 + i, lim.allowed(), calm(11 + i)))
    assert lim.limit > 4 and lim.allowed() == 4  # the limit grew; admission stays below 5


def test_fixed_limit_ignores_pressure() -> None:
    lim = make_limit("fixed", 8, fixed=8)
    lim.update(Observation(0, 8, congested()))
    assert lim.allowed() == 8 and lim.phase is Phase.FIXED


def test_make_limit_rejects_unknown_policy() -> None:
    with pytest.raises(ValueError, match="unknown policy"):
        make_limit("tcp-vegas", 8)


@given(
    ceiling=st.integers(1, 8),
    events=st.lists(
        st.tuples(st.sampled_from(list(PressureLevel)), st.integers(0, 3), st.integers(0, 10), st.booleans()),
        max_size=60,
    ),
    policy=st.sampled_from(["aimd", "gradient"]),
)
def test_limit_always_within_one_and_ceiling(ceiling, events, policy) -> None:
    lim = make_limit(policy, ceiling)
    acks = 0
    episode = 0
    for i, (level, new_acks, inflight, fail) in enumerate(events):
        acks += new_acks
        if level == PressureLevel.CONGESTED:
            episode += 1
        sig = PressureSignal(level=level, calm_ops=acks, episode=episode, latency_ratio=1.0 + new_acks)
        comps = (Completion("v", 1.0, ok=not fail),) if fail or new_acks else ()
        lim.update(Observation(float(i), inflight, sig, comps))
        assert 1 <= lim.limit <= ceiling
        assert 0 <= lim.allowed() <= ceiling


def test_release_after_a_hold_waits_a_jittered_moment() -> None:
    lim = aimd(release_jitter=20.0, seed=7)
    lim.update(Observation(0, 1, calm(1)))
    lim.update(Observation(1, 2, congested(1, 1)))  # two of ours in flight: our episode
    assert lim.phase is Phase.HOLD
    lim.update(Observation(40, 0, calm(1)))
    waited = lim._release_at
    assert waited is not None and 40 <= waited <= 60
    assert lim.phase is Phase.HOLD and lim.allowed() == 0 and "waiting" in lim.state.reason
    lim.update(Observation(waited + 0.1, 0, calm(1)))
    assert lim.phase is Phase.PROBE and lim.allowed() == 1  # a probe of one


def test_an_episode_that_began_with_one_of_ours_in_flight_is_waited_out_sooner() -> None:
    """Someone else's pressure: the release wait and the idle hold are a third as long."""
    ours, theirs = aimd(release_jitter=30.0, seed=3), aimd(release_jitter=30.0, seed=3)
    for lim, inflight in ((ours, 2), (theirs, 1)):
        lim.update(Observation(0, 1, calm(1)))
        lim.update(Observation(1, inflight, congested(1, 1)))
        lim.update(Observation(40, 0, calm(1)))
    assert ours._release_at is not None and theirs._release_at is not None
    assert theirs._release_at - 40 == pytest.approx((ours._release_at - 40) / 3)


def test_pressure_that_persists_with_nothing_in_flight_is_not_ours() -> None:
    lim = aimd(max_idle_hold=60.0)
    lim.update(Observation(0, 1, calm(1)))
    lim.update(Observation(1, 2, congested(1, 1)))  # our episode: two in flight
    assert lim.allowed() == 0
    lim.update(Observation(10, 0, congested(1, 1)))  # our last migration finished
    lim.update(Observation(69, 0, congested(1, 1)))
    assert lim.allowed() == 0
    lim.update(Observation(71, 0, congested(1, 1)))
    assert lim.allowed() == 1 and "nothing in flight" in lim.state.reason
    # The lone probe runs; the same external pressure does not cut or stop it.
    lim.update(Observation(73, 1, congested(1, 1)))
    assert lim.allowed() == 1 and lim.phase is Phase.PROBE and "external" in lim.state.reason


def test_a_full_provider_queue_pauses_new_submissions_without_a_cut() -> None:
    lim = aimd()
    lim.update(Observation(0, 1, calm(1)))
    lim.update(Observation(1, 1, calm(2)))
    before = lim.limit
    busy = PressureSignal(level=PressureLevel.WARM, reasons=("provider busy",), calm_ops=2, gate=True)
    lim.update(Observation(2, 2, busy))
    assert lim.allowed() == 0 and lim.limit == before and lim.phase is Phase.PAUSE
    assert str(lim.state).startswith("pause: provider busy")
    lim.update(Observation(40, 2, calm(2)))
    assert lim.allowed() == before and lim.phase is Phase.GROW


def _grow(lim: Admission, events: int, acks: int, at: float) -> int:
    """Feed ``events`` calm acks one at a time with the limit in use; return the acks count."""
    for _ in range(events):
        acks += 1
        at += 1
        lim.update(Observation(at, lim.limit, calm(acks, at)))
    return acks


@pytest.mark.parametrize("algorithm", [AIMDLimit, GradientLimit])
def test_a_delay_signal_with_two_in_flight_ends_the_fast_start(algorithm: type) -> None:
    """HyStart: growth per calm event until creates slow down with two or more of ours in
    flight; after that, the same calm events grow the limit by about one per wave."""
    fast = opened(algorithm(8), 2)
    slow = opened(algorithm(8), 2)
    delayed = PressureSignal(
        level=PressureLevel.WARM, reasons=("create 1.5×",), latency_ratio=1.5, delay=True
    )
    slow.update(Observation(2, 2, replace(delayed, calm_ops=1)))
    assert slow.phase is Phase.STEADY and not slow.fast_start and fast.fast_start
    _grow(fast, 4, 1, 10)
    _grow(slow, 4, 1, 10)
    assert fast.limit >= 4
    assert slow.limit <= 3 < fast.limit


def test_a_delay_signal_with_one_in_flight_keeps_the_fast_start() -> None:
    """With one of ours in flight a slow create is the provider's floor (or someone else's
    load), not our queueing: the fast start goes on."""
    lim = opened(GradientLimit(8), 2)
    delayed = PressureSignal(
        level=PressureLevel.WARM, reasons=("create 1.5×",), latency_ratio=1.5, delay=True
    )
    lim.update(Observation(2, 1, replace(delayed, calm_ops=1)))
    assert lim.fast_start


def test_a_cut_with_two_in_flight_ends_the_fast_start() -> None:
    lim = opened(GradientLimit(8), 4)
    lim.update(Observation(3, 4, congested(acks=1)))
    assert lim.phase is Phase.HOLD and not lim.fast_start


def test_time_stopped_by_someone_elses_busy_answers_counts_as_waiting_on_others() -> None:
    """Growth stopped by busy answers judged foreign is time another tenant costs the drain;
    growth stopped by our own slow creates is not."""
    foreign = opened(GradientLimit(8), 2)
    foreign.update(Observation(2, 2, PressureSignal(level=PressureLevel.WARM, foreign=True, calm_ops=1)))
    assert foreign.phase is Phase.STEADY and foreign.waiting_on_others
    own = opened(GradientLimit(8), 2)
    own.update(Observation(2, 2, PressureSignal(level=PressureLevel.WARM, delay=True, calm_ops=1)))
    assert own.phase is Phase.STEADY and not own.waiting_on_others
    fixed = make_limit("fixed", 8)
    fixed.update(Observation(2, 2, PressureSignal(level=PressureLevel.WARM, foreign=True)))
    assert not fixed.waiting_on_others


def test_floor_signals_with_one_in_flight_let_a_clean_completion_grow_the_limit() -> None:
    """Slow creates (or a host's session at its ceiling) with one of ours in flight are the
    provider's floor: a clean completion still grows the limit. The same WARM with two in
    flight, or busy answers of someone else's with one, stop growth."""
    done = (Completion("vm-1", 40.0, ok=True), Completion("vm-2", 41.0, ok=True))
    slow = PressureSignal(
        level=PressureLevel.WARM, reasons=("create 13 s of a 60 s deadline",), delay=True, at_floor=True
    )
    busy = PressureSignal(level=PressureLevel.WARM, reasons=("busy for others",), foreign=True)
    grown = {}
    for name, signal, inflight in (("floor", slow, 0), ("two", slow, 2), ("busy", busy, 0)):
        lim = Admission(GradientLimit(8))
        lim.update(Observation(0, 1, calm(1)))
        assert lim.phase is Phase.GROW and lim.limit == 1
        lim.update(Observation(40, inflight, replace(signal, calm_ops=1), done))
        grown[name] = lim.limit
    assert grown["floor"] >= 2
    assert grown["two"] == 1 and grown["busy"] == 1


def test_after_a_pause_the_freed_slots_are_refilled_one_at_a_time_until_calm() -> None:
    lim = opened(AIMDLimit(8), 6)
    gate = PressureSignal(level=PressureLevel.WARM, reasons=("provider busy",), calm_ops=1, gate=True)
    lim.update(Observation(1, 6, gate))
    assert lim.phase is Phase.PAUSE and lim.allowed() == 0
    warm = PressureSignal(level=PressureLevel.WARM, reasons=("provider busy",), calm_ops=1)
    lim.update(Observation(40, 3, warm))  # the gate is over; three of ours finished meanwhile
    assert lim.limit == 6 and lim.allowed() == 4
    lim.update(Observation(42, 4, calm(2)))  # a calm answer again: the whole limit
    assert lim.allowed() >= 6


def test_a_provider_slower_for_every_call_allows_one_at_a_time_then_refills_one_by_one() -> None:
    lim = opened(GradientLimit(8), 4)
    slowed = PressureSignal(
        level=PressureLevel.CONGESTED,
        reasons=("provider 5× slower for every call",),
        episode=1,
        latency_only=True,
        slowed=True,
        calm_ops=1,
    )
    lim.update(Observation(2, 1, slowed))
    assert lim.allowed() == 1
    lim.update(Observation(40, 1, replace(slowed, level=PressureLevel.WARM, slowed=False)))
    assert lim.allowed() == 2  # one more than in flight, not the whole limit at once
    lim.update(Observation(42, 2, calm(3)))
    assert lim.allowed() >= 4


def test_the_fast_start_stays_within_one_of_a_level_answered_calmly() -> None:
    """Many acks of creates issued at a lower level, counted at once, do not lift the limit
    more than one above the most of ours in flight when a calm answer came (TCP's slow start
    grows by what was acknowledged)."""
    lim = opened(GradientLimit(8), 2)
    lim.update(Observation(5, 2, calm(9)))
    assert lim.fast_start and lim.limit == 3


def test_after_a_pause_each_clean_completion_refills_one_more_slot_under_warm_signals() -> None:
    """A provider whose lone creates sit at the WARM line never answers CALM: the refill after a
    pause goes on one slot per clean completion instead of waiting for a calm answer (slow-entry
    stayed at one for 350 s)."""
    lim = opened(AIMDLimit(8), 4)
    gate = PressureSignal(level=PressureLevel.WARM, reasons=("provider busy",), calm_ops=1, gate=True)
    lim.update(Observation(1, 2, gate))
    assert lim.phase is Phase.PAUSE
    warm = PressureSignal(level=PressureLevel.WARM, reasons=("swap-vVol create 13 s of 60 s",), calm_ops=1)
    lim.update(Observation(40, 0, warm))  # the pause is over and both of ours have finished
    assert lim.allowed() == 1
    lim.update(Observation(80, 0, warm, (Completion("vm-1", 45.0, ok=True),)))
    assert lim.allowed() == 2
    lim.update(Observation(82, 1, warm, (Completion("vm-2", 45.0, ok=False),)))
    assert lim.allowed() <= 2  # a failure opens nothing


def test_a_probe_ends_on_a_clean_completion_under_floor_signals_only() -> None:
    """The lone probe's create slow alone (WARM at the provider's floor, no busy answer): its
    clean completion measured the floor and ends the probe, as under a latency-only cut. Waiting
    for a calm create kept slow-entry's probes at one for two or three migrations."""
    lim = aimd()
    floor = PressureSignal(
        level=PressureLevel.WARM, reasons=("swap-vVol create 13 s of a 60 s deadline",), at_floor=True
    )
    lim.update(Observation(10, 1, floor))
    assert lim.phase is Phase.PROBE
    lim.update(Observation(45, 0, floor, (Completion("vm-1", 45.0, ok=True),)))
    assert lim.phase is not Phase.PROBE
    busy = PressureSignal(level=PressureLevel.WARM, reasons=("provider busy",))
    other = aimd()
    other.update(Observation(45, 0, busy, (Completion("vm-1", 45.0, ok=True),)))
    assert other.phase is Phase.PROBE  # a busy answer is not a floor signal: the probe goes on


def test_a_full_provider_queue_with_nothing_of_ours_in_flight_lets_one_migration_start() -> None:
    """The pause waits for a provider queue our migrations filled to drain. With none of ours in
    flight any more, a busy answer in the last seconds says nothing a lone migration could make
    worse (workers-1: the hosts' own polls fill its one worker now and then, and the drain sat
    idle 10-36 s after each such answer, 126 s of a 674 s drain). One starts; with it in flight
    the pause is back until the gate clears."""
    lim = opened(AIMDLimit(8), 4)
    gate = PressureSignal(level=PressureLevel.WARM, reasons=("provider busy",), calm_ops=1, gate=True)
    lim.update(Observation(1, 2, gate))
    assert lim.phase is Phase.PAUSE and lim.allowed() == 0
    lim.update(Observation(20, 0, gate))  # both of ours finished; the busy answer is 19 s old
    assert lim.allowed() == 1 and lim.limit == 4
    lim.update(Observation(22, 1, gate))
    assert lim.phase is Phase.PAUSE and lim.allowed() == 0


def test_a_lone_create_at_the_providers_floor_is_an_ack() -> None:
    """A create that finished alone, above the WARM line but short of the cut
    (``PressureSignal.floor_ops``), is the provider's floor answering seconds into the vMotion:
    it grows the limit as a clean completion does (slow-entry: a 12-17 s create in a 40 s
    vMotion, and no answer ever calm). With two of ours in flight it counts only while our
    creates go one at a time; a busy answer is not a floor signal."""
    floor = PressureSignal(
        level=PressureLevel.WARM, reasons=("swap-vVol create 14 s of a 60 s deadline",), at_floor=True
    )
    lim = opened(AIMDLimit(8), 1)
    lim.update(Observation(16, 1, replace(floor, floor_ops=1)))
    assert lim.limit == 2  # before the vMotion completes
    lim.update(Observation(30, 2, replace(floor, floor_ops=2)))
    assert lim.limit == 2  # two of ours, creates not one at a time: no growth
    lim.update(Observation(44, 2, replace(floor, floor_ops=3, creates_alone=True)))
    assert lim.limit == 3
    busy = PressureSignal(
        level=PressureLevel.WARM, reasons=("provider busy",), floor_ops=4, creates_alone=True
    )
    lim.update(Observation(60, 3, busy))
    assert lim.limit == 3
