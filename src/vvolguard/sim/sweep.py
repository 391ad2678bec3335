"""The concurrency sweep: the capacity-planning answer the runbook asks admins to find by trial.

For each concurrency ``c`` the same host is drained with at most ``c`` migrations in flight
(vCenter's per-host limit raised to ``c`` when ``c`` > 8, so the question is "what if"),
against the chosen provider profile, for several seeds. Each row reports the failure rate, how
the provider queued (busy answers and their share of its answers, mean and worst wait for a
worker, waits for a free vvold connection) and the **drain time: until every VM has moved**.
The runbook's way with a failed migration is counted in it: after the wave, each failed VM is
retried alone after a cooldown (:data:`RETRY_COOLDOWN_S`), at most :data:`RETRY_ROUNDS` times, as
``vvolguard drain`` does. So failures cost time, as they do at 3 a.m.; a drain time that only
measured the first wave fell as failures rose, because a failed migration ends early.

A concurrency is **sustained** when, for every seed, no migration failed and the provider
answered busy to at most :data:`SUSTAINED_BUSY_SHARE` of its requests (``busy_share_limit``): one
busy answer is VASA flow control, a steady share of them is the queue being full, which the
diagnosis calls pressure. The **knee** is the highest concurrency up to which every level is
sustained: the runbook's "document the operational limit you observed", found in seconds instead
of during a maintenance window.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

from vvolguard.sim.profiles import ProviderProfile, get_profile
from vvolguard.sim.vcenter import DEFAULT_HOST_LIMIT, MigrationResult
from vvolguard.sim.world import CountingEnvironment, build_world, evacuate

#: Share of the provider's answers that may be PROVIDER_BUSY at a sustained concurrency. Busy is
#: VASA flow control: an occasional one is normal, but at 2% the provider is turning work away
#: every few dozen requests, which vvold logs as pressure (the analysis's ``pressure_events``
#: threshold is met within minutes at that rate).
SUSTAINED_BUSY_SHARE = 0.02
#: Seconds before a failed VM's lone retry (``vvolguard drain --cooldown``'s default).
RETRY_COOLDOWN_S = 120.0
#: Lone retries per failed VM before it is left on the host (as ``vvolguard drain`` does).
RETRY_ROUNDS = 2


@dataclass(frozen=True, slots=True)
class SweepRow:
    concurrency: int
    migrations: int  # VMs to move (all seeds)
    failed: int  # migrations of the wave that failed (all seeds)
    drain_s: float  # mean over seeds: until every VM moved, lone retries after a cooldown included
    busy: int  # provider busy answers (all seeds)
    conn_waits: int  # waits for a free vvold connection on the source (all seeds)
    timeouts: int
    mean_queue_wait_s: float
    max_queue_wait_s: float
    max_queue: int
    requests: int = 0  # requests the provider answered (all seeds)
    left: int = 0  # VMs still on the host after every retry (all seeds)
    busy_share_limit: float = SUSTAINED_BUSY_SHARE

    @property
    def failure_rate(self) -> float:
        return self.failed / self.migrations if self.migrations else 0.0

    @property
    def busy_share(self) -> float:
        """Share of the provider's answers that were PROVIDER_BUSY."""
        return self.busy / self.requests if self.requests else 0.0

    @property
    def sustained(self) -> bool:
        """No failed migration and busy answers within ``busy_share_limit`` (see module doc)."""
        return self.failed == 0 and self.busy_share <= self.busy_share_limit

    @property
    def verdict(self) -> str:
        """``sustained``, ``pressured`` (no failure, too many busy answers) or ``failing``."""
        if self.failed:
            return "failing"
        return "sustained" if self.sustained else "pressured"


@dataclass
class SweepResult:
    profile: ProviderProfile
    rows: list[SweepRow] = field(default_factory=list)
    seeds: tuple[int, ...] = ()
    vms: int = 0

    @property
    def knee(self) -> int | None:
        """Highest concurrency sustained at it and every lower one (None if 1 is not)."""
        best = None
        for row in sorted(self.rows, key=lambda r: r.concurrency):
            if not row.sustained:
                break
            best = row.concurrency
        return best


def parse_concurrency(text: str) -> list[int]:
    """``"1..16"``, ``"1-16"``, ``"2,4,8"``, ``"8"``, or a mix (``"1..4,8,16"``)."""
    values: set[int] = set()
    for part in text.replace(" ", "").split(","):
        if not part:
            continue
        sep = ".." if ".." in part else ("-" if "-" in part[1:] else None)
        if sep:
            low, high = (int(x) for x in part.split(sep, 1))
            if low > high:
                low, high = high, low
            values.update(range(low, high + 1))
        else:
            values.add(int(part))
    if not values or min(values) < 1:
        raise ValueError(f"concurrency must be positive integers, got {text!r}")
    return sorted(values)


