"""``vvolguard collect``: gather, read-only, what ``diagnose`` reads into a case folder.

Thin: parse options, log in (TLS verified unless ``--insecure``), hand over to
``vvolguard.live.collect``, show each source's progress and print what is missing with the
permission or command that would get it. The password comes from ``VVOLGUARD_PASSWORD`` or a
prompt, never an argument, and is printed, logged and written nowhere.

Exit codes: 0 every source collected, 1 the case is partial (warnings name what is missing),
2 bad options or no connection to vCenter.
"""

from __future__ import annotations

from pathlib import Path

import typer

from vvolguard.cli.console import make_console, print_line
from vvolguard.cli.live_options import (
    CA_FILE,
    HOSTS,
    INSECURE,
    KNOWN_HOSTS,
    NO_SSH,
    PROVIDER_ADDRESS,
    SINCE,
    SSH_CONFIG,
    SSH_USER,
    USER,
    VCENTER,
    WINDOW,
    connect_or_exit,
    parse_window_or_exit,
    provider_addresses_or_exit,
    run_collect,
)

EXIT_OK = 0
EXIT_PARTIAL = 1


def register(app: typer.Typer) -> None:
    app.command(
        "collect",
        help=(
            "Gather, read-only, tasks and events of the window, VASA providers (SMS), each host's "
            "vVol datastores, containers and Protocol Endpoints, vvold.log over SSH (or through "
            "vCenter) and the providers' certificates into a case folder diagnose reads. The "
            "password comes from VVOLGUARD_PASSWORD or a prompt. Exit codes: 0 complete, 1 partial "
            "(each missing source named), 2 usage or connection error."
        ),
    )(collect_command)


def collect_command(
    vcenter: str = VCENTER,
    host: list[str] = HOSTS,
    since: str | None = SINCE,
    window: str | None = WINDOW,
    output: Path = typer.Option(
        ..., "-o", "--output", metavar="CASE_DIR", help="New (or empty) case folder."
    ),
    user: str = USER,
    insecure: bool = INSECURE,
    ca_file: Path | None = CA_FILE,
    ssh_config: Path | None = SSH_CONFIG,
    ssh_user: str | None = SSH_USER,
    ssh_known_hosts: Path | None = KNOWN_HOSTS,
    no_ssh: bool = NO_SSH,
    provider_address: list[str] = PROVIDER_ADDRESS,
) -> None:
    err = make_console(stderr=True)
    span = parse_window_or_exit(since, window, err)
    addresses = provider_addresses_or_exit(provider_address, err)
    session = connect_or_exit(vcenter, user, insecure, ca_file, err)
    try:
        case = run_collect(
            session, host, span, output, ssh_config, ssh_user, ssh_known_hosts, no_ssh, err, addresses
        )
    finally:
        session.close()
    print_line(err, f"case written to {case.root}")
    raise typer.Exit(EXIT_PARTIAL if case.missing else EXIT_OK)
