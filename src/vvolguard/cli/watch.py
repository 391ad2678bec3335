"""``vvolguard watch``: receive the hosts' logs (syslog, followed files, SSH) and serve the VASA
control plane's signals as Prometheus metrics on ``/metrics``.

Nothing listens on a non-loopback address unless ``--listen`` or ``--syslog`` names one. Ctrl-C
or SIGTERM stops cleanly: listeners close, what was received is parsed, the store is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from vvolguard.cli import live_options
from vvolguard.cli.console import error, make_console, print_line

if TYPE_CHECKING:
    from rich.console import Console

    from vvolguard.watch.service import WatchService
    from vvolguard.watch.table import LiveTable

EXIT_USAGE = 2


def register(app: typer.Typer) -> None:
    app.command(
        "watch",
        help=(
            "Receive ESXi logs (syslog UDP/TCP/TLS, files, SSH) and serve the VASA control plane's "
            "signals as Prometheus metrics (see contrib/prometheus and contrib/grafana)."
        ),
    )(watch_command)


def _listen(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"--listen wants ADDR:PORT, got {text!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def watch_command(
    syslog: list[str] = typer.Option(
        [],
        "--syslog",
        metavar="URL",
        help="Listen for syslog: udp://ADDR:PORT, tcp://ADDR:PORT or tls://ADDR:PORT (repeatable).",
    ),
    tls_cert: Path | None = typer.Option(
        None, "--tls-cert", metavar="FILE", help="PEM certificate for tls://."
    ),
    tls_key: Path | None = typer.Option(
        None, "--tls-key", metavar="FILE", help="PEM private key for tls://."
    ),
    files: list[str] = typer.Option(
        [],
        "--file",
        metavar="[HOST=]PATH",
        help="Follow a local log file across rotation (repeatable); HOST names a bare vvold.log's host.",
    ),
    ssh: list[str] = typer.Option(
        [], "--ssh", metavar="HOST", help="tail -F /var/run/log/vvold.log on this ESXi host (repeatable)."
    ),
    ssh_config: Path | None = live_options.SSH_CONFIG,
    ssh_user: str | None = live_options.SSH_USER,
    ssh_known_hosts: Path | None = live_options.KNOWN_HOSTS,
    listen: str = typer.Option(
        "127.0.0.1:9796", "--listen", metavar="ADDR:PORT", help="Where /metrics is served."
    ),
    json_lines: bool = typer.Option(
        False, "--json-lines", help="Write state changes to stdout as JSON lines."
    ),
    store_path: Path | None = typer.Option(
        None, "--store", metavar="FILE", help="Local store SQLite file (state changes are kept there)."
    ),
    no_store: bool = typer.Option(False, "--no-store", help="Do not write state changes to the store."),
    threshold: list[str] = typer.Option(
        [], "--threshold", metavar="NAME=VALUE", help="Override a diagnose threshold (repeatable)."
    ),
    interval: float = typer.Option(0.25, "--interval", metavar="SECONDS", min=0.01, help="Parse cadence."),
    stale_after: float = typer.Option(
        600.0, "--stale-after", metavar="SECONDS", min=1, help="Mark a host stale after this silence."
    ),
    expire_after: float = typer.Option(
        86_400.0, "--expire-after", metavar="SECONDS", min=1, help="Forget a host after this silence."
    ),
    source_rate: float = typer.Option(
        0.0, "--source-rate", metavar="N", min=0, help="Most messages per second per sender (0: no limit)."
    ),
    provider_url: list[str] = typer.Option(
        [], "--provider-url", metavar="URL", help="Check this VASA provider's TLS certificate (repeatable)."
    ),
    check_seen: bool = typer.Option(
        True,
        "--check-seen-providers/--no-check-seen-providers",
        help="Also check the certificates of the provider URLs vvold names.",
    ),
    cert_interval: float = typer.Option(
        3600.0, "--cert-interval", metavar="SECONDS", min=1, help="Seconds between certificate checks."
    ),
    table: bool = typer.Option(True, "--table/--no-table", help="Live table on a terminal."),
    vcenter: list[str] = typer.Option(
        [],
        "--vcenter",
        metavar="URL",
        help="Poll this vCenter for migrations in flight and their outcomes, and the VASA providers' "
        "status (repeatable; a read-only user is enough; password from VVOLGUARD_PASSWORD or a prompt).",
    ),
    vcenter_user: str = typer.Option(
        "administrator@vsphere.local", "--user", metavar="USER", help="vCenter user (read-only is enough)."
    ),
    ca_file: Path | None = typer.Option(
        None, "--ca-file", metavar="FILE", help="CA bundle that signed vCenter's certificate."
    ),
    insecure: bool = typer.Option(
        False, "--insecure", help="Do not verify vCenter's TLS certificate (not recommended)."
    ),
    vcenter_interval: float = typer.Option(
        10.0, "--vcenter-interval", metavar="SECONDS", min=1, help="Seconds between vCenter polls."
    ),
) -> None:
    from vvolguard.analysis.thresholds import Thresholds
    from vvolguard.watch.receiver import SyslogEndpoint
    from vvolguard.watch.service import WatchConfig, WatchService

    err = make_console(stderr=True)
    try:
        endpoints = [SyslogEndpoint.parse(s) for s in syslog]
        listen_at = _listen(listen)
        overrides = {}
        for item in threshold:
            name, sep, value = item.partition("=")
            if not sep:
                raise ValueError(f"--threshold wants NAME=VALUE, got {item!r}")
            overrides[name] = value
        thresholds = Thresholds.from_overrides(overrides)
    except ValueError as exc:
        error(err, str(exc))
        raise typer.Exit(EXIT_USAGE) from None
    if any(e.scheme == "tls" for e in endpoints) and not (tls_cert and tls_key):
        error(err, "a tls:// syslog listener needs --tls-cert FILE and --tls-key FILE")
        raise typer.Exit(EXIT_USAGE)
    if ssh_config is not None and not ssh_config.is_file():
        error(err, f"--ssh-config {ssh_config}: no such file")
        raise typer.Exit(EXIT_USAGE)
    if not (endpoints or files or ssh or vcenter):
        error(err, "nothing to watch: give --syslog URL, --file PATH, --ssh HOST or --vcenter URL")
        raise typer.Exit(EXIT_USAGE)
    logging.basicConfig(level=logging.WARNING, format="vvolguard watch: %(message)s", stream=sys.stderr)
    config = WatchConfig(
        syslog=endpoints,
        listen=listen_at,
        tls_cert=str(tls_cert) if tls_cert else None,
        tls_key=str(tls_key) if tls_key else None,
        thresholds=thresholds,
        interval=interval,
        stale_after=stale_after,
        expire_after=expire_after,
        source_rate=source_rate,
        provider_urls=list(provider_url),
        check_seen_providers=check_seen,
        cert_interval=cert_interval,
    )
    store = None
    if not no_store:
        from vvolguard.watch.store import ChangeStore

        store = ChangeStore(store_path)
    service = WatchService(config, json_lines=sys.stdout if json_lines else None, store=store)
    try:
        _add_sources(service, files, ssh, ssh_user, ssh_known_hosts, ssh_config)
        if vcenter:
            _add_vcenters(service, vcenter, vcenter_user, ca_file, insecure, vcenter_interval, err)
    except (ValueError, ConnectionError) as exc:
        error(err, str(exc))
        raise typer.Exit(EXIT_USAGE) from None
    live = None
    if table and not json_lines and sys.stdout.isatty():
        from vvolguard.watch.table import LiveTable

        live = LiveTable(service.state)
    try:
        asyncio.run(_main(service, err, live))
    except OSError as exc:  # a port in use, a certificate that does not load
        error(err, f"cannot start: {exc}")
        raise typer.Exit(EXIT_USAGE) from None
    finally:
        if store is not None:
            store.close()


async def _main(service: WatchService, err: Console, live: LiveTable | None) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, service.stop)
    task = asyncio.create_task(service.run())
    await asyncio.get_running_loop().run_in_executor(None, service.ready.wait, 30)
    if task.done():
        task.result()  # raises what stopped it at start-up
    for ep in service.bound:
        print_line(err, f"listening for syslog on {ep}")
    if service.metrics_port is not None:
        host = service.config.listen[0] if service.config.listen else ""
        print_line(err, f"serving metrics on http://{host}:{service.metrics_port}/metrics")
    if live is not None:
        live.start()
    try:
        await task
    finally:
        if live is not None:
            live.stop()


def _add_vcenters(
    service: WatchService,
    urls: list[str],
    user: str,
    ca_file: Path | None,
    insecure: bool,
    interval: float,
    err: Console,
) -> None:
    """One poller per ``--vcenter``. The password comes from ``VVOLGUARD_PASSWORD`` or a hidden
    prompt; it is never echoed or logged. The first login happens in the poller: a vCenter that is
    down at start is counted and tried again, and watch serves the logs meanwhile."""
    from vvolguard.watch.vcenter import VCenterWatch

    password = os.environ.get("VVOLGUARD_PASSWORD")
    if not password:
        if not sys.stdin.isatty():
            raise ValueError(
                f"no password for {user} on {', '.join(urls)} and no terminal to ask on: "
                "set VVOLGUARD_PASSWORD"
            )
        try:
            password = typer.prompt(f"vCenter password for {user}", hide_input=True, err=True)
        except typer.Abort:
            raise ValueError("no vCenter password given") from None
    if insecure:
        print_line(err, "vCenter TLS certificate verification is OFF (--insecure)")
    for url in urls:
        service.add_vcenter(
            VCenterWatch(url, user, password, ca_file=ca_file, insecure=insecure, interval=interval)
        )


def _add_sources(
    service: WatchService,
    files: list[str],
    ssh: list[str],
    user: str | None,
    known_hosts: Path | None,
    config: Path | None = None,
) -> None:
    """Followed files, and ``--ssh`` tails: as the OpenSSH ``--ssh-config`` describes each host
    (host keys checked; a bad config raises HostLogError, a ConnectionError), else from the
    command line alone."""
    from vvolguard.drain.logsource import FileTail, SshTail

    for spec in files:
        host, sep, path = spec.partition("=")
        if not sep:
            host, path = "unnamed-esxi-host", spec
        if not path:
            raise ValueError(f"--file wants [HOST=]PATH, got {spec!r}")
        service.add_source(FileTail(Path(path), host, from_start=False), host, "file")
    for host in ssh:
        if config is not None:
            from vvolguard.live.sshtail import open_tail

            tail: object = open_tail(host, live_options.ssh_options(config, user, known_hosts))
        else:
            kh: object = str(known_hosts) if known_hosts else ()
            password = os.environ.get(live_options.SSH_PASSWORD_ENV)
            tail = SshTail(host, username=user or "root", password=password, known_hosts=kh)
        service.add_source(tail, host, "ssh")
