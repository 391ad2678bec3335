"""The fleet tables, built from the per-file summaries on the client.

Every table is sorted on its key columns and holds no run-dependent value (no wall time, no
worker name), so one estate gives the same Parquet content whether it was read in one process,
on the embedded cluster or on the user's Dask cluster.

* ``buckets``: per host × provider × 5-minute bucket: waits for a free connection, busy answers,
  timeouts, failures, setContext failures, transport faults, the most ``#outstanding`` and the
  ceiling, and ``createVirtualVolume`` latency quantiles (from merged log-bucket histograms).
* ``migrations``: every migration task vCenter exported (deduplicated across exports).
* ``storms``: per source host, each run of migrations in flight: its peak concurrency and the
  pressure the source host's vvold showed meanwhile (what the learned safe concurrency reads).
* ``certificates``: every provider certificate seen (PEM files and Get-VasaProvider), with its
  days left at the end of the evidence.
* ``setcontext``: the buckets with setContext failures or transport faults, per host and provider.
* ``incidents`` and ``files`` are written by :mod:`.run`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import polars as pl

from vvolguard.analysis.foldutil import max_of
from vvolguard.analysis.histogram import LatencyHistogram
from vvolguard.analysis.migrations import host_key
from vvolguard.fleet.summarise import BUCKET_S, COUNTERS

PRESSURE = ("no_free_conn", "busy", "timeout")
#: An event row and a task row of the same VM this close in time are one migration.
TWIN_S = 120


def _dt(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text.replace("Z", "+00:00"))


def host_names(summaries: list[dict[str, Any]]) -> dict[str, str]:
    """host key -> the longest name seen for it (an FQDN beats a short name)."""
    names: dict[str, str] = {}
    for s in summaries:
        for h in s.get("hosts", ()):
            k = host_key(h)
            if k and (k not in names or (len(h), h) > (len(names[k]), names[k])):
                names[k] = h
    return names


def in_range(ts: datetime | None, since: datetime | None, until: datetime | None) -> bool:
    if ts is None:
        return True
    return (since is None or ts >= since) and (until is None or ts < until)


def buckets_table(
    summaries: list[dict[str, Any]], names: dict[str, str], since: datetime | None, until: datetime | None
) -> pl.DataFrame:
    merged: dict[tuple[str, str, int], dict[str, Any]] = {}
    for s in summaries:
        for row in s.get("buckets", ()):
            host, vp, start = row[0], row[1], row[2]
            if not in_range(datetime.fromtimestamp(start, UTC), since, until):
                continue
            key = (host_key(host), vp, start)
            cell = merged.get(key)
            if cell is None:
                cell = merged[key] = {
                    "counts": [0] * len(COUNTERS),
                    "outstanding_max": None,
                    "ceiling": None,
                    "hist": LatencyHistogram(),
                }
            base = 3
            for i in range(len(COUNTERS)):
                cell["counts"][i] += row[base + i]
            o, c, bins, lo, hi = row[base + len(COUNTERS) :]
            cell["outstanding_max"] = max_of(cell["outstanding_max"], o)
            cell["ceiling"] = max_of(cell["ceiling"], c)
            if bins:
                cell["hist"].add_bins({int(k): v for k, v in bins.items()}, lo, hi)
    rows = []
    for (hk, vp, start), cell in sorted(merged.items()):
        hist: LatencyHistogram = cell["hist"]
        rows.append(
            {
                "host": names.get(hk, hk),
                "host_key": hk,
                "provider": vp,
                "bucket_start": datetime.fromtimestamp(start, UTC),
                **dict(zip(COUNTERS, cell["counts"], strict=True)),
                "outstanding_max": cell["outstanding_max"],
                "ceiling": cell["ceiling"],
                "create_count": hist.count,
                "create_p50_ms": _round(hist.quantile(0.5)),
                "create_p95_ms": _round(hist.quantile(0.95)),
                "create_max_ms": _round(hist.max),
            }
        )
    schema: dict[str, Any] = {
        "host": pl.String,
        "host_key": pl.String,
        "provider": pl.String,
        "bucket_start": pl.Datetime("us", "UTC"),
        **dict.fromkeys(COUNTERS, pl.Int64),
        "outstanding_max": pl.Int64,
        "ceiling": pl.Int64,
        "create_count": pl.Int64,
        "create_p50_ms": pl.Float64,
        "create_p95_ms": pl.Float64,
        "create_max_ms": pl.Float64,
    }
    return pl.DataFrame(rows, schema=schema, orient="row") if rows else pl.DataFrame(schema=schema)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


MIGRATION_SCHEMA: dict[str, Any] = {
    "task_id": pl.String,
    "vm": pl.String,
    "source": pl.String,
    "dest": pl.String,
    "source_key": pl.String,
    "dest_key": pl.String,
    "state": pl.String,
    "start": pl.Datetime("us", "UTC"),
    "end": pl.Datetime("us", "UTC"),
    "error": pl.String,
}


def migrations_table(
    summaries: list[dict[str, Any]], names: dict[str, str], since: datetime | None, until: datetime | None
) -> pl.DataFrame:
    """Tasks from every export, one row per task: an export row with a task id beats an event
    row without one for the same VM within two minutes (Get-VIEvent repeats Get-Task)."""
    with_id: dict[str, dict[str, Any]] = {}
    without: list[dict[str, Any]] = []
    for s in summaries:
        for t in s.get("tasks", ()):
            row = {
                "task_id": t.get("task_id"),
                "vm": t.get("vm"),
                "source": names.get(host_key(t.get("source")), t.get("source")),
                "dest": names.get(host_key(t.get("dest")), t.get("dest")),
                "source_key": host_key(t.get("source")) or None,
                "dest_key": host_key(t.get("dest")) or None,
                "state": t.get("state"),
                "start": _dt(t.get("start")),
                "end": _dt(t.get("end")),
                "error": t.get("error"),
            }
            if not in_range(row["start"] or row["end"], since, until):
                continue
            if row["task_id"]:
                old = with_id.get(row["task_id"])
                # the most complete view of a task wins (times and host names filled in)
                if old is None or _completeness(row) > _completeness(old):
                    with_id[row["task_id"]] = row
            else:
                without.append(row)
    rows = list(with_id.values())
    by_vm: dict[str | None, list[dict[str, Any]]] = {}
    for r in rows:
        by_vm.setdefault(r["vm"], []).append(r)
    for r in without:
        t = r["start"] or r["end"]
        twin = next(
            (
                o
                for o in by_vm.get(r["vm"], [])
                if t is not None
                and (o["start"] or o["end"]) is not None
                and abs(((o["start"] or o["end"]) - t).total_seconds()) < TWIN_S
            ),
            None,
        )
        if twin is None:
            rows.append(r)
            by_vm.setdefault(r["vm"], []).append(r)
            continue
        # Get-Task names no hosts, Get-VIEvent no task id: one migration, both halves joined
        for k in ("source", "dest", "source_key", "dest_key", "end", "error"):
            if twin[k] is None and r[k] is not None:
                twin[k] = r[k]
    rows.sort(
        key=lambda r: (
            r["start"] or r["end"] or datetime.min.replace(tzinfo=UTC),
            r["task_id"] or "",
            r["vm"] or "",
        )
    )
    return (
        pl.DataFrame(rows, schema=MIGRATION_SCHEMA, orient="row")
        if rows
        else pl.DataFrame(schema=MIGRATION_SCHEMA)
    )


def _completeness(row: dict[str, Any]) -> int:
    return sum(row[k] is not None for k in ("source", "dest", "start", "end", "error"))


STORM_SCHEMA: dict[str, Any] = {
    "source": pl.String,
    "source_key": pl.String,
    "provider": pl.String,
    "start": pl.Datetime("us", "UTC"),
    "end": pl.Datetime("us", "UTC"),
    "peak_in_flight": pl.Int64,
    "migrations": pl.Int64,
    "failed": pl.Int64,
    "pressure_events": pl.Int64,
}


def storms_table(migrations: pl.DataFrame, buckets: pl.DataFrame) -> pl.DataFrame:
    """Runs of migrations in flight per source host (a run ends when none is in flight), with
    the pressure the source host's vvold logged from its first bucket to its last."""
    rows: list[dict[str, Any]] = []
    timed = migrations.filter(pl.col("source_key").is_not_null() & pl.col("start").is_not_null())
    pressure = _pressure_by_host(buckets)
    provider = _provider_by_host(buckets)
    for (source_key,), group in timed.sort("start").group_by(["source_key"], maintain_order=True):
        edges: dict[datetime, list[int]] = {}  # time -> [started, ended, of them failed]
        for start, end, state in group.select("start", "end", "state").iter_rows():
            edges.setdefault(start, [0, 0, 0])
            edges[start][0] += 1
            edges[start][2] += int(state == "error")
            edges.setdefault(end or start, [0, 0, 0])[1] += 1
        # a drain starts the next migration the moment one ends: the edges of one time are
        # applied together, ends first, so the level neither overshoots nor splits the run
        level = peak = count = failed = 0
        run_start: datetime | None = None
        for ts in sorted(edges):
            started, ended, failed_here = edges[ts]
            if level == 0 and started:
                run_start, peak, count, failed = ts, 0, 0, 0
            level = level - ended + started
            peak = max(peak, level)
            count += started
            failed += failed_here
            if level == 0 and run_start is not None:
                rows.append(
                    {
                        "source": group.item(0, "source"),
                        "source_key": source_key,
                        "provider": provider.get(str(source_key)),
                        "start": run_start,
                        "end": ts,
                        "peak_in_flight": peak,
                        "migrations": count,
                        "failed": failed,
                        "pressure_events": _pressure_between(
                            pressure.get(str(source_key), []), run_start, ts
                        ),
                    }
                )
                run_start = None
    rows.sort(key=lambda r: (r["start"], r["source_key"]))
    return (
        pl.DataFrame(rows, schema=STORM_SCHEMA, orient="row") if rows else pl.DataFrame(schema=STORM_SCHEMA)
    )


