"""``vvolguard collect``: gather, read-only, what ``diagnose`` reads into a case folder.

Thin: parse options, log in (TLS verified unless ``--insecure``), hand over to
``vvolguard.live.collect``, show each source's progress and print what is missing with the
permission or command that would get it. The password comes from ``VVOLGUARD_PASSWORD`` or a
prompt, never an argument, and is printed, logged and written nowhere.

Exit codes: 0 every source collected, 1 the case is partial (warnings name what is missing),
2 bad options or no connection to vCenter.
"""

from __future__ import annotations

import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console

from vvolguard.cli.console import error, make_console, print_line, warn

if TYPE_CHECKING:
    from vvolguard.live.case import Case
    from vvolguard.live.connection import Session
    from vvolguard.live.window import Window

EXIT_OK = 0
EXIT_PARTIAL = 1
EXIT_USAGE = 2

PASSWORD_ENV = "VVOLGUARD_PASSWORD"
#: Temporary case folders of ``diagnose --vcenter``, alive until the process ends.
_SCRATCH: list[tempfile.TemporaryDirectory[str]] = []
SSH_PASSWORD_ENV = "VVOLGUARD_SSH_PASSWORD"


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


VCENTER = typer.Option(..., "--vcenter", metavar="VCENTER", help="vCenter URL or host name.")
HOSTS = typer.Option([], "--host", metavar="HOST", help="ESXi host to collect from (repeatable).")
SINCE = typer.Option(None, "--since", metavar="DURATION", help="Window: the last 30m, 2h, 1d (default 2h).")
WINDOW = typer.Option(
    None,
    "--window",
    metavar="START..END",
    help="Window as ISO times, e.g. 2026-03-14T09:00Z..2026-03-14T11:00Z.",
)
USER = typer.Option(
    "administrator@vsphere.local", "--user", metavar="USER", envvar="VVOLGUARD_USER", help="vCenter user."
)
INSECURE = typer.Option(
    False, "--insecure", help="Do not verify vCenter's TLS certificate (not recommended)."
)
CA_FILE = typer.Option(
    None, "--ca-file", metavar="FILE", envvar="VVOLGUARD_CA_FILE", help="CA bundle to trust for vCenter."
)
SSH_CONFIG = typer.Option(
    None,
    "--ssh-config",
    metavar="FILE",
    help="OpenSSH client config for the hosts (HostName, Port, User, IdentityFile, UserKnownHostsFile).",
)
SSH_USER = typer.Option(
    None, "--ssh-user", metavar="USER", help="SSH user on the hosts (default: the config's, else root)."
)
KNOWN_HOSTS = typer.Option(
    None,
    "--ssh-known-hosts",
    metavar="FILE",
    help="known_hosts file (default: the config's, else ~/.ssh/known_hosts).",
)
NO_SSH = typer.Option(False, "--no-ssh", help="Do not try SSH; read vvold.log through vCenter only.")


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
) -> None:
    err = make_console(stderr=True)
    span = parse_window_or_exit(since, window, err)
    session = connect_or_exit(vcenter, user, insecure, ca_file, err)
    try:
        case = run_collect(session, host, span, output, ssh_config, ssh_user, ssh_known_hosts, no_ssh, err)
    finally:
        session.close()
    print_line(err, f"case written to {case.root}")
    raise typer.Exit(EXIT_PARTIAL if case.missing else EXIT_OK)


@dataclass(frozen=True)
class LiveTarget:
    """What ``diagnose --vcenter`` (and ``validate``) say about where to collect from."""

    vcenter: str
    hosts: list[str]
    since: str | None
    window: str | None
    user: str
    insecure: bool
    ca_file: Path | None


def collect_for_diagnose(
    live: LiveTarget,
    ssh: tuple[Path | None, str | None, Path | None, bool],
    keep: Path | None,
    err: Console,
) -> Path:
    """``diagnose --vcenter``: collect into ``keep`` or a temporary case (removed when the command
    ends), and return the folder to diagnose. A partial case is diagnosed too: its manifest
    repeats what is missing as warnings."""
    span = parse_window_or_exit(live.since, live.window, err)
    session = connect_or_exit(live.vcenter, live.user, live.insecure, live.ca_file, err)
    if keep is None:
        # removed by its finaliser when the process ends (also on exit codes and Ctrl-C)
        scratch = tempfile.TemporaryDirectory(prefix="vvolguard-case-")
        _SCRATCH.append(scratch)
        target = Path(scratch.name) / "case"
    else:
        target = keep
    try:
        case = run_collect(session, live.hosts, span, target, *ssh, err)
    finally:
        session.close()
    return case.root


