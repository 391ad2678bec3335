"""``vvolguard simulate``: write a simulated incident's evidence; ``simulate sweep``: capacity.

Thin on purpose: options are parsed here, the work is in :mod:`vvolguard.sim`.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.text import Text

from vvolguard.cli.console import error, make_console, print_line

if TYPE_CHECKING:
    from rich.table import Table

    from vvolguard.sim.profiles import ProviderProfile
    from vvolguard.sim.sweep import SweepResult

EXIT_BAD_INPUT = 2


class ScenarioName(StrEnum):
    saturation = "saturation"
    registration = "registration"
    pe_presentation = "pe-presentation"
    certificate = "certificate"
    not_control_plane = "not-control-plane"
    healthy = "healthy"


class Shape(StrEnum):
    seven = "7"
    eight = "8"


class Form(StrEnum):
    both = "both"
    folder = "folder"
    tgz = "tgz"


def register(app: typer.Typer) -> None:
    sim = typer.Typer(
        name="simulate",
        help=(
            "Simulate the VASA control plane (SimPy, virtual time): write a realistic incident's "
            "evidence (support bundles, vCenter exports, certificates, ground truth), or run "
            "`simulate sweep` to find the concurrency a provider sustains."
        ),
        invoke_without_command=True,
        no_args_is_help=False,
    )
    sim.callback()(simulate_command)
    sim.command("sweep", help="Failure rate, drain time and provider queueing per concurrency.")(
        sweep_command
    )
    sim.command(
        "estate",
        help=(
            "Write weeks of a whole estate as a central syslog server keeps it (a folder per host, "
            "rotated daily), with vCenter exports, certificates and estate-truth.json: several "
            "providers, nightly backups and patch waves, and planted incidents (for vvolguard fleet)."
        ),
    )(estate_command)
    app.add_typer(sim)


def simulate_command(
    ctx: typer.Context,
    scenario: ScenarioName = typer.Option(
        ScenarioName.saturation, "--scenario", "-s", help="What goes wrong."
    ),
    hosts: int = typer.Option(4, "--hosts", min=2, max=64, help="ESXi hosts in the cluster."),
    vms: int = typer.Option(48, "--vms", min=1, max=20000, help="VMs, spread over the hosts."),
    esxi: Shape = typer.Option(Shape.eight, "--esxi", help="ESXi log shape: 7 (6.7/7.0) or 8."),
    seed: int = typer.Option(1, "--seed", metavar="N", help="Same seed, same bytes."),
    out: Path | None = typer.Option(
        None, "--out", "-o", metavar="DIR", help="Folder to write the evidence into."
    ),
    profile: str | None = typer.Option(
        None, "--profile", metavar="PROFILE", help="Provider profile (entry, midrange, enterprise)."
    ),
    workers: int | None = typer.Option(None, "--workers", min=1, help="Override: provider worker pool."),
    queue: int | None = typer.Option(
        None, "--queue", min=0, help="Override: provider queue bound before busy."
    ),
    connections: int | None = typer.Option(None, "--connections", min=1, help="Override: vvold connections."),
    slowdown: list[str] = typer.Option(
        [],
        "--slowdown",
        metavar="START:END:FACTOR",
        help="Provider slow-down by FACTOR from START to END seconds (repeatable).",
    ),
    storm: list[str] = typer.Option(
        [],
        "--storm",
        metavar="START:END:OPS_PER_S[:OP]",
        help="Background VASA load from START to END seconds (repeatable).",
    ),
    variant: str | None = typer.Option(
        None,
        "--variant",
        metavar="VARIANT",
        help="Scenario variant (registration: untrusted|offline; certificate: expired|near-expiry).",
    ),
    duration: float | None = typer.Option(
        None, "--duration", metavar="SECONDS", help="Simulated seconds (healthy: the day length)."
    ),
    form: Form = typer.Option(Form.both, "--form", help="Bundles as folders, .tgz (in archives/), or both."),
    late_vvold: float | None = typer.Option(
        None,
        "--late-vvold",
        min=0.0,
        help="Write each vvold.log as copied HOURS after the incident, without its rotated "
        "vvold.N.gz files (an admin shape: a log that cannot see the failures).",
    ),
    force: bool = typer.Option(False, "--force", help="Write into a folder that is not empty."),
) -> None:
    if ctx.invoked_subcommand is not None:
        return
    from vvolguard.sim.run import simulate

    err = make_console(stderr=True)
    if out is None:
        error(err, "--out DIR is required (where to write the evidence).")
        raise typer.Exit(EXIT_BAD_INPUT)
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not force)):
        error(err, f"{out} exists and is not an empty folder; use --force to write into it.")
        raise typer.Exit(EXIT_BAD_INPUT)
    chosen = None
    if profile is not None or workers or queue is not None or connections or slowdown or storm:
        from vvolguard.sim.scenarios import SCENARIOS

        base = profile or SCENARIOS[scenario.value].default_profile
        chosen = build_profile(base, workers, queue, connections, slowdown, storm, err)
    try:
        result = simulate(
            scenario=scenario.value,
            hosts=hosts,
            vms=vms,
            esxi=esxi.value,
            seed=seed,
            out=out,
            profile=chosen,
            variant=variant,
            duration_s=duration,
            formats=form.value,
            late_vvold_s=None if late_vvold is None else late_vvold * 3600.0,
        )
    except (KeyError, ValueError) as exc:
        error(err, str(exc.args[0] if exc.args else exc))
        raise typer.Exit(EXIT_BAD_INPUT) from None
    console = make_console()
    truth = result.ground_truth
    console.print(
        f"[bold]{result.scenario}[/]{f' ({result.variant})' if result.variant else ''}: "
        f"{result.migrations} migrations, {result.failed} failed; "
        f"{result.simulated_s / 60:.1f} simulated minutes, {result.sim_events:,} events "
        f"in {result.wall_s:.2f} s"
    )
    for sentence in truth.get("what_happened", []):
        console.print(f"  {sentence}", markup=False)
    print_line(console, f"Evidence written to {out} (expected diagnosis: {result.expected_class}).")
    print_line(console, "Diagnose it with:")
    print_line(console, diagnose_command_line(out, form, truth), indent=2)
    if form == Form.both:
        console.print(
            "(The folders and archives/ hold the same bundles; give diagnose one of the two forms.)",
            style="dim",
        )


def diagnose_command_line(out: Path, form: Form, truth: dict) -> str:
    """The ``vvolguard diagnose`` command for what was just written, quoted for a POSIX shell so it
    runs as printed whatever the folder's name."""
    import shlex

    parts = (
        ["archives"]
        if form != Form.folder
        else sorted(p.name for p in out.iterdir() if p.is_dir() and p.name.startswith("esx-"))
    )
    paths = [str(out / part) for part in parts] + [str(out / "vcenter"), str(out / "certs")]
    end = truth.get("window", {}).get("end", "")[:19]
    args = ["vvolguard", "diagnose", *paths, *(["--now", f"{end}Z"] if end else [])]
    return shlex.join(args)


