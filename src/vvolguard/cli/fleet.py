"""``vvolguard fleet``: the whole estate's VASA history, read on Dask.

Thin on purpose: options are parsed here, the work is in :mod:`vvolguard.fleet`.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from vvolguard.cli.console import error, make_console, print_line

if TYPE_CHECKING:
    from rich.console import Console

    from vvolguard.fleet.run import FleetResult

EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 3


def register(app: typer.Typer) -> None:
    app.command(
        "fleet",
        help=(
            "Read an estate's evidence (per-host syslog folders, support bundles, vCenter exports) on "
            "Dask, one task per file, and write Parquet tables, summary.json and a fleet report: "
            "providers ranked by pressure, a host-by-day heat map, every incident with its verdict, "
            "the certificate horizon and the safe concurrency each provider has shown. A second run "
            "reads only files that are new or changed. Exit codes: 0 done, 2 bad input or nothing "
            "readable, 3 internal error (please report it)."
        ),
    )(fleet_command)


def fleet_command(
    paths: list[str] = typer.Argument(
        ..., metavar="PATH", help="Folders, files or fsspec URLs (s3://, sftp://) workers can read."
    ),
    out: Path = typer.Option(
        ..., "--out", "-o", metavar="DIR", help="Folder for the tables, summary and report."
    ),
    since: str | None = typer.Option(
        None, "--since", metavar="DATE", help="Only evidence from this date/time (UTC)."
    ),
    until: str | None = typer.Option(
        None, "--until", metavar="DATE", help="Only evidence before this date/time (UTC)."
    ),
    scheduler: str | None = typer.Option(
        None, "--scheduler", metavar="ADDRESS", help="Your Dask scheduler, e.g. tcp://10.0.0.5:8786."
    ),
    workers: int | None = typer.Option(
        None,
        "--workers",
        min=0,
        metavar="N",
        help="Local worker processes (default: one per CPU; 0: read in this process, no Dask).",
    ),
) -> None:
    from vvolguard.fleet.run import parse_when

    err = make_console(stderr=True)
    if scheduler is not None and workers is not None:
        error(
            err, "--scheduler and --workers exclude each other: the scheduler's cluster has its own workers."
        )
        raise typer.Exit(EXIT_BAD_INPUT)
    try:
        since_at, until_at = parse_when(since), parse_when(until)
    except ValueError as exc:
        error(err, f"--since/--until: {exc} (use e.g. 2026-03-01 or 2026-03-01T12:00)")
        raise typer.Exit(EXIT_BAD_INPUT) from None
    if out.exists() and not out.is_dir():
        error(err, f"{out} exists and is not a folder.")
        raise typer.Exit(EXIT_BAD_INPUT)
    console = make_console()
    try:
        result = _run(paths, out, since_at, until_at, scheduler, workers, err)
    except OSError as exc:
        error(err, f"cannot use {getattr(exc, 'filename', None) or out}: {exc.strerror or exc}")
        raise typer.Exit(EXIT_BAD_INPUT) from None
    summary, run = result.summary, result.run
    if summary["inputs"]["files"] == 0 or not any(s["records"] for s in _files(result)):
        error(err, "nothing readable under the paths given.")
        for w in summary["warnings"][:10]:
            print_line(err, f"warning: {w}")
        raise typer.Exit(EXIT_BAD_INPUT)
    _print_summary(console, summary, run, out)


def _files(result: FleetResult) -> list[dict[str, int]]:
    frame = result.tables["files"]
    return frame.select("records").to_dicts() if frame.height else []


def _run(
    paths: list[str],
    out: Path,
    since_at: datetime | None,
    until_at: datetime | None,
    scheduler: str | None,
    workers: int | None,
    err: Console,
) -> FleetResult:
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TaskID,
        TextColumn,
        TimeElapsedColumn,
        TransferSpeedColumn,
    )

    from vvolguard.fleet.run import Progress as Hooks
    from vvolguard.fleet.run import run_fleet

    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[done]}/{task.fields[count]}"),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=False,
    )
    tasks: list[TaskID] = []
    by_bytes: list[bool] = []
    done_count: list[int] = []

    def start(phase: str, count: int, size: int) -> None:
        label = "files read" if phase == "files" else "incident windows diagnosed"
        # bytes drive the bar when there are any (files); windows advance one each
        tasks.append(bar.add_task(label, total=size if size > 0 else count, done=0, count=count))
        by_bytes.append(size > 0)
        done_count.append(0)

    def done(size: int) -> None:
        done_count[-1] += 1
        bar.update(tasks[-1], advance=size if by_bytes[-1] else 1, done=done_count[-1])

    def dashboard(link: str) -> None:
        err.print(f"Dask dashboard: {link}", markup=False, highlight=False)

    with bar:
        return run_fleet(
            paths,
            out,
            since=since_at,
            until=until_at,
            scheduler=scheduler,
            workers=workers,
            progress=Hooks(on_start=start, on_done=done, on_dashboard=dashboard),
        )


def _print_summary(console: Console, summary: dict[str, Any], run: dict[str, Any], out: Path) -> None:
    from rich.table import Table

    inputs = summary["inputs"]
    console.print(
        f"{inputs['files']} files ({run['files_read']} read, {run['files_reused']} unchanged since the last "
        f"run), {inputs['hosts']} hosts, {len(summary['providers'])} providers, "
        f"{summary['window']['start'] or '?'} to {summary['window']['end'] or '?'}",
        markup=False,
        highlight=False,
    )
    table = Table(title="providers by pressure")
    for col in (
        "provider",
        "hosts",
        "pressure events",
        "days with pressure",
        "failures",
        "safe in flight",
        "pressure from",
    ):
        table.add_column(col, justify="left" if col == "provider" else "right", overflow="fold")
    for p in summary["providers"]:
        table.add_row(
            p["provider"],
            str(p["hosts"]),
            str(p["pressure_events"]),
            f"{p['pressure_days']}/{p['days']}",
            str(p["failures"]),
            _or_dash(p["learned_safe_concurrency"]),
            _or_dash(p["pressure_began_at"]),
        )
    console.print(table)
    counts: dict[str, int] = {}
    for i in summary["incidents"]:
        counts[i["class"]] = counts.get(i["class"], 0) + 1
    what = ", ".join(f"{n} {cls}" for cls, n in sorted(counts.items())) or "none"
    console.print(f"incidents: {what}", markup=False, highlight=False)
    if summary["warnings"]:
        console.print(
            f"{len(summary['warnings'])} warnings (files not or not fully read): see summary.json",
            style="yellow",
        )
    for name in ("report.html", "summary.json"):
        print_line(console, f"wrote {out / name}")
    print_line(console, f"tables: {out}/*.parquet")


def _or_dash(value: object) -> str:
    return "—" if value is None else str(value)
