"""``vvolguard drain``: empty an ESXi host a few VMs at a time, as fast as the VASA provider allows.

Thin on purpose: parse options, build a backend (vCenter through pyVmomi, or the simulator with
``--simulate``), the journal, the limit and the log tails, then hand everything to
``drain.controller``. The password comes from ``VVOLGUARD_PASSWORD`` or a prompt and is never
printed, logged or written to the journal.

Exit codes: 0 the host is empty, 1 some VMs were left in place (reported), 2 bad options or a
connection problem, 130 interrupted (the journal is consistent; run the same command to resume).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from vvolguard.cli import live_options
from vvolguard.cli.console import error, make_console, print_line, warn

EXIT_OK = 0
EXIT_LEFT = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def register(app: typer.Typer) -> None:
    app.command(
        "drain",
        help=(
            "Migrate a host's VMs away with an adaptive concurrency limit driven by vvold.log "
            "pressure and task outcomes; journaled, resumable, Ctrl-C safe. Exit codes: 0 host "
            "empty, 1 VMs left in place, 2 usage/connection error, 130 interrupted."
        ),
    )(drain_command)


def drain_command(
    host: str = typer.Option(
        ..., "--host", metavar="HOST", help="The ESXi host to empty (as vCenter names it)."
    ),
    vcenter: str | None = typer.Option(
        None, "--vcenter", metavar="VCENTER", help="vCenter URL or host name."
    ),
    to: list[str] = typer.Option(
        [],
        "--to",
        metavar="HOST",
        help="Destination host or cluster (repeatable). Default: the source's cluster.",
    ),
    max_inflight: int | None = typer.Option(
        None, "--max", min=1, help="Never more than this many migrations at once."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan and touch nothing."),
    enter_maintenance: bool = typer.Option(
        False, "--enter-maintenance", help="Put the emptied host into maintenance mode at the end."
    ),
    user: str = typer.Option(
        "administrator@vsphere.local", "--user", metavar="USER", envvar="VVOLGUARD_USER", help="vCenter user."
    ),
    insecure: bool = typer.Option(False, "--insecure", help="Do not verify vCenter's TLS certificate."),
    ca_file: Path | None = typer.Option(
        None,
        "--ca-file",
        metavar="FILE",
        envvar="VVOLGUARD_CA_FILE",
        help="CA bundle to trust for vCenter's certificate.",
    ),
    spacing: float | None = typer.Option(
        None, "--spacing", min=0.0, metavar="SECONDS", help="Seconds between two submissions (default 4)."
    ),
    clear_after: float | None = typer.Option(
        None,
        "--clear-after",
        min=0.0,
        metavar="SECONDS",
        help="Seconds a congestion mark holds new submissions (default 30).",
    ),
    policy: str = typer.Option(
        "gradient",
        "--policy",
        metavar="POLICY",
        help="Limit algorithm: gradient (default), aimd, or fixed (--fixed N).",
    ),
    fixed: int = typer.Option(8, "--fixed", min=1, help="Concurrency for --policy fixed."),
    cooldown: float = typer.Option(
        120.0, "--cooldown", metavar="SECONDS", help="Seconds before a failed VM's lone retry."
    ),
    poll: float = typer.Option(
        2.0, "--poll", metavar="SECONDS", help="Seconds between looks at tasks and logs."
    ),
    vvold_log: list[str] = typer.Option(
        [],
        "--vvold-log",
        metavar="HOST=PATH",
        help="HOST=PATH of a local (or mounted) live vvold.log (repeatable).",
    ),
    ssh: list[str] = typer.Option(
        [],
        "--ssh",
        metavar="HOST",
        help="Tail /var/run/log/vvold.log on this ESXi host over SSH (repeatable).",
    ),
    ssh_config: Path | None = live_options.SSH_CONFIG,
    ssh_user: str | None = live_options.SSH_USER,
    ssh_known_hosts: Path | None = live_options.KNOWN_HOSTS,
    ssh_no_host_key_check: bool = typer.Option(
        False, "--ssh-no-host-key-check", help="Do not check SSH host keys (unsafe)."
    ),
    journal_path: Path | None = typer.Option(
        None, "--journal", metavar="FILE", help="Journal SQLite file (default: the store)."
    ),
    store_path: Path | None = typer.Option(None, "--store", metavar="FILE", help="Local store SQLite file."),
    simulate: str | None = typer.Option(
        None,
        "--simulate",
        metavar="PROFILE",
        help="Run against the simulator with this provider profile instead of vCenter.",
    ),
    sim_world: Path | None = typer.Option(
        None,
        "--sim-world",
        metavar="FILE",
        help="Where the simulated vCenter keeps its inventory (default: next to the store).",
    ),
    sim_vms: int = typer.Option(24, "--sim-vms", min=1, help="VMs on the simulated source host."),
    sim_speed: float = typer.Option(
        0.0,
        "--sim-speed",
        min=0.0,
        metavar="FACTOR",
        help="Simulated seconds per real second (0: as fast as possible).",
    ),
    sim_api_latency: float = typer.Option(
        0.0,
        "--sim-api-latency",
        metavar="SECONDS",
        min=0.0,
        help="Real seconds a simulated RelocateVM_Task call takes to return.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    from vvolguard import store as store_mod
    from vvolguard.drain.backends.base import Backend, WallClock
    from vvolguard.drain.controller import DEFAULT_SPACING, DrainController, DrainOptions
    from vvolguard.drain.journal import Journal
    from vvolguard.drain.limits import POLICIES, make_limit
    from vvolguard.drain.pressure import PressureMonitor, PressureThresholds
    from vvolguard.drain.progress import ProgressDisplay

    out = make_console()
    err = make_console(stderr=True)
    if policy not in POLICIES:
        error(err, f"unknown --policy {policy!r}; choose one of {', '.join(POLICIES)}")
        raise typer.Exit(EXIT_USAGE)
    if not simulate and not vcenter:
        error(err, "give --vcenter URL, or --simulate PROFILE for a run against the simulator")
        raise typer.Exit(EXIT_USAGE)

    if ssh_config is not None and not ssh_config.is_file():
        error(err, f"--ssh-config {ssh_config}: no such file")
        raise typer.Exit(EXIT_USAGE)
    if ssh_config is not None and ssh_no_host_key_check:
        error(err, "--ssh-no-host-key-check cannot be combined with --ssh-config: host keys are checked")
        raise typer.Exit(EXIT_USAGE)

    store_file = store_path or store_mod.default_path()
    stop = threading.Event()
    try:
        if simulate:
            from vvolguard.drain.backends.simulated import SimulatedBackend

            world = sim_world or store_file.with_name(f"sim-{simulate}.db")
            # SimulatedBackend.clock is a SimClock, and Backend declares a settable ``clock: Clock``
            # (invariant); to go when drain/backends/base.py makes it read-only (issue 14).
            backend: Backend = SimulatedBackend.open(  # type: ignore[assignment]
                world, profile=simulate, vms=sim_vms, speed=sim_speed, api_latency=sim_api_latency
            )
        else:
            from vvolguard.drain.backends import vsphere

            password = _password(user, vcenter or "", dry_run, err)
            backend = vsphere.connect(
                vcenter or "", user, password, insecure=insecure, ca_file=ca_file, clock=WallClock(stop)
            )
            del password
    except (LookupError, ValueError, OSError, ConnectionError) as exc:
        error(err, f"cannot connect: {exc}")
        raise typer.Exit(EXIT_USAGE) from None
    try:
        # One spelling of the source everywhere (journal key, "still on the source?" checks).
        host = backend.canonical_host(host)
    except LookupError as exc:
        error(err, str(exc))
        backend.close()
        raise typer.Exit(EXIT_USAGE) from None

    try:
        options = DrainOptions(
            source=host,
            targets=tuple(to),
            max_inflight=max_inflight,
            cooldown=cooldown,
            poll_interval=poll,
            spacing=DEFAULT_SPACING if spacing is None else spacing,
        )
        start = _start(store_file, backend, host, max_inflight)
        if dry_run:
            _print_plan(out, backend, options, start, as_json)
            raise typer.Exit(EXIT_OK)

        store = store_mod.Store(store_file)
        provider = start.provider
        # The wait after an episode clears scales with the clear window (20 s for the default 30 s).
        jitter = None if clear_after is None else clear_after * 2 / 3
        limit = make_limit(
            policy, start.ceiling, known_safe=start.known_safe, fixed=fixed, release_jitter=jitter
        )
        journal, resumed = Journal.open(
            journal_path or store_file,
            endpoint=backend.endpoint,
            source_host=host,
            targets=to,
            options={"max": max_inflight, "policy": policy, "cooldown": cooldown},
        )
        sources = list(backend.log_sources([host]))
        sources += _log_sources(
            vvold_log, ssh, ssh_user, ssh_known_hosts, ssh_no_host_key_check, err, ssh_config is not None
        )
        if ssh_config is not None:
            sources += _config_tails(
                backend,
                host,
                to,
                vvold_log,
                ssh,
                live_options.ssh_options(ssh_config, ssh_user, ssh_known_hosts),
                err,
            )
        if resumed:
            warn(err, f"resuming drain run {journal.run_id} of {host}")
        print_line(err, start.line)
        monitor = PressureMonitor(
            backend.clock, None if clear_after is None else PressureThresholds(clear_after=clear_after)
        )
        with ProgressDisplay(err, title=f"draining {host}") as display, _stop_on_ctrl_c(stop, err):
            controller = DrainController(
                backend,
                journal,
                limit,
                options,
                monitor=monitor,
                log_sources=sources,
                on_progress=display,
                stop=stop,
                resumed=resumed,
            )
            result = controller.run()
        for src in sources:
            src.close()
        if not result.interrupted:
            record = _record(result, start.previous, backend.endpoint, host, provider)
            if record is None:
                warn(err, "no concurrency level ran clean: no operational limit recorded")
            else:
                store.record_limit(record)
        for note in getattr(backend, "notes", ()) or ():
            warn(err, f"note: {note}")
        if enter_maintenance and not result.interrupted and not result.left:
            try:
                backend.enter_maintenance(host)
            except ConnectionError as exc:
                error(err, f"{host} is empty but did not enter maintenance mode: {exc}")
                raise typer.Exit(EXIT_USAGE) from None
            print_line(err, f"{host} is in maintenance mode")
        elif enter_maintenance and result.left:
            warn(err, "not entering maintenance mode: VMs are still on the host")
        _print_result(out, result, as_json)
        if result.interrupted:
            warn(err, "interrupted: run the same command again to resume")
            raise typer.Exit(EXIT_INTERRUPTED)
        raise typer.Exit(EXIT_LEFT if result.left else EXIT_OK)
    except LookupError as exc:
        error(err, str(exc))
        raise typer.Exit(EXIT_USAGE) from None
    finally:
        backend.close()


def _password(user: str, vcenter: str, dry_run: bool, err: Console) -> str:
    """``VVOLGUARD_PASSWORD``, else a prompt; without a terminal to prompt on, say so and exit 2.

    Even a dry run needs vCenter: the plan is vCenter's own CheckRelocate answers. Without a
    terminal typer's prompt would print "Aborted." and exit 1, which this command's exit codes
    define as "VMs left in place"; a missing credential is a usage problem (2), named as such."""
    password = os.environ.get("VVOLGUARD_PASSWORD")
    if password:
        return password
    if not sys.stdin.isatty():
        what = "the dry run plans with vCenter's CheckRelocate" if dry_run else "the drain talks to vCenter"
        error(
            err,
            f"no password for {user} on {vcenter}: {what}, and there is no terminal to ask on. "
            "Set VVOLGUARD_PASSWORD (or run it in a terminal).",
        )
        raise typer.Exit(EXIT_USAGE)
    try:
        return typer.prompt(f"Password for {user}", hide_input=True)
    except typer.Abort:
        error(err, "no password given")
        raise typer.Exit(EXIT_USAGE) from None


def _log_sources(
    local: list[str],
    ssh_hosts: list[str],
    ssh_user: str | None,
    known_hosts: Path | None,
    no_check: bool,
    err: Console,
    ssh_config: bool = False,
) -> list:
    """Local tails (``--vvold-log``) and, without ``--ssh-config``, SSH tails of ``--ssh`` hosts
    from the command line alone (``_config_tails`` does them with a config)."""
    from vvolguard.drain.logsource import FileTail, SshTail

    sources: list = []
    for spec in local:
        h, sep, path = spec.partition("=")
        if not sep or not path:
            error(err, f"--vvold-log wants HOST=PATH, got {spec!r}")
            raise typer.Exit(EXIT_USAGE)
        sources.append(FileTail(Path(path), h))
    if ssh_config:
        return sources
    for h in ssh_hosts:
        kh: object = ()
        if no_check:
            kh = None
        elif known_hosts:
            kh = str(known_hosts)
        sources.append(
            SshTail(
                h,
                username=ssh_user or "root",
                password=os.environ.get(live_options.SSH_PASSWORD_ENV),
                known_hosts=kh,
            )
        )
    return sources


def _config_tails(
    backend: Any,
    source: str,
    to: list[str],
    local: list[str],
    ssh_hosts: list[str],
    options: Any,
    err: Console,
) -> list:
    """``tail -F`` of vvold.log over SSH as the OpenSSH ``--ssh-config`` describes each host (the
    lab's, or the admin's): the ``--ssh`` hosts, else the source and every destination the drain
    may use (a vMotion's pressure shows on the destination's vvold), except hosts given a local
    ``--vvold-log``. Each tail is named by the host's vCenter name, so its pressure is booked on
    that host. Host keys stay checked (a config that turns checking off is refused)."""
    from vvolguard.live.hostlogs import HostLogError
    from vvolguard.live.sshtail import open_tail

    if ssh_hosts:
        names = list(ssh_hosts)
    else:
        local_hosts = {_canonical(backend, spec.partition("=")[0]) for spec in local}
        names = [h for h in [source, *backend.resolve_targets(source, to)] if h not in local_hosts]
    tails = []
    for name in names:
        try:
            tails.append(open_tail(name, options))
        except HostLogError as exc:
            for tail in tails:
                tail.close()
            error(err, str(exc))
            raise typer.Exit(EXIT_USAGE) from None
    print_line(err, f"watching vvold.log over SSH ({options.config}): {', '.join(names)}")
    return tails


def _canonical(backend: Any, name: str) -> str:
    try:
        return str(backend.canonical_host(name))
    except LookupError:
        return name


@contextmanager
def _stop_on_ctrl_c(stop: threading.Event, err: Console) -> Iterator[None]:
    """First Ctrl-C (or SIGTERM, what ``kill``, systemd and CI runners send): stop submitting,
    wait for in-flight migrations. Second: leave at once (the journal already holds every task
    id, so a rerun picks them up)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: object) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        what = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
        warn(err, f"{what}: no new migrations; waiting for those in flight (Ctrl-C again to leave)")

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@dataclass(frozen=True)
class _Start:
    """How a drain of this host will start, from the store: the same for the run and its plan."""

    provider: str
    ceiling: int
    known_safe: int | None
    previous: Any  # store.ObservedLimit | None
    line: str