def run_one(profile: ProviderProfile, concurrency: int, seed: int, hosts: int, vms_per_host: int) -> dict:
    env = CountingEnvironment()
    world = build_world(
        env,
        profile,
        hosts=hosts,
        vms=hosts * vms_per_host,
        seed=seed,
        host_limit=max(DEFAULT_HOST_LIMIT, concurrency),
        keep_records=False,
    )
    source = world.hosts[0]
    start = env.now
    proc = evacuate(world, source, concurrency=concurrency)
    env.run(until=proc)
    results = cast("list[MigrationResult]", proc.value)  # evacuate's process value
    done_at = max((r.finished_at or start for r in results), default=start)
    # The runbook's retry: each VM still on the host alone, after a cooldown, a bounded number
    # of times; the drain is over when the host is empty (or the retries are spent).
    for _round in range(RETRY_ROUNDS):
        if not world.vms_on(source):
            break
        env.run(until=env.now + RETRY_COOLDOWN_S)
        retry = evacuate(world, source, concurrency=1)
        env.run(until=retry)
        retried = cast("list[MigrationResult]", retry.value)
        done_at = max((r.finished_at or env.now for r in retried), default=env.now)
    stats = world.provider.stats
    return {
        "migrations": len(results),
        "failed": sum(not r.ok for r in results),
        "drain_s": done_at - start,
        "left": len(world.vms_on(source)),
        "requests": stats.requests,
        "busy": stats.busy,
        "conn_waits": world.pressure(source).conn_waits,
        "timeouts": sum(world.pressure(h).timeouts for h in world.hosts),
        "queue_wait_total": stats.queue_wait_total,
        "completed": stats.completed,
        "max_queue_wait_s": stats.queue_wait_max,
        "max_queue": stats.queue_len_max,
    }


def sweep(
    profile: str | ProviderProfile = "midrange",
    concurrency: Iterable[int] = range(1, 17),
    seeds: Sequence[int] = (1, 2, 3),
    hosts: int = 8,
    vms_per_host: int = 24,
    busy_share_limit: float = SUSTAINED_BUSY_SHARE,
) -> SweepResult:
    """Drain one host at each concurrency, for each seed; one :class:`SweepRow` per concurrency.

    ``busy_share_limit``: the share of busy answers a sustained concurrency may see (module doc)."""
    prof = profile if isinstance(profile, ProviderProfile) else get_profile(profile)
    result = SweepResult(prof, seeds=tuple(seeds), vms=vms_per_host)
    for c in sorted(set(concurrency)):
        runs = [run_one(prof, c, seed, hosts, vms_per_host) for seed in seeds]
        completed = sum(r["completed"] for r in runs)
        result.rows.append(
            SweepRow(
                concurrency=c,
                migrations=sum(r["migrations"] for r in runs),
                failed=sum(r["failed"] for r in runs),
                drain_s=statistics.fmean(r["drain_s"] for r in runs),
                busy=sum(r["busy"] for r in runs),
                conn_waits=sum(r["conn_waits"] for r in runs),
                timeouts=sum(r["timeouts"] for r in runs),
                mean_queue_wait_s=sum(r["queue_wait_total"] for r in runs) / completed if completed else 0.0,
                max_queue_wait_s=max(r["max_queue_wait_s"] for r in runs),
                max_queue=max(r["max_queue"] for r in runs),
                requests=sum(r["requests"] for r in runs),
                left=sum(r["left"] for r in runs),
                busy_share_limit=busy_share_limit,
            )
        )
    return result


def plot(result: SweepResult, path: Path) -> Path:
    """Failure rate and drain time against concurrency, the knee marked; PNG/SVG/PDF by suffix."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs = [r.concurrency for r in result.rows]
    fig, ax = plt.subplots(figsize=(7, 4), dpi=120)
    ax.bar(
        xs,
        [100 * r.failure_rate for r in result.rows],
        color="#c0392b",
        alpha=0.75,
        label="failed migrations (%)",
    )
    ax.set_xlabel("migrations in flight from one host")
    ax.set_ylabel("failed migrations (%)")
    ax.set_xticks(xs)
    ax2 = ax.twinx()
    ax2.plot(
        xs,
        [r.drain_s / 60 for r in result.rows],
        color="#2c3e50",
        marker="o",
        label="drain time until every VM moved, retries included (min)",
    )
    ax2.set_ylabel("drain time (min)")
    if result.knee is not None:
        ax.axvline(result.knee + 0.5, color="#27ae60", linestyle="--", label=f"sustained up to {result.knee}")
    handles = ax.get_legend_handles_labels()[0] + ax2.get_legend_handles_labels()[0]
    ax.legend(handles=handles, loc="upper left", fontsize=8)
    ax.set_title(f"Concurrency sweep: provider profile '{result.profile.name}' ({len(result.seeds)} seeds)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, metadata={"Software": None} if path.suffix.lower() == ".png" else None)
    plt.close(fig)
    return path
