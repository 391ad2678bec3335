"""setContext, transport and SSL failures, vvold's and vCenter's own (sps.log): inside a VASA
pressure storm or outside one.

Such failures are never "healthy". Outside a storm they are registration, trust or availability
evidence (the provider cannot be reached or not trusted). Inside one they are the storm itself:
KB 412434 describes every host re-running setContext at once against a provider that was restarted
or overloaded, the provider timing out TCP/SSL connects and returning malformed faults. The
saturation finding then names them as that storm instead of a second, registration, problem.

vCenter's provider failures count only while open at the failure window: a failure followed by
the provider coming back online before the incident explains nothing about it.
"""

from __future__ import annotations

import bisect
from datetime import datetime
from typing import TYPE_CHECKING

from vvolguard.records import ProviderEvent, ProviderEventKind

if TYPE_CHECKING:
    from vvolguard.analysis.facts import Facts
    from vvolguard.analysis.signals import SignalAccumulator
    from vvolguard.analysis.thresholds import Thresholds

#: Provider events from vCenter's side that are trust failures in themselves (not a timeout).
TRUST_EVENTS = frozenset({ProviderEventKind.CERTIFICATE, ProviderEventKind.SSL})
#: Provider events that say the provider could not be reached or kept in sync.
OUTAGE_EVENTS = frozenset(
    {
        ProviderEventKind.SETCONTEXT_FAILURE,
        ProviderEventKind.TRANSPORT,
        ProviderEventKind.SYNC_FAILURE,
        ProviderEventKind.OFFLINE,
    }
)


def split_connection_failures(
    f: Facts, signals: SignalAccumulator, provider_events: list[ProviderEvent], t: Thresholds
) -> None:
    """Fill ``f.conn_inside``/``f.conn_outside`` (vvold lines, counted from the timeline
    buckets) and ``f.sps_trust``/``f.sps_outage_inside``/``f.sps_outage_outside``. "Inside" means
    within ``pressure_window_seconds`` of a bucket with waits or busy answers of a pressured
    (host, provider) series: the provider is shared, so a transport timeout on one host during
    another host's storm is the same storm."""
    width = signals.bucket_seconds
    cells = signals.cells if signals.series else {}
    pressured = {(sv.stats.host or "", sv.stats.vp) for sv in f.pressured}
    pressure_times = sorted(
        b
        for (h, vp, b), c in cells.items()
        if ((h, vp or "(unknown)") in pressured or (h, vp) in pressured)
        and (c.counts["no_free_conn"] or c.counts["busy"])
    )

    def in_storm(epoch: float) -> bool:
        i = bisect.bisect_left(pressure_times, epoch - t.pressure_window_seconds - width)
        return i < len(pressure_times) and pressure_times[i] <= epoch + t.pressure_window_seconds

    for (_h, _vp, b), c in cells.items():
        # a DoSetContext line with TRANSPORT_FAULT counts as both kinds: take it once
        n = max(c.counts["setcontext_failure"], c.counts["transport"]) + c.counts["ssl"]
        if not n:
            continue
        if in_storm(b):
            f.conn_inside += n
        else:
            f.conn_outside += n
    for event in open_provider_events(provider_events, f.window):
        if event.kind in TRUST_EVENTS:
            f.sps_trust.append(event)
        elif event.kind in OUTAGE_EVENTS:
            inside = in_storm(event.ts.timestamp())
            (f.sps_outage_inside if inside else f.sps_outage_outside).append(event)


def open_provider_events(
    events: list[ProviderEvent], window: tuple[datetime, datetime] | None
) -> list[ProviderEvent]:
    """vCenter's provider failures that were still open at the failure window: not after its
    end, and not followed by the provider coming back online before it began."""
    ordered = sorted(events, key=lambda e: (e.ts, e.citation.file, e.citation.line or 0))
    if window is None:
        return [e for e in ordered if e.kind != ProviderEventKind.ONLINE]
    online: dict[str, list[datetime]] = {}
    for e in ordered:
        if e.kind == ProviderEventKind.ONLINE:
            online.setdefault(_provider_key(e), []).append(e.ts)
    out = []
    for e in ordered:
        if e.kind == ProviderEventKind.ONLINE or e.ts > window[1]:
            continue
        if any(e.ts < when <= window[0] for when in online.get(_provider_key(e), [])):
            continue
        out.append(e)
    return out


def _provider_key(event: ProviderEvent) -> str:
    return (event.provider or event.url or "").lower()
