"""Concurrency limits for a drain: a small ``Limit`` (after Netflix concurrency-limits) and the
admission beside it.

Why two parts. Netflix's ``Limit`` is two things: the number (``limit``) and how one sample
moves it (``on_sample``); *whether* a request may start is the limiter's job. A drain needs the
same split, with a richer limiter, because a vMotion takes tens of seconds to minutes and a
drain has tens of VMs, so RTT windows never fill (docs/drain-background.md §4.6). :class:`Admission`
therefore

* decides on *events*, not windows: each completed migration and each calm control-plane
  operation seen in vvold.log (an ECN-style ack that arrives seconds into a vMotion);
* trusts *explicit* congestion marks (no free connection, busy, timeout, a failed task) over
  inferred delay, and uses swap-vVol create latency as a guard;
* starts with a probe of one VM, and probes with one again after each back-off;
* holds all new submissions while congestion lasts (in-flight vMotions are not cancellable, so
  the only lever is not to add more), and only pauses while the provider's queue is full;
* never exceeds a fixed ceiling: min(vCenter's per-host limit, the user's ``--max``).

Its phases are explicit (:class:`Phase`, with a reason): what the person at the console reads.
The controller calls :meth:`Admission.update` every tick with an :class:`Observation`, then asks
:meth:`Admission.allowed` how many migrations may be in flight now.
"""

from __future__ import annotations

import math
import random
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from vvolguard.drain.signal import PressureLevel, PressureSignal


@dataclass(frozen=True, slots=True)
class Completion:
    """A relocate task that ended. ``ok`` False = the task failed (any fault); ``pressure``
    False = its failure named a cause outside the VASA control plane, so the adaptive limits
    hold (stop growing) instead of cutting."""

    vm_id: str
    duration: float
    ok: bool
    pressure: bool = True


@dataclass(frozen=True, slots=True)
class Observation:
    """What the controller saw since the last update."""

    now: float
    inflight: int
    pressure: PressureSignal
    completions: Sequence[Completion] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class Sample:
    """What moves a :class:`Limit`: Netflix's ``onSample(rtt, inflight, didDrop)`` for events.

    ``calm`` counts calm events (acks and clean completions) since the last sample;
    ``dropped`` is an explicit congestion mark (cut); ``latency_ratio`` is the swap-vVol create
    latency over its calm baseline; ``avoidance``: the fast start is over (TCP's congestion
    avoidance), so growth is about one step per wave instead of one per calm event."""

    inflight: int
    calm: int = 0
    dropped: bool = False
    latency_ratio: float | None = None
    avoidance: bool = False


class Limit(ABC):
    """A concurrency limit: the number, and how a sample moves it. Nothing else."""

    name: str = "limit"

    def __init__(self, ceiling: int, initial: int = 1) -> None:
        if ceiling < 1:
            raise ValueError("the concurrency ceiling must be at least 1")
        self.ceiling = ceiling
        self._limit = float(max(1, min(initial, ceiling)))

    @property
    def limit(self) -> int:
        """The current limit, always within [1, ceiling]."""
        return max(1, min(self.ceiling, int(self._limit)))

    def reset(self, value: int) -> None:
        """Set the limit (a remembered safe level after the first probe)."""
        self._limit = float(value)
        self._clamp()

    @abstractmethod
    def on_sample(self, sample: Sample) -> None: ...

    def _clamp(self) -> None:
        self._limit = max(1.0, min(float(self.ceiling), self._limit))


class FixedLimit(Limit):
    """A fixed number in flight: vCenter's default (8), serial (1), or the hindsight oracle.

    It ignores pressure by design: that is what maintenance mode does."""

    def __init__(self, n: int, ceiling: int | None = None) -> None:
        super().__init__(ceiling or n, n)
        self.name = f"fixed-{n}"

    def on_sample(self, sample: Sample) -> None:
        return None


