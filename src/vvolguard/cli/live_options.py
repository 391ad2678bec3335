"""Options and steps shared by the commands that talk to vCenter and the hosts live
(``collect``, ``diagnose --vcenter``, ``validate``): one spelling of each option, one password
rule, one way to log in, resolve hosts and collect a case.

Not a command module (``cli.main`` does not list it), so ``diagnose`` of files imports only this
small module, never the collector: pyVmomi and asyncssh are imported inside the functions.
The password comes from ``VVOLGUARD_PASSWORD`` or a hidden prompt, never an argument; it is
printed, logged and written nowhere.
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

from vvolguard.cli.console import error, print_line, warn

if TYPE_CHECKING:
    from vvolguard.live.case import Case
    from vvolguard.live.connection import Session
    from vvolguard.live.window import Window

EXIT_USAGE = 2

PASSWORD_ENV = "VVOLGUARD_PASSWORD"
SSH_PASSWORD_ENV = "VVOLGUARD_SSH_PASSWORD"
#: Temporary case folders of ``diagnose --vcenter``, alive until the process ends.
_SCRATCH: list[tempfile.TemporaryDirectory[str]] = []

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
PROVIDER_ADDRESS = typer.Option(
    [],
    "--provider-address",
    metavar="URL=HOST:PORT",
    help="Reach this provider URL at HOST:PORT for its certificate (a port forward or NAT; repeatable).",
)


def provider_addresses_or_exit(pairs: list[str], err: Console) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        url, sep, address = pair.rpartition("=")
        port = address.rpartition(":")[2]
        if not sep or not url or not port.isdigit():
            error(err, f"--provider-address {pair!r} must be URL=HOST:PORT")
            raise typer.Exit(EXIT_USAGE)
        out[url] = address
    return out


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
    provider_addresses: dict[str, str] | None = None,
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
        case = run_collect(session, live.hosts, span, target, *ssh, err, provider_addresses)
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
    provider_addresses: dict[str, str] | None = None,
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
    options = CollectOptions(
        ssh=ssh_options(ssh_config, ssh_user, known_hosts),
        use_ssh=not no_ssh,
        provider_addresses=provider_addresses or {},
    )
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