def _start(store_file: Path, backend: Any, host: str, max_inflight: int | None) -> _Start:
    """The recorded limit (if any) decides the start. A *bounded* record also caps the drain
    at its safe level: a higher level caused pressure there, and the runbook's tested limit
    stands until the provider, firmware or architecture changes. A lower bound is where growth
    resumes. A row from an older version (the peak under which some migration succeeded) is
    shown by ``limits`` but not trusted as a start."""
    from vvolguard.store import Store

    provider = backend.provider_of(host)
    ceiling = max(1, min(backend.host_limit(host), max_inflight or 10**6))
    previous = None
    if store_file.exists():  # a dry run must not create the store
        store = Store(store_file)
        try:
            previous = store.known(backend.endpoint, host, provider)
        finally:
            store.close()
    if previous is None or previous.kind == "legacy":
        return _Start(
            provider,
            ceiling,
            None,
            None,
            f"starts with a probe of 1, then grows while calm (at most {ceiling})",
        )
    known = min(previous.safe_limit, ceiling)
    if previous.kind == "bounded":
        ceiling = known
        line = (
            f"starts with a probe of 1, then {known} in flight: the limit recorded on "
            f"{previous.observed_at} ({previous.describe()}); not above it"
        )
    else:
        line = (
            f"starts with a probe of 1, then {known} in flight: the limit recorded on "
            f"{previous.observed_at} ({previous.describe()}); grows beyond while calm (at most {ceiling})"
        )
    return _Start(provider, ceiling, known, previous, line)