def _pressure_by_host(buckets: pl.DataFrame) -> dict[str, list[tuple[float, int]]]:
    out: dict[str, list[tuple[float, int]]] = {}
    if not buckets.height:
        return out
    frame = buckets.select(
        "host_key",
        pl.col("bucket_start").dt.epoch("s").alias("t"),
        sum((pl.col(c) for c in PRESSURE), pl.lit(0)).alias("p"),
    ).filter(pl.col("p") > 0)
    for host, t, p in frame.iter_rows():
        out.setdefault(host, []).append((float(t), int(p)))
    return out


def _pressure_between(points: list[tuple[float, int]], start: datetime, end: datetime) -> int:
    lo = math.floor(start.timestamp() / BUCKET_S) * BUCKET_S
    hi = end.timestamp()
    return sum(p for t, p in points if lo <= t <= hi)


def _provider_by_host(buckets: pl.DataFrame) -> dict[str, str]:
    """Each host's main provider: the one its vvold talked to in most buckets."""
    if not buckets.height:
        return {}
    top = (
        buckets.filter(pl.col("provider") != "")
        .group_by("host_key", "provider")
        .len()
        .sort(["host_key", "len", "provider"], descending=[False, True, False])
        .unique("host_key", keep="first", maintain_order=True)
    )
    return dict(top.select("host_key", "provider").iter_rows())


