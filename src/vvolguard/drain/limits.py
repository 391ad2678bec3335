"""Concurrency-limit algorithms behind one small interface (after Netflix concurrency-limits).

Why adapt the textbook algorithms (landscape §4.6): a vMotion takes tens of seconds to minutes
and a drain has tens of VMs, so RTT windows never fill. These limits therefore

* decide on *events*, not windows: each completed migration and each calm control-plane
  operation seen in vvold.log (an ECN-style ack that arrives seconds into a vMotion);
* trust *explicit* congestion marks (no free connection, busy, timeout, outstanding at the
  ceiling, a failed task) over inferred delay, and use swap-vVol create latency only as a guard;
* start with a probe of one VM, and probe with one again after each back-off;
* hold all new submissions while congestion lasts (in-flight vMotions are not cancellable, so
  the only lever is not to add more);
* never exceed a fixed ceiling: min(vCenter's per-host limit, the user's ``--max``).

The controller calls :meth:`Limit.update` on every tick with an :class:`Observation`, then asks
:meth:`Limit.allowed` how many migrations may be in flight now.
"""

from __future__ import annotations

import math
import random
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field

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


class Limit(ABC):
    """A concurrency limit. Subclasses implement :meth:`update`; the rest is shared."""

    name: str = "limit"

    def __init__(self, ceiling: int, initial: int = 1) -> None:
        if ceiling < 1:
            raise ValueError("the concurrency ceiling must be at least 1")
        self.ceiling = ceiling
        self._limit = float(max(1, min(initial, ceiling)))
        self.holding = False
        self.state = "start"
        #: Highest limit that ran at least one full wave without congestion: what we record as
        #: the operational limit for this provider and host.
        self.safe: int | None = None

    @property
    def limit(self) -> int:
        """The current limit, always within [1, ceiling]."""
        return max(1, min(self.ceiling, int(self._limit)))

    def allowed(self) -> int:
        """How many migrations may be in flight now (0 while holding)."""
        return 0 if self.holding else self.limit

    @abstractmethod
    def update(self, obs: Observation) -> None: ...

    def _clamp(self) -> None:
        self._limit = max(1.0, min(float(self.ceiling), self._limit))


class FixedLimit(Limit):
    """A fixed number in flight: vCenter's default (8), serial (1), or the hindsight oracle.

    It ignores pressure by design: that is what maintenance mode does."""

    def __init__(self, n: int, ceiling: int | None = None) -> None:
        super().__init__(ceiling or n, n)
        self.name = f"fixed-{n}"
        self.state = "fixed"

    def update(self, obs: Observation) -> None:
        if obs.completions and all(c.ok for c in obs.completions) and obs.pressure.level == 0:
            self.safe = max(self.safe or 0, min(self.limit, obs.inflight + len(obs.completions)))


