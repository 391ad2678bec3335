"""``/metrics``: the watch state as Prometheus metrics (prometheus-client).

A custom collector renders the state at scrape time, so a host that is forgotten
(``WatchState.expire_after``) disappears from the output instead of being kept forever, and the
counters are exactly the folded totals (N lines in, N counted). Names and labels are documented
in the README (``watch`` section); ``host`` is the sending ESXi host from the syslog header,
``provider`` the VASA provider as vvold names it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry

from vvolguard.watch.ingest import Ingest
from vvolguard.watch.state import CREATE_BUCKETS, WatchState

HP = ["host", "provider"]


class WatchCollector(Collector):
    def __init__(
        self, state: WatchState, ingest: Ingest, extra: Any = None, vcenters: list[Any] | None = None
    ) -> None:
        self.state = state
        self.ingest = ingest
        self.extra = extra  # optional collector of its own (certificates)
        #: ``--vcenter`` pollers (``watch.vcenter.VCenterWatch``); the list may grow after start
        self.vcenters = vcenters if vcenters is not None else []

    def collect(self) -> Iterator[Any]:
        nfc = CounterMetricFamily(
            "vvolguard_vasa_no_free_connection_waits",
            "Waits of vvold for a free connection to the provider ('No free connections to VP', KB 318662).",
            labels=HP,
        )
        busy = CounterMetricFamily(
            "vvolguard_vasa_provider_busy",
            "PROVIDER_BUSY answers and busy faults from the VASA provider.",
            labels=HP,
        )
        timeouts = CounterMetricFamily(
            "vvolguard_vasa_timeouts", "VASA operations that timed out (TIMEOUT / TimedOut).", labels=HP
        )
        fails = CounterMetricFamily(
            "vvolguard_vasa_op_failures",
            "VASA operations that ended in FINAL FAILURE, by operation and fault code.",
            labels=[*HP, "op", "fault"],
        )
        setctx = CounterMetricFamily(
            "vvolguard_vasa_setcontext_failures",
            "Failed setContext calls (provider registration, transport or trust).",
            labels=HP,
        )
        outstanding = GaugeMetricFamily(
            "vvolguard_vasa_outstanding",
            "vvold's outstanding requests to the provider, last seen.",
            labels=HP,
        )
        ceiling = GaugeMetricFamily(
            "vvolguard_vasa_outstanding_ceiling",
            "vvold's ceiling of outstanding requests to the provider (the n/MAX of #outstanding).",
            labels=HP,
        )
        pressure = GaugeMetricFamily(
            "vvolguard_vasa_pressure",
            "0 calm, 1 pressure, 2 saturated: judged with diagnose's thresholds over its window.",
            labels=HP,
        )
        create = HistogramMetricFamily(
            "vvolguard_vasa_swap_create_seconds",
            "createVirtualVolume time (swap vVol creation during vMotion), seconds.",
            labels=HP,
        )
        mig = CounterMetricFamily(
            "vvolguard_migration_failures",
            "vMotions that failed on this source host: source=hostd from its '[MIGRATE] ... vMotion "
            "failed' line, source=vcenter from vCenter's VmFailedMigrateEvent.",
            labels=["host", "source"],
        )
        events = CounterMetricFamily(
            "vvolguard_host_events",
            "hostd/vmkernel/vobd events diagnose also reads (PE path, container offline, switchover...).",
            labels=["host", "kind"],
        )
        stale = GaugeMetricFamily(
            "vvolguard_host_stale", "1 when the host has sent nothing for the stale period.", labels=["host"]
        )
        last = GaugeMetricFamily(
            "vvolguard_host_last_seen_timestamp_seconds",
            "When the host was last heard from.",
            labels=["host"],
        )
        with self.state.lock:
            for (host, vp), s in self.state.series.items():
                labels = [host, vp]
                nfc.add_metric(labels, s.no_free_conn)
                busy.add_metric(labels, s.busy)
                timeouts.add_metric(labels, s.timeouts)
                setctx.add_metric(labels, s.setcontext_failures)
                for (op, fault), n in s.op_failures.items():
                    fails.add_metric([*labels, op, fault], n)
                if s.outstanding is not None:
                    outstanding.add_metric(labels, s.outstanding)
                if s.ceiling is not None:
                    ceiling.add_metric(labels, s.ceiling)
                pressure.add_metric(labels, int(s.level))
                if s.create_count:
                    cum, buckets = 0, []
                    for bound, n in zip((*CREATE_BUCKETS, float("inf")), s.create_buckets, strict=True):
                        cum += n
                        buckets.append(("+Inf" if bound == float("inf") else f"{bound:g}", cum))
                    create.add_metric(labels, buckets, s.create_sum)
            for name, h in self.state.hosts.items():
                mig.add_metric([name, "hostd"], h.migration_failures)
                for kind, n in h.events.items():
                    events.add_metric([name, kind], n)
                stale.add_metric([name], 1 if h.stale else 0)
                last.add_metric([name], h.heard)
        for vc in self.vcenters:
            for host, n in vc.failures():
                mig.add_metric([host, "vcenter"], n)
        yield from (nfc, busy, timeouts, fails, setctx, outstanding, ceiling, pressure, create, mig, events)
        forgotten = CounterMetricFamily(
            "vvolguard_hosts_forgotten",
            "Hosts dropped from memory: expired (silent for --expire-after) or evicted (over the host cap).",
            labels=["reason"],
        )
        for why, n in sorted(self.state.forgotten.items()):
            forgotten.add_metric([why], n)
        yield from (stale, last, forgotten)
        lines = CounterMetricFamily(
            "vvolguard_ingest_lines",
            "Messages and file lines received, by transport and daemon.",
            labels=["transport", "daemon"],
        )
        for (transport, daemon), n in sorted(self.ingest.lines.items()):
            lines.add_metric([transport, daemon], n)
        errors = CounterMetricFamily(
            "vvolguard_ingest_errors",
            "Input refused: binary, malformed, oversized, rate-limited, tls-handshake, overload.",
            labels=["reason"],
        )
        for reason, n in sorted(self.ingest.errors.items()):
            errors.add_metric([reason], n)
        dropped = CounterMetricFamily(
            "vvolguard_syslog_dropped",
            "Syslog messages received but dropped unread (overload or rate limit).",
        )
        dropped.add_metric(
            [], self.ingest.errors.get("overload", 0) + self.ingest.errors.get("rate-limited", 0)
        )
        cut = CounterMetricFamily(
            "vvolguard_syslog_truncated", "Messages the sender cut to its maximum length (ESXi msgModified)."
        )
        cut.add_metric([], self.ingest.truncated)
        pending = GaugeMetricFamily("vvolguard_ingest_pending_lines", "Lines received and not yet parsed.")
        pending.add_metric([], self.ingest.pending)
        yield from (lines, errors, dropped, cut, pending)
        if self.extra is not None:
            yield from self.extra.collect()
        if self.vcenters:
            from vvolguard.watch.vcenter import collect

            yield from collect(self.vcenters)


def registry_for(
    state: WatchState, ingest: Ingest, extra: Any = None, vcenters: list[Any] | None = None
) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(WatchCollector(state, ingest, extra, vcenters))
    return registry
