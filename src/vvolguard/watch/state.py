"""Per host and provider: counters, gauges, a swap-create histogram and the pressure judgement.

Parsed vvold frames (:data:`vvolguard.records.VASA_SCHEMA`) are folded here. What counts as a
no-free-connection wait or a busy fault is decided by the same expressions ``diagnose`` counts
with (``analysis.counts``), and pressure is judged with ``diagnose``'s thresholds
(``analysis.thresholds.Thresholds``) over a sliding window:

* ``SATURATED`` (2): what makes ``diagnose`` call a provider pressured (``SeriesVerdict.reasons``):
  ``pressure_events`` waits/busy faults inside ``pressure_window_seconds``, ``#outstanding`` held
  at its ceiling for ``at_ceiling_seconds``, or a createVirtualVolume p95 over ``create_p95_ms``
  (from at least ``create_min_samples`` creates) inside the window;
* ``PRESSURE`` (1): any of those signals inside the window, below its threshold, or a timeout;
* ``CALM`` (0): none.

Windows run on the hosts' log time, so a replay judges as the live incident did. A host that
stops sending still ages: its clock is its last log time plus the wall time since it was heard,
so its windows empty; after ``stale_after`` seconds it is marked stale, and after
``expire_after`` it is forgotten (bounded memory over days). Every window is capped.
"""

from __future__ import annotations

import bisect
import math
import threading
import time
from array import array
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum
from typing import Any

import polars as pl

from vvolguard.analysis.counts import CREATE_OP, PRESSURE_COUNTS, count_exprs
from vvolguard.analysis.thresholds import Thresholds
from vvolguard.records import VasaEventKind

#: Histogram bucket upper bounds for swap-vVol creation, seconds: well under a second is healthy,
#: ``create_p95_ms`` (10 s) is the pressure line, vvold's own deadline is about 60 s.
CREATE_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0)
#: Most pressure/timeout times kept per series window; the oldest are dropped first. Far above
#: ``pressure_events``; the cap only bounds memory (500 hosts x 2 providers stay under 20 MiB).
WINDOW_CAP = 1000
#: Most createVirtualVolume times kept per series for the windowed p95: the latest 512 creates
#: say what the latency is now, and a cap keeps memory and the per-evaluation sort small.
CREATES_CAP = 512
UNKNOWN_PROVIDER = "unknown"


class Pressure(IntEnum):
    CALM = 0
    PRESSURE = 1
    SATURATED = 2


class TimeWindow:
    """Times (epoch seconds), oldest first, at most ``cap``, packed as C doubles: 8 bytes a time
    instead of a float object and a deque slot (32), which for 1000 series at their caps is the
    difference between flat memory and tens of MiB. ``values`` (optional) rides along, one per
    time (a create's milliseconds)."""

    __slots__ = ("cap", "times", "values")

    def __init__(self, cap: int, with_values: bool = False) -> None:
        self.cap = cap
        self.times = array("d")
        self.values = array("d") if with_values else None

    def __len__(self) -> int:
        return len(self.times)

    def __getitem__(self, i: int) -> float:
        return self.times[i]

    def __iter__(self) -> Any:
        return iter(self.times)

    def push(self, t: float, value: float = 0.0) -> None:
        self.times.append(t)
        if self.values is not None:
            self.values.append(value)
        if len(self.times) > self.cap:
            self._drop(len(self.times) - self.cap)

    def trim(self, since: float) -> None:
        """Drop the times before ``since`` from the front (a window that slid past them)."""
        times = self.times
        n = 0
        while n < len(times) and times[n] < since:
            n += 1
        if n:
            self._drop(n)

    def _drop(self, n: int) -> None:
        del self.times[:n]
        if self.values is not None:
            del self.values[:n]


@dataclass
class Series:
    """One (host, provider) pair."""

    host: str
    provider: str
    no_free_conn: int = 0
    busy: int = 0
    timeouts: int = 0
    setcontext_failures: int = 0
    op_failures: dict[tuple[str, str], int] = field(default_factory=dict)
    outstanding: int | None = None
    ceiling: int | None = None
    ceiling_since: float | None = None  # log time the ceiling was reached (and held since)
    ceiling_last: float | None = None  # last log time still at the ceiling
    create_buckets: list[int] = field(default_factory=lambda: [0] * (len(CREATE_BUCKETS) + 1))
    create_sum: float = 0.0
    create_count: int = 0
    url: str | None = None
    pressure_ts: TimeWindow = field(default_factory=lambda: TimeWindow(WINDOW_CAP))
    timeout_ts: TimeWindow = field(default_factory=lambda: TimeWindow(WINDOW_CAP))
    creates: TimeWindow = field(default_factory=lambda: TimeWindow(CREATES_CAP, with_values=True))  # ms
    level: Pressure = Pressure.CALM
    reasons: tuple[str, ...] = ()
    p95_key: tuple[int, int] | None = None  # (creates ever, creates in window) of the cached p95
    p95: float = 0.0
    p95_max: float = 0.0


