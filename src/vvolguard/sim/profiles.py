"""VASA provider profiles: the knobs of the simulated control plane, with named presets.

Every number here is a modelling choice; the sources and the reasoning are:

* ``session_connections`` (default 5): the ``#outstanding a/b`` ceiling vvold prints per VP
  session. 5 is the value in the Pure Storage 2019 sample (docs/evidence-formats.md §1.2, [INFERENCE] that
  it is the per-VP connection ceiling). No vendor publishes this number (§6.2), so profiles vary it.
* ``concurrency`` and ``queue_bound``: the provider's own worker pool and the queue length past
  which it answers ``VasaProviderBusy`` instead of queueing. Busy is the VP's admission-control
  signal (the OpenSDS VP trips its northbound flow control, §5.2); vendors do not publish sizes.
* ``service`` (per VASA operation, log-normal): swap-vVol creation is the slow one (KB 318662:
  "long creation times for the swap vVol"); binds and unbinds are metadata operations; getEvents
  is cheap but constant (every host and vCenter poll every 10 s, Pure KB / §5.3). The medians are
  illustrative seconds, not measurements of any product.
* ``contention``: each extra operation in service slows the others by this fraction, as an
  array management plane shares CPU and locks between requests (the runbook's "array
  management-plane latency"). It is what makes throughput flatten and latency grow under a storm.
* ``op_timeout_s`` (60 s): vvold's deadline for one VASA operation, connection wait included.
  The §1.7 reconstruction shows a TIMEOUT at ``timeElapsed=60012``.
* ``retries``/``retry_backoff_s``: transient faults (busy, timeout) are retried with doubling
  back-off and jitter (§5.3 classifies them transient); after the last retry the operation ends in
  ``FINAL FAILURE`` and the migration fails.
* ``slowdowns`` and ``background``: provider slow-down windows (a factor on service times) and
  background load (snapshot or clone storms) in seconds from the start of the simulation.

``variant(**changes)`` builds a modified copy, so a sweep or a test can explore many providers
without new presets; :data:`PROFILES` holds the named ones.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any


@dataclass(frozen=True, slots=True)
class ServiceTime:
    """Log-normal service time: ``median_s × exp(N(0, sigma))``."""

    median_s: float
    sigma: float = 0.35

    def sample(self, rng: random.Random) -> float:
        return self.median_s * math.exp(rng.gauss(0.0, self.sigma))


@dataclass(frozen=True, slots=True)
class Slowdown:
    """Between ``start_s`` and ``end_s`` every service time is multiplied by ``factor``."""

    start_s: float
    end_s: float
    factor: float


@dataclass(frozen=True, slots=True)
class BackgroundLoad:
    """A storm of other VASA work (``op``) at ``ops_per_s`` (Poisson) between two times."""

    start_s: float
    end_s: float
    ops_per_s: float
    op: str = "cloneVirtualVolume"
    label: str = "clone storm"


DEFAULT_SERVICE: Mapping[str, ServiceTime] = MappingProxyType(
    {
        "createVirtualVolume": ServiceTime(5.0, 0.4),
        "bindVirtualVolume": ServiceTime(0.8, 0.35),
        "unbindVirtualVolume": ServiceTime(0.5, 0.35),
        "deleteVirtualVolume": ServiceTime(1.2, 0.4),
        "queryVirtualVolumeInfo": ServiceTime(0.12, 0.3),
        "getEvents": ServiceTime(0.05, 0.3),
        "setContext": ServiceTime(0.3, 0.3),
        "cloneVirtualVolume": ServiceTime(6.0, 0.5),
        "snapshotVirtualVolume": ServiceTime(2.5, 0.4),
    }
)


@dataclass(frozen=True)
class ProviderProfile:
    """One VASA provider (and the vvold session settings that go with it)."""

    name: str
    description: str = ""
    session_connections: int = 5
    concurrency: int = 3
    queue_bound: int = 2
    service: Mapping[str, ServiceTime] = field(default_factory=lambda: DEFAULT_SERVICE)
    contention: float = 0.25
    op_timeout_s: float = 60.0
    retries: int = 2
    retry_backoff_s: float = 2.0
    poll_interval_s: float = 10.0
    slowdowns: tuple[Slowdown, ...] = ()
    background: tuple[BackgroundLoad, ...] = ()
    # identity, as vvold, esxcli and vCenter show it
    vp_name: str = "pure-ct0"
    vp_host: str = "pure-ct0.vvol.lab"
    vp_ip: str = "10.21.88.113"
    vp_port: int = 8084
    vp_version: str = "2.0.0"
    array_id: str = "com.purestorage:2dcf29ad-6aca-4913-b62e-a15875c6635f"
    container_name: str = "vVol_DS"
    container_uuid: str = "vvol:e0ad83893ead3681-b1b7f56a45ff64f1"
    container_vvold: str = "e0ad8389-3ead-3681-b1b7-f56a45ff64f1"  # as vvold prints it
    pe_id: str = "naa.624a93708a75393becad4e43000113e8"

    @property
    def url(self) -> str:
        """The URL vvold and esxcli show (Pure VP on TCP 8084, §1.8)."""
        return f"https://{self.vp_ip}:{self.vp_port}/vasa"

    def service_time(self, op: str) -> ServiceTime:
        return self.service.get(op) or ServiceTime(0.5)

    def slowdown_at(self, t: float) -> float:
        factor = 1.0
        for window in self.slowdowns:
            if window.start_s <= t < window.end_s:
                factor *= window.factor
        return factor

    def variant(self, name: str | None = None, **changes: Any) -> ProviderProfile:
        """A copy with ``changes`` applied; ``service`` may be a partial mapping to merge."""
        service = changes.pop("service", None)
        if service is not None:
            merged = dict(self.service)
            merged.update(service)
            changes["service"] = MappingProxyType(merged)
        return replace(self, name=name or f"{self.name}*", **changes)

    def scaled(self, speed: float, name: str | None = None) -> ProviderProfile:
        """The same provider ``speed`` times faster (service medians divided by ``speed``)."""
        service = {op: ServiceTime(st.median_s / speed, st.sigma) for op, st in self.service.items()}
        return self.variant(name or f"{self.name}x{speed:g}", service=service)


PROFILES: dict[str, ProviderProfile] = {
    "entry": ProviderProfile(
        name="entry",
        description="Small provider (2019-era appliance): 2 workers, short queue, slow swap creates.",
        concurrency=2,
        queue_bound=1,
        service=MappingProxyType({**DEFAULT_SERVICE, "createVirtualVolume": ServiceTime(6.0, 0.4)}),
    ),
    "midrange": ProviderProfile(
        name="midrange",
        description="Default: 3 workers, queue of 2, 5 s swap creates; saturates under vCenter's 8.",
    ),
    "enterprise": ProviderProfile(
        name="enterprise",
        description=(
            "Re-architected provider (higher concurrency): 8 workers, queue of 6, 8 connections, "
            "3 s swap creates."
        ),
        session_connections=8,
        concurrency=8,
        queue_bound=6,
        service=MappingProxyType({**DEFAULT_SERVICE, "createVirtualVolume": ServiceTime(3.0, 0.4)}),
    ),
}
DEFAULT_PROFILE = "midrange"


def get_profile(name: str) -> ProviderProfile:
    """A named profile; ``KeyError`` names the known ones."""
    try:
        return PROFILES[name]
    except KeyError:
        raise KeyError(f"unknown provider profile {name!r}; known: {', '.join(sorted(PROFILES))}") from None
