"""Provider profiles for simulated drains and the drain-policy benchmark.

The named presets of ``vvolguard.sim.profiles`` plus variants that span what the issue asks the
benchmark to cover: connection ceilings (vvold session connections, provider workers and queue),
service times (faster and slower providers), background load (clone and snapshot storms) and a
provider that slows down halfway through the drain. Built with ``profile.variant``/``scaled``
so there is one simulator and one model, only different knobs.
"""

from __future__ import annotations

from vvolguard.sim.profiles import PROFILES, BackgroundLoad, ProviderProfile, Slowdown, get_profile


def _variants() -> dict[str, ProviderProfile]:
    mid = get_profile("midrange")
    entry = get_profile("entry")
    ent = get_profile("enterprise")
    storm = (BackgroundLoad(0.0, 1e9, 0.25, "cloneVirtualVolume", "clone storm"),)
    snaps = (BackgroundLoad(0.0, 1e9, 0.6, "snapshotVirtualVolume", "snapshot schedule"),)
    out = [
        entry,
        mid,
        ent,
        mid.variant("tiny-pool", session_connections=2, concurrency=2, queue_bound=1),
        mid.variant("pool-3", session_connections=3, concurrency=3, queue_bound=2),
        mid.variant("pool-4", session_connections=4, concurrency=4, queue_bound=3),
        mid.variant("pool-6", session_connections=6, concurrency=6, queue_bound=5),
        mid.variant("workers-1", concurrency=1, queue_bound=3),
        mid.variant("workers-2-deep-queue", concurrency=2, queue_bound=8),
        mid.variant("no-queue", concurrency=4, queue_bound=0),
        mid.scaled(2.0, "fast-midrange"),
        mid.scaled(0.5, "slow-midrange"),
        entry.scaled(0.5, "slow-entry"),
        ent.scaled(2.0, "fast-enterprise"),
        mid.variant("high-contention", contention=0.6),
        mid.variant("no-contention", contention=0.0),
        mid.variant("clone-storm", background=storm),
        ent.variant("enterprise-snapshots", background=snaps),
        mid.variant("slows-down-halfway", slowdowns=(Slowdown(150.0, 1e9, 3.0),)),
        ent.variant("enterprise-slows-down-halfway", slowdowns=(Slowdown(90.0, 1e9, 4.0),)),
        mid.variant("brownout", slowdowns=(Slowdown(60.0, 240.0, 5.0),)),
        mid.variant("short-timeout", op_timeout_s=30.0),
        mid.variant("no-retries", retries=0),
        ent.variant(
            "enterprise-big-swap",
            service={"createVirtualVolume": get_profile("midrange").service["createVirtualVolume"]},
        ),
    ]
    return {p.name: p for p in out}


DRAIN_PROFILES: dict[str, ProviderProfile] = _variants()


def resolve_profile(name: str) -> ProviderProfile:
    """A benchmark profile or a simulator preset by name; ``KeyError`` lists the known ones."""
    if name in DRAIN_PROFILES:
        return DRAIN_PROFILES[name]
    if name in PROFILES:
        return PROFILES[name]
    known = sorted(set(DRAIN_PROFILES) | set(PROFILES))
    raise KeyError(f"unknown provider profile {name!r}; known: {', '.join(known)}")
