"""``vvolguard schema diagnosis``: print the JSON Schema of ``diagnose --json`` output.

A separate command, not a file in the docs, so the schema a script validates against is always the
one of the installed version.
"""

from __future__ import annotations

import json

import typer

schema_app = typer.Typer(
    help="Print the JSON Schemas of vvolguard's machine-readable outputs.",
    no_args_is_help=True,
    add_completion=False,
)


@schema_app.command("diagnosis")
def diagnosis() -> None:
    """Print the JSON Schema (draft 2020-12) of `vvolguard diagnose --json` (vvolguard.diagnosis/v1)."""
    from vvolguard.report.json_schema import diagnosis_schema

    typer.echo(json.dumps(diagnosis_schema(), indent=2, ensure_ascii=False))


def register(app: typer.Typer) -> None:
    app.add_typer(schema_app, name="schema")