def _record(result: Any, previous: Any, endpoint: str, host: str, provider: str) -> Any:
    """The row to store for this drain, or ``None`` when no level was proven clean.

    A drain capped by a bounded record that ran clean up to the cap proved the safe level again
    but could not test the bound: the bound (and its reason) is carried over, so the next drain
    is capped too instead of probing the failing level again."""
    from vvolguard.drain.ledger import LimitKind
    from vvolguard.store import ObservedLimit, utcnow_iso

    found = result.limit_found
    if found is None:
        return None
    kind, bound, reason = found.kind, found.bound, found.bound_reason
    if (
        kind is LimitKind.LOWER_BOUND
        and previous is not None
        and previous.kind == "bounded"
        and found.level >= min(previous.safe_limit, result.ceiling)
    ):
        kind, bound = LimitKind.BOUNDED, previous.bound
        reason = f"drain of {previous.observed_at}: {previous.bound_reason}"
    return ObservedLimit(
        vcenter=endpoint,
        host=host,
        provider=provider,
        safe_limit=found.level,
        ceiling=result.ceiling,
        migrated=len(result.moved),
        failed=result.failed_tasks,
        congestion_episodes=result.episodes,
        observed_at=utcnow_iso(),
        kind=str(kind),
        bound=bound,
        bound_reason=reason,
        seconds_at_limit=round(found.seconds, 1),
        migrations_at_limit=found.migrations,
    )