@dataclass
class LearnedConcurrency:
    provider: str
    safe: int | None  # the highest peak in flight at which it, and every lower one, stayed calm
    pressure_from: int | None  # the lowest peak in flight that came with pressure
    calm_runs: int
    pressured_runs: int
    levels: dict[int, tuple[int, int]]  # peak -> (calm runs, pressured runs)


def learned_concurrency(storms: pl.DataFrame) -> list[LearnedConcurrency]:
    """Per provider, from history: the most migrations in flight per host that ran with no
    pressure (every level up to it calm, as ``simulate sweep`` defines its knee) and the level
    at which pressure began."""
    out: list[LearnedConcurrency] = []
    if not storms.height:
        return out
    for (provider,), group in storms.filter(pl.col("provider").is_not_null()).group_by(
        ["provider"], maintain_order=True
    ):
        levels: dict[int, list[int]] = {}
        for peak, pressure in group.select("peak_in_flight", "pressure_events").iter_rows():
            calm_pressured = levels.setdefault(int(peak), [0, 0])
            calm_pressured[0 if pressure == 0 else 1] += 1
        safe = None
        for level in range(1, max(levels) + 1):
            calm, pressured = levels.get(level, [0, 0])
            if pressured:
                break
            if calm:
                safe = level
        pressured_levels = [lvl for lvl, (_c, p) in levels.items() if p]
        out.append(
            LearnedConcurrency(
                provider=str(provider),
                safe=safe,
                pressure_from=min(pressured_levels, default=None),
                calm_runs=sum(c for c, _p in levels.values()),
                pressured_runs=sum(p for _c, p in levels.values()),
                levels={lvl: (c, p) for lvl, (c, p) in sorted(levels.items())},
            )
        )
    return sorted(out, key=lambda x: x.provider)


CERT_SCHEMA: dict[str, Any] = {
    "provider": pl.String,
    "subject": pl.String,
    "source": pl.String,
    "not_after": pl.Datetime("us", "UTC"),
    "days_left": pl.Float64,
    "status": pl.String,
}