class AIMDLimit(Limit):
    """Additive increase, multiplicative decrease on explicit congestion marks.

    ``increase`` is added per calm event (or per wave with ``per_wave=True``), only when the
    limit is in use (Netflix's app-limited guard). A drop makes the limit ``floor(limit ×
    backoff)`` (at least 1)."""

    name = "aimd"

    def __init__(
        self,
        ceiling: int,
        initial: int = 1,
        *,
        backoff: float = 0.5,
        increase: float = 1.0,
        per_wave: bool = False,
    ) -> None:
        super().__init__(ceiling, initial)
        if not 0.0 < backoff < 1.0:
            raise ValueError("backoff must be in (0, 1)")
        self.backoff = backoff
        self.increase = increase
        self.per_wave = per_wave

    def on_sample(self, sample: Sample) -> None:
        if sample.dropped:
            self._limit = max(1.0, math.floor(self._limit * self.backoff))
        elif sample.calm and sample.inflight >= self.limit:
            per_wave = self.per_wave or sample.avoidance
            step = self.increase / self._limit if per_wave else self.increase
            self._limit += step * sample.calm
        self._clamp()


class GradientLimit(Limit):
    """Latency-gradient variant (after Netflix Gradient2 / Envoy), on swap-vVol create latency.

    ``gradient = clamp(tolerance / latency_ratio, 0.5, 1)``; ``new = limit × gradient + √limit``
    (Envoy's headroom), smoothed, per calm event while the fast start lasts and divided by the
    limit after it (``Sample.avoidance``: about one headroom per wave). A drop cuts by
    ``min(backoff, gradient)``. (A doubled headroom
    while calm, BBR's STARTUP, was tried: it reached the knee sooner but overshot it, and lost
    migrations on the brown-out and no-retries profiles.)
    """

    name = "gradient"

    def __init__(
        self,
        ceiling: int,
        initial: int = 1,
        *,
        tolerance: float = 1.5,
        smoothing: float = 0.5,
        backoff: float = 0.5,
    ) -> None:
        super().__init__(ceiling, initial)
        self.tolerance = tolerance
        self.smoothing = smoothing
        self.backoff = backoff

    def _gradient(self, ratio: float | None) -> float:
        if not ratio:
            return 1.0
        return max(0.5, min(1.0, self.tolerance / ratio))

    def on_sample(self, sample: Sample) -> None:
        gradient = self._gradient(sample.latency_ratio)
        if sample.dropped:
            self._limit = max(1.0, math.floor(self._limit * min(self.backoff, gradient)))
        elif sample.calm and sample.inflight >= self.limit:
            for _ in range(sample.calm):
                target = self._limit * gradient + math.sqrt(self._limit)
                step = (target - self._limit) * self.smoothing
                if sample.avoidance and step > 0:
                    step /= self._limit
                self._limit += step
        self._clamp()


class Phase(StrEnum):
    """What the admission is doing; the progress line shows it with its reason."""

    PROBE = "probe"  # one migration at a time until the control plane answers calmly
    GROW = "grow"  # calm: the limit grows with each calm event
    STEADY = "steady"  # WARM: neither grow nor cut
    AT_CEILING = "at ceiling"
    PAUSE = "pause"  # the provider's queue is full: nothing new, no cut
    HOLD = "hold"  # congestion: nothing new until it clears (then a jittered wait, a probe)
    FIXED = "fixed"  # a fixed limit: pressure is ignored


@dataclass(frozen=True, slots=True)
class State:
    phase: Phase
    reason: str = ""

    def __str__(self) -> str:
        return f"{self.phase}: {self.reason}" if self.reason else str(self.phase)


