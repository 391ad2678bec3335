"""``vvolguard validate``: the runbook's layered validation after remediation, live.

Thin: options, login (TLS verified unless ``--insecure``), then ``vvolguard.live.validate``.
Prints a checklist (or ``--json``), keeps the case folder with what each layer looked at, and
records the concurrency that ran clean in the limits store the drain starts from.

Exit codes: 0 every layer passed, 1 a layer failed (the ones after it were skipped), 2 bad
options or no connection to vCenter, 130 interrupted.
"""

from __future__ import annotations

import json
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import typer
from rich.console import Console
from rich.text import Text

from vvolguard.cli import live_options
from vvolguard.cli.console import error, make_console, print_line, warn
from vvolguard.cli.drain import _stop_on_ctrl_c  # one Ctrl-C behaviour for everything that migrates

EXIT_PASSED = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def register(app: typer.Typer) -> None:
    app.command(
        "validate",
        help=(
            "Validate a host after remediation, layer by layer as the runbook does: 1 provider "
            "online and certificate valid, 2 Protocol Endpoints accessible and configured, 3 "
            "vvold.log quiet, 4 one low-risk VM migrated, 5 a small batch migrated; stops at the "
            "first failing layer and keeps the evidence in a case folder. Exit codes: 0 all "
            "passed, 1 a layer failed, 2 usage or connection error, 130 interrupted."
        ),
    )(validate_command)


def validate_command(
    vcenter: str = live_options.VCENTER,
    host: str = typer.Option(..., "--host", metavar="HOST", help="The ESXi host to validate."),
    vm: str | None = typer.Option(
        None, "--vm", metavar="VM", help="VM for layer 4 (default: the smallest powered-on VM)."
    ),
    exclude: list[str] = typer.Option(
        [], "--exclude", metavar="VM", help="Never migrate this VM (repeatable)."
    ),
    batch: int = typer.Option(2, "--batch", min=1, max=8, help="VMs in layer 5's batch, migrated at once."),
    and_back: bool = typer.Option(False, "--and-back", help="Layer 4 migrates its VM back again."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Layers 1-3 only: no migration."),
    watch: float = typer.Option(
        60.0, "--watch", min=1.0, metavar="SECONDS", help="How long layer 3 watches vvold.log."
    ),
    output: Path | None = typer.Option(
        None,
        "-o",
        "--output",
        metavar="CASE_DIR",
        help="Case folder (default: ./vvolguard-validate-HOST-TIME).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    store_path: Path | None = typer.Option(None, "--store", metavar="FILE", help="Limits store SQLite file."),
    user: str = live_options.USER,
    insecure: bool = live_options.INSECURE,
    ca_file: Path | None = live_options.CA_FILE,
    ssh_config: Path | None = live_options.SSH_CONFIG,
    ssh_user: str | None = live_options.SSH_USER,
    ssh_known_hosts: Path | None = live_options.KNOWN_HOSTS,
    provider_address: list[str] = live_options.PROVIDER_ADDRESS,
) -> None:
    from vvolguard import store as store_mod
    from vvolguard.live.case import Case, CaseError
    from vvolguard.live.validate import ValidateOptions, Validator, record_limit
    from vvolguard.live.window import Window

    out = make_console()
    err = make_console(stderr=True)
    if ssh_config is not None and not ssh_config.is_file():
        error(err, f"--ssh-config {ssh_config}: no such file")
        raise typer.Exit(EXIT_USAGE)
    addresses = live_options.provider_addresses_or_exit(provider_address, err)
    session = live_options.connect_or_exit(vcenter, user, insecure, ca_file, err)
    try:
        (host_ref,) = live_options.resolve_hosts_or_exit(session, [host], err)
        host_name = str(host_ref.name)  # read while the session is open
        started = datetime.now(UTC)
        stamp = started.strftime("%Y%m%dT%H%M%SZ")
        root = output or Path(f"vvolguard-validate-{host_ref.name.split('.')[0]}-{stamp}")
        try:
            case = Case.create(root, session.endpoint, [host_ref.name], Window(started, started))
        except CaseError as exc:
            error(err, str(exc))
            raise typer.Exit(EXIT_USAGE) from None
        options = ValidateOptions(
            ssh=live_options.ssh_options(ssh_config, ssh_user, ssh_known_hosts),
            vm=vm,
            exclude=tuple(exclude),
            batch=batch,
            dry_run=dry_run,
            watch_seconds=watch,
            and_back=and_back,
            provider_addresses=addresses,
        )
        stop = threading.Event()
        checklist = Checklist(err if as_json else out)
        validator = Validator(
            session, host_ref, case, options, on_layer=checklist, stop=stop, on_start=_starting(err, watch)
        )
        with _stop_on_ctrl_c(stop, err):
            result = validator.run()
        case.window = Window(started, datetime.now(UTC))
        case.write_manifest()
        if not dry_run:
            line = record_limit(
                store_path or store_mod.default_path(), session, host_ref.name, result, validator
            )
            if line:
                result.recorded_limit = line
                print_line(err, f"recorded in the limits store: {host_ref.name}: {line}")
    finally:
        session.close()
    if as_json:
        sys.stdout.write(json.dumps(result.as_json(), indent=2) + "\n")
    else:
        verdict = "PASSED" if result.passed else "FAILED"
        style = "green" if result.passed else "red"
        print_line(out, Text(f"{host_name}: validation {verdict}", style=style))
        print_line(out, f"evidence kept in {case.root}")
    if stop.is_set():
        warn(err, "interrupted")
        raise typer.Exit(EXIT_INTERRUPTED)
    raise typer.Exit(EXIT_PASSED if result.passed else EXIT_FAILED)


def _starting(err: Console, watch: float) -> Any:
    """On a terminal, say which layer is running: layer 3 watches for ``watch`` seconds and
    layers 4-5 wait for vMotions, which would otherwise look like a hang."""
    doing = {
        1: "asking SMS and the host about the provider",
        2: "reading the host's Protocol Endpoints",
        3: f"watching vvold.log for {watch:g} s",
        4: "migrating one VM while watching vvold.log",
        5: "migrating the batch while watching vvold.log",
    }

    def show(layer: Any) -> None:
        if err.is_terminal:
            print_line(err, Text(f"… {layer.layer} {doing.get(layer.layer, layer.name)}", style="dim"))

    return show


class Checklist:
    """Prints each layer as it is decided: ``[pass] 1 provider …`` with its evidence indented."""

    MARKS: ClassVar[dict[str, tuple[str, str]]] = {
        "pass": ("pass", "green"),
        "fail": ("FAIL", "red"),
        "skipped": ("skip", "dim"),
    }

    def __init__(self, console: Console) -> None:
        self.console = console

    def __call__(self, layer: Any) -> None:
        mark, style = self.MARKS.get(layer.status, (layer.status, ""))
        print_line(self.console, Text(f"[{mark}] {layer.layer} {layer.name}", style=style))
        for item in layer.evidence:
            print_line(self.console, item, indent=7)