def sweep_command(
    concurrency: str = typer.Option(
        "1..16", "--concurrency", "-c", metavar="LEVELS", help="e.g. 1..16, 2,4,8 or 1..4,8,16."
    ),
    profile: str = typer.Option(
        "midrange", "--profile", metavar="PROFILE", help="Provider profile (entry, midrange, enterprise)."
    ),
    workers: int | None = typer.Option(None, "--workers", min=1, help="Override: provider worker pool."),
    queue: int | None = typer.Option(
        None, "--queue", min=0, help="Override: provider queue bound before busy."
    ),
    connections: int | None = typer.Option(None, "--connections", min=1, help="Override: vvold connections."),
    slowdown: list[str] = typer.Option(
        [],
        "--slowdown",
        metavar="START:END:FACTOR",
        help="Provider slow-down by FACTOR from START to END seconds (repeatable).",
    ),
    storm: list[str] = typer.Option(
        [],
        "--storm",
        metavar="START:END:OPS_PER_S[:OP]",
        help="Background VASA load from START to END seconds (repeatable).",
    ),
    seeds: int = typer.Option(3, "--seeds", min=1, max=50, help="Runs per concurrency (seeds 1..N)."),
    hosts: int = typer.Option(8, "--hosts", min=2, max=64, help="Hosts in the cluster."),
    vms: int = typer.Option(24, "--vms", min=1, max=2000, help="VMs on the host being drained."),
    plot: Path | None = typer.Option(
        None, "--plot", metavar="FILE", help="Also write a plot (PNG, SVG or PDF by suffix)."
    ),
) -> None:
    from vvolguard.sim.sweep import parse_concurrency, sweep

    err = make_console(stderr=True)
    try:
        levels = parse_concurrency(concurrency)
    except ValueError:
        error(err, f"--concurrency {concurrency!r}: use e.g. 1..16 or 2,4,8")
        raise typer.Exit(EXIT_BAD_INPUT) from None
    chosen = build_profile(profile, workers, queue, connections, slowdown, storm, err)
    result = sweep(chosen, levels, seeds=tuple(range(1, seeds + 1)), hosts=hosts, vms_per_host=vms)
    console = make_console()
    console.print(render_table(result))
    knee = result.knee
    limit = f"{100 * result.rows[0].busy_share_limit:g}%" if result.rows else "?"
    console.print(
        f"(sustained: no failed migration and at most {limit} of the provider's answers busy, for "
        "every seed; drain: until every VM moved, lone retries after a cooldown included)",
        style="dim",
    )
    if knee is None:
        first = min(result.rows, key=lambda r: r.concurrency)
        why = "failed" if first.failed else f"met {100 * first.busy_share:.0f}% busy answers"
        console.print(
            f"Even {first.concurrency} migration(s) at a time {why}: fix the provider (or its load) "
            "before draining.",
            markup=False,
        )
    elif knee == max(levels):
        console.print(f"Sustained up to {knee} in flight: the provider keeps up with everything tried.")
    else:
        after = min((r for r in result.rows if r.concurrency > knee), key=lambda r: r.concurrency)
        failing = [r.concurrency for r in result.rows if r.failed]
        detail = f"at {after.concurrency} in flight {100 * after.busy_share:.0f}% of its answers are busy"
        if failing:
            detail += f"; migrations fail from {min(failing)}"
        console.print(
            Text(f"Sustained: {knee} migrations in flight", style="bold green")
            + Text(f" from one host against profile '{result.profile.name}'; {detail}.")
        )
        if knee < 8:
            console.print(
                "vCenter's own limit is 8 vMotions per host: a maintenance-mode evacuation would overrun "
                "this provider. Drain in batches of at most the sustained number:"
            )
            print_line(console, f"vvolguard drain --vcenter VCENTER --host HOST --max {knee}", indent=2)
        else:
            console.print(
                "That is above vCenter's own limit of 8 per host: maintenance mode stays within it."
            )
    if plot is not None:
        from vvolguard.sim.sweep import plot as draw

        try:
            draw(result, plot)
        except (OSError, ValueError) as exc:
            error(err, f"cannot write {plot}: {exc}")
            raise typer.Exit(EXIT_BAD_INPUT) from None
        print_line(console, f"wrote {plot}")


