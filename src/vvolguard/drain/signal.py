"""The pressure signal: the one value the limit algorithms read about the control plane.

Kept apart from ``pressure.py`` (which builds it from vvold lines and task outcomes) so that a
limit can be unit-tested with hand-made signals and no parser at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum


class PressureLevel(IntEnum):
    """How loaded the VASA control plane looks.

    * ``CALM``: nothing seen; the limit may grow.
    * ``WARM``: an early sign (create latency above its calm baseline, outstanding close to the
      ceiling); do not grow, do not cut. This is the Gradient guard of docs/drain-background.md §4.6.
    * ``CONGESTED``: an explicit congestion mark (ECN-like): waits for a free connection, busy
      faults, timeouts, outstanding at the ceiling, a failed relocate task. Cut and hold.
    """

    CALM = 0
    WARM = 1
    CONGESTED = 2


@dataclass(frozen=True, slots=True)
class PressureSignal:
    """A snapshot of the control plane at clock time ``at``.

    ``episode`` counts congestion episodes (a new one starts when CONGESTED follows a clear
    period), so a limit cuts once per episode and not once per evaluation. ``latency_ratio`` is
    the recent swap-vVol create latency over its calm baseline (``None`` until both exist).
    ``calm_ops`` counts control-plane operations seen finishing calmly since the start: an
    ECN-style "ack" that arrives seconds into a vMotion, long before the task ends.
    """

    level: PressureLevel = PressureLevel.CALM
    reasons: tuple[str, ...] = ()
    at: float = 0.0
    episode: int = 0
    latency_ratio: float | None = None
    outstanding: int | None = None
    outstanding_max: int | None = None
    calm_ops: int = 0
    #: Swap-vVol creates seen finishing alone (one of ours in flight, or our creates one at a
    #: time) above the WARM line but below the one that cuts: the provider's floor answering,
    #: an ack where its lone creates sit at the WARM line and no answer is ever calm.
    floor_ops: int = 0
    #: Our creates go one at a time (``PressureMonitor.create_cap`` is 1): a slow create is
    #: measured alone however many of ours are in their network phase.
    creates_alone: bool = False
    #: CONGESTED marks from the control plane since the start (our own failed tasks excluded):
    #: a new one taints the concurrency level in flight (``drain.ledger``).
    marks: int = 0
    #: CONGESTED only because swap-vVol creates are slow (no explicit mark is live): the limit
    #: is cut, but holding everything would relieve nothing a smaller limit does not.
    latency_only: bool = False
    #: A busy or bind retry arrived within the last ``clear_after`` seconds: the provider's
    #: queue is full right now. Start nothing new (no cut: it may be someone else's burst).
    gate: bool = False
    #: Swap-vVol creates are slower than at low load (above ``latency_warm`` × the baseline or
    #: ``deadline_warm`` of vvold's deadline): the delay signal that ends the limit's fast start
    #: (HyStart), before any wait for a connection or busy answer appears.
    delay: bool = False
    #: The level is set only by someone else's load (busy answers no more frequent than with at
    #: most one of ours in flight): the drain stops growing for it, and the benchmark shows the
    #: time this costs.
    foreign: bool = False
    #: WARM only from signals that, with one of ours in flight, measure the provider's floor
    #: and not our concurrency: slow creates, a host's session connections all in use now and
    #: then but with room for two of ours at its quietest (``PressureMonitor.room_for_one_more``).
    #: No busy answer, wait for a connection or failure is live.
    at_floor: bool = False
    #: The provider serves every call slower than at the start of the drain, so much that a
    #: create issued now would take ``deadline_congested`` of vvold's deadline even alone (a
    #: brown-out, seen in the latency of light calls before any create finishes slowly): one
    #: migration at a time until it recovers, whatever the limit.
    slowed: bool = False
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def reason(self) -> str:
        """One line for the progress display: why the drain is slow (or that it is not)."""
        if not self.reasons:
            return "calm"
        return "; ".join(self.reasons)


CALM = PressureSignal()
