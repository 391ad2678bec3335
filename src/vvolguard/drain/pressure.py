"""Pressure signals for the drain, from live vvold.log lines and vCenter task outcomes.

The lines are parsed by the same reader ``diagnose`` uses (``evidence.vvold.VvoldStream``), so
the drain and the post-mortem agree on what "no free connections" or "PROVIDER_BUSY" look like.
This module only folds the parsed frames into a small, bounded state:

* CONGESTED marks (ECN-like, docs/drain-background.md §4.6), each counting for ``clear_after`` seconds after
  it arrived ("hold until clear" = until none is younger): waits for a free connection,
  timeouts, transient FINAL FAILUREs, a failed relocate task, and busy/bind retries that have
  reached their second attempt (the operation is running out of retries).
* WARM marks (stop growing, do not cut): a first busy or bind retry (providers shared with other
  work answer busy now and then at any load), ``#outstanding n/max`` at the ceiling.
* swap-vVol create latency (``createVirtualVolume`` timeElapsed, and the age of creates still
  outstanding, matched by ``[#opseq]``): WARM above ``latency_warm``× its calm baseline or a
  quarter of vvold's deadline; CONGESTED above ``deadline_congested`` of the deadline, because
  that is where migrations start to fail, whatever the baseline was.
* calm control-plane completions (``calm_ops``): the ack that lets a limit grow seconds into
  a vMotion instead of minutes.
* the provider's pace (``pace``): the latency of light calls (the hosts' own ``getEvents``
  polls, binds, queries) over what they took at the start of the drain. A provider that slows
  down for everyone (a brown-out) shows here within a few polls, before the next create,
  which is what times out, finishes slowly: the signal then says one migration at a time
  (``PressureSignal.slowed``). A provider that stays slower for more than ``settle_for`` with
  lone creates still within the deadline's budget has slowed down for good: that pace becomes
  the new normal (``settled_ms``), and the limit grows again on the usual latency rules.
* our creates at once (``room_for_a_create``): a busy answer with n >= 2 of our swap-vVol creates
  outstanding caps them at n - 1 for the rest of the drain; the controller starts a migration
  only when its create fits. Once they are one at a time, a lone create at the cut line is the
  provider's floor (WARM, no cut), and a lone create between the WARM and cut lines is a floor
  ack (``floor_ops``): a provider whose creates sit at the WARM line never answers calmly.

Memory is bounded: deques of recent marks (capped), outstanding creates (capped), two EWMAs.
"""

from __future__ import annotations

import re
import statistics
from collections import Counter, deque
from dataclasses import dataclass
from typing import Any

import polars as pl

from vvolguard.drain.backends.base import Clock
from vvolguard.drain.signal import PressureLevel, PressureSignal

#: VASA fault codes that mean "the provider is overloaded, try later" (docs/evidence-formats.md §5.3).
TRANSIENT_FAULTS = frozenset(
    {"TIMEOUT", "PROVIDER_BUSY", "VASA_PROVIDER_BUSY", "RESOURCE_BUSY", "TOO_MANY", "BUSY"}
)

#: Operations whose latency is the swap-vVol / config-vVol creation cost of a vMotion.
CREATE_OPS = frozenset({"createVirtualVolume"})
#: The VASA operations a vMotion itself issues; a busy failure of any other (the hosts' own
#: ``getEvents`` poller) is the provider's general state, not our migrations' cost.
MIGRATION_OPS = frozenset(
    {
        "createVirtualVolume",
        "bindVirtualVolume",
        "unbindVirtualVolume",
        "deleteVirtualVolume",
        "queryVirtualVolumeInfo",
    }
)


#: The WARM reason for busy answers judged someone else's load (``busy_is_external``).
FOREIGN_BUSY = "provider busy for others too"
#: Counted (no WARM) for busy answers at a provider's own rare busy floor (``rare_busy``).
RARE_BUSY = "provider busy now and then at any load: our creates one at a time"
#: The WARM reason for an operation issued with every connection of a host's session in use.
OUTSTANDING_AT_CEILING = "outstanding at ceiling"