def render_table(result: SweepResult) -> Table:
    from rich.table import Table

    prof = result.profile
    table = Table(
        title=(
            f"Provider '{prof.name}': {prof.concurrency} workers, queue {prof.queue_bound}, "
            f"{prof.session_connections} connections/host; {result.vms} VMs drained, "
            f"{len(result.seeds)} seed(s) per row"
        ),
        title_justify="left",
    )
    table.caption = (
        "in flight: migrations at once from the drained host; drain: until every VM moved, lone "
        "retries after a cooldown included (mean per seed); left: VMs still on the host after the "
        "retries; busy: provider busy answers and their share of all its answers; waits: waits "
        "for a free vvold connection; t/o: VASA timeouts; qwait/qmax: mean/worst wait for a "
        "provider worker"
    )
    columns = (
        "in flight", "verdict", "moves", "failed", "fail%", "drain", "left", "busy", "busy%",
        "waits", "t/o", "qwait", "qmax",
    )  # fmt: skip
    for name in columns:
        table.add_column(name, justify="left" if name == "verdict" else "right", no_wrap=True)
    styles = {"failing": "red", "pressured": "yellow", "sustained": None}
    for row in result.rows:
        table.add_row(
            str(row.concurrency),
            row.verdict,
            str(row.migrations),
            str(row.failed),
            f"{100 * row.failure_rate:.0f}%",
            f"{row.drain_s / 60:.1f}m",
            str(row.left),
            str(row.busy),
            f"{100 * row.busy_share:.1f}%",
            str(row.conn_waits),
            str(row.timeouts),
            f"{row.mean_queue_wait_s:.2f}s",
            f"{row.max_queue_wait_s:.1f}s",
            style=styles[row.verdict],
        )
    return table


