"""Where each VM goes: one rule for the drain and its dry run.

A plan is only worth reading if it is what the drain will do. The drain places a VM on the
least loaded destination, counting the moves it has in flight there; the dry run has nothing in
flight, so it counts the moves it has planned instead (``Backend.pick_destination(planned=)``).
With the same inventory and no pressure, both give every VM the same destination.

Destinations carry pressure too: the swap vVol is created by the destination host's vvold, so a
destination whose vvold.log shows pressure (``PressureMonitor.host_level``) gets no new move
while a calmer destination can take it. Only hosts whose log is tailed can show pressure; the
others count as calm, which is what the dry run assumes for every host.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence

from vvolguard.drain.backends.base import Backend, VmRef
from vvolguard.drain.signal import PressureLevel


class Placement:
    """Chooses destinations among ``targets`` with CheckRelocate as the gate."""

    def __init__(
        self,
        backend: Backend,
        targets: Sequence[str],
        pressure: Callable[[str], PressureLevel] | None = None,
    ) -> None:
        self.backend = backend
        self.targets = list(targets)
        self.pressure = pressure
        #: Moves planned so far (dry run only: the real run's moves are in flight in the backend).
        self.planned: Counter[str] = Counter()
        #: Choices that skipped a destination for its pressure (for the progress line and tests).
        self.diverted = 0

    def _tiers(self, candidates: list[str]) -> list[list[str]]:
        """Candidates grouped calm first, then WARM, then CONGESTED."""
        if self.pressure is None:
            return [candidates]
        by: dict[PressureLevel, list[str]] = {}
        for c in candidates:
            by.setdefault(self.pressure(c), []).append(c)
        return [by[level] for level in sorted(by)]

    def choose(self, vm: VmRef, *, plan: bool = False) -> tuple[str | None, list[str]]:
        """The first destination CheckRelocate accepts, trying the backend's pick among the
        calmest destinations first; else ``None`` and every problem seen (the VM is then left in
        place and reported). ``plan=True`` counts the choice as a planned move."""
        candidates = list(self.targets)
        problems: list[str] = []
        while candidates:
            tier = self._tiers(candidates)[0]
            dest = self.backend.pick_destination(vm, tier, self.planned if plan else None)
            found = self.backend.check_relocate(vm, dest)
            if not found:
                if plan:
                    self.planned[dest] += 1
                if len(tier) < len(candidates):
                    # Count it only if the pressure changed the choice.
                    unpressured = self.backend.pick_destination(
                        vm, candidates, self.planned if plan else None
                    )
                    self.diverted += unpressured != dest
                return dest, []
            problems.extend(f"{dest}: {p}" for p in found)
            candidates.remove(dest)
        return None, problems