def parse_window_or_exit(since: str | None, window: str | None, err: Console) -> Window:
    from vvolguard.live.window import parse_window

    try:
        return parse_window(since, window)
    except ValueError as exc:
        error(err, str(exc))
        raise typer.Exit(EXIT_USAGE) from None


def password_or_exit(user: str, vcenter: str, err: Console) -> str:
    """``VVOLGUARD_PASSWORD``, else a hidden prompt; without a terminal, say so and exit 2."""
    password = os.environ.get(PASSWORD_ENV)
    if password:
        return password
    if not sys.stdin.isatty():
        error(err, f"no password for {user} on {vcenter} and no terminal to ask on: set {PASSWORD_ENV}.")
        raise typer.Exit(EXIT_USAGE)
    try:
        return str(typer.prompt(f"Password for {user}", hide_input=True))
    except typer.Abort:
        error(err, "no password given")
        raise typer.Exit(EXIT_USAGE) from None


def connect_or_exit(vcenter: str, user: str, insecure: bool, ca_file: Path | None, err: Console) -> Session:
    from vvolguard.live.connection import open_session

    password = password_or_exit(user, vcenter, err)
    try:
        session = open_session(vcenter, user, password, insecure=insecure, ca_file=ca_file)
    except (ConnectionError, ValueError, OSError) as exc:
        error(err, f"cannot connect: {exc}")
        raise typer.Exit(EXIT_USAGE) from None
    finally:
        del password
    if insecure:
        warn(err, f"TLS verification of {session.endpoint} is off (--insecure)")
    return session


def resolve_hosts_or_exit(session: Session, names: list[str], err: Console) -> list[Any]:
    hosts = []
    for name in names:
        try:
            hosts.append(session.find_host(name))
        except LookupError as exc:
            error(err, str(exc))
            raise typer.Exit(EXIT_USAGE) from None
    return hosts


def ssh_options(config: Path | None, user: str | None, known_hosts: Path | None) -> Any:
    from vvolguard.live.hostlogs import SshOptions

    return SshOptions(
        config=config, user=user, known_hosts=known_hosts, password=os.environ.get(SSH_PASSWORD_ENV) or None
    )


def run_collect(
    session: Session,
    host_names: list[str],
    span: Window,
    output: Path,
    ssh_config: Path | None,
    ssh_user: str | None,
    known_hosts: Path | None,
    no_ssh: bool,
    err: Console,
) -> Case:
    """Collect into ``output``; the part ``diagnose --vcenter`` shares."""
    from vvolguard.live.case import Case, CaseError
    from vvolguard.live.collect import CollectOptions, collect

    if ssh_config is not None and not ssh_config.is_file():
        error(err, f"--ssh-config {ssh_config}: no such file")
        raise typer.Exit(EXIT_USAGE)
    hosts = resolve_hosts_or_exit(session, host_names, err)
    try:
        case = Case.create(output, session.endpoint, [h.name for h in hosts], span)
    except CaseError as exc:
        error(err, str(exc))
        raise typer.Exit(EXIT_USAGE) from None
    print_line(err, f"collecting {span} from {session.endpoint} into {output}")
    options = CollectOptions(ssh=ssh_options(ssh_config, ssh_user, known_hosts), use_ssh=not no_ssh)
    with SourceProgress(err) as progress:
        collect(session, hosts, case, options, progress)
    if case.missing:
        warn(err, f"partial case: {len(case.missing)} source(s) missing (listed in {output / 'case.json'})")
    return case


class SourceProgress:
    """One line per source as it finishes (✓ or !), a spinner for the one running on a terminal."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._status: Any = None

    def __enter__(self) -> SourceProgress:
        if self.console.is_terminal:
            self._status = self.console.status("connecting…")
            self._status.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._status is not None:
            self._status.__exit__(None, None, None)

    def __call__(self, source: str, target: str, state: str, detail: str) -> None:
        if state == "running":
            if self._status is not None:
                self._status.update(f"{source} ({target}): {detail}")
            return
        if state == "ok":
            print_line(self.console, f"  ok  {source:<12} {target}: {detail}", style="green")
        else:
            print_line(self.console, f"  !   {source:<12} {target}: {detail}", style="yellow")
