"""``vvolguard fleet``: read an estate's evidence on Dask, write the tables, summary and report.

Steps (each file read once, where it lies; only summaries travel):

1. list the input files (:mod:`.files`); the manifest says which are unchanged since the last
   run, whose summaries are reused from the cache;
2. summarise the others, one Dask task per file (:func:`.summarise.summarise`), retried by Dask
   when a worker dies (a file's summary depends on the file alone, so a retry gives the same);
3. build the tables (:mod:`.tables`) and the per-host incident windows; diagnose each window that
   is new or whose inputs changed, one Dask task each (:func:`.windows.diagnose_window`);
4. write Parquet tables, ``summary.json``, ``report.html``; then the manifest and ``run.json``
   (timings and what was read: the only output that differs between runs of the same estate).

Without a scheduler address an embedded ``LocalCluster`` sized to the machine runs the tasks;
``workers=0`` runs them in this process (no Dask at all), the reference the tests compare to.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from vvolguard.analysis.migrations import host_key
from vvolguard.analysis.thresholds import Thresholds
from vvolguard.fleet import tables
from vvolguard.fleet.files import FileRef, Manifest, discover
from vvolguard.fleet.summarise import summarise
from vvolguard.fleet.windows import WindowJob, diagnose_window, forget_shared, plan_windows

SCHEMA_ID = "vvolguard.fleet/v1"
WINDOW_CACHE = "windows.json"
#: Dask retries per task on top of the scheduler's own rescheduling of a lost worker's tasks.
RETRIES = 2


@dataclass
class Progress:
    """What the CLI shows while the run goes (hooks are optional)."""

    on_start: Callable[[str, int, int], None] = lambda _phase, _n, _bytes: None
    on_done: Callable[[int], None] = lambda _bytes: None
    on_dashboard: Callable[[str], None] = lambda _link: None


@dataclass
class FleetResult:
    out: Path
    summary: dict[str, Any]
    run: dict[str, Any]
    tables: dict[str, pl.DataFrame] = field(default_factory=dict)


def _client(scheduler: str | None, workers: int | None) -> AbstractContextManager[Any]:
    if workers == 0 and scheduler is None:
        return nullcontext(None)
    from distributed import Client, LocalCluster

    if scheduler is not None:
        return Client(scheduler, set_as_default=True)
    n = workers or max(1, os.cpu_count() or 1)
    cluster = LocalCluster(
        n_workers=n,
        threads_per_worker=1,
        processes=True,
        dashboard_address="127.0.0.1:0",
        host="127.0.0.1",
        silence_logs=40,
    )
    return _Owned(Client(cluster, set_as_default=True), cluster)


class _Owned(AbstractContextManager[Any]):
    def __init__(self, client: Any, cluster: Any) -> None:
        self.client, self.cluster = client, cluster

    def __enter__(self) -> Any:
        return self.client

    def __exit__(self, *exc: object) -> None:
        self.client.close()
        self.cluster.close()


def _map(
    client: Any,
    fn: Callable[[Any], dict[str, Any]],
    items: list[Any],
    names: list[str],
    sizes: list[int],
    progress: Progress,
) -> list[dict[str, Any]]:
    """``fn`` over ``items`` on the cluster (or here), results in the order of ``items``."""
    if client is None:
        out = []
        for item, size in zip(items, sizes, strict=True):
            out.append(fn(item))
            progress.on_done(size)
        return out
    from distributed import as_completed

    futures = client.map(fn, items, key=names, retries=RETRIES, pure=False)
    index = {f.key: i for i, f in enumerate(futures)}
    results: list[dict[str, Any]] = [{} for _ in items]
    for future in as_completed(futures):
        i = index[future.key]
        results[i] = future.result()
        progress.on_done(sizes[i])
        future.release()
    return results


def _dashboard(client: Any) -> str | None:
    if client is None:
        return None
    import importlib.util

    if importlib.util.find_spec("bokeh") is None:
        return None  # the scheduler serves no dashboard without bokeh
    link = getattr(client, "dashboard_link", None)
    return str(link) if link else None


def run_fleet(
    paths: Iterable[str],
    out: str | Path,
    since: datetime | None = None,
    until: datetime | None = None,
    scheduler: str | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
    thresholds: Thresholds | None = None,
) -> FleetResult:
    """Read every file under ``paths`` and write the fleet outputs to ``out`` (module doc)."""
    progress = progress or Progress()
    thresholds = thresholds or Thresholds()
    out_path = Path(out)
    out_path.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    refs, list_warnings = discover(paths, skip=[str(out_path)])
    refs = [r for r in refs if not _hostname_output(r.path)]
    manifest = Manifest.load(out_path)
    summaries: dict[str, dict[str, Any]] = {}
    fresh: list[FileRef] = []
    for ref in refs:
        earlier = manifest.unchanged(ref)
        if earlier is not None:
            summaries[ref.path] = earlier
        else:
            fresh.append(ref)
    timings: dict[str, float] = {}
    with _client(scheduler, workers) as client:
        link = _dashboard(client)
        if link:
            progress.on_dashboard(link)
        workers_seen = len(client.scheduler_info()["workers"]) if client is not None else 0
        read_bytes = sum(r.size for r in fresh)
        progress.on_start("files", len(fresh), read_bytes)
        t = time.perf_counter()
        results = _map(
            client,
            summarise,
            fresh,
            [f"summarise-{i}-{_short(r.path)}" for i, r in enumerate(fresh)],
            [r.size for r in fresh],
            progress,
        )
        timings["read_s"] = time.perf_counter() - t
        for ref, summary in zip(fresh, results, strict=True):
            summaries[ref.path] = summary
        ordered = [summaries[r.path] for r in refs]
        built = _build_tables(ordered, since, until, thresholds)
        by_path = {r.path: r for r in refs}
        jobs = plan_windows(
            ordered, built["buckets"], built["migrations"], by_path, tables.host_names(ordered)
        )
        jobs = [
            j for j in jobs if tables.in_range(j.end, since, None) and tables.in_range(j.start, None, until)
        ]
        cache = _load_window_cache(out_path)
        todo = [j for j in jobs if j.key not in cache]
        progress.on_start("windows", len(todo), 0)
        t = time.perf_counter()
        provider = tables._provider_by_host(built["buckets"])
        for job in jobs:
            job.provider = provider.get(host_key(job.host))
        diagnosed = _map(
            client,
            diagnose_window,
            todo,
            [f"window-{i}-{j.key[:12]}" for i, j in enumerate(todo)],
            [0] * len(todo),
            progress,
        )
        # the shared exports each process kept for its windows: not needed past this run
        if client is None:
            forget_shared()
        else:
            client.run(forget_shared)
        timings["windows_s"] = time.perf_counter() - t
    for job, result in zip(todo, diagnosed, strict=True):
        cache[job.key] = result
    incidents = [cache[j.key] for j in jobs if cache.get(j.key)]
    built["incidents"] = _incidents_table(incidents)
    summary = _summary(ordered, built, incidents, list_warnings, thresholds, since, until)
    built["files"] = _files_table(ordered)
    for name, frame in built.items():
        frame.write_parquet(out_path / f"{name}.parquet", statistics=False)
    (out_path / "summary.json").write_text(
        json.dumps(summary, indent=2, sort_keys=False) + "\n", encoding="utf-8"
    )
    manifest.save(refs, summaries, {r.path for r in fresh})
    _save_window_cache(out_path, {j.key: cache[j.key] for j in jobs})
    from vvolguard.fleet.report import render_fleet_html

    (out_path / "report.html").write_text(render_fleet_html(summary, built), encoding="utf-8")
    run = {
        "files": len(refs),
        "files_read": len(fresh),
        "files_reused": len(refs) - len(fresh),
        "bytes_read": sum(r.size for r in fresh),
        "windows": len(jobs),
        "windows_diagnosed": len(todo),
        "workers": workers_seen,
        "scheduler": scheduler or ("embedded LocalCluster" if workers != 0 else "in process"),
        "dashboard": link,
        "wall_s": round(time.perf_counter() - started, 3),
        **{k: round(v, 3) for k, v in timings.items()},
    }
    (out_path / "run.json").write_text(json.dumps(run, indent=2) + "\n", encoding="utf-8")
    return FleetResult(out_path, summary, run, built)


def _short(path: str) -> str:
    return path.rsplit("/", 1)[-1][:40]


def _hostname_output(path: str) -> bool:
    """``commands/*hostname*.txt`` names its folder's host (read as a hint, not as evidence)."""
    parts = path.replace("\\", "/").rsplit("/", 2)
    return len(parts) == 3 and parts[1] == "commands" and "hostname" in parts[2]


def _evidence_end(summaries: list[dict[str, Any]], until: datetime | None) -> datetime | None:
    lasts = [s["last"] for s in summaries if s.get("last")]
    end = max((tables._dt(x) for x in lasts), default=None)  # type: ignore[type-var]  # no Nones left
    if until is not None and (end is None or end > until):
        end = until
    return end


def _build_tables(
    summaries: list[dict[str, Any]], since: datetime | None, until: datetime | None, t: Thresholds
) -> dict[str, pl.DataFrame]:
    names = tables.host_names(summaries)
    buckets = tables.buckets_table(summaries, names, since, until)
    migrations = tables.migrations_table(summaries, names, since, until)
    storms = tables.storms_table(migrations, buckets)
    certs = tables.certificates_table(
        summaries, _evidence_end(summaries, until), t.cert_soft_limit_days, t.cert_hard_limit_days
    )
    return {
        "buckets": buckets,
        "migrations": migrations,
        "storms": storms,
        "certificates": certs,
        "setcontext": tables.setcontext_table(buckets),
    }


INCIDENT_SCHEMA: dict[str, Any] = {
    "host": pl.String,
    "provider": pl.String,
    "class": pl.String,
    "start": pl.String,
    "end": pl.String,
    "confidence": pl.Float64,
    "severity": pl.String,
    "summary": pl.String,
    "citations": pl.List(pl.String),
}


def _incidents_table(incidents: list[dict[str, Any]]) -> pl.DataFrame:
    rows = [{k: i.get(k) for k in INCIDENT_SCHEMA} for i in incidents]
    return (
        pl.DataFrame(rows, schema=INCIDENT_SCHEMA, orient="row")
        if rows
        else pl.DataFrame(schema=INCIDENT_SCHEMA)
    )


def _files_table(summaries: list[dict[str, Any]]) -> pl.DataFrame:
    rows = [
        {
            "path": s["path"],
            "size": s["size"],
            "host": s.get("host"),
            "kinds": ",".join(s.get("kinds", ())),
            "records": s.get("records", 0),
            "vvold_lines": s.get("vvold_lines", 0),
            "first": s.get("first"),
            "last": s.get("last"),
            "warnings": len(s.get("warnings", ())),
        }
        for s in summaries
    ]
    return pl.DataFrame(rows)


def _summary(
    summaries: list[dict[str, Any]],
    built: dict[str, pl.DataFrame],
    incidents: list[dict[str, Any]],
    list_warnings: list[str],
    t: Thresholds,
    since: datetime | None,
    until: datetime | None,
) -> dict[str, Any]:
    firsts = [s["first"] for s in summaries if s.get("first")]
    end = _evidence_end(summaries, until)
    certs = built["certificates"]
    cert_incidents = []
    for row in (
        certs.filter(pl.col("status") != "ok")
        .sort("provider", "not_after")
        .unique("provider", keep="first", maintain_order=True)
        .iter_rows(named=True)
    ):
        cert_incidents.append(
            {
                "host": None,
                "provider": row["provider"],
                "class": "certificate-lifecycle",
                "start": tables._iso(end) if end else None,
                "end": tables._iso(row["not_after"]),
                "days_left": row["days_left"],
                "summary": f"certificate of {row['provider']} expires {row['not_after']:%Y-%m-%d} "
                f"({row['days_left']} days after the evidence ends): {row['status']}",
            }
        )
    learned = {x.provider: x for x in tables.learned_concurrency(built["storms"])}
    ranking = tables.provider_ranking(built["buckets"], built["migrations"])
    providers = []
    for row in ranking:
        lc = learned.get(row["provider"])
        providers.append(
            {
                **{k: v for k, v in row.items()},
                "learned_safe_concurrency": lc.safe if lc else None,
                "pressure_began_at": lc.pressure_from if lc else None,
                "migration_runs": {"calm": lc.calm_runs, "pressured": lc.pressured_runs} if lc else None,
                "levels": {str(k): {"calm": c, "pressured": p} for k, (c, p) in lc.levels.items()}
                if lc
                else {},
            }
        )
    all_incidents = sorted(
        [*incidents, *cert_incidents], key=lambda i: (i.get("start") or "", i.get("host") or "", i["class"])
    )
    warnings = [*list_warnings, *(w for s in summaries for w in s.get("warnings", ()))]
    hosts = sorted(
        {h for h in built["buckets"].get_column("host").unique().to_list()}
        if built["buckets"].height
        else set()
    )
    return {
        "schema": SCHEMA_ID,
        "window": {
            "start": min(firsts) if firsts else None,
            "end": tables._iso(end) if end else None,
            "since": tables._iso(since) if since else None,
            "until": tables._iso(until) if until else None,
        },
        "inputs": {
            "files": len(summaries),
            "bytes": sum(s["size"] for s in summaries),
            "vvold_lines": sum(s.get("vvold_lines", 0) for s in summaries),
            "hosts": len(hosts),
        },
        "incidents": all_incidents,
        "providers": providers,
        "certificates": [
            {**r, "not_after": tables._iso(r["not_after"])} for r in certs.iter_rows(named=True)
        ],
        "hosts_with_incidents": sorted({i["host"] for i in incidents if i.get("host")}),
        "warnings": warnings,
        "thresholds": {
            "bucket_seconds": 300,
            "cert_soft_limit_days": t.cert_soft_limit_days,
            "cert_hard_limit_days": t.cert_hard_limit_days,
        },
    }


def _load_window_cache(out: Path) -> dict[str, dict[str, Any]]:
    try:
        doc = json.loads((out / "cache" / WINDOW_CACHE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def _save_window_cache(out: Path, cache: dict[str, dict[str, Any]]) -> None:
    (out / "cache").mkdir(parents=True, exist_ok=True)
    (out / "cache" / WINDOW_CACHE).write_text(json.dumps(cache, sort_keys=True), encoding="utf-8")


def parse_when(text: str | None) -> datetime | None:
    """``2026-03-01`` or an ISO time (UTC when it names no zone)."""
    if not text:
        return None
    when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def job_names(jobs: list[WindowJob]) -> list[str]:
    return [j.host for j in jobs]