class _ProbeAndHold(Limit):
    """Shared mechanics of the adaptive limits: probe, hold until clear, re-probe, safe mark.

    Subclasses decide how the limit moves (:meth:`_grow`, :meth:`_cut`).
    """

    def __init__(
        self,
        ceiling: int,
        initial: int = 1,
        *,
        known_safe: int | None = None,
        probe_after_backoff: bool = True,
        probe_acks: int = 1,
        max_idle_hold: float = 60.0,
        release_jitter: float = 20.0,
        seed: int = 0,
    ) -> None:
        super().__init__(ceiling, 1)
        #: Where to jump after the first probe when a previous drain left knowledge; growth
        #: goes on additively from there.
        self.known_safe = min(known_safe, ceiling) if known_safe else None
        self.start_limit = max(1, min(initial, ceiling))
        self.probe_after_backoff = probe_after_backoff
        self.probe_acks = probe_acks
        #: Hold at most this long with nothing of ours in flight: pressure that does not clear
        #: while we add none is someone else's (DRS, backups, a clone storm), and waiting for it
        #: only delays the drain; a lone probe then proceeds (landscape §4.2's limitation).
        self.max_idle_hold = max_idle_hold
        self._idle_since: float | None = None
        self.release_jitter = release_jitter
        self._release_at: float | None = None
        self._rng = random.Random(seed)
        self._external = False
        #: The provider's queue is full right now (``PressureSignal.gate``): start nothing
        #: new, cut nothing.
        self.paused = False
        self.probing = True
        self.state = "probe"
        self._episode = 0
        self._acks_seen = 0
        self._probe_acks_left = probe_acks
        self._calm_since_change = 0
        self._wave_peak = 0

    def allowed(self) -> int:
        if self.holding or self.paused:
            return 0
        return 1 if self.probing else self.limit

    def update(self, obs: Observation) -> None:
        p = obs.pressure
        new_acks = max(0, p.calm_ops - self._acks_seen)
        self._acks_seen = p.calm_ops
        failures = sum(1 for c in obs.completions if not c.ok and c.pressure)
        congested = p.level >= PressureLevel.CONGESTED or failures > 0
        self._wave_peak = max(self._wave_peak, obs.inflight)

        if congested:
            if not self.holding and (p.episode != self._episode or failures):
                if not (self.probing and obs.inflight <= 1 and self._external):
                    self._cut(p, obs)
                self._calm_since_change = 0
            self._episode = p.episode
            if self._idle_escape(obs, p):
                return
            if self.probing and self._external and obs.inflight >= 1:
                self.state = f"probe under external pressure: {p.reason}"
                return
            self.holding = True
            self.state = f"hold: {p.reason if p.level >= PressureLevel.CONGESTED else 'task failed'}"
            return

        self.paused = p.gate and not self.holding and not (self.probing and self._external)
        if self.paused:
            if not self._idle_escape(obs, p):
                self.state = f"pause: {p.reason}"
            return
        if not self.holding:
            self._idle_since = None
        if not (self.probing and self._external and p.gate):
            self._external = False

        if self.holding:
            # No congestion any more: release, but re-enter through a single probe (landscape
            # §4.6) that stays single until the control plane answers it calmly. The release
            # waits a random extra moment (Envoy jitters its re-probes for the same reason):
            # pressure from someone else's recurring work must not phase-lock our probes to
            # the first instant after each of its bursts.
            if p.gate:
                # Still answering busy: not clear yet (release only into a quiet provider).
                if not self._idle_escape(obs, p):
                    self.state = f"hold: {p.reason}"
                return
            if self._release_at is None:
                self._release_at = obs.now + self._rng.uniform(0.0, self.release_jitter)
            if obs.now < self._release_at:
                self.state = "hold: waiting a moment after the signals cleared"
                return
            self._release_at = None
            self.holding = False
            self.probing = self.probe_after_backoff
            self._probe_acks_left = self.probe_acks
            self.state = "probe after back-off" if self.probing else "resume"
            self._wave_peak = obs.inflight
            return

        calm_events = new_acks + sum(1 for c in obs.completions if c.ok)
        if self.probing:
            # A probe ends on a calm control-plane ack, or on a completed migration while
            # nothing is WARM (without log sources, completions are the only acks there are).
            probe_events = new_acks + (
                sum(1 for c in obs.completions if c.ok) if p.level == PressureLevel.CALM else 0
            )
            if probe_events:
                self._probe_acks_left -= probe_events
            if self._probe_acks_left <= 0:
                self.probing = False
                if self.known_safe and self._limit < self.known_safe:
                    self._limit = float(self.known_safe)
                elif self._limit < self.start_limit:
                    self._limit = float(self.start_limit)
                self._clamp()
                self.state = "grow"
            return

        if p.level == PressureLevel.WARM:
            self.state = f"steady: {p.reason}"
            return

        if calm_events:
            self._calm_since_change += calm_events
            if self._calm_since_change >= self.limit and self._wave_peak >= self.limit:
                self.safe = max(self.safe or 0, self.limit)
            # App-limited guard (Netflix): grow only when the limit is actually in use.
            if obs.inflight + len(obs.completions) >= self.limit:
                before = self.limit
                self._grow(calm_events, obs)
                self._clamp()
                if self.limit != before:
                    self._calm_since_change = 0
                    self._wave_peak = obs.inflight
            self.state = "grow" if self.limit < self.ceiling else "at ceiling"

    def _idle_escape(self, obs: Observation, p: PressureSignal) -> bool:
        """While holding: after ``max_idle_hold`` seconds with nothing of ours in flight, the
        pressure is not ours; release into a lone probe. Returns True when it released."""
        if obs.inflight > 0:
            self._idle_since = None
            return False
        if self._idle_since is None:
            self._idle_since = obs.now
        if obs.now - self._idle_since < self.max_idle_hold:
            return False
        self._external = True
        self.holding = False
        self.paused = False
        self.probing = True
        self._probe_acks_left = self.probe_acks
        self._idle_since = None
        self.state = f"probe: pressure persists with nothing in flight ({p.reason})"
        return True

    @abstractmethod
    def _grow(self, events: int, obs: Observation) -> None: ...

    @abstractmethod
    def _cut(self, p: PressureSignal, obs: Observation) -> None: ...


