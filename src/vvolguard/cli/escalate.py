"""``vvolguard escalate``: one archive for the storage vendor, along the runbook's escalation list.

Exit codes: 0 the package was written (even with items missing: the manifest says which),
2 the request could not be honoured (output format, output would overwrite an input, exists),
128+N stopped by signal N (SIGTERM 143, SIGINT 130, SIGHUP 129): nothing written, temporary
files removed.
"""

from __future__ import annotations

import contextlib
import functools
import signal
from collections.abc import Iterator
from pathlib import Path

import typer

from vvolguard.cli.console import make_console
from vvolguard.cli.intake_options import MAX_DEPTH, MAX_EXPANDED, parse_limits

EXIT_OK = 0
EXIT_BAD_REQUEST = 2
#: Signals that end a run cleanly: the staging folder and the temporary archive are removed.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


class Interrupted(KeyboardInterrupt):
    """A stop signal, raised where the run is so every ``finally`` and ``with`` cleans up.

    A KeyboardInterrupt (a BaseException), so that no ``except Exception`` on the way (a reader
    that must not lose the package for one bad file) swallows it.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


@contextlib.contextmanager
def _signals_raise() -> Iterator[None]:
    """Turn SIGTERM/SIGINT/SIGHUP into :class:`Interrupted` for the duration of the build.

    Why: by default SIGTERM (``timeout``, CI, systemd) and SIGHUP (a closed terminal) end the
    process without unwinding, leaving the staging folder, with text not yet pseudonymised,
    in TMPDIR. After the first signal the others are ignored, so that the cleanup itself is not
    cut short by an impatient second Ctrl-C.
    """
    previous = {}

    def handler(signum: int, _frame: object) -> None:
        for sig in STOP_SIGNALS:
            signal.signal(sig, signal.SIG_IGN)
        raise Interrupted(signum)

    for sig in STOP_SIGNALS:
        # not the main thread (library use in a worker): leave the handlers as they are
        with contextlib.suppress(ValueError, OSError):
            previous[sig] = signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def register(app: typer.Typer) -> None:
    app.command(
        "escalate",
        help=(
            "Build one .zip or .tar.gz with everything the runbook's escalation list asks for, from the "
            "evidence given: task IDs and times, hosts, VMs and datastores, vvold.log windows around each "
            "failure, esxcli vasaprovider/protocolendpoint outputs, provider versions and certificates, "
            "array IDs, and the diagnosis as JSON and Markdown. A manifest lists each item as present, "
            "partial or missing, with the command that collects it. Secrets are always stripped; "
            "--redact also pseudonymises host names, IP addresses and user names."
        ),
    )(escalate_command)


def escalate_command(
    paths: list[Path] = typer.Argument(
        ..., metavar="PATH", help="Files, folders, .tgz support bundles; any mix.", show_default=False
    ),
    output: Path = typer.Option(
        ...,
        "--output",
        "-o",
        metavar="FILE",
        help="The archive to write: .zip, .tar.gz or .tgz.",
        show_default=False,
    ),
    redact: bool = typer.Option(
        False, "--redact", help="Replace host names, IP addresses and user names by consistent aliases."
    ),
    mapping: Path | None = typer.Option(
        None,
        "--mapping",
        metavar="FILE",
        help="Where to write the original->alias mapping (default: next to the output, "
        "<output>.redaction-map.json). Never inside the archive.",
    ),
    window_minutes: float = typer.Option(
        5.0, "--window-minutes", metavar="MINUTES", help="Minutes of log kept before and after each failure."
    ),
    redact_vm_names: bool = typer.Option(
        False, "--redact-vm-names", help="With --redact, also pseudonymise the VM names found in tasks."
    ),
    force: bool = typer.Option(False, "--force", help="Replace an existing output (never an input)."),
    now: str | None = typer.Option(
        None,
        "--now",
        metavar="TIME",
        help="Judge certificate horizons and stamp the package as of this ISO time (same inputs and "
        "--now give the same bytes).",
    ),
    max_expanded: str = MAX_EXPANDED,
    max_depth: int = MAX_DEPTH,
) -> None:
    from vvolguard.cli.diagnose import _parse_now
    from vvolguard.escalate.names import printable
    from vvolguard.escalate.package import EscalateError, build_package

    err = make_console(stderr=True)
    when = _parse_now(now, err)
    limits = parse_limits(max_expanded, max_depth, err)
    if mapping is not None and not redact:
        err.print("[yellow]vvolguard: --mapping has no effect without --redact[/]")
        mapping = None
    build = functools.partial(
        build_package,
        paths,
        output,
        redact=redact,
        mapping=mapping,
        window_minutes=window_minutes,
        redact_vm_names=redact_vm_names,
        overwrite=force,
        now=when,
        limits=limits,
    )
    try:
        with _signals_raise():
            if err.is_terminal:
                with err.status("building the escalation package…"):
                    result = build()
            else:
                result = build()
    except EscalateError as exc:
        err.print(f"vvolguard: {exc}", style="red", markup=False, highlight=False)
        raise typer.Exit(EXIT_BAD_REQUEST) from None
    except Interrupted as stop:
        name = signal.Signals(stop.signum).name
        err.print(
            f"vvolguard: stopped by {name}; no package written, temporary files removed",
            style="red",
            markup=False,
            highlight=False,
        )
        raise typer.Exit(128 + stop.signum) from None

    # The terminal is the sender's: real host names there, aliases only inside the archive.
    summary = result.local_manifest["summary"]
    out = make_console()
    out.print(f"wrote {printable(str(result.output))}", markup=False, highlight=False)
    out.print(
        f"escalation list: {summary['present']} present, {summary['partial']} partial, "
        f"{summary['missing']} missing",
        markup=False,
        highlight=False,
    )
    for item in result.local_manifest["items"]:
        if item["status"] != "present":
            out.print(f"  {item['status']:8} {item['title']}", markup=False, highlight=False)
            for missing in item["missing"][:3]:
                out.print(f"           collect: {missing['command']}", markup=False, highlight=False)
    if result.mapping is not None:
        out.print(
            f"redaction mapping (keep it, do not send it): {printable(str(result.mapping))}",
            markup=False,
            highlight=False,
        )
    if result.warnings:
        out.print(f"{len(result.warnings)} input warnings (see manifest.json)", markup=False, highlight=False)