@dataclass(frozen=True, slots=True)
class PressureThresholds:
    """Named knobs, with why.

    * ``clear_after``: a mark stops counting this many seconds after it arrived; long enough
      for a provider backlog to drain, short next to a vMotion's duration.
    * ``warm_for``: an early mark (a first busy retry) stops growth this long. Busy answers
      come in bursts; growing right after one is how a burst becomes a failure.
    * ``latency_warm``: recent swap-vVol create latency over its calm baseline past which the
      provider is queueing (throughput no longer grows with concurrency): stop growing.
    * ``deadline_ms``: vvold's deadline for one VASA operation, connection wait included (the
      §1.7 TIMEOUT at timeElapsed=60012). Lowered to what a TIMEOUT line shows, if shorter.
    * ``deadline_warm`` / ``deadline_congested``: fractions of that deadline. A create (finished
      or still outstanding) that takes this share of it is one queue away from a timeout,
      whatever the baseline: the risk is absolute, not relative.
    * ``retry_congested``: a busy/bind retry at this attempt number (or the last one vvold
      announces, ``attempt 3/3``) means an operation is running out of retries (one more busy
      answer fails the vMotion); earlier retries are WARM, because a provider shared with other
      work answers busy now and then at any load, and holding would not change that.
    * ``low_load``: create latencies measured with at most this many of our migrations in
      flight set the baseline (BBR's floor latency, re-measured by every 1-VM probe), so a
      baseline cannot creep upwards with the load it is meant to detect.
    * ``pace_samples`` / ``pace_window``: the pace is judged from the last this many light
      calls within that many seconds (the hosts poll every 10 s, so a few polls), and their
      reference is the median of each call's first ``pace_samples`` latencies.
    * ``pace_clear``: once one at a time (a create at the current pace would take
      ``deadline_congested`` of the deadline), it stays so until that falls below this share
      (hysteresis: a brown-out's pace wanders around the line, and each dip let two more in).
    * ``pace_on``: one at a time turns on only at a pace of at least this many times the
      start's. The median of three light calls swings by half either way at an unchanged
      provider, and where lone creates already take a fifth of the deadline (slow-midrange's
      10-12 s) a swing to 1.5-2× "predicted" the line: with two of ours queueing in it,
      slow-midrange went one at a time a dozen times per drain. A brown-out (5×) reads 3-9×
      from its first seconds; a provider merely 1.5× slower is left to the create latency
      lines, which see it in the next create.
    * ``settle_for``: a provider that slowed down for good (a new steady pace) is told from a
      stall by time: the last ``pace_samples`` creates with at most ``low_load`` of ours in
      flight while every call was ``latency_warm`` slower, spread over at least this many
      seconds, their median ``latency_warm`` times the reference and still below
      ``deadline_congested`` of the deadline (a lone create fits the budget). Then the slower
      provider is the new normal (``settled_ms``): the baseline, the pace's reference and the
      WARM line follow it, and the deadline's share and the ratio to the new floor decide
      growth. A brown-out whose creates do not fit that budget never settles: one at a time.
    * ``settled_congested``: for a provider settled at a slower pace the create line that cuts
      is its floor times ``latency_warm`` squared (what two or three of ours in flight add to a
      lone create) when that is above ``deadline_congested``, but never above this share of
      the deadline. At the absolute 30% line slows-down-halfway (lone creates 12-15 s after
      its slow-down) was cut to one at a time by every create with two of ours in flight; the
      largest create it saw after settling stayed at 39 s of 60 over seeds 1-10 (44 s with the
      30% line), and one busy retry still fits the deadline at 35%.
    * ``baseline_alpha`` / ``recent_alpha``: EWMA weights. The baseline moves slowly and only
      while calm, the recent value follows the last few operations.
    * ``share_window`` / ``share_margin`` / ``share_min_ops``: the busy floor. The share of VASA
      operations answered busy is measured while at most one of our migrations is in flight
      (after ``share_min_ops`` operations); while the share over the last ``share_window``
      seconds stays within ``share_margin`` times that floor, busy answers are someone else's
      load (a clone storm, backups): they neither pause nor hold the drain, since holding would
      not change them. Above it, they are ours again.
    * ``rare_busy``: a busy floor below this share of operations is a provider with next to no
      spare VASA capacity, not a loaded one: one or two workers that the hosts' own ``getEvents``
      polls fill now and then (workers-1: 2-8% of operations; a clone storm: 29-42%). Its busy
      answers at the floor then no longer stop growth; instead our swap-vVol creates go one at
      a time (``create_cap`` = 1), and migrations overlap only in their network phase, which
      costs the provider nothing. vvold retries a busy answer twice, so at a 10% share an
      operation exhausts its attempts about once in a thousand; above the floor's margin the
      busy answers are ours again and pause or hold the drain as before.
    """

    clear_after: float = 30.0
    warm_for: float = 60.0
    latency_warm: float = 1.3
    deadline_ms: float = 60_000.0
    deadline_warm: float = 0.2
    deadline_congested: float = 0.3
    retry_congested: int = 3
    low_load: int = 2
    baseline_alpha: float = 0.3
    recent_alpha: float = 0.5
    share_window: float = 180.0
    share_margin: float = 2.0
    share_min_ops: int = 8
    pace_clear: float = 0.25
    pace_on: float = 2.0
    pace_samples: int = 3
    pace_window: float = 30.0
    settle_for: float = 60.0
    settled_congested: float = 0.35
    rare_busy: float = 0.1