class AIMDLimit(_ProbeAndHold):
    """Additive increase, multiplicative decrease on explicit congestion marks.

    ``increase`` is added per ``per_events`` calm events (completions and calm control-plane
    acks), so the limit grows by about one per wave when ``per_events`` equals the limit
    (``per_wave=True``) or by one per event otherwise. On congestion the limit becomes
    ``floor(limit × backoff)`` (at least 1).
    """

    name = "aimd"

    def __init__(
        self,
        ceiling: int,
        initial: int = 1,
        *,
        backoff: float = 0.5,
        increase: float = 1.0,
        per_wave: bool = False,
        **kw: object,
    ) -> None:
        super().__init__(ceiling, initial, **kw)  # type: ignore[arg-type]
        if not 0.0 < backoff < 1.0:
            raise ValueError("backoff must be in (0, 1)")
        self.backoff = backoff
        self.increase = increase
        self.per_wave = per_wave

    def _grow(self, events: int, obs: Observation) -> None:
        step = self.increase / self._limit if self.per_wave else self.increase
        self._limit += step * events

    def _cut(self, p: PressureSignal, obs: Observation) -> None:
        self._limit = max(1.0, math.floor(self._limit * self.backoff))


class GradientLimit(_ProbeAndHold):
    """Latency-gradient variant (after Netflix Gradient2 / Envoy), on swap-vVol create latency.

    The default policy: on the benchmark's 24 provider profiles it matched AIMD's drain times
    and cut more gently when creates slowed (a brown-out), which is where AIMD still lost a
    migration (``benchmarks/drain_policies.py --policy both``).

    ``gradient = clamp(tolerance / latency_ratio, 0.5, 1)``; ``new = limit × gradient + √limit``
    (Envoy's headroom), smoothed. Explicit congestion marks still cut and hold, because a
    latency average from a handful of minute-long operations reacts too late on its own.
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
        **kw: object,
    ) -> None:
        super().__init__(ceiling, initial, **kw)  # type: ignore[arg-type]
        self.tolerance = tolerance
        self.smoothing = smoothing
        self.backoff = backoff

    def _gradient(self, p: PressureSignal) -> float:
        if not p.latency_ratio:
            return 1.0
        return max(0.5, min(1.0, self.tolerance / p.latency_ratio))

    def _grow(self, events: int, obs: Observation) -> None:
        for _ in range(events):
            gradient = self._gradient(obs.pressure)
            target = self._limit * gradient + math.sqrt(self._limit)
            self._limit = self._limit * (1 - self.smoothing) + target * self.smoothing

    def _cut(self, p: PressureSignal, obs: Observation) -> None:
        self._limit = max(1.0, math.floor(self._limit * min(self.backoff, self._gradient(p))))


POLICIES = ("aimd", "gradient", "fixed")


def make_limit(
    policy: str,
    ceiling: int,
    *,
    known_safe: int | None = None,
    fixed: int = 8,
    release_jitter: float | None = None,
) -> Limit:
    """Build a limit by name (CLI ``--policy`` and the benchmark).

    ``release_jitter`` (seconds) overrides the random wait after a congestion episode clears;
    it should scale with the pressure monitor's clear window (``--clear-after``).
    """
    extra = {} if release_jitter is None else {"release_jitter": release_jitter}
    if policy == "aimd":
        return AIMDLimit(ceiling, known_safe=known_safe, **extra)  # type: ignore[arg-type]
    if policy == "gradient":
        return GradientLimit(ceiling, known_safe=known_safe, **extra)
    if policy == "fixed":
        return FixedLimit(min(fixed, ceiling))
    raise ValueError(f"unknown policy {policy!r}; choose one of {', '.join(POLICIES)}")