def build_profile(
    name: str,
    workers: int | None,
    queue: int | None,
    connections: int | None,
    slowdown: list[str],
    storm: list[str],
    err: Console,
) -> ProviderProfile:
    """The named profile with the command line's overrides applied (``profile.variant``)."""
    from vvolguard.sim.profiles import PROFILES, BackgroundLoad, Slowdown

    if name not in PROFILES:
        error(err, f"unknown --profile {name!r}; known: {', '.join(sorted(PROFILES))}")
        raise typer.Exit(EXIT_BAD_INPUT)
    profile = PROFILES[name]
    changes: dict[str, object] = {}
    if workers is not None:
        changes["concurrency"] = workers
    if queue is not None:
        changes["queue_bound"] = queue
    if connections is not None:
        changes["session_connections"] = connections
    try:
        if slowdown:
            changes["slowdowns"] = tuple(Slowdown(*_numbers(text, 3)) for text in slowdown)
        if storm:
            loads = []
            for text in storm:
                parts = text.split(":")
                start, end, rate = _numbers(":".join(parts[:3]), 3)
                op = parts[3] if len(parts) > 3 else "cloneVirtualVolume"
                loads.append(BackgroundLoad(start, end, rate, op, f"{op} storm"))
            changes["background"] = tuple(loads)
    except ValueError as exc:
        error(err, str(exc))
        raise typer.Exit(EXIT_BAD_INPUT) from None
    return profile.variant(f"{name}*", **changes) if changes else profile


def _numbers(text: str, count: int) -> list[float]:
    parts = text.split(":")
    try:
        values = [float(x) for x in parts[:count]]
    except ValueError:
        values = []
    if len(values) != count or min(values) < 0:
        raise ValueError(f"{text!r}: expected START:END:VALUE in seconds (e.g. 600:1200:3)")
    return values


def estate_command(
    hosts: int = typer.Option(200, "--hosts", min=8, max=5000, help="ESXi hosts in the estate."),
    days: int = typer.Option(7, "--days", min=1, max=366, help="Days of history."),
    seed: int = typer.Option(1, "--seed", metavar="N", help="Same seed, same bytes."),
    out: Path = typer.Option(..., "--out", "-o", metavar="DIR", help="Folder to write the estate into."),
    no_knee: bool = typer.Option(
        False,
        "--no-knee",
        help="Skip simulate sweep per provider (the truth file's sweep_knee is then null).",
    ),
    force: bool = typer.Option(False, "--force", help="Write into a folder that is not empty."),
) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from vvolguard.sim.estate import TRUTH_FILE, simulate_estate

    err = make_console(stderr=True)
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not force)):
        error(err, f"{out} exists and is not an empty folder; use --force to write into it.")
        raise typer.Exit(EXIT_BAD_INPUT)
    bar = Progress(
        TextColumn("hosts written"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err
    )
    with bar:
        task = bar.add_task("hosts", total=hosts)
        result = simulate_estate(
            out,
            hosts=hosts,
            days=days,
            seed=seed,
            with_knee=not no_knee,
            on_host=lambda _h: bar.advance(task),
        )
    truth = result.truth
    console = make_console()
    classes: dict[str, int] = {}
    for incident in truth["incidents"]:
        classes[incident["class"]] = classes.get(incident["class"], 0) + 1
    print_line(
        console,
        f"{hosts} hosts x {days} days, {len(truth['providers'])} providers, "
        f"{result.bytes_written / 1e6:,.0f} MB of log text; planted incidents: "
        + ", ".join(f"{n} {c}" for c, n in sorted(classes.items())),
    )
    print_line(console, f"quiet hosts: {len(truth['quiet_hosts'])}; truth: {out / TRUTH_FILE}")
    print_line(console, f"next: vvolguard fleet {out} -o {out}-fleet")
