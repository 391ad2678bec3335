"""The hosts' vMotion network: memory pre-copies share each host's link while they run.

A host's vMotion vmknic carries every pre-copy it sends or receives at once, and TCP shares its
bandwidth between them as they come and go: when one transfer ends, the others speed up. Each
transfer gets an equal share of the busier of its two links (the source's and the
destination's), and never more than one vMotion stream can push; the shares are recomputed
whenever a transfer starts or ends (processor sharing), so a large VM that starts while seven
others run is not stuck at an eighth of the link after they finish.

The link speed and the per-vMotion stream cap are :mod:`vvolguard.sim.migration`'s
``LINK_GBPS`` and ``STREAM_GBPS``; only pre-copies are counted here (a migration still in its
VASA steps or its switchover sends nothing over the link).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

import simpy

#: Gigabits left below which a transfer counts as done (float rounding of rate × time).
_DONE_GBIT = 1e-9


@dataclass(eq=False, slots=True)
class _Transfer:
    source: str
    dest: str
    left_gbit: float
    rate_gbps: float = 0.0
    changed: simpy.Event | None = field(default=None, repr=False)


class VmotionNetwork:
    """Per-host vMotion links shared by the transfers that use them at each moment."""

    def __init__(self, env: simpy.Environment, link_gbps: float, stream_gbps: float) -> None:
        self.env = env
        self.link_gbps = link_gbps
        self.stream_gbps = stream_gbps
        self._active: list[_Transfer] = []
        self._since = float(env.now)

    def transfers_on(self, host: str) -> int:
        """Pre-copies sent or received by ``host`` right now."""
        return sum(1 for t in self._active if host in (t.source, t.dest))

    def transfer(self, source: str, dest: str, gbit: float) -> Generator[Any, Any, None]:
        """A SimPy process: send ``gbit`` gigabits from ``source`` to ``dest``; ends when done."""
        me = _Transfer(source, dest, max(0.0, gbit))
        self._settle()
        self._active.append(me)
        self._reshare()
        try:
            while me.left_gbit > _DONE_GBIT:
                me.changed = self.env.event()
                yield self.env.any_of([self.env.timeout(me.left_gbit / me.rate_gbps), me.changed])
                self._settle()
        finally:
            self._settle()
            self._active.remove(me)
            self._reshare()

    def _settle(self) -> None:
        """Count what every transfer sent at its current rate since the last change."""
        now = float(self.env.now)
        elapsed = now - self._since
        if elapsed > 0:
            for t in self._active:
                t.left_gbit = max(0.0, t.left_gbit - t.rate_gbps * elapsed)
        self._since = now

    def _reshare(self) -> None:
        """New rates for everyone after a start or an end; wake the others to re-plan."""
        load = Counter[str]()
        for t in self._active:
            load[t.source] += 1
            load[t.dest] += 1
        for t in self._active:
            busier = max(load[t.source], load[t.dest])
            rate = min(self.stream_gbps, self.link_gbps / busier)
            if rate != t.rate_gbps:
                t.rate_gbps = rate
                if t.changed is not None and not t.changed.triggered:
                    t.changed.succeed()
