"""Every number the analysis judges by, with a name, a default and the reason for the default.

The runbook warns that VASA limits are vendor- and version-specific ("do not generalize the
provider connection count from one environment to all environments"), so none of these numbers is
a law: each one can be overridden by name (``Thresholds.from_overrides({"storm_in_flight": 6})``)
and every Diagnosis records the values it was judged with.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any


def _t(default: float, why: str) -> Any:
    """A threshold field: the default plus a one-sentence WHY kept next to it."""
    return field(default=default, metadata={"why": why})


@dataclass(frozen=True)
class Thresholds:
    """Named thresholds. See :meth:`explain` for the reasons, shown in reports."""

    pressure_events: int = _t(
        3,
        "One PROVIDER_BUSY or one wait for a connection that succeeds on retry is normal VASA "
        "flow control; three or more no-free-connection waits or busy faults inside one window "
        "means the pool was exhausted repeatedly, the KB 318662 signature.",
    )
    pressure_window_seconds: float = _t(
        300,
        "vMotions of one maintenance-mode wave overlap within a few minutes, so pressure events "
        "that belong to the same storm fall inside five minutes of each other.",
    )
    at_ceiling_seconds: float = _t(
        30,
        "vvold reaching #outstanding n/n for an instant is harmless; holding the ceiling for 30 s "
        "is longer than a healthy create/bind takes and means requests are queueing behind it.",
    )
    at_ceiling_max_gap_seconds: float = _t(
        30,
        "Time at the ceiling is measured between consecutive log lines; a silent gap longer than "
        "this is not counted, so a quiet log after one 5/5 line cannot add hours.",
    )
    create_p95_ms: float = _t(
        10_000,
        "Swap vVol creation normally takes well under a second; a p95 of 10 s is an order of "
        "magnitude slower and already eats a large part of vMotion's 100 s switchover budget.",
    )
    create_min_samples: int = _t(
        5,
        "A p95 from fewer than five createVirtualVolume timings is one or two slow calls, not "
        "a latency distribution.",
    )
    storm_in_flight: int = _t(
        4,
        "vCenter admits up to 8 vMotions per host while the 2019 vvold sample shows a per-VP "
        "ceiling of 5 outstanding calls; 4 or more migrations in flight from one source host is "
        "where each needing several VASA calls starts to exceed that ceiling.",
    )
    nearby_window_seconds: float = _t(
        300,
        "Signals within five minutes before or after a failed migration are close enough to be "
        "part of the same operation (swap create, bind, switchover all happen in that span).",
    )
    transport_events: int = _t(
        3,
        "A single transport error is a network blip; three or more setContext/transport "
        "failures without VASA pressure point at provider availability or registration.",
    )
    cert_soft_limit_days: float = _t(
        182,
        "KB 323232: vCenter raises the yellow soft-limit alarm when a VASA provider certificate "
        "expires within 6 months.",
    )
    cert_hard_limit_days: float = _t(
        30,
        "KB 323232: vCenter raises the red hard-limit alarm when a VASA provider certificate "
        "expires within 1 month.",
    )
    coverage_margin_seconds: float = _t(
        300,
        "The pressure that fails a migration builds up within one pressure window before the "
        "failure (the swap-vVol create at its start, the waits and busy answers), so a conclusion "
        "from absence needs host evidence from five minutes before the first failure to the last.",
    )
    coverage_gap_seconds: float = _t(
        900,
        "vvold polls every provider with getEvents every 10 s, and rotated files abut, so two "
        "files of one host more than 15 minutes apart mean a file in between was not given.",
    )
    snapshot_max_age_seconds: float = _t(
        86400,
        "Provider registration and PE presentation change by an admin's hand, not by the minute: "
        "an esxcli output taken within a day after the failures (vm-support is usually run the "
        "same day) shows the state they ran in; a later one may show a state fixed or broken since.",
    )
    task_join_tolerance_seconds: float = _t(
        3,
        "Exports of one migration disagree on its start by the rounding of their clocks (the "
        "vSphere Client CSV keeps whole seconds) and the lag between a task and its first event; "
        "one VM cannot start two migrations within 3 s (the first must have failed first).",
    )
    host_admission_limit: int = _t(
        8,
        "vCenter's cost model admits at most 8 vMotions per host (max cost 16, cost 2 each, "
        "KB 326281) and queues the rest; more 'in flight' in the evidence are queued tasks or "
        "copies of one task, never concurrent migrations.",
    )
    maintenance_overlap_seconds: float = _t(
        3600,
        "An 'Enter maintenance mode' task or event without an end still drives its evacuation "
        "for up to an hour on a busy host; a failed migration starting in that span came from "
        "that host.",
    )
    timeline_max_points: int = _t(
        2000,
        "A plot or table with more than about 2000 points per series shows nothing more to a "
        "person and only grows the report; buckets widen to stay under it.",
    )
    exemplars_per_kind: int = _t(
        5,
        "A few quoted lines per host, provider and kind of signal are enough to prove a finding; "
        "keeping more would make memory grow with the log.",
    )

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    @classmethod
    def from_overrides(cls, overrides: dict[str, Any] | None = None) -> Thresholds:
        """Defaults with some values replaced by name; unknown names or non-numbers are refused
        with a message listing the valid names, so a typo never silently does nothing."""
        return cls().with_overrides(overrides or {})

    def with_overrides(self, overrides: dict[str, Any]) -> Thresholds:
        known = {f.name: f for f in fields(self)}
        changes: dict[str, Any] = {}
        for name, value in overrides.items():
            key = name.replace("-", "_")
            if key not in known:
                raise ValueError(f"unknown threshold {name!r}; valid names: {', '.join(sorted(known))}")
            kind = int if isinstance(getattr(self, key), int) else float
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise ValueError(f"threshold {name!r} needs a number, got {value!r}") from None
            if number < 0:
                raise ValueError(f"threshold {name!r} must not be negative, got {value!r}")
            if kind is int and number != int(number):
                raise ValueError(f"threshold {name!r} needs a whole number, got {value!r}")
            changes[key] = kind(number)
        return replace(self, **changes)

    def as_dict(self) -> dict[str, float]:
        """The values as recorded in ``Diagnosis.thresholds``."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def explain(cls) -> dict[str, str]:
        """Threshold name -> why its default is what it is."""
        return {f.name: f.metadata["why"] for f in fields(cls)}