def _print_plan(out: Console, backend: Any, options: Any, start: _Start, as_json: bool) -> None:
    from vvolguard.drain.controller import plan_drain

    moves = plan_drain(backend, options)
    if as_json:
        out.print_json(
            json.dumps(
                {
                    "moves": [
                        {"vm": m.vm.name, "id": m.vm.id, "dest": m.dest, "problems": list(m.problems)}
                        for m in moves
                    ],
                    "start": {
                        "probe": 1,
                        "then": start.known_safe,
                        "ceiling": min(start.ceiling, options.max_inflight or start.ceiling),
                        "recorded": start.previous.describe() if start.previous else None,
                    },
                }
            )
        )
        return
    from rich.table import Table

    table = Table(title=f"plan: drain {options.source} (dry run, nothing touched)")
    table.add_column("VM")
    table.add_column("destination")
    table.add_column("CheckRelocate")
    for m in moves:
        table.add_row(m.vm.name, m.dest or "-", "; ".join(m.problems) or "ok")
    out.print(table)
    out.print(
        f"{len(moves)} VMs, in this order; destinations as the drain places them while no "
        "destination's vvold.log shows pressure (one that does gets no new move while a calmer "
        f"one can take it). {start.line[0].upper()}{start.line[1:]}.",
        markup=False,
    )


def _print_result(out: Console, result, as_json: bool) -> None:
    doc = {
        "run_id": result.run_id,
        "resumed": result.resumed,
        "moved": len(result.moved),
        "left": [{"vm": n, "reason": r} for n, r in result.left],
        "failed_tasks": result.failed_tasks,
        "seconds": round(result.makespan, 1),
        "ceiling": result.ceiling,
        "safe_limit": result.safe_limit,
        "limit_kind": str(result.limit_found.kind) if result.limit_found else None,
        "limit": result.limit_found.describe() if result.limit_found else None,
        "diverted": result.diverted,
        "congestion_episodes": result.episodes,
        "interrupted": result.interrupted,
    }
    if as_json:
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
        return
    out.print(
        f"moved {doc['moved']}, left {len(result.left)}, failed tasks {result.failed_tasks}, "
        f"{doc['seconds']} s, ceiling {result.ceiling}",
        markup=False,
    )
    if result.limit_found:
        out.print(f"operational limit: {result.limit_found.describe()}", markup=False)
    else:
        out.print("operational limit: none proven (no level ran clean)", markup=False)
    for name, reason in result.left:
        warn(out, f"  left in place: {name}: {reason}")