@dataclass
class Host:
    name: str
    last_log: float = 0.0  # latest log time seen (epoch seconds)
    heard: float = 0.0  # wall time it was last heard from
    first_heard: float = 0.0  # wall time it was first heard from (since it was last forgotten)
    vvold_first: float | None = None  # wall times of its first and latest vvold lines
    vvold_heard: float | None = None
    lines: int = 0
    stale: bool = False
    migration_failures: int = 0
    events: dict[str, int] = field(default_factory=dict)

    def clock(self, wall: float) -> float:
        """The host's log time now: its last line's time, aged by the wall time since."""
        return self.last_log + max(0.0, wall - self.heard)


@dataclass(frozen=True, slots=True)
class HostHeard:
    """One host's wall times (epoch seconds) for the store's heartbeat; None: never from vvold."""

    host: str
    first: float
    last: float
    first_vvold: float | None
    last_vvold: float | None


@dataclass(frozen=True, slots=True)
class Change:
    """A pressure or staleness change, for ``--json-lines``, the store and the log."""

    at: float  # wall time
    host: str
    provider: str | None
    what: str  # "pressure" or "stale"
    old: str
    new: str
    reasons: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "at": datetime.fromtimestamp(self.at).astimezone().isoformat(timespec="seconds"),
            "host": self.host,
            "provider": self.provider,
            "what": self.what,
            "old": self.old,
            "new": self.new,
            "reasons": list(self.reasons),
        }


