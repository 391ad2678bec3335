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
    if as_json:
        sys.stdout.write(json.dumps([asdict(r) for r in rows], indent=2) + "\n")
        return
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
