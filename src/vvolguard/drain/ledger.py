"""Which concurrency levels ran clean: the evidence behind the operational limit a drain records.

The runbook asks for the limit that was *tested*: "If five concurrent migrations caused VASA
pressure but two ran cleanly, capture that." The peak under which some migration happened to
succeed is not that number (a drain that grew to 4, lost a migration and backed off would
record 4). So the ledger keeps, per level (migrations of ours in flight at once):

* how long that many were surely in flight (an interval between two polls in which none of
  them ended), and which migrations took part;
* whether it is *tainted*: a migration that was in flight at that level failed for a pressure
  reason, or a new congestion mark arrived while that many were
  in flight (the level held over the poll interval in which the mark appeared);
* whether it is *proven*: untainted, and at least one migration that surely ran at that level
  finished cleanly.

The recorded limit is the highest proven level below the lowest tainted level of two or more
(a mark that arrives with one migration of ours in flight says nothing about concurrency: it is
someone else's load or a sick provider, and there is nothing below one to fall back to). When
nothing bounded it, the record is a lower bound: "ran clean up to N, not probed beyond".
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from enum import StrEnum


class LimitKind(StrEnum):
    """What a recorded limit means."""

    #: A higher level caused pressure or a failure: this is the tested limit.
    BOUNDED = "bounded"
    #: Nothing ever pushed back: ran clean up to this level, not probed beyond.
    LOWER_BOUND = "lower-bound"
    #: Written by an older vvolguard: the peak under which migrations succeeded (may overstate).
    LEGACY = "legacy"


@dataclass(slots=True)
class LevelStats:
    seconds: float = 0.0
    migrations: set[str] = field(default_factory=set)
    clean_finishes: int = 0
    tainted_by: str | None = None


@dataclass(frozen=True, slots=True)
class LimitFinding:
    """The limit a drain proved, with its evidence."""

    level: int
    kind: LimitKind
    seconds: float  # time with exactly ``level`` migrations in flight
    migrations: int  # migrations that ran while ``level`` were in flight
    bound: int | None = None  # the lowest level that caused pressure (BOUNDED)
    bound_reason: str | None = None

    def describe(self) -> str:
        evidence = f"{self.migrations} migrations, {self.seconds:.0f} s at {self.level}"
        if self.kind is LimitKind.BOUNDED:
            return f"{self.level} ({evidence}); {self.bound} caused pressure: {self.bound_reason}"
        return f"ran clean up to {self.level}, not probed beyond ({evidence})"


class LevelLedger:
    """Folds the controller's ticks into per-level evidence (bounded memory: one entry per level
    up to the ceiling, one per migration in flight)."""

    def __init__(self) -> None:
        self.levels: dict[int, LevelStats] = {}
        self._level = 0
        self._since: float | None = None
        self._prev: frozenset[str] = frozenset()
        self._held: dict[str, set[int]] = {}  # levels each migration in flight truly ran at
        self._entry: dict[str, int] = {}  # the count in flight when each was submitted

    def _stats(self, level: int) -> LevelStats:
        return self.levels.setdefault(level, LevelStats())

    def observe(self, now: float, inflight: Collection[str]) -> None:
        """The migrations in flight from ``now`` until the next call (after submissions).

        The interval since the last call counts for its level only if every migration of it is
        still in flight now (*held*): our count includes migrations that ended since the last
        poll, so an interval in which one ended may have run at one less than it says."""
        current = frozenset(inflight)
        if self._since is not None and self._level and self._prev <= current:
            stats = self._stats(self._level)
            stats.seconds += max(0.0, now - self._since)
            for vm in self._prev:
                stats.migrations.add(vm)
                self._held.setdefault(vm, set()).add(self._level)
        for vm in current - self._prev:
            self._entry[vm] = len(current)
        self._since = now
        self._prev = current
        self._level = len(current)

    def finished(self, vm: str, *, ok: bool, pressure: bool, reason: str = "") -> None:
        """A migration ended. A clean finish proves the levels it held. A pressure failure
        taints the level it was submitted at (our count then is at least what the provider
        saw) and every level it held afterwards: "nothing failed while that many were in
        flight" is the definition the runbook asks for. Levels it was counted in after it had
        already ended are not its own and stay untouched."""
        held = self._held.pop(vm, set())
        entry = self._entry.pop(vm, None)
        if ok:
            for level in held:
                self._stats(level).clean_finishes += 1
        elif pressure:
            for level in sorted(held | ({entry} if entry else set())):
                self.taint(level, f"a migration failed while {level} were in flight: {reason}")

    def mark(self, reason: str) -> None:
        """A new congestion mark: taints the level that held while it arose."""
        if self._level:
            self.taint(self._level, f"pressure at {self._level} in flight: {reason}")

    def taint(self, level: int, reason: str) -> None:
        stats = self._stats(level)
        if stats.tainted_by is None:
            stats.tainted_by = reason

    def finding(self) -> LimitFinding | None:
        """The recorded limit, or ``None`` when no level was proven clean."""
        tainted = sorted(n for n, s in self.levels.items() if s.tainted_by and n >= 2)
        bound = tainted[0] if tainted else None
        proven = [
            n
            for n, s in self.levels.items()
            if not s.tainted_by and s.clean_finishes and (bound is None or n < bound)
        ]
        if not proven:
            return None
        level = max(proven)
        stats = self.levels[level]
        if bound is None:
            return LimitFinding(level, LimitKind.LOWER_BOUND, stats.seconds, len(stats.migrations))
        return LimitFinding(
            level,
            LimitKind.BOUNDED,
            stats.seconds,
            len(stats.migrations),
            bound=bound,
            bound_reason=self.levels[bound].tainted_by,
        )
