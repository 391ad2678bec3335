"""``vvolguard lab``: serve a simulated vCenter with a scenario's incident until Ctrl-C.

Thin on purpose: options are parsed here, the work is in :mod:`vvolguard.lab`.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Any

import typer

from vvolguard.cli.console import error, make_console, print_line
from vvolguard.cli.simulate import ScenarioName

EXIT_USAGE = 2
EXIT_CANNOT_START = 3


def register(app: typer.Typer) -> None:
    app.command(
        "lab",
        help=(
            "Serve a simulated vCenter on 127.0.0.1 with a scenario's incident in its history (tasks, "
            "events, VASA providers, vVol datastores, one SSH endpoint per host serving vvold.log), to "
            "try collect, diagnose --vcenter, validate and drain without a real vCenter. Prints the URL, "
            "user and password; runs until Ctrl-C. Exit codes: 0 stopped, 2 bad option, 3 cannot start."
        ),
    )(lab_command)


def lab_command(
    scenario: ScenarioName = typer.Option(
        ScenarioName.saturation, "--scenario", metavar="NAME", help="Incident the lab starts with."
    ),
    port: int = typer.Option(
        0, "--port", metavar="PORT", min=0, max=65535, help="vCenter port (0: any free)."
    ),
    json_line: bool = typer.Option(
        False,
        "--json",
        help="Print one JSON line once ready (url, user, password, ca_file, ssh_config, hosts).",
    ),
    variant: str | None = typer.Option(
        None,
        "--variant",
        metavar="VARIANT",
        help="Scenario variant: registration untrusted|offline, certificate expired|near-expiry.",
    ),
    seed: int = typer.Option(1, "--seed", metavar="N", help="Seed of the scenario's simulation."),
    folder: Path | None = typer.Option(
        None,
        "--folder",
        metavar="DIR",
        help="Keep the lab's files (CA, SSH config and keys, host logs) here instead of a temporary folder.",
    ),
    ssh_refused: list[str] = typer.Option(
        [],
        "--ssh-refused",
        metavar="HOST",
        help="Fault: nothing listens on this host's SSH port (repeatable).",
    ),
    sms_down: bool = typer.Option(
        False, "--sms-down", help="Fault: the SMS endpoint (/sms/sdk) answers 503."
    ),
    missing_privilege: list[str] = typer.Option(
        [],
        "--missing-privilege",
        metavar="PRIVILEGE",
        help="Fault: a second user (printed) lacks this privilege, e.g. Global.Diagnostics (repeatable).",
    ),
) -> None:
    from vvolguard.lab import LabError, LabOptionError, start_lab

    console = make_console()
    err = make_console(stderr=True)
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with start_lab(
            scenario.value,
            port=port,
            seed=seed,
            variant=variant,
            folder=folder,
            ssh_refused=ssh_refused,
            sms_down=sms_down,
            missing_privileges=missing_privilege,
        ) as lab:
            if json_line:
                print(lab.as_json(), flush=True)
            else:
                _describe(console, lab)
            while not stop.wait(0.5):
                pass
    except LabOptionError as exc:
        error(err, str(exc))
        raise typer.Exit(EXIT_USAGE) from None
    except LabError as exc:
        error(err, f"cannot start the lab: {exc}")
        raise typer.Exit(EXIT_CANNOT_START) from None
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _describe(console: Any, lab: Any) -> None:
    lines = [
        f"vvolguard lab: scenario {lab.scenario} (diagnoses as {lab.expected_class})",
        f"  vCenter   {lab.url}",
        f"  user      {lab.user}",
        f"  password  {lab.password}",
    ]
    if lab.limited_user:
        lines.append(
            f"  limited   {lab.limited_user} / {lab.limited_password} (lacks {', '.join(lab.missing)})"
        )
    lines += [
        f"  CA file   {lab.ca_file}",
        f"  SMS       {lab.sms_url}",
        f"  SSH       {lab.ssh_config}",
        f"  hosts     {', '.join(lab.hosts)}",
        f"  incident  {lab.window[0]} .. {lab.window[1]}",
        "",
        f"  try: ssh -F {lab.ssh_config} {lab.hosts[0].split('.', 1)[0]} tail -n 5 /var/run/log/vvold.log",
        "Serving until Ctrl-C.",
    ]
    for line in lines:
        print_line(console, line)
