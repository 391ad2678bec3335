"""The decompression caps every command that reads evidence offers (``diagnose``, ``escalate``):
one definition, so their help, defaults and errors cannot drift apart."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer
from rich.console import Console

from vvolguard.cli.console import error

if TYPE_CHECKING:
    from vvolguard.evidence.source import Limits

#: Exit code for input the user must correct (the same as "nothing usable").
EXIT_BAD_OPTION = 2

MAX_EXPANDED = typer.Option(
    "20G",
    "--max-expanded",
    metavar="SIZE",
    help="Stop decompressing an input past this size (20G, 512M).",
)
MAX_DEPTH = typer.Option(
    4, "--max-depth", metavar="N", help="Open archives nested at most this many levels deep."
)


def parse_limits(max_expanded: str, max_depth: int, err: Console) -> Limits:
    """The caps of ``--max-expanded`` and ``--max-depth``; a bad value exits 2 with a message."""
    from vvolguard.evidence.source import Limits, parse_size

    try:
        size = parse_size(max_expanded)
    except ValueError as exc:
        error(err, f"--max-expanded {exc}")
        raise typer.Exit(EXIT_BAD_OPTION) from None
    if max_depth < 0:
        error(err, "--max-depth must be 0 or more")
        raise typer.Exit(EXIT_BAD_OPTION)
    return Limits(max_expanded=size, max_depth=max_depth)