class Admission:
    """How many migrations may be in flight now: the limit, gated by probe, hold and pause.

    * ``known_safe``: a previous drain's recorded level; the first calm probe jumps there.
    * ``max_idle_hold``: hold at most this long with nothing of ours in flight. Pressure that does
      not clear while we add none is someone else's (DRS, backups, a clone storm); a lone probe
      then proceeds and that pressure no longer stops it (docs/drain-background.md §4.2's limitation).
    * an episode that began with at most one of ours in flight is someone else's: its idle hold
      and its release wait are a third as long (holding for another tenant's burst costs time
      and relieves nothing);
    * after a hold, migrations of ours still in flight are the probe: the drain goes on at the
      cut limit; only an empty drain re-enters through a probe of one. A calm probe jumps to
      ``known_safe`` when there is one;
    * create latency near the deadline with no explicit mark cuts once per episode without a
      hold; a migration that fails for a pressure reason caps the rest of the drain below the
      level it failed at.
    * the fast start is TCP's slow start: one step per calm event with the limit in use, but
      never more than one above the most of ours in flight when a calm answer came (acks of
      creates issued at a lower level, counted at once, jumped from 4 to 6 where 6 loses
      migrations). It ends at the first delay
      signal with two or more of ours in flight (swap-vVol creates slower than at low load:
      HyStart's delay-based exit, before any busy answer or wait for a connection) or the first
      cut; growth is then about one step per wave (congestion avoidance). Growing per event
      overshot: the limit reached vCenter's 8 where 4-5 moved VMs as fast, and lost migrations
      where the provider's queue filled before the busy answers showed;
    * WARM with at most one of ours in flight (or our creates one at a time), from slow creates
      or a host's session at its connection ceiling only now and then
      (``PressureSignal.at_floor``), is the provider's floor: clean completions and lone
      creates short of the cut line (``PressureSignal.floor_ops``) still grow the limit (a
      provider whose creates take a fifth of vvold's deadline at any load ran serially before,
      and slow-entry's lone creates never answer calmly). A session held at its ceiling by other
      work, and busy answers, are not floor signals: they stop growth whoever caused them;
    * after a pause (the provider's queue was full) the freed slots are refilled one at a time
      until the control plane answers calmly again, not all at once; a pause holds only while
      migrations of ours are in flight: with none left, nothing of ours is in the queue the
      pause waits on, and one migration starts (the pause is back as soon as it is in flight);
    * while the provider is slower for every call (``PressureSignal.slowed``, a brown-out
      seen in the latency of light calls) one migration at a time, whatever the limit; after
      it, the slots are refilled one at a time as after a pause;
    * ``release_jitter``: the random extra wait after the signals clear (Envoy jitters its
      re-probes for the same reason): pressure from someone else's recurring work must not
      phase-lock our probes to the first instant after each of its bursts.
    """

    def __init__(
        self,
        limit: Limit,
        *,
        adaptive: bool = True,
        known_safe: int | None = None,
        probe_after_backoff: bool = True,
        probe_acks: int = 1,
        max_idle_hold: float = 60.0,
        release_jitter: float = 20.0,
        seed: int = 0,
    ) -> None:
        self.algorithm = limit
        self.adaptive = adaptive
        self.known_safe = min(known_safe, limit.ceiling) if known_safe else None
        self.start_limit = limit.limit
        if adaptive:
            limit.reset(1)
        self.probe_after_backoff = probe_after_backoff
        self.probe_acks = probe_acks
        self.max_idle_hold = max_idle_hold
        self.release_jitter = release_jitter
        self._rng = random.Random(seed)
        self.state = State(Phase.PROBE if adaptive else Phase.FIXED)
        self._resume = Phase.PROBE  # where a PAUSE returns to
        self._external = False  # the current probe proceeds under someone else's pressure
        self._idle_since: float | None = None
        self._release_at: float | None = None
        self._episode = 0
        self._acks_seen = 0
        self._probe_left = probe_acks
        self._cap: int | None = None  # below the level at which a migration failed
        self._episode_external = False  # the current episode began with at most one of ours
        self._fast_start = True  # growth per calm event until the first delay signal or cut
        self._foreign = False  # the last signal's level came only from someone else's load
        self._reopen_at: int | None = None  # after a pause: one more than this until calm
        self._slowed = False  # the provider is slower for every call: one at a time
        self._validated = 1  # the most of ours in flight when a calm event arrived
        self._floor_seen = 0  # floor acks (``PressureSignal.floor_ops``) already counted

    # -- the small surface the controller uses -------------------------------------------------

    @property
    def name(self) -> str:
        return self.algorithm.name

    @property
    def ceiling(self) -> int:
        return self.algorithm.ceiling

    @ceiling.setter
    def ceiling(self, value: int) -> None:
        self.algorithm.ceiling = value
        self.algorithm._clamp()

    @property
    def limit(self) -> int:
        return self.algorithm.limit

    @property
    def phase(self) -> Phase:
        return self.state.phase

    @property
    def fast_start(self) -> bool:
        """True until the first delay signal or cut (then growth is about one step per wave)."""
        return self._fast_start

    @property
    def waiting_on_others(self) -> bool:
        """The drain is slowed by someone else's load, not its own: growth stopped by busy
        answers judged foreign, a hold in an episode that began with at most one of ours in
        flight, a lone probe under pressure that persisted with nothing of ours in flight, or
        one at a time because the provider serves every call slower than at the start (its
        pace is measured at low load, or as the fastest light call at high load).
        The controller adds up this time (``DrainResult.foreign_seconds``)."""
        if not self.adaptive:
            return False
        if self._slowed:
            return True  # the provider serves every call slower than at the start, at any load
        if self.phase is Phase.STEADY:
            return self._foreign
        if self.phase in (Phase.HOLD, Phase.PAUSE):
            return self._episode_external
        return self.phase is Phase.PROBE and self._external

    def allowed(self) -> int:
        """How many migrations may be in flight now (0 while holding or paused)."""
        if self.phase in (Phase.HOLD, Phase.PAUSE):
            return 0
        if self.phase is Phase.PROBE:
            return 1
        allowed = min(self.limit, self._cap or self.limit)
        if self._reopen_at is not None:
            allowed = min(allowed, self._reopen_at + 1)
        if self._slowed:
            allowed = 1
        return allowed

    # -- the phase machine -----------------------------------------------------------------------

    def update(self, obs: Observation) -> None:
        if not self.adaptive:
            return
        p = obs.pressure
        self._foreign = p.foreign
        if self._slowed and not p.slowed:
            # The provider's pace recovered: refill one at a time until it answers calmly, as
            # after a pause, not all the slots the limit still allows at once.
            self._reopen_at = obs.inflight
        self._slowed = p.slowed
        new_acks = max(0, p.calm_ops - self._acks_seen)
        self._acks_seen = p.calm_ops
        floor_acks = max(0, p.floor_ops - self._floor_seen)
        self._floor_seen = p.floor_ops
        failures = sum(1 for c in obs.completions if not c.ok and c.pressure)
        oks = sum(1 for c in obs.completions if c.ok)
        if self._reopen_at is not None and oks and not failures:
            # Refilling after a pause: each clean completion opens one more slot. Waiting for a
            # CALM answer instead held slow-entry at one for 350 s: its lone creates sit at the
            # WARM line (12 s, a fifth of the deadline), so no answer is ever CALM there.
            self._reopen_at += oks
        if failures:
            # Remember where it broke: growth in this drain stops below that level.
            level = obs.inflight + failures
            self._cap = max(1, min(self._cap or level, level - 1))
        if p.level >= PressureLevel.CONGESTED and p.latency_only and not failures:
            self._slow(obs, p, oks)
        elif p.level >= PressureLevel.CONGESTED or failures:
            self._congested(obs, p, failures)
        elif self.phase is Phase.HOLD:
            self._clearing(obs, p)
        elif p.gate and obs.inflight and not (self.phase is Phase.PROBE and self._external):
            # (With none of ours in flight the queue holds nothing of ours: one may start.)
            if self.phase is not Phase.PAUSE:
                self._resume = self.phase
            if not self._idle_escape(obs, p):
                self.state = State(Phase.PAUSE, p.reason)
        else:
            if self.phase is Phase.PAUSE:
                # The queue was full at this level a moment ago: refill one at a time until
                # the control plane answers calmly again, not all the freed slots at once.
                self._reopen_at = obs.inflight
                self.state = State(self._resume)
            self._idle_since = None
            if not (self.phase is Phase.PROBE and self._external and p.gate):
                self._external = False
            if self.phase is Phase.PROBE and p.level == PressureLevel.WARM and p.at_floor and oks:
                # The lone probe ended cleanly under floor signals only (its create slow alone,
                # as slow-entry's 12 s creates always are): it measured the floor, as in
                # ``_slow``. Waiting for a calm create instead kept slow-entry's probes at one
                # for two or three migrations (90 s).
                self._probing(oks, calm=False)
            elif self.phase is Phase.PROBE:
                self._probing(new_acks + (oks if p.level == PressureLevel.CALM else 0))
            else:
                self._open(obs, p, new_acks + oks, floor_acks)

    def _slow(self, obs: Observation, p: PressureSignal, oks: int) -> None:
        """Creates near the deadline with no explicit mark: cut once per episode (not with one in
        flight, the floor) and go on at the smaller limit; no hold, no re-probe. The migrations
        in flight drain to the new limit by themselves, and a hold would only add the wait for
        a latency value that cannot be measured again without a migration in flight."""
        if p.episode != self._episode and obs.inflight > 1 and self.phase is not Phase.HOLD:
            self.algorithm.on_sample(Sample(obs.inflight, dropped=True, latency_ratio=p.latency_ratio))
            self._fast_start = False
        self._episode = p.episode
        if self.phase is Phase.HOLD:
            self._clearing(obs, p)
            return
        if self.phase is Phase.PAUSE:
            self.state = State(self._resume)
        if self.phase is Phase.PROBE:
            self._probing(oks, calm=False)  # a lone migration is the floor: its end ends the probe
        else:
            self.state = State(Phase.STEADY, p.reason)

    def _congested(self, obs: Observation, p: PressureSignal, failures: int) -> None:
        reason = p.reason if p.level >= PressureLevel.CONGESTED else "task failed"
        external_probe = self.phase is Phase.PROBE and self._external
        if p.episode != self._episode and self.phase is not Phase.HOLD:
            # An episode that begins with at most one of ours in flight is not our doing.
            self._episode_external = obs.inflight <= 1 and not failures
        new_sign = p.episode != self._episode or failures
        if self.phase is not Phase.HOLD and new_sign and not (external_probe and obs.inflight <= 1):
            self.algorithm.on_sample(Sample(obs.inflight, dropped=True, latency_ratio=p.latency_ratio))
            if obs.inflight >= 2:
                self._fast_start = False  # TCP's ssthresh: after a loss, grow per wave
        self._episode = p.episode
        if self._idle_escape(obs, p):
            return
        if external_probe and obs.inflight >= 1:
            self.state = State(Phase.PROBE, f"under external pressure: {p.reason}")
            return
        self._release_at = None
        self.state = State(Phase.HOLD, reason)

    def _clearing(self, obs: Observation, p: PressureSignal) -> None:
        """HOLD with no congestion any more: release into a probe after a jittered moment, but
        only into a quiet provider (no busy answer within the clear window)."""
        if p.gate:
            if not self._idle_escape(obs, p):
                self.state = State(Phase.HOLD, p.reason)
            return
        if self._release_at is None:
            jitter = self.release_jitter / (3 if self._episode_external else 1)
            self._release_at = obs.now + self._rng.uniform(0.0, jitter)
        if obs.now < self._release_at:
            self.state = State(Phase.HOLD, "waiting a moment after the signals cleared")
            return
        self._release_at = None
        if obs.inflight and not self._external:
            # Migrations of ours still run: they are the probe. Go on at the cut limit (the
            # in-flight ones drain to it first) instead of pinning the drain at one until they
            # have all finished.
            self.state = State(Phase.GROW, f"resumed at {self.limit} after back-off")
        elif self.probe_after_backoff:
            self._probe_left = self.probe_acks
            self.state = State(Phase.PROBE, "after back-off")
        else:
            self.state = State(Phase.GROW, "resumed")

    def _probing(self, events: int, *, calm: bool = True) -> None:
        """A probe ends on a calm control-plane ack or a completed migration (without log
        sources, completions are the only acks there are). A lone migration is the floor: one
        that completes under WARM ends the probe too, at the cut limit, without growth."""
        self._probe_left -= events
        if self._probe_left > 0:
            return
        if not calm:
            self.state = State(Phase.STEADY, "probe done under warm signals")
            return
        if self.known_safe and self.algorithm.limit < self.known_safe:
            self.algorithm.reset(self.known_safe)
        elif self.algorithm.limit < self.start_limit:
            # (Stepping straight to two at the probe's answer was tried without the slow
            # start's cap and the brown-out signal: it reached the knee before the provider's
            # busy answers showed and lost migrations on 3 of the 24 benchmark profiles. The
            # slow start in ``_open`` takes that step at the next calm event instead.)
            self.algorithm.reset(self.start_limit)
        self.state = State(Phase.GROW)

    def _open(self, obs: Observation, p: PressureSignal, calm: int, floor_acks: int = 0) -> None:
        alone = obs.inflight <= 1 or p.creates_alone
        if p.level == PressureLevel.WARM and p.at_floor and alone and calm + floor_acks:
            # One of ours in flight (or our creates one at a time, so each is measured alone):
            # slow creates and a host's session at its ceiling now and then are the provider's
            # floor, not our queueing (the baseline takes such creates for the same reason); a
            # clean completion, or a lone create short of the cut line (a floor ack, seconds
            # into the vMotion), still grows the limit, as fast as at the start (a floor
            # signal says nothing about our queueing, so it does not end a fast start).
            calm += floor_acks
            self.algorithm.on_sample(Sample(obs.inflight + len(obs.completions), calm=calm))
            self.state = State(Phase.GROW, f"at the provider's floor: {p.reason}")
            return
        if p.level == PressureLevel.WARM:
            if p.delay and obs.inflight >= 2:
                # HyStart: creates slow down with two or more of ours in flight, so the
                # provider starts queueing; the next steps are one per wave, not per event.
                self._fast_start = False
            self.state = State(Phase.STEADY, p.reason)
            return
        if not calm:
            return
        if p.level == PressureLevel.CALM:
            self._reopen_at = None
        level = obs.inflight + len(obs.completions)
        self._validated = max(self._validated, level)
        before = self.algorithm.limit
        self.algorithm.on_sample(
            Sample(level, calm=calm, latency_ratio=p.latency_ratio, avoidance=not self._fast_start)
        )
        if self._fast_start and p.level == PressureLevel.CALM and level >= before:
            # Slow start: one step per calm event with the limit in use, up to one more than
            # the highest level answered calmly, while creates stay near the calm baseline (no
            # delay, no busy answer, no wait for a connection).
            target = min(before + calm, self._validated + 1)
            self.algorithm.reset(max(self.algorithm.limit, target))
        if self._fast_start and self.algorithm.limit > max(before, self._validated + 1):
            # TCP's slow start grows the window by what was acknowledged: never more than one
            # above a level the provider has answered calmly at. Acks of creates issued at a
            # lower level, counted all at once, jumped from 4 to 6 where 6 loses migrations.
            self.algorithm.reset(max(before, self._validated + 1))
        self.state = State(Phase.GROW if self.limit < self.ceiling else Phase.AT_CEILING)

    def _idle_escape(self, obs: Observation, p: PressureSignal) -> bool:
        """After ``max_idle_hold`` seconds with nothing of ours in flight, the pressure is not
        ours: release into a lone probe. Returns True when it released."""
        if obs.inflight > 0:
            self._idle_since = None
            return False
        if self._idle_since is None:
            self._idle_since = obs.now
        # Someone else's episode: nothing we hold back relieves it, so wait less for it to go.
        wait = self.max_idle_hold / (3 if self._episode_external else 1)
        if obs.now - self._idle_since < wait:
            return False
        self._external = True
        self._probe_left = self.probe_acks
        self._idle_since = None
        self.state = State(Phase.PROBE, f"pressure persists with nothing in flight ({p.reason})")
        return True


POLICIES = ("aimd", "gradient", "fixed")


def make_limit(
    policy: str,
    ceiling: int,
    *,
    known_safe: int | None = None,
    fixed: int = 8,
    release_jitter: float | None = None,
    **admission: object,
) -> Admission:
    """Build an admission over a limit by name (CLI ``--policy`` and the benchmark).

    ``release_jitter`` (seconds) overrides the random wait after a congestion episode clears;
    it should scale with the pressure monitor's clear window (``--clear-after``).
    """
    extra: dict[str, object] = dict(admission)
    if release_jitter is not None:
        extra["release_jitter"] = release_jitter
    if policy == "aimd":
        return Admission(AIMDLimit(ceiling), known_safe=known_safe, **extra)  # type: ignore[arg-type]
    if policy == "gradient":
        return Admission(GradientLimit(ceiling), known_safe=known_safe, **extra)  # type: ignore[arg-type]
    if policy == "fixed":
        n = min(fixed, ceiling)
        return Admission(FixedLimit(n), adaptive=False)
    raise ValueError(f"unknown policy {policy!r}; choose one of {', '.join(POLICIES)}")