def certificates_table(
    summaries: list[dict[str, Any]], horizon_at: datetime | None, soft_days: float, hard_days: float
) -> pl.DataFrame:
    """Every provider certificate seen, with days left at ``horizon_at`` (the evidence's end)."""
    providers: dict[str, str] = {}  # host or ip in the provider URL -> provider name
    rows: dict[tuple[str, str, str], dict[str, Any]] = {}
    for s in summaries:
        for p in s.get("providers", ()):
            url = p.get("url") or ""
            where = url.split("://", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0].lower()
            if where:
                providers[where] = p["name"]
            if p.get("certificate_expiry"):
                rows[(p["name"], "Get-VasaProvider", p["certificate_expiry"])] = {
                    "provider": p["name"],
                    "subject": None,
                    "source": "Get-VasaProvider",
                    "not_after": _dt(p["certificate_expiry"]),
                }
    for s in summaries:
        for c in s.get("certificates", ()):
            names = [n.lower() for n in (*c.get("dns_names", ()), *c.get("ip_addresses", ()))]
            provider = next((providers[n] for n in names if n in providers), None) or (
                names[0] if names else c["subject"]
            )
            rows[(provider, "certificate", c["not_after"])] = {
                "provider": provider,
                "subject": c["subject"],
                "source": "certificate",
                "not_after": _dt(c["not_after"]),
            }
    out = []
    for key in sorted(rows):
        row = rows[key]
        days = (
            None if horizon_at is None else round((row["not_after"] - horizon_at).total_seconds() / 86400, 2)
        )
        status = "ok"
        if days is not None and days < 0:
            status = "expired"
        elif days is not None and days < hard_days:
            status = "critical"
        elif days is not None and days < soft_days:
            status = "renew"
        out.append({**row, "days_left": days, "status": status})
    return pl.DataFrame(out, schema=CERT_SCHEMA, orient="row") if out else pl.DataFrame(schema=CERT_SCHEMA)


def setcontext_table(buckets: pl.DataFrame) -> pl.DataFrame:
    return buckets.filter((pl.col("setcontext_failure") + pl.col("transport")) > 0).select(
        "host", "host_key", "provider", "bucket_start", "setcontext_failure", "transport"
    )


def provider_ranking(buckets: pl.DataFrame, migrations: pl.DataFrame) -> list[dict[str, Any]]:
    """Providers by pressure: events per day of evidence, days with pressure, hosts affected."""
    if not buckets.height:
        return []
    pressure = sum((pl.col(c) for c in PRESSURE), pl.lit(0))
    frame = buckets.filter(pl.col("provider") != "").with_columns(
        pressure.alias("pressure"), pl.col("bucket_start").dt.date().alias("day")
    )
    per = frame.group_by("provider").agg(
        pl.col("host_key").n_unique().alias("hosts"),
        pl.col("pressure").sum().alias("pressure_events"),
        pl.col("failure").sum().alias("failures"),
        pl.col("setcontext_failure").sum().alias("setcontext_failures"),
        pl.col("day").filter(pl.col("pressure") > 0).n_unique().alias("pressure_days"),
        pl.col("host_key").filter(pl.col("pressure") > 0).n_unique().alias("hosts_with_pressure"),
        pl.col("day").n_unique().alias("days"),
        pl.col("outstanding_max").max().alias("outstanding_max"),
        pl.col("ceiling").max().alias("ceiling"),
        ((pl.col("outstanding_max") >= pl.col("ceiling")) & pl.col("ceiling").is_not_null())
        .sum()
        .alias("buckets_at_ceiling"),
        pl.col("create_p95_ms").max().alias("create_p95_ms_worst"),
    )
    rows = per.sort(["pressure_events", "failures", "provider"], descending=[True, True, False]).to_dicts()
    for rank, row in enumerate(rows, 1):
        row["rank"] = rank
        row["pressure_per_day"] = round(row["pressure_events"] / max(1, row["days"]), 2)
    return rows


def heat_map(buckets: pl.DataFrame) -> pl.DataFrame:
    """Pressure events per host and day (rows: hosts with any pressure, worst first)."""
    if not buckets.height:
        return pl.DataFrame(schema={"host": pl.String, "day": pl.Date, "pressure": pl.Int64})
    pressure = sum((pl.col(c) for c in (*PRESSURE, "failure", "setcontext_failure")), pl.lit(0))
    return (
        buckets.with_columns(pressure.alias("pressure"), pl.col("bucket_start").dt.date().alias("day"))
        .group_by("host", "day")
        .agg(pl.col("pressure").sum())
        .sort("host", "day")
    )


def _iso(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat().replace("+00:00", "Z")
