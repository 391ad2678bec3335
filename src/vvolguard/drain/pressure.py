"""Pressure signals for the drain, from live vvold.log lines and vCenter task outcomes.

The lines are parsed by the same reader ``diagnose`` uses (``evidence.vvold.VvoldStream``), so
the drain and the post-mortem agree on what "no free connections" or "PROVIDER_BUSY" look like.
This module only folds the parsed frames into a small, bounded state:

* explicit congestion marks (ECN-like, landscape §4.6) with the clock time they arrived:
  waits for a free connection, busy faults, timeouts, transient FINAL FAILUREs, a failed task.
  A mark keeps the level at CONGESTED for ``clear_after`` seconds; "hold until clear" means
  until no mark is younger than that.
* ``#outstanding n/max`` at the ceiling: WARM (the next call would wait).
* swap-vVol create latency (``createVirtualVolume`` timeElapsed) against its calm baseline:
  WARM above ``latency_warm``×, CONGESTED above ``latency_congested``×.
* calm control-plane completions (``calm_ops``): the ack that lets a limit grow seconds into
  a vMotion instead of minutes.

Memory is bounded: a deque of recent marks, two EWMAs and a few counters.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass
from typing import Any

import polars as pl

from vvolguard.drain.backends.base import Clock
from vvolguard.drain.signal import PressureLevel, PressureSignal

#: VASA fault codes that mean "the provider is overloaded, try later" (evidence-formats §5.3).
TRANSIENT_FAULTS = frozenset(
    {"TIMEOUT", "PROVIDER_BUSY", "VASA_PROVIDER_BUSY", "RESOURCE_BUSY", "TOO_MANY", "BUSY"}
)

#: Operations whose latency is the swap-vVol / config-vVol creation cost of a vMotion.
CREATE_OPS = frozenset({"createVirtualVolume"})


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Named knobs, with why.

    * ``clear_after``: a congestion mark stops counting this many seconds after it arrived; long
      enough for a provider backlog to drain, short next to a vMotion's duration.
    * ``latency_warm`` / ``latency_congested``: ratios of recent create latency to the calm
      baseline. Queueing at a saturated provider multiplies latency; 1.5× is an early sign,
      3× is a queue.
    * ``baseline_alpha`` / ``recent_alpha``: EWMA weights. The baseline moves slowly and only
      while calm, the recent value follows the last few operations.
    """

    clear_after: float = 30.0
    latency_warm: float = 1.5
    latency_congested: float = 3.0
    baseline_alpha: float = 0.1
    recent_alpha: float = 0.5


