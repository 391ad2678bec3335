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
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import polars as pl

from vvolguard.analysis.histogram import HIST_BASE
from vvolguard.analysis.migrations import host_key
from vvolguard.fleet.schema import BUCKET_S, COUNTERS

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


BUCKETS_TABLE_SCHEMA: dict[str, Any] = {
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


#: Bucket rows merged at once by :func:`buckets_table`: the merge's working memory is a few
#: hundred bytes per row, so an estate's worth (tens of millions) is merged in slices of hosts.
MERGE_ROWS = 250_000


def buckets_table(
    summaries: list[dict[str, Any]], names: dict[str, str], since: datetime | None, until: datetime | None
) -> pl.DataFrame:
    """Every file's buckets merged per host key, provider and bucket, in polars from end to end.

    Why columnar: an estate of 1,000 hosts x 90 days is ~26 million buckets; merged row by row
    in Python with a histogram object each, the client spent ~15 µs and over 1 KiB per bucket
    (minutes, and more memory than the machine has) after the workers had finished. Hosts are
    merged in slices of about :data:`MERGE_ROWS` rows, in host-key order, so the working memory
    is one slice's and the result comes out sorted. The quantiles are
    :meth:`LatencyHistogram.quantile`'s, computed on the merged bins."""
    frames = [s["buckets"] for s in summaries if isinstance(s.get("buckets"), pl.DataFrame)]
    frames = [f for f in frames if f.height]
    if not frames:
        return pl.DataFrame(schema=BUCKETS_TABLE_SCHEMA)
    per_frame = [f.get_column("host").unique().to_list() for f in frames]
    key_of = {h: host_key(h) for hosts in per_frame for h in hosts}
    frame_keys = [{key_of[h] for h in hosts} for hosts in per_frame]
    weight: dict[str, float] = {}
    for frame, fkeys in zip(frames, frame_keys, strict=True):
        for k in fkeys:
            weight[k] = weight.get(k, 0.0) + frame.height / len(fkeys)
    parts: list[pl.DataFrame] = []
    for chunk in _slices(sorted(weight), weight, MERGE_ROWS):
        members = [f for f, fkeys in zip(frames, frame_keys, strict=True) if fkeys & chunk]
        parts.append(_merge_buckets(members, chunk, key_of, names, since, until))
    return pl.concat(parts, how="vertical")


def _slices(keys: list[str], weight: dict[str, float], limit: float) -> Iterator[set[str]]:
    """``keys`` in order, cut into consecutive sets of at most ``limit`` weight (a heavier key
    alone)."""
    chunk: set[str] = set()
    total = 0.0
    for k in keys:
        if chunk and total + weight[k] > limit:
            yield chunk
            chunk, total = set(), 0.0
        chunk.add(k)
        total += weight[k]
    if chunk:
        yield chunk


def _merge_buckets(
    frames: list[pl.DataFrame],
    chunk: set[str],
    key_of: dict[str, str],
    names: dict[str, str],
    since: datetime | None,
    until: datetime | None,
) -> pl.DataFrame:
    """The buckets table rows of the host keys in ``chunk``, from the frames that hold them."""
    hosts = pl.Series(list(key_of), dtype=pl.String)
    keys_of = pl.Series(list(key_of.values()), dtype=pl.String)
    rows = (
        pl.concat(frames, how="vertical", rechunk=False)
        .lazy()
        .with_columns(host_key=pl.col("host").replace_strict(hosts, keys_of, return_dtype=pl.String))
        .filter(pl.col("host_key").is_in(pl.Series(sorted(chunk), dtype=pl.String).implode()))
    )
    if since is not None:
        rows = rows.filter(pl.col("bucket") >= since.timestamp())
    if until is not None:
        rows = rows.filter(pl.col("bucket") < until.timestamp())
    keys = ("host_key", "vp", "bucket")
    merged = rows.group_by(keys).agg(
        *(pl.col(c).sum() for c in COUNTERS),
        pl.col("outstanding_max").max(),
        pl.col("ceiling").max(),
        pl.col("lo").min(),
        pl.col("hi").max(),
    )
    bins = (
        rows.select(*keys, "bins")
        .filter(pl.col("bins").list.len() > 0)
        .explode("bins")
        .unnest("bins")
        .group_by(*keys, "hidx")
        .agg(pl.col("n").sum())
    )
    merged = merged.join(_quantiles(bins, keys), on=keys, how="left")
    key_names = pl.Series(list(names.keys()), dtype=pl.String)
    display = pl.Series(list(names.values()), dtype=pl.String)
    clamp_lo, clamp_hi = pl.col("lo"), pl.col("hi")

    def quantile(name: str) -> pl.Expr:
        # LatencyHistogram.quantile: the bin's geometric midpoint, clamped to the max, then the min
        value = pl.lit(HIST_BASE, dtype=pl.Float64).pow(pl.col(name).cast(pl.Float64) + 0.5)
        value = pl.when(clamp_hi.is_not_null()).then(pl.min_horizontal(value, clamp_hi)).otherwise(value)
        value = pl.when(clamp_lo.is_not_null()).then(pl.max_horizontal(value, clamp_lo)).otherwise(value)
        return pl.when(pl.col("create_count") > 0).then(value).round(1)

    return (
        merged.with_columns(pl.col("create_count").fill_null(0))
        .select(
            pl.col("host_key").replace_strict(key_names, display, default=pl.col("host_key")).alias("host"),
            "host_key",
            pl.col("vp").alias("provider"),
            (pl.col("bucket") * 1_000_000).cast(pl.Datetime("us", "UTC")).alias("bucket_start"),
            *COUNTERS,
            "outstanding_max",
            "ceiling",
            "create_count",
            quantile("q50").alias("create_p50_ms"),
            quantile("q95").alias("create_p95_ms"),
            pl.when(pl.col("create_count") > 0).then(clamp_hi).round(1).alias("create_max_ms"),
        )
        .cast(BUCKETS_TABLE_SCHEMA)  # type: ignore[arg-type]
        .sort("host_key", "provider", "bucket_start")
        .collect()
    )


def _quantiles(bins: pl.LazyFrame, keys: tuple[str, ...]) -> pl.LazyFrame:
    """Per key: the number of creates and the bin of the 50th and 95th percentile, the first bin
    (in bin order) whose running count reaches ``max(1, ceil(q * count))``."""
    ranked = bins.sort(*keys, "hidx").with_columns(
        run=pl.col("n").cum_sum().over(keys), total=pl.col("n").sum().over(keys)
    )
    out = ranked.group_by(keys).agg(pl.col("total").first().alias("create_count"))
    for q, name in ((0.5, "q50"), (0.95, "q95")):
        rank = pl.max_horizontal(pl.lit(1, dtype=pl.Int64), (pl.col("total") * q).ceil().cast(pl.Int64))
        first = ranked.filter(pl.col("run") >= rank).group_by(keys).agg(pl.col("hidx").min().alias(name))
        out = out.join(first, on=keys, how="left")
    return out


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