class WatchState:
    """Everything watch knows, behind one lock (folded by the ingest thread, read by scrapes)."""

    def __init__(
        self,
        thresholds: Thresholds | None = None,
        *,
        stale_after: float = 600.0,
        expire_after: float = 86_400.0,
        max_hosts: int = 20_000,
        clock: Any = time.time,
    ) -> None:
        self.t = thresholds or Thresholds()
        self.stale_after = stale_after
        self.expire_after = expire_after
        #: most hosts kept; past it the longest silent are forgotten first (bounded memory
        #: whatever names arrive)
        self.max_hosts = max_hosts
        #: hosts forgotten, by why: "expired" (silent for expire_after), "evicted" (max_hosts)
        self.forgotten: dict[str, int] = {}
        self.clock = clock
        self.lock = threading.RLock()
        self.hosts: dict[str, Host] = {}
        self.series: dict[tuple[str, str], Series] = {}
        self.changes: deque[Change] = deque(maxlen=10_000)

    # -- folding -----------------------------------------------------------------------------

    def host(self, name: str, wall: float | None = None) -> Host:
        wall = self.clock() if wall is None else wall
        h = self.hosts.get(name)
        if h is None:
            h = self.hosts[name] = Host(name, heard=wall, first_heard=wall)
        return h

    def heard(self, name: str, lines: int, vvold: bool = False) -> None:
        """``name`` sent ``lines`` lines just now (any daemon; ``vvold``: vvold's): it is alive."""
        wall = self.clock()
        with self.lock:
            h = self.host(name, wall)
            h.heard = wall
            h.lines += lines
            if vvold:
                h.vvold_heard = wall
                if h.vvold_first is None:
                    h.vvold_first = wall
            if h.stale:
                h.stale = False
                self.changes.append(Change(wall, name, None, "stale", "stale", "receiving"))

    def heard_since(self, wall: float) -> list[HostHeard]:
        """Hosts heard at or after ``wall``, for the store's coverage heartbeat."""
        with self.lock:
            return [
                HostHeard(h.name, h.first_heard, h.heard, h.vvold_first, h.vvold_heard)
                for h in self.hosts.values()
                if h.heard >= wall
            ]

    def host_event(self, name: str, kind: str, ts: float | None, migration_failure: bool) -> None:
        with self.lock:
            h = self.host(name)
            h.events[kind] = h.events.get(kind, 0) + 1
            if migration_failure:
                h.migration_failures += 1
            if ts is not None and ts > h.last_log:
                h.last_log = ts

    def fold(self, frame: pl.DataFrame) -> None:
        """Fold one parsed frame whose ``host`` column is set."""
        if frame.height == 0:
            return
        flags = count_exprs()
        # A line without the provider's name (an ESXi 8 ``+`` continuation: ``--> Fault:
        # ...VasaProviderBusy``) belongs to the record above it, which names it.
        df = frame.select(
            "host",
            pl.col("vp").forward_fill().over("host").fill_null(UNKNOWN_PROVIDER),
            (pl.col("ts").dt.epoch("us") / 1e6).alias("t"),
            "kind",
            "op",
            "fault",
            "elapsed_ms",
            "outstanding",
            "outstanding_max",
            "url",
            flags["no_free_conn"].alias("no_free_conn"),
            flags["busy"].alias("busy"),
            flags["timeout"].alias("timeout"),
            flags["setcontext_failure"].alias("setcontext_failure"),
        ).sort("t", maintain_order=True)
        sums = df.group_by("host", "vp").agg(
            pl.col("t").max().alias("t_max"),
            pl.col("no_free_conn").sum(),
            pl.col("busy").sum(),
            pl.col("timeout").sum(),
            pl.col("setcontext_failure").sum(),
            pl.col("outstanding_max").max().alias("ceiling"),
            pl.col("url").drop_nulls().last().alias("url"),
        )
        failures = (
            df.filter(pl.col("kind") == VasaEventKind.FAILURE.value)
            .group_by("host", "vp", pl.col("op").fill_null("unknown"), pl.col("fault").fill_null("unknown"))
            .len()
        )
        pressure = df.filter(pl.any_horizontal(PRESSURE_COUNTS)).select("host", "vp", "t")
        timeouts = df.filter("timeout").select("host", "vp", "t")
        creates = df.filter(
            (pl.col("op") == CREATE_OP)
            & pl.col("kind").is_in([VasaEventKind.SUCCESS.value, VasaEventKind.FAILURE.value])
            & pl.col("elapsed_ms").is_not_null()
        ).select("host", "vp", "t", "elapsed_ms")
        levels = df.filter(pl.col("outstanding").is_not_null()).select("host", "vp", "t", "outstanding")
        with self.lock:
            for host, vp, t_max, nfc, busy, tmo, sc, ceiling, url in sums.iter_rows():
                h = self.host(host)
                if t_max is not None and t_max > h.last_log:
                    h.last_log = t_max
                if vp == UNKNOWN_PROVIDER and not (nfc or busy or tmo or sc) and ceiling is None:
                    continue  # a daemon restart header before any provider line: no series
                s = self._series(host, vp)
                s.no_free_conn += nfc
                s.busy += busy
                s.timeouts += tmo
                s.setcontext_failures += sc
                if ceiling is not None:
                    s.ceiling = max(s.ceiling or 0, ceiling)
                if url:
                    s.url = url
            for host, vp, op, fault, n in failures.iter_rows():
                key = (op, fault)
                s = self._series(host, vp)
                s.op_failures[key] = s.op_failures.get(key, 0) + n
            for host, vp, t in pressure.iter_rows():
                self._series(host, vp).pressure_ts.push(t)
            for host, vp, t in timeouts.iter_rows():
                self._series(host, vp).timeout_ts.push(t)
            for host, vp, t, ms in creates.iter_rows():
                self._create(self._series(host, vp), t, ms)
            self._fold_levels(levels)

    def _fold_levels(self, levels: pl.DataFrame) -> None:
        """Track when each series reached its ceiling and until when it held it. Only the rows
        where "at the ceiling" flips (and each series' last row) are visited in Python."""
        if levels.height == 0:
            return
        keys = levels.select("host", "vp").unique()
        ceilings = pl.DataFrame(
            [(h, v, self.series[(h, v)].ceiling) for h, v in keys.iter_rows() if (h, v) in self.series],
            schema={"host": pl.String, "vp": pl.String, "ceiling": pl.Int64},
            orient="row",
        )
        at = pl.col("outstanding") >= pl.col("ceiling")
        marked = levels.join(ceilings, on=["host", "vp"], how="left", maintain_order="left").with_columns(
            at=at.fill_null(False)
        )
        flips = marked.filter(
            (pl.col("at") != pl.col("at").shift(1).over("host", "vp")).fill_null(True)
            | (pl.int_range(pl.len()).over("host", "vp") == pl.len().over("host", "vp") - 1)
        )
        gap = self.t.at_ceiling_max_gap_seconds
        for host, vp, t, outstanding, ceiling, is_at in flips.select(
            "host", "vp", "t", "outstanding", "ceiling", "at"
        ).iter_rows():
            s = self._series(host, vp)
            s.outstanding = int(outstanding)  # the series' last row comes last
            if ceiling is None:
                continue
            if is_at:
                if s.ceiling_since is None or (s.ceiling_last is not None and t - s.ceiling_last > gap):
                    s.ceiling_since = t
                s.ceiling_last = t
            else:
                s.ceiling_since = s.ceiling_last = None

    def _series(self, host: str, vp: str) -> Series:
        s = self.series.get((host, vp))
        if s is None:
            s = self.series[(host, vp)] = Series(host, vp)
        return s

    def _create(self, s: Series, t: float, ms: float) -> None:
        sec = ms / 1000.0
        s.create_buckets[bisect.bisect_left(CREATE_BUCKETS, sec)] += 1
        s.create_sum += sec
        s.create_count += 1
        s.creates.push(t, ms)

    # -- judging -----------------------------------------------------------------------------

    def evaluate(self) -> list[Change]:
        """Re-judge every series and host now; returns (and keeps) what changed."""
        wall = self.clock()
        out: list[Change] = []
        t = self.t
        with self.lock:
            expired: set[str] = set()
            for name, h in self.hosts.items():
                idle = wall - h.heard
                if idle > self.expire_after:
                    expired.add(name)
                elif idle > self.stale_after and not h.stale:
                    h.stale = True
                    out.append(Change(wall, name, None, "stale", "receiving", "stale"))
            self._forget(expired, "expired")
            if len(self.hosts) > self.max_hosts:
                # a flood of names (a misconfigured relay, spoofed headers): the longest silent go
                by_heard = sorted(self.hosts.values(), key=lambda h: h.heard)
                self._forget({h.name for h in by_heard[: len(self.hosts) - self.max_hosts]}, "evicted")
            for s in self.series.values():
                h = self.hosts[s.host]
                level, reasons = judge(s, h.clock(wall), t)
                if level != s.level:
                    out.append(
                        Change(
                            wall,
                            s.host,
                            s.provider,
                            "pressure",
                            s.level.name.lower(),
                            level.name.lower(),
                            reasons,
                        )
                    )
                s.level, s.reasons = level, reasons
            self.changes.extend(out)
        return out

    def _forget(self, names: set[str], why: str) -> None:
        """Drop hosts and their series (one pass over the series, however many hosts go)."""
        if not names:
            return
        for name in names:
            del self.hosts[name]
        for key in [k for k in self.series if k[0] in names]:
            del self.series[key]
        self.forgotten[why] = self.forgotten.get(why, 0) + len(names)


