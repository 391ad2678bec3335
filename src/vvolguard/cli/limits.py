"""``vvolguard limits``: the operational limits earlier drains found, per vCenter, host, provider.

The runbook asks admins to document the concurrency their provider tolerates; every drain writes
what it found to the local store, and this command shows it (the next drain starts from it).
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path

import typer

from vvolguard.cli.console import make_console
from vvolguard.store import ObservedLimit


def register(app: typer.Typer) -> None:
    app.command(
        "limits",
        help=(
            "List the safe concurrency each drain observed, per vCenter, host and provider: a tested "
            "limit (a level above it caused pressure) or a lower bound (ran clean, not probed beyond)."
        ),
    )(limits_command)


def limits_command(
    store_path: Path | None = typer.Option(None, "--store", metavar="FILE", help="Local store SQLite file."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON records."),
    fleet: Path | None = typer.Option(
        None,
        "--fleet",
        metavar="DIR",
        help="Also show the safe concurrency a vvolguard fleet run learned from history (its output DIR).",
    ),
) -> None:
    from vvolguard.store import Store, default_path

    path = store_path or default_path()
    if not path.exists():
        rows = []
    else:
        store = Store(path)
        try:
            rows = store.limits()
        finally:
            store.close()
    learned = _fleet_learned(fleet) if fleet is not None else None
    if as_json:
        records = [asdict(r) for r in rows]
        doc: object = records if learned is None else {"drains": records, "fleet": learned}
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
        return
    if learned is not None and fleet is not None:
        _print_fleet(learned, rows, fleet)
    # Never truncate a name with "…": the point of the table is to be copied into the runbook.
    out = make_console()
    if not rows:
        out.print(f"no drain has recorded a limit yet ({path})")
        return
    from rich.table import Table

    table = Table(title=f"observed operational limits ({path})")
    numeric = ("safe", "ceiling", "migrated", "failed", "episodes")
    columns = ("vCenter", "host", "provider", "safe", "kind", "evidence", "ceiling", "migrated", "failed")
    for col in (*columns, "episodes", "when"):
        table.add_column(col, justify="right" if col in numeric else "left", overflow="fold")
    for r in rows:
        table.add_row(
            r.vcenter,
            r.host,
            r.provider,
            str(r.safe_limit),
            _kind(r),
            _evidence(r),
            str(r.ceiling),
            str(r.migrated),
            str(r.failed),
            str(r.congestion_episodes),
            r.observed_at,
        )
    out.print(table)


def _kind(r: ObservedLimit) -> str:
    """Both kinds in words: a tested limit, or a lower bound nothing pushed back on."""
    if r.kind == "bounded":
        return f"tested: {r.bound} in flight caused pressure"
    if r.kind == "lower-bound":
        return f"lower bound: ran clean up to {r.safe_limit}, not probed beyond"
    return "older record: peak in flight, may overstate"


def _evidence(r: ObservedLimit) -> str:
    if r.seconds_at_limit is None:
        return "-"
    text = f"{r.migrations_at_limit} migrations, {r.seconds_at_limit:.0f} s at {r.safe_limit}"
    if r.kind == "bounded" and r.bound_reason:
        text += f"; {r.bound_reason}"
    return text


def _fleet_learned(folder: Path) -> list[dict[str, object]]:
    """Per provider, what ``vvolguard fleet`` learned from history (its ``summary.json``)."""
    from vvolguard.cli.console import error

    try:
        summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
        providers = summary["providers"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        error(make_console(stderr=True), f"{folder}: not a vvolguard fleet output folder ({exc})")
        raise typer.Exit(2) from None
    return [
        {
            "provider": p.get("provider"),
            "safe": p.get("learned_safe_concurrency"),
            "pressure_from": p.get("pressure_began_at"),
            "runs": p.get("migration_runs"),
            "hosts": p.get("hosts"),
            "window": summary.get("window"),
        }
        for p in providers
    ]


def _print_fleet(learned: list[dict[str, object]], rows: list[ObservedLimit], folder: Path) -> None:
    """The fleet's learned levels beside the lowest limit drains recorded for each provider."""
    from rich.table import Table

    drained: dict[str, int] = {}
    for r in rows:
        drained[r.provider] = min(drained.get(r.provider, r.safe_limit), r.safe_limit)
    table = Table(title=f"learned from history ({folder / 'summary.json'})")
    for col in ("provider", "safe in flight", "pressure from", "runs calm/pressured", "drains recorded"):
        table.add_column(col, justify="left" if col == "provider" else "right", overflow="fold")
    for item in learned:
        runs = item["runs"] if isinstance(item["runs"], dict) else {}
        provider = str(item["provider"])
        table.add_row(
            provider,
            "-" if item["safe"] is None else str(item["safe"]),
            "-" if item["pressure_from"] is None else str(item["pressure_from"]),
            f"{runs.get('calm', 0)}/{runs.get('pressured', 0)}" if runs else "-",
            str(drained[provider]) if provider in drained else "-",
        )
    make_console().print(table)