class PressureMonitor:
    """Folds vvold frames and task outcomes into a :class:`PressureSignal`."""

    def __init__(self, clock: Clock, thresholds: Thresholds | None = None) -> None:
        self.clock = clock
        self.t = thresholds or Thresholds()
        self._marks: deque[tuple[float, str]] = deque()
        self._streams: dict[str, Any] = {}
        self.baseline_ms: float | None = None
        self.recent_ms: float | None = None
        self.outstanding: int | None = None
        self.outstanding_max: int | None = None
        self._at_ceiling_at: float | None = None
        self._latency_at: float | None = None
        self.calm_ops = 0
        self.episode = 0
        self._was_congested = False
        self.counts: Counter[str] = Counter()

    # -- inputs ------------------------------------------------------------------------------

    def feed_bytes(self, host: str, data: bytes) -> None:
        """New bytes from one host's vvold.log (any chunking; lines may be split)."""
        if not data:
            return
        stream = self._streams.get(host)
        if stream is None:
            from vvolguard.evidence.vvold import VvoldStream

            stream = VvoldStream(f"{host}:vvold.log", host=host)
            self._streams[host] = stream
        frame = stream.feed(data)
        if frame is not None:
            self.feed_frame(frame.frame)

    def flush(self) -> None:
        """Parse what the streams still buffer (end of a test or of a drain)."""
        for stream in self._streams.values():
            frame = stream.flush() if hasattr(stream, "flush") else None
            if frame is not None:
                self.feed_frame(frame.frame)

    def feed_frame(self, frame: pl.DataFrame) -> None:
        """Fold one parsed frame (schema ``records.VASA_SCHEMA``)."""
        now = self.clock.now()
        cols = [c for c in ("kind", "op", "elapsed_ms", "outstanding", "outstanding_max", "fault")]
        for kind, op, elapsed, outstanding, outstanding_max, fault in frame.select(cols).iter_rows():
            if kind == "no-free-conn":
                self._mark(now, "no free connections to VP")
            elif kind == "busy":
                self._mark(now, "provider busy")
            elif kind == "timeout":
                self._mark(now, "VASA timeout")
            elif kind == "bind-retry":
                self._mark(now, "bindVirtualVolume retry")
            elif kind == "failure":
                code = (fault or "").upper()
                if code in TRANSIENT_FAULTS or "BUSY" in code:
                    self._mark(now, f"{op or 'VASA op'} failed: {code}")
            elif kind == "issue" and outstanding is not None:
                self.outstanding = outstanding
                if outstanding_max:
                    self.outstanding_max = outstanding_max
                    if outstanding >= outstanding_max:
                        self._at_ceiling_at = now
                        self.counts["outstanding at ceiling"] += 1
            elif kind == "success" and op in CREATE_OPS and elapsed is not None:
                self._latency(float(elapsed))

    def task_failed(self, vm_name: str, error: str | None) -> None:
        """A relocate task failed: the most expensive congestion mark there is."""
        self._mark(self.clock.now(), f"migration of {vm_name} failed: {error or 'error'}")

    # -- internals ---------------------------------------------------------------------------

    def _mark(self, now: float, reason: str) -> None:
        self._marks.append((now, reason))
        self.counts[reason.split(":")[0]] += 1
        while len(self._marks) > 1000:
            self._marks.popleft()

    def _latency(self, ms: float) -> None:
        self._latency_at = self.clock.now()
        self.recent_ms = (
            ms
            if self.recent_ms is None
            else self.recent_ms * (1 - self.t.recent_alpha) + ms * self.t.recent_alpha
        )
        if self.baseline_ms is None:
            self.baseline_ms = ms
        ratio = ms / self.baseline_ms if self.baseline_ms else 1.0
        congested_now = bool(self._live_marks(self.clock.now()))
        if ratio < self.t.latency_warm and not congested_now:
            # A calm operation: it moves the baseline (slowly) and counts as an ack.
            a = self.t.baseline_alpha
            self.baseline_ms = self.baseline_ms * (1 - a) + ms * a
            self.calm_ops += 1

    def _live_marks(self, now: float) -> list[str]:
        while self._marks and now - self._marks[0][0] > self.t.clear_after:
            self._marks.popleft()
        return [r for _, r in self._marks]

    # -- output ------------------------------------------------------------------------------

    @property
    def latency_ratio(self) -> float | None:
        """Recent over baseline create latency; ``None`` when no create finished within
        ``clear_after`` (a stale high value must not hold the drain forever)."""
        if self.recent_ms is None or not self.baseline_ms or self._latency_at is None:
            return None
        if self.clock.now() - self._latency_at > self.t.clear_after:
            return None
        return self.recent_ms / self.baseline_ms

    def signal(self) -> PressureSignal:
        now = self.clock.now()
        marks = self._live_marks(now)
        reasons: list[str] = []
        level = PressureLevel.CALM
        if marks:
            level = PressureLevel.CONGESTED
            seen: dict[str, int] = {}
            for r in marks:
                seen[r] = seen.get(r, 0) + 1
            reasons.extend(f"{r} ×{n}" if n > 1 else r for r, n in list(seen.items())[-3:])
        ratio = self.latency_ratio
        if ratio is not None and ratio >= self.t.latency_congested:
            level = PressureLevel.CONGESTED
            reasons.append(f"swap-vVol create {ratio:.1f}× its calm baseline")
        elif ratio is not None and ratio >= self.t.latency_warm:
            level = max(level, PressureLevel.WARM)
            reasons.append(f"swap-vVol create {ratio:.1f}× its calm baseline")
        if self._at_ceiling_at is not None and now - self._at_ceiling_at <= self.t.clear_after:
            level = max(level, PressureLevel.WARM)
            reasons.append(f"outstanding at ceiling {self.outstanding_max}")
        congested = level >= PressureLevel.CONGESTED
        if congested and not self._was_congested:
            self.episode += 1
        self._was_congested = congested
        return PressureSignal(
            level=level,
            reasons=tuple(reasons),
            at=now,
            episode=self.episode,
            latency_ratio=ratio,
            outstanding=self.outstanding,
            outstanding_max=self.outstanding_max,
            calm_ops=self.calm_ops,
            counts=dict(self.counts),
        )