def judge(s: Series, now: float, t: Thresholds) -> tuple[Pressure, tuple[str, ...]]:
    """The pressure of one series at log time ``now`` (see the module docstring)."""
    since = now - t.pressure_window_seconds
    s.pressure_ts.trim(since)
    s.timeout_ts.trim(since)
    s.creates.trim(since)
    saturated: list[str] = []
    signs: list[str] = []
    events = sum(1 for x in s.pressure_ts if x <= now)
    window = int(t.pressure_window_seconds)
    if events >= t.pressure_events:
        saturated.append(f"{events} no-free-connection waits/busy faults within {window} s")
    elif events:
        signs.append(f"{events} no-free-connection wait(s)/busy fault(s) within {window} s")
    if s.ceiling_since is not None and s.ceiling_last is not None:
        held = s.ceiling_last - s.ceiling_since
        if now - s.ceiling_last > t.at_ceiling_max_gap_seconds:
            s.ceiling_since = s.ceiling_last = None  # silent since: not known to hold it
        elif held >= t.at_ceiling_seconds:
            saturated.append(f"#outstanding at its ceiling {s.ceiling} for {held:.0f} s")
        else:
            signs.append(f"#outstanding at its ceiling {s.ceiling}")
    if s.creates:
        key = (s.create_count, len(s.creates))  # a new create or a trimmed old one changes it
        if key != s.p95_key:  # sorted again only when the window's creates changed
            values = sorted(s.creates.values or ())
            s.p95_key, s.p95 = key, values[max(0, math.ceil(0.95 * len(values)) - 1)]
            s.p95_max = values[-1]
        n = len(s.creates)
        if s.p95 >= t.create_p95_ms and n >= t.create_min_samples:
            saturated.append(f"createVirtualVolume p95 {s.p95 / 1000:.1f} s over {n} calls")
        elif s.p95_max >= t.create_p95_ms:
            signs.append(f"createVirtualVolume took {s.p95_max / 1000:.1f} s")
    if s.timeout_ts:
        signs.append(f"{len(s.timeout_ts)} VASA timeout(s) within {window} s")
    if saturated:
        return Pressure.SATURATED, tuple(saturated)
    if signs:
        return Pressure.PRESSURE, tuple(signs)
    return Pressure.CALM, ()
