"""The ``vvolguard`` command: one typer app, one module per sub-command.

Each module under ``vvolguard.cli`` listed in :data:`COMMAND_MODULES` exposes
``register(app: typer.Typer) -> None``. ``run`` is the console entry point: it turns any
unexpected exception into a one-line message (no traceback reaches a user) unless
``VVOLGUARD_DEBUG=1`` asks for the traceback.
"""

from __future__ import annotations

import importlib
import os
import sys

import typer
from rich.console import Console

COMMAND_MODULES = ("diagnose", "schema", "simulate", "demo", "escalate", "drain", "limits")

app = typer.Typer(
    name="vvolguard",
    help="Diagnose, simulate and safely drain vSphere hosts whose VMs live on vVol datastores.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback(invoke_without_command=True)
def _root(
    version: bool = typer.Option(False, "--version", help="Print the version and exit.", is_eager=True),
) -> None:
    if version:
        from vvolguard import __version__

        typer.echo(__version__)
        raise typer.Exit(0)


def _register_all() -> None:
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"vvolguard.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"vvolguard.cli.{name}":
                raise
            continue
        module.register(app)


_register_all()


def run() -> None:
    try:
        app()
    except KeyboardInterrupt:
        Console(stderr=True).print("[yellow]interrupted[/]")
        sys.exit(130)
    except SystemExit:
        raise
    except Exception as exc:
        if os.environ.get("VVOLGUARD_DEBUG") == "1":
            raise
        Console(stderr=True).print(
            f"[red]vvolguard: internal error:[/] {type(exc).__name__}: {exc}\n"
            "Set VVOLGUARD_DEBUG=1 to see the traceback, and please report it."
        )
        sys.exit(3)


if __name__ == "__main__":
    run()