_ATTEMPT = re.compile(r"attempt (\d+)(?:/(\d+))?")


class PressureMonitor:
    """Folds vvold frames and task outcomes into a :class:`PressureSignal`."""

    def __init__(self, clock: Clock, thresholds: PressureThresholds | None = None) -> None:
        self.clock = clock
        self.t = thresholds or PressureThresholds()
        self.deadline_ms = self.t.deadline_ms
        self._marks: deque[tuple[float, str]] = deque()  # CONGESTED marks
        self._warns: deque[tuple[float, str]] = deque()  # WARM marks
        #: Per host: when its vvold last showed a CONGESTED / WARM mark (destination pressure).
        self._host_marks: dict[str, float] = {}
        self._host_warns: dict[str, float] = {}
        #: CONGESTED marks from the control plane (not our own failed tasks) since the start.
        self.marks = 0
        self._streams: dict[str, Any] = {}
        self._creates: dict[tuple[str | None, int], float] = {}  # outstanding creates: issued at
        self.baseline_ms: float | None = None
        self.recent_ms: float | None = None
        self.outstanding: int | None = None
        self.outstanding_max: int | None = None
        self._busy_at: float | None = None
        #: Per host: (when, #outstanding, max) of recent issue lines, and when its session was
        #: last seen at its connection ceiling (``room_for_one_more``).
        self._occupancy: dict[str, deque[tuple[float, int, int]]] = {}
        self._ceiling_at: dict[str, float] = {}
        # The busy floor: ops issued / busy answers while at most one of ours ran, and recent ones.
        self._ops_low = 0
        self._busy_low = 0
        self._recent_ops: deque[tuple[float, bool]] = deque()
        self.external_busy = 0  # busy answers judged someone else's load
        #: Per light operation (not a create): its calm latency, and recent (when, latency ÷ it).
        self._op_base: dict[str, float] = {}
        self._op_first: dict[str, list[float]] = {}
        self._create_first: list[float] = []
        self._slowed = False
        #: The create floor of a provider that slowed down for good (``settle_for``).
        self.settled_ms: float | None = None
        #: The most creates of ours at once before the provider answered busy, less one.
        self.create_cap: int | None = None
        #: Why ``create_cap`` is set, for the person watching (``Progress.create_wait``).
        self.create_cap_reason = ""
        self._settled_pace = 1.0
        self._low_creates: deque[tuple[float, float]] = deque(maxlen=8)
        self._pace: deque[tuple[float, float, bool]] = deque(maxlen=64)
        self.calm_ops = 0
        self.floor_ops = 0
        self.episode = 0
        self._was_congested = False
        self.counts: Counter[str] = Counter()
        self.inflight = 0

    def note_inflight(self, n: int) -> None:
        """How many of our migrations are in flight (the controller tells, every tick)."""
        self.inflight = n

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
            self.feed_frame(frame.frame, host)

    def flush(self) -> None:
        """Parse what the streams still buffer (end of a test or of a drain)."""
        for host, stream in self._streams.items():
            frame = stream.flush()
            if frame is not None:
                self.feed_frame(frame.frame, host)

    def feed_frame(self, frame: pl.DataFrame, host: str | None = None) -> None:
        """Fold one parsed frame (schema ``records.VASA_SCHEMA``)."""
        now = self.clock.now()
        cols = ["kind", "op", "opseq", "elapsed_ms", "outstanding", "outstanding_max", "fault", "text"]
        for kind, op, opseq, elapsed, outstanding, outstanding_max, fault, text in frame.select(
            cols
        ).iter_rows():
            if kind == "no-free-conn":
                self._mark(now, "no free connections to VP", host)
            elif kind in ("busy", "bind-retry"):
                self._op(now, busy=True)
                what = "bindVirtualVolume retry" if kind == "bind-retry" else "provider busy"
                m = _ATTEMPT.search(text or "")
                last = int(m.group(2)) if m and m.group(2) else self.t.retry_congested
                self._busy_with_creates(now)
                if self.busy_is_external(now):
                    self.external_busy += 1
                    if self.busy_floor() < self.t.rare_busy:
                        # A provider with next to no spare capacity (its few workers filled by
                        # the hosts' own polls now and then): our creates one at a time, and
                        # the rare busy answer does not stop growth (``rare_busy``).
                        if self.create_cap is None:
                            self.create_cap_reason = "the provider answers busy now and then at any load"
                        self.create_cap = 1
                        self.counts[RARE_BUSY] += 1
                    else:
                        # Someone else's load: stop growing (WARM), but no hold and no pause.
                        self._warn(now, FOREIGN_BUSY, host)
                elif m and int(m.group(1)) >= max(2, min(last, self.t.retry_congested)):
                    self._mark(now, f"{what} (retry {m.group(1)})", host)
                else:
                    self._warn(now, what, host)
                    self._busy_at = now
            elif kind == "timeout":
                self._mark(now, "VASA timeout", host)
            elif kind == "failure":
                self._creates.pop((host, opseq), None)
                code = (fault or "").upper()
                if code == "TIMEOUT" and elapsed:
                    # vvold's real deadline, learnt from the log itself.
                    self.deadline_ms = min(self.deadline_ms, float(elapsed))
                if code in TRANSIENT_FAULTS or "BUSY" in code:
                    if op and op not in MIGRATION_OPS and self.busy_is_external(now):
                        self.counts[FOREIGN_BUSY] += 1
                    else:
                        self._mark(now, f"{op or 'VASA op'} failed: {code}", host)
            elif kind == "issue":
                self._op(now, busy=False)
                if op in CREATE_OPS and opseq is not None and len(self._creates) < 10_000:
                    self._creates[(host, opseq)] = now
                if outstanding is not None:
                    self.outstanding = outstanding
                    if outstanding_max:
                        self.outstanding_max = outstanding_max
                        self._occupied(now, host, outstanding, outstanding_max)
                        # Issuing with every connection in use: the next call will wait.
                        if outstanding + 1 >= outstanding_max:
                            self._warn(now, f"{OUTSTANDING_AT_CEILING} {outstanding_max}", host)
                            self._ceiling_at[host or ""] = now
            elif kind == "success" and op in CREATE_OPS:
                self._creates.pop((host, opseq), None)
                if elapsed is not None:
                    self._latency(float(elapsed))
            elif kind == "success" and op and elapsed is not None:
                self._light(now, op, float(elapsed))

    def task_failed(self, vm_name: str, error: str | None) -> None:
        """A relocate task failed: the most expensive congestion mark there is."""
        self._mark(self.clock.now(), f"migration of {vm_name} failed: {error or 'error'}", ours=True)

    def task_failed_elsewhere(self, vm_name: str, error: str | None) -> None:
        """A relocate task failed for a cause outside the VASA control plane (the reason names
        it): WARM, so the wave stops growing while it is looked at, but no cut."""
        self._warn(self.clock.now(), "migration failed outside the VASA control plane")

    # -- internals ---------------------------------------------------------------------------

    def _op(self, now: float, *, busy: bool) -> None:
        if self.inflight <= 1:
            self._ops_low += not busy
            self._busy_low += busy
        self._recent_ops.append((now, busy))
        while self._recent_ops and now - self._recent_ops[0][0] > self.t.share_window:
            self._recent_ops.popleft()
        while len(self._recent_ops) > 10_000:
            self._recent_ops.popleft()

    def _creates_outstanding(self, now: float) -> int:
        """Swap-vVol creates issued and not yet answered (older than the deadline: answered in a
        line this monitor did not see)."""
        horizon = self.deadline_ms / 1000
        return sum(1 for t in self._creates.values() if now - t < horizon)

    def _busy_with_creates(self, now: float) -> None:
        """A busy answer while ``n`` >= 2 of our creates were outstanding: the provider's workers
        are full with n creates (slow-entry's two workers with two 12 s creates leave no worker
        for a bind or a host's poll, and its queue of one overflows). From then on at most
        ``n - 1`` creates at once (``room_for_a_create``); migrations may still overlap in their
        long network phase, which costs the provider nothing."""
        if self.busy_is_external(now):
            return
        n = self._creates_outstanding(now)
        if n >= 2 and (self.create_cap is None or n - 1 < self.create_cap):
            self.create_cap = n - 1
            self.create_cap_reason = f"the provider answered busy with {n} of ours at once"

    def _creates_alone(self, now: float) -> bool:
        """Are our creates one at a time (``create_cap`` 1) with at most one outstanding? Then a
        slow create is the provider's floor, not our concurrency: no cut can make it faster,
        and the next create of ours waits for it to finish anyway (``room_for_a_create``)."""
        return self.create_cap == 1 and self._creates_outstanding(now) <= 1

    def room_for_a_create(self) -> bool:
        """May a new migration start now without more creates at once than the provider answered
        busy at (``_busy_with_creates``)? Its create is issued within a second of the submission,
        so it waits for one of ours to finish instead (ack clocking on the create, the VASA-heavy
        part of a vMotion: a create alone takes 12 s on slow-entry, a vMotion 45)."""
        if self.create_cap is None:
            return True
        return self._creates_outstanding(self.clock.now()) < self.create_cap

    def busy_floor(self) -> float:
        """The share of VASA operations answered busy while at most one of our migrations was
        in flight: the provider's own busy rate, which no concurrency limit of ours lowers."""
        return self._busy_low / max(self._ops_low, 1)

    def busy_is_external(self, now: float) -> bool:
        """True while the provider answers busy about as often as it did with at most one of our
        migrations in flight: the busy answers are not caused by our concurrency."""
        if self._ops_low < self.t.share_min_ops or not self._busy_low:
            return False
        floor = self.busy_floor()
        ops = sum(1 for _, b in self._recent_ops if not b)
        busy = len(self._recent_ops) - ops
        return busy <= self.t.share_margin * floor * max(ops, 1)

    def _occupied(self, now: float, host: str | None, outstanding: int, ceiling: int) -> None:
        seen = self._occupancy.setdefault(host or "", deque(maxlen=1000))
        seen.append((now, outstanding, ceiling))
        while seen and now - seen[0][0] > self.t.warm_for:
            seen.popleft()

    def room_for_one_more(self, now: float) -> bool:
        """Every host session seen at its connection ceiling within ``warm_for`` also had room
        for two of ours at its quietest moment in that window (the fewest operations of others
        outstanding when one was issued, plus two, within its maximum). A ceiling reached now
        and then, by other work's short calls (the hosts' own pollers), is the provider's floor;
        a ceiling held by other work all along (the lab's saturation scenario: 4 of 5
        connections taken) means a second migration of ours waits for a connection."""
        for host, at in self._ceiling_at.items():
            if now - at > self.t.warm_for:
                continue
            seen = [(n, m) for t, n, m in self._occupancy.get(host, ()) if now - t <= self.t.warm_for]
            if not seen or min(n for n, _ in seen) + 2 > min(m for _, m in seen):
                return False
        return True

    def _mark(self, now: float, reason: str, host: str | None = None, *, ours: bool = False) -> None:
        self._marks.append((now, reason))
        if not ours:
            self.marks += 1
        if host is not None:
            self._host_marks[host] = now
        self.counts[reason.split(":")[0].split(" (")[0]] += 1
        while len(self._marks) > 1000:
            self._marks.popleft()

    def _warn(self, now: float, reason: str, host: str | None = None) -> None:
        self._warns.append((now, reason))
        if host is not None:
            self._host_warns[host] = now
        self.counts[reason] += 1
        while len(self._warns) > 1000:
            self._warns.popleft()

    def _latency(self, ms: float) -> None:
        now = self.clock.now()
        if len(self._create_first) < self.t.pace_samples:
            self._create_first.append(ms)  # the provider's speed at the start (``pace``'s unit)
        a = self.t.recent_alpha
        self.recent_ms = ms if self.recent_ms is None else self.recent_ms * (1 - a) + ms * a
        if self.baseline_ms is None:
            self.baseline_ms = ms
        calm = (
            ms < self.baseline_ms * self.t.latency_warm
            and ms < self._warm_ms()
            and not self._live(self._marks, now)
        )
        floor = self.inflight == 1 and ms < self._warm_ms()
        if floor or (calm and self.inflight <= self.t.low_load):
            # With one of ours in flight the latency is the floor, whatever it is now: a provider
            # that slowed down for everyone has a new floor (BBR re-measures its min RTT for the
            # same reason), and judging by the old one would stop the drain growing for good.
            b = self.t.baseline_alpha
            self.baseline_ms = self.baseline_ms * (1 - b) + ms * b
        if calm:
            self.calm_ops += 1  # an ack: the control plane did a vMotion's hard part calmly
        elif (
            (self.inflight <= 1 or (self.create_cap == 1 and not self._creates_outstanding(now)))
            and ms < self._congested_ms()
            and not self._live(self._marks, now)
        ):
            # A lone create above the WARM line but short of the one that cuts (slow-entry's
            # 12-17 s): the vMotion's hard part done at the provider's own pace, a floor ack.
            self.floor_ops += 1
        # Candidates for a new normal: creates at low load while every call is slower than the
        # reference (a create that is merely slow is noise; one from before a brown-out is not
        # its pace). A pace back at the reference starts the count again.
        pace = self.pace()
        if pace is not None and self.settled_ms is not None:
            pace /= self._settled_pace
        if pace is not None and pace < 1.0:
            self._low_creates.clear()
        elif pace is not None and pace >= self.t.latency_warm and self.inflight <= self.t.low_load:
            self._low_creates.append((now, ms))
            self._settle()

    def _warm_ms(self) -> float:
        """Create latency past which growth stops whatever the baseline: ``deadline_warm`` of
        the deadline, or, for a provider settled at a slower pace, its new floor times
        ``latency_warm`` (at most the ``deadline_congested`` line, which stays absolute)."""
        warm = self.deadline_ms * self.t.deadline_warm
        if self.settled_ms is not None:
            congested = self.deadline_ms * self.t.deadline_congested
            warm = max(warm, min(self.settled_ms * self.t.latency_warm, congested))
        return warm

    def _congested_ms(self) -> float:
        """Create latency past which the limit is cut: ``deadline_congested`` of the deadline;
        for a provider settled at a slower pace, its new floor times ``latency_warm`` squared
        if that is higher (the latency two or three of ours in flight add to a lone create),
        never above ``settled_congested`` of the deadline."""
        line = self.deadline_ms * self.t.deadline_congested
        if self.settled_ms is not None:
            queued = self.settled_ms * self.t.latency_warm**2
            line = max(line, min(queued, self.deadline_ms * self.t.settled_congested))
        return line

    def _settle(self) -> None:
        """Accept a slower provider as the new normal once it has stayed slower for
        ``settle_for`` seconds at low load and a lone create still fits the deadline's budget.
        A stall (seconds) or a brown-out too slow for the budget is left to ``slowed``."""
        n = self.t.pace_samples
        if len(self._low_creates) < n or not self._create_first:
            return
        last = list(self._low_creates)[-n:]
        if last[-1][0] - last[0][0] < self.t.settle_for:
            return
        ref = self.settled_ms or statistics.median(self._create_first)
        floor = statistics.median(ms for _, ms in last)
        # The median: one create's service time swings by half either way at a steady pace.
        if floor < ref * self.t.latency_warm or floor >= self.deadline_ms * self.t.deadline_congested:
            return
        self.settled_ms = floor
        self.baseline_ms = floor
        # The pace over the same span is the new normal's: the median of its light calls.
        span = [r for t, r, _ in self._pace if t >= last[0][0]]
        self._settled_pace = max(1.0, statistics.median(span) if span else self.pace() or 1.0)
        self._low_creates.clear()
        self.counts["provider settled at a slower pace"] += 1

    def _light(self, now: float, op: str, ms: float) -> None:
        """A light operation (the hosts' ``getEvents`` polls, binds, queries) finished: how much
        slower than the provider's speed at the start of the drain. The reference is the median
        of the operation's first ``pace_samples`` latencies and then stays put (unlike the create
        baseline, which follows the floor): a provider that slows down for everyone must show as
        a rising pace however long the slow-down lasts."""
        ref = self._op_base.get(op)
        if ref is None:
            first = self._op_first.setdefault(op, [])
            first.append(max(ms, 1.0))
            if len(first) >= self.t.pace_samples:
                self._op_base[op] = statistics.median(first)
            return
        self._pace.append((now, ms / ref, self.inflight <= self.t.low_load))

    def pace(self, now: float | None = None) -> float | None:
        """How much slower than at the start the provider serves *every* call now, from the
        last ``pace_samples`` light calls within ``pace_window`` seconds: their median when
        each came with at most ``low_load`` of ours in flight, else the smallest of them.
        The smallest at higher load, because waiting in the provider's queue behind our creates
        inflates some light calls; a provider that slows down for everyone (a brown-out, a busy
        array) inflates all of them, and shows here a few polls after it starts, long before
        the next create, which is what times out, finishes slowly (BBR keeps the minimum RTT
        for the same reason)."""
        now = self.clock.now() if now is None else now
        recent = list(self._pace)[-self.t.pace_samples :]
        last = [(r, low) for t, r, low in recent if now - t <= self.t.pace_window]
        if len(last) < self.t.pace_samples:
            return None
        if all(low for _, low in last):
            return statistics.median(r for r, _ in last)
        return min(r for r, _ in last)

    def _slower_for_everyone(self) -> bool:
        """May the pace turn one at a time on? For a provider settled at a slower pace its
        prediction already compares with the settled pace; otherwise the pace must be at least
        ``pace_on`` times the start's."""
        if self.settled_ms is not None:
            return True
        pace = self.pace()
        return pace is not None and pace >= self.t.pace_on

    def _live(self, marks: deque[tuple[float, str]], now: float, horizon: float | None = None) -> list[str]:
        horizon = self.t.clear_after if horizon is None else horizon
        while marks and now - marks[0][0] > horizon:
            marks.popleft()
        return [r for _, r in marks]

    def _oldest_create_ms(self, now: float) -> float:
        return max(((now - t) * 1000 for t in self._creates.values()), default=0.0)

    # -- output ------------------------------------------------------------------------------

    def host_level(self, host: str) -> PressureLevel:
        """Pressure seen in ``host``'s own vvold.log: CONGESTED while one of its marks is younger
        than ``clear_after``, WARM while one of its warnings is younger than ``warm_for``. The
        destination's vvold creates the swap vVol, so a destination that shows pressure should
        receive fewer moves (``drain.placement``)."""
        now = self.clock.now()
        at = self._host_marks.get(host)
        if at is not None and now - at <= self.t.clear_after:
            return PressureLevel.CONGESTED
        at = self._host_warns.get(host)
        if at is not None and now - at <= self.t.warm_for:
            return PressureLevel.WARM
        return PressureLevel.CALM

    def current_create_ms(self) -> float | None:
        """The create latency to judge by: the recent average, or the age of the oldest create
        still outstanding if that is worse (a stuck create shows before it finishes).

        The recent value does not expire: during a provider brown-out creates are rare, and
        forgetting the last slow one would read as "calm" exactly when it is not. A drain
        holding on a stale value is released by the limit's idle-hold bound, whose lone probe
        then measures afresh."""
        now = self.clock.now()
        oldest = self._oldest_create_ms(now)
        if self.recent_ms is None and not oldest:
            return None
        return max(self.recent_ms or 0.0, oldest)

    def predicted_create_ms(self) -> float | None:
        """The next create's latency if the provider serves it at its current pace: the calm
        baseline times :meth:`pace`. A brown-out shows here before any create finishes slowly.
        A pace below the start's predicts a faster create (not an unknown: ``signal`` keeps one
        at a time on while the pace is unknown)."""
        if self.settled_ms is not None:
            return self._settled_prediction()
        pace = self.pace()
        if pace is None or not self._create_first:
            return None
        return statistics.median(self._create_first) * pace

    def _settled_prediction(self) -> float | None:
        """For a provider settled at a slower pace: its floor times the pace relative to the
        pace it settled at, over ``pace_window`` × ``pace_samples`` seconds (a pace 3 light
        calls read swings by half either way at a steady slow-down, and the line is now that
        close: a brown-out on top of it still shows within a minute)."""
        assert self.settled_ms is not None
        now = self.clock.now()
        window = self.t.pace_window * self.t.pace_samples
        recent = [(r, low) for t, r, low in self._pace if now - t <= window]
        if len(recent) < self.t.pace_samples:
            return None
        low = [r for r, ok in recent if ok]
        pace = statistics.median(low) if len(low) >= self.t.pace_samples else min(r for r, _ in recent)
        return self.settled_ms * max(1.0, pace / self._settled_pace)

    @property
    def latency_ratio(self) -> float | None:
        """Current over baseline create latency (see :meth:`current_create_ms`)."""
        cur = self.current_create_ms()
        if cur is None or not self.baseline_ms:
            return None
        return cur / self.baseline_ms

    def signal(self) -> PressureSignal:
        now = self.clock.now()
        reasons: list[str] = []
        level = PressureLevel.CALM
        marks = self._live(self._marks, now)
        if marks:
            level = PressureLevel.CONGESTED
            reasons.extend(_summarise(marks))
        cur = self.current_create_ms()
        ratio = self.latency_ratio
        predicted = self.predicted_create_ms()
        delay = (cur is not None and cur >= self._warm_ms()) or (
            ratio is not None and ratio >= self.t.latency_warm
        )
        # A create of ours alone at the cut line while our creates go one at a time is the
        # provider's own pace (slow-entry: one lone create in six reaches it): WARM, no cut.
        if cur is not None and cur >= self._congested_ms() and not self._creates_alone(now):
            level = PressureLevel.CONGESTED
            reasons.append(
                f"swap-vVol create {cur / 1000:.0f} s of a {self.deadline_ms / 1000:.0f} s deadline"
            )
        elif cur is not None and cur >= self._warm_ms():
            level = max(level, PressureLevel.WARM)
            reasons.append(
                f"swap-vVol create {cur / 1000:.0f} s of a {self.deadline_ms / 1000:.0f} s deadline"
            )
        if ratio is not None and ratio >= self.t.latency_warm:
            level = max(level, PressureLevel.WARM)
            reasons.append(f"swap-vVol create {ratio:.1f}× its calm baseline")
        # The provider serves every call slower (a brown-out): a create issued now would take
        # this long even alone, and two sharing the provider, or one busy retry, pass the
        # deadline. One at a time until the pace recovers (a latency-only cut, no hold).
        # Hysteresis: on at ``deadline_congested`` of the deadline, off only below
        # ``pace_clear`` of it, so a pace near the line does not let the slots refill between
        # two samples (a brown-out's creates wander around it).
        # A provider settled at a slower pace lifts both lines to its new floor × latency_warm
        # (if higher): only a pace slower again than the new normal is a brown-out on top of it.
        line = self.deadline_ms * self.t.deadline_congested
        if self.settled_ms is not None:
            line = max(line, self.settled_ms * self.t.latency_warm)
        if self._slowed:
            line *= self.t.pace_clear / self.t.deadline_congested
        # It turns on only for a provider slower than at the start (a pace of ``latency_warm``
        # or more, or past its settled pace): the line is about the provider's pace, and a
        # slow first create alone (slow-entry's 20 s on seed 3) times a pace back at the
        # start's read as a brown-out and held that drain one at a time to its end. Once on,
        # it stays on while the pace is unknown (no light call answered lately), and goes off
        # when the pace is measured at or below the start's: a measured recovery. (Read as
        # unknown, a recovery kept slow-entry one at a time for 400 s after a burst of its own
        # queueing had cleared.)
        pace_now = self.pace()
        if self._slowed:
            recovered = self.settled_ms is None and pace_now is not None and pace_now <= 1.0
            slowed = not recovered and (predicted is None or predicted >= line)
        else:
            slowed = self._slower_for_everyone() and predicted is not None and predicted >= line
        self._slowed = slowed
        if slowed:
            level = PressureLevel.CONGESTED
            delay = True
            pace = pace_now
            if predicted is not None and pace is not None:
                reasons.append(
                    f"provider {pace:.1f}× slower for every call: a create would take "
                    f"{predicted / 1000:.0f} s of {self.deadline_ms / 1000:.0f} s"
                )
            else:
                reasons.append("provider slower for every call when last measured: one at a time")
        warns = self._live(self._warns, now, self.t.warm_for)
        foreign = False
        if warns:
            foreign = level == PressureLevel.CALM and all(w == FOREIGN_BUSY for w in warns)
            level = max(level, PressureLevel.WARM)
            if level == PressureLevel.WARM:
                reasons.extend(_summarise(warns))
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
            floor_ops=self.floor_ops,
            creates_alone=self.create_cap == 1,
            marks=self.marks,
            latency_only=congested and not marks,
            counts=dict(self.counts),
            gate=self._busy_at is not None and now - self._busy_at <= self.t.clear_after,
            delay=delay,
            foreign=foreign,
            slowed=slowed,
            # slow creates with one of ours in flight are the provider's pace, and so is a host
            # session at its connection ceiling only now and then; one held at its ceiling by
            # other work is not: the next operation of ours would wait for a connection
            at_floor=level == PressureLevel.WARM
            and not slowed
            and all(w.startswith(OUTSTANDING_AT_CEILING) for w in warns)
            and self.room_for_one_more(now),
        )


def _summarise(marks: list[str]) -> list[str]:
    """The last three distinct reasons, with how often each occurred."""
    seen: dict[str, int] = {}
    for r in marks:
        seen[r] = seen.get(r, 0) + 1
    return [f"{r} ×{n}" if n > 1 else r for r, n in list(seen.items())[-3:]]
